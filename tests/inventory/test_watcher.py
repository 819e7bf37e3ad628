"""FilamanChangeWatcher against FilaMan run as its image runs it (four workers), over loopback.

Every kind of change must reach Bambuddy without the periodic sync, whichever worker served it,
also when a worker restarts, a stream is dropped, or FilaMan silently stops feeding a stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
import time

import aiohttp
from homeassistant.core import HomeAssistant
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.api.models_filaman import FilamanSpool
from custom_components.filaman_bambuddy.coordinator import InventoryCoordinator
from custom_components.filaman_bambuddy.inventory import FilamanChangeWatcher
from custom_components.filaman_bambuddy.inventory.mapping import desired_spool
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .conftest import inventory_coordinator, wait_until
from .populate import linked, populate, spool_json

POLL = 0.2  # the tests' poll interval (idle and active): the blind paths in well under a second


@pytest.fixture
async def inventory(
    hass: HomeAssistant, bambuddy: BambuddyClient, filaman: FilamanClient
) -> AsyncIterator[InventoryCoordinator]:
    """The sync interval is an hour here: every change must arrive without it."""
    coordinator = inventory_coordinator(
        hass, bambuddy, filaman, filaman_printer_id=1, sync_interval=timedelta(hours=1)
    )
    yield coordinator
    await coordinator.async_shutdown()


@pytest.fixture
async def watcher(
    filaman: FilamanClient, inventory: InventoryCoordinator
) -> AsyncIterator[FilamanChangeWatcher]:
    change_watcher = FilamanChangeWatcher(
        filaman,
        inventory,
        reconnect_backoff=0.05,
        poll_active=POLL,
        poll_idle=POLL,
        reopen_at_most_every=0.0,
    )
    yield change_watcher
    await change_watcher.stop()


async def settled(inventory: InventoryCoordinator, runs: int) -> None:
    await wait_until(lambda: inventory.run_count >= runs and not inventory.running)


async def started(
    watcher: FilamanChangeWatcher, inventory: InventoryCoordinator, sim: FilamanSimulator
) -> None:
    """The pool is up (one full sync for what came before it) and the poll has its baseline."""
    watcher.start()
    await settled(inventory, 1)
    await wait_until(lambda: sim.bus.subscriber_count == watcher.stream_count)
    await asyncio.sleep(POLL * 2)


def in_step(
    bambuddy_sim: BambuddySimulator, filaman_sim: FilamanSimulator, filaman_id: int, field: str
) -> bool:
    """The twin holds what FilaMan's spool maps to, for ``field``."""
    twins = linked(bambuddy_sim).get(filaman_id)
    if not twins:
        return False
    want = desired_spool(FilamanSpool.from_json(filaman_sim.spool_json(filaman_id))).fields
    return spool_json(bambuddy_sim, twins[0].id)[field] == want[field]


async def test_streams_opened_together_cover_every_worker(
    inventory: InventoryCoordinator, watcher: FilamanChangeWatcher, filaman_sim: FilamanSimulator
) -> None:
    assert filaman_sim.bus.count == 4  # the default: FilaMan's image
    await started(watcher, inventory, filaman_sim)
    assert inventory.last_result is not None
    assert inventory.last_result.reason == "filaman_sse_connected"
    assert all(filaman_sim.bus.streams_per_worker())


async def test_edits_on_every_worker_reach_bambuddy_by_their_stream(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=8, archived=0)
    await started(watcher, inventory, filaman_sim)
    for worker in range(4):
        spool_id = worker + 1
        begun = time.monotonic()
        with filaman_sim.served_by(worker):
            filaman_sim.record_measurement(spool_id, 1100.0 - 50.0 * worker)
        await wait_until(lambda s=spool_id: in_step(bambuddy_sim, filaman_sim, s, "weight_used"))
        assert time.monotonic() - begun < POLL  # the stream, not the poll
        # A field edit (no spool event) on the same worker: the stream, then a full sync.
        with filaman_sim.served_by(worker):
            filaman_sim.edit_spool(spool_id + 4, purchase_price=10.0 + worker)
    await wait_until(
        lambda: all(in_step(bambuddy_sim, filaman_sim, s, "cost_per_kg") for s in range(5, 9))
    )
    # Another filament for a spool (material, colour, maker change at once), on the last worker.
    asa = filaman_sim.add_filament(filaman_sim.add_manufacturer("Polymaker"), "ASA")
    with filaman_sim.served_by(3):
        filaman_sim.edit_spool(1, filament_id=asa)
    await wait_until(lambda: in_step(bambuddy_sim, filaman_sim, 1, "material"))
    assert watcher.blind_changes == 0


