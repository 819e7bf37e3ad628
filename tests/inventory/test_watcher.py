"""FilamanChangeWatcher: FilaMan SSE hints → debounced syncs, end to end over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import time

import pytest

from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.coordinator import InventoryCoordinator
from custom_components.filaman_bambuddy.inventory import FilamanChangeWatcher
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .conftest import wait_until
from .populate import linked, populate, spool_json


@pytest.fixture
async def watcher(
    filaman: FilamanClient, inventory: InventoryCoordinator
) -> AsyncIterator[FilamanChangeWatcher]:
    change_watcher = FilamanChangeWatcher(filaman, inventory, reconnect_backoff=0.05)
    yield change_watcher
    await change_watcher.stop()


async def settled(inventory: InventoryCoordinator, runs: int) -> None:
    await wait_until(lambda: inventory.run_count >= runs and not inventory.running)


async def test_sse_edit_reaches_bambuddy_within_a_second_and_a_half(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=5, archived=0)
    watcher.start()
    await settled(inventory, 1)  # the connect itself asks for a sync
    assert inventory.last_result is not None
    assert inventory.last_result.reason == "filaman_sse_connected"
    twin_id = linked(bambuddy_sim)[1][0].id

    started = time.monotonic()
    filaman_sim.edit_spool(1, remaining_weight_g=400.0)
    await wait_until(lambda: spool_json(bambuddy_sim, twin_id)["weight_used"] == 600.0, within=1.5)

    assert time.monotonic() - started < 1.5
    await settled(inventory, 2)
    assert inventory.run_count == 2
    assert inventory.last_result.reason == "filaman_sse"


async def test_burst_of_events_is_one_sync(
    inventory: InventoryCoordinator,
    filaman: FilamanClient,
    filaman_sim: FilamanSimulator,
) -> None:
    populate(filaman_sim, count=3, archived=0)
    watcher = FilamanChangeWatcher(filaman, inventory)
    watcher.start()
    await settled(inventory, 1)
    for grams in (900.0, 800.0, 700.0):
        filaman_sim.edit_spool(2, remaining_weight_g=grams)
    filaman_sim.publish_event({"event": "colors_changed"})
    await settled(inventory, 2)
    await asyncio.sleep(0.3)
    await watcher.stop()
    assert inventory.run_count == 2


async def test_reconnect_asks_for_a_sync(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
) -> None:
    populate(filaman_sim, count=1, archived=0)
    watcher.start()
    await settled(inventory, 1)
    filaman_sim.drop_sse()
    await settled(inventory, 2)
    assert inventory.last_result is not None
    assert inventory.last_result.reason == "filaman_sse_connected"


async def test_unrelated_and_odd_events_are_ignored(
    inventory: InventoryCoordinator,
    watcher: FilamanChangeWatcher,
    filaman_sim: FilamanSimulator,
) -> None:
    watcher.start()
    await settled(inventory, 1)
    filaman_sim.publish_event({"event": "locations_changed"})
    filaman_sim.publish_event({"event": "printer_status", "printer_id": 1, "connected": True})
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

    def async_spools_changed(self) -> None:
        self.requests.append("spools_changed")


async def test_watcher_survives_a_failing_request(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    requester = _FlakyRequester()
    watcher = FilamanChangeWatcher(filaman, requester, event_names=("spools_changed",))
    watcher.start()
    try:
        await wait_until(lambda: len(requester.requests) == 1)
        filaman_sim.publish_event({"event": "filaments_changed"})  # not in event_names
        filaman_sim.publish_event({"event": "spools_changed"})
        await wait_until(lambda: len(requester.requests) == 2)
        assert requester.requests == ["filaman_sse_connected", "spools_changed"]
    finally:
        await watcher.stop()
    assert not watcher.running