async def test_a_silenced_worker_is_found_out_and_covered_again(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    """FilaMan dropped a worker's subscribers (a queue ran over): the streams stay open, quiet."""
    populate(filaman_sim, count=3, archived=0)
    await started(watcher, inventory, filaman_sim)
    pools = watcher.pools_opened
    filaman_sim.bus.silence(2)
    with filaman_sim.served_by(2):
        filaman_sim.record_measurement(1, 1000.0)
    await wait_until(lambda: in_step(bambuddy_sim, filaman_sim, 1, "weight_used"), within=2.0)
    assert watcher.blind_changes == 1
    await wait_until(lambda: watcher.pools_opened == pools + 1)
    await wait_until(lambda: all(filaman_sim.bus.streams_per_worker()))
    # Heard again: a field edit on that worker arrives by its new stream.
    with filaman_sim.served_by(2):
        filaman_sim.edit_spool(2, purchase_price=12.5)
    await wait_until(lambda: in_step(bambuddy_sim, filaman_sim, 2, "cost_per_kg"))
    assert watcher.blind_changes == 1


async def test_new_and_archived_spools_reach_bambuddy_even_unheard(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=2, archived=0)
    await started(watcher, inventory, filaman_sim)
    for worker in range(4):
        filaman_sim.bus.silence(worker)  # nobody hears anything: the poll alone
    filament = filaman_sim.state.spools[1].filament_id
    new = filaman_sim.add_spool(filament)
    await wait_until(lambda: new in linked(bambuddy_sim), within=2.0)
    for worker in range(4):
        filaman_sim.bus.silence(worker)  # the pool opened anew: quiet it again
    filaman_sim.archive_spool(1)
    await wait_until(lambda: 1 not in linked(bambuddy_sim), within=2.0)


async def test_a_worker_restart_loses_nothing(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    """Its streams end; whatever it served before they are open again is found by a full sync."""
    populate(filaman_sim, count=3, archived=0)
    await started(watcher, inventory, filaman_sim)
    runs = inventory.run_count
    filaman_sim.restart_worker(1)
    with filaman_sim.served_by(1):
        filaman_sim.edit_spool(3, purchase_price=33.0)  # on the restarting worker: unheard
    await wait_until(lambda: in_step(bambuddy_sim, filaman_sim, 3, "cost_per_kg"))
    await settled(inventory, runs + 1)
    assert inventory.last_result is not None
    assert "filaman_sse_connected" in inventory.last_result.reason
    await wait_until(lambda: all(filaman_sim.bus.streams_per_worker()))


async def test_burst_of_events_is_one_sync_and_nothing_is_written_twice(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=3, archived=0)
    await started(watcher, inventory, filaman_sim)
    bambuddy_sim.request_log.clear()
    for grams in (900.0, 800.0, 700.0):
        filaman_sim.edit_spool(2, remaining_weight_g=grams)
    filaman_sim.publish_event({"event": "colors_changed"})
    await settled(inventory, 2)
    await asyncio.sleep(0.5)
    assert inventory.run_count == 2
    patches = [path for method, path in bambuddy_sim.request_log if method == "PATCH"]
    assert len(patches) == len(set(patches)) == 1  # the twin of spool 2, once


async def test_the_one_worker_path_is_as_fast_as_ever(
    hass: HomeAssistant, session: aiohttp.ClientSession, bambuddy: BambuddyClient
) -> None:
    single = FilamanSimulator(workers=1)
    await single.start(host="127.0.0.1", port=0)
    client = FilamanClient(session, single.url, single.create_api_key(), request_timeout=2)
    coordinator = inventory_coordinator(hass, bambuddy, client, sync_interval=timedelta(hours=1))
    watcher = FilamanChangeWatcher(client, coordinator, poll_active=POLL, poll_idle=POLL)
    try:
        populate(single, count=2, archived=0)
        await started(watcher, coordinator, single)
        twin = next(iter(s for s in await bambuddy.spools() if s.filaman_id == 1))
        begun = time.monotonic()
        single.record_measurement(1, 1100.0)
        want = desired_spool(FilamanSpool.from_json(single.spool_json(1))).fields["weight_used"]
        while (await bambuddy.spool(twin.id)).weight_used != want:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        assert time.monotonic() - begun < POLL
    finally:
        await watcher.stop()
        await coordinator.async_shutdown()
        await single.stop()


async def test_unrelated_and_odd_events_are_ignored(
    inventory: InventoryCoordinator, watcher: FilamanChangeWatcher, filaman_sim: FilamanSimulator
) -> None:
    await started(watcher, inventory, filaman_sim)
    for worker in range(4):
        with filaman_sim.served_by(worker):
            filaman_sim.publish_event({"event": "locations_changed"})
            filaman_sim.publish_event({"event": "printer_status", "printer_id": 1})
            filaman_sim.publish_event({"no_event": 1})
            filaman_sim.publish_event({"event": 42})
    await asyncio.sleep(0.4)
    assert inventory.run_count == 1
    filaman_sim.publish_event({"event": "manufacturers_changed"})
    await settled(inventory, 2)
    assert watcher.running


class _FlakyRequester:
    """Records requests; the first one raises, as a broken inventory might."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def async_request_sync(self, reason: str) -> None:
        self.requests.append(reason)
        if len(self.requests) == 1:
            raise RuntimeError("inventory bug")

    def async_spools_changed(self, *, events_only: bool = False) -> None:
        self.requests.append("spools_changed")


async def test_watcher_survives_a_failing_request(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    requester = _FlakyRequester()
    watcher = FilamanChangeWatcher(filaman, requester, poll_idle=POLL, poll_active=POLL)
    watcher.start()
    try:
        await wait_until(lambda: len(requester.requests) == 1)
        await wait_until(lambda: filaman_sim.bus.subscriber_count == watcher.stream_count)
        with filaman_sim.served_by(0):
            filaman_sim.publish_event({"event": "spools_changed"})
        await wait_until(lambda: "spools_changed" in requester.requests)
        assert requester.requests[0] == "filaman_sse_connected"
    finally:
        await watcher.stop()
    assert not watcher.running


async def test_filaman_down_then_back(
    inventory: InventoryCoordinator, watcher: FilamanChangeWatcher, filaman_sim: FilamanSimulator
) -> None:
    await started(watcher, inventory, filaman_sim)
    runs = inventory.run_count
    filaman_sim.down = True
    filaman_sim.drop_sse()
    await asyncio.sleep(0.3)
    filaman_sim.down = False
    await settled(inventory, runs + 1)
    await wait_until(lambda: filaman_sim.bus.subscriber_count >= watcher.stream_count)
