"""The targeted path: a FilaMan edit updates exactly its twin, or falls back to a full sync.

Each case starts from a complete sync (which primes the change finder), changes FilaMan the way
a user or the integration would, and gives the coordinator the hint FilaMan's change stream
gives (``spools_changed``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from custom_components.filaman_bambuddy.coordinator import InventoryCoordinator
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .conftest import wait_until
from .populate import linked, populate

TARE = 250.0  # populate's spools weigh 1,250 g gross with a 250 g tare unless noted


def twin_used(bambuddy_sim: BambuddySimulator, filaman_id: int) -> float:
    (twin,) = [s for s in linked(bambuddy_sim)[filaman_id] if s.archived_at is None]
    return float(bambuddy_sim.db.spools[twin.id].fields["weight_used"])


def listings(filaman_sim: FilamanSimulator, bambuddy_sim: BambuddySimulator) -> int:
    """Full listings either server has answered."""
    return filaman_sim.request_log.count(("GET", "/api/v1/spools")) + (
        bambuddy_sim.request_log.count(("GET", "/api/v1/inventory/spools"))
    )


async def synced(inventory: InventoryCoordinator, filaman_sim: FilamanSimulator) -> list[int]:
    """Ten spools, synced once (the finder is primed); returns their ids."""
    spools = populate(filaman_sim, count=10, archived=0).active
    assert (await inventory.async_sync("initial")).complete
    return spools


async def test_a_weighed_spool_reaches_its_twin_without_a_listing(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    spool = (await synced(inventory, filaman_sim))[0]
    runs, reads = inventory.run_count, listings(filaman_sim, bambuddy_sim)
    filaman_sim.record_measurement(spool, 1250.0 - 100.0)  # 100 g used
    inventory.async_spools_changed()
    await wait_until(lambda: twin_used(bambuddy_sim, spool) == 100.0)
    await wait_until(lambda: not inventory.running)
    assert (inventory.run_count, listings(filaman_sim, bambuddy_sim)) == (runs, reads)
    assert inventory.last_result is not None
    assert (inventory.last_result.updated, inventory.last_result.reason) == (
        1,
        f"filaman_change: {spool}",
    )


async def test_the_poll_s_nudge_after_a_handled_edit_costs_no_listing(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    """The watcher's poll reports every new spool event, also ones a hint already brought:
    a pass that finds nothing new then has nothing to do (a hint would mean a field edit)."""
    spool = (await synced(inventory, filaman_sim))[0]
    filaman_sim.record_measurement(spool, 1250.0 - 40.0)
    inventory.async_spools_changed()
    await wait_until(lambda: twin_used(bambuddy_sim, spool) == 40.0)
    await wait_until(lambda: not inventory.running)
    runs, reads = inventory.run_count, listings(filaman_sim, bambuddy_sim)
    looks = filaman_sim.request_log.count(("GET", "/api/v1/spools/all-events"))
    inventory.async_spools_changed(events_only=True)
    await wait_until(
        lambda: filaman_sim.request_log.count(("GET", "/api/v1/spools/all-events")) == looks + 1
    )
    await asyncio.sleep(0.4)  # longer than the debounce a full sync would wait out
    assert (inventory.run_count, listings(filaman_sim, bambuddy_sim)) == (runs, reads)
    # The same nothing-new from a change stream: a field edit, which a full sync finds.
    inventory.async_spools_changed()
    await wait_until(lambda: inventory.run_count == runs + 1 and not inventory.running)


async def test_a_burst_of_edits_costs_small_round_trips_not_listings(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    spools = await synced(inventory, filaman_sim)
    runs, reads = inventory.run_count, listings(filaman_sim, bambuddy_sim)
    for grams, spool in enumerate(spools, start=1):
        filaman_sim.record_measurement(spool, 1250.0 - grams)
        inventory.async_spools_changed()  # one hint per edit, while passes run
    for grams, spool in enumerate(spools, start=1):
        await wait_until(lambda s=spool, g=grams: twin_used(bambuddy_sim, s) == g)
    await wait_until(lambda: not inventory.running)
    assert (inventory.run_count, listings(filaman_sim, bambuddy_sim)) == (runs, reads)


async def test_a_consumption_merged_into_an_earlier_event_is_found(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    """FilaMan's 5-minute aggregation updates an event in place: same id, more grams."""
    spool = (await synced(inventory, filaman_sim))[0]
    runs = inventory.run_count
    for used in (4.0, 10.0):
        filaman_sim.record_consumption(spool, 6.0 if used == 10.0 else 4.0)
        inventory.async_spools_changed()
        await wait_until(lambda u=used: twin_used(bambuddy_sim, spool) == u)
    (event,) = filaman_sim.consumption_events(spool)
    assert event.delta_weight_g == -10.0  # one merged event
    assert inventory.run_count == runs


@pytest.mark.parametrize(
    "case",
    [
        "no_event",  # a field edit leaves no spool event
        "new_spool",  # created since the last listing: no twin known yet
        "archived",  # the twin must go, which only a complete listing may decide
        "deleted",
        "rfid_tag",  # adoption and conflicts need both listings
        "reused_id",  # the twin was made for an earlier spool with this id
        "bambuddy_error",  # never a write decided from a failed read
    ],
)
async def test_what_the_targeted_path_cannot_decide_goes_to_a_full_sync(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
    case: str,
) -> None:
    spools = await synced(inventory, filaman_sim)
    spool = spools[1]
    runs = inventory.run_count
    if case == "no_event":
        filaman_sim.edit_spool(spool, remaining_weight_g=900.0)
    elif case == "new_spool":
        spool = filaman_sim.add_spool(filaman_sim.state.spools[spools[0]].filament_id)
        filaman_sim.record_measurement(spool, 1200.0)
    elif case == "archived":
        filaman_sim.record_measurement(spool, 1200.0)
        filaman_sim.archive_spool(spool)
    elif case == "deleted":
        filaman_sim.record_measurement(spool, 1200.0)
        filaman_sim.delete_spool_permanent(spool)
    elif case == "rfid_tag":
        filaman_sim.edit_spool(spool, rfid_uid="04:A1:7C:9B:44:55:66")
        filaman_sim.record_measurement(spool, 1200.0)
    elif case == "reused_id":
        (twin,) = linked(bambuddy_sim)[spool]
        bambuddy_sim.db.spools[twin.id].created_at -= timedelta(days=2)
        filaman_sim.record_measurement(spool, 1200.0)
    else:
        bambuddy_sim.fail_next("GET", r"^/api/v1/inventory/spools/\d+$", status=500)
        filaman_sim.record_measurement(spool, 1200.0)
    inventory.async_spools_changed()
    await wait_until(lambda: inventory.run_count == runs + 1 and not inventory.running)
    result = inventory.last_result
    assert result is not None
    assert result.reason == "filaman_sse"
    assert result.complete
    twins = {
        fid: [t for t in ts if t.archived_at is None] for fid, ts in linked(bambuddy_sim).items()
    }
    if case in ("archived", "deleted"):
        assert not twins.get(spool)
    else:
        assert len(twins[spool]) == 1


async def test_before_any_complete_sync_a_hint_is_a_full_sync(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator, bambuddy_sim: BambuddySimulator
) -> None:
    populate(filaman_sim, count=3, archived=0)
    inventory.async_spools_changed()
    await wait_until(lambda: inventory.run_count == 1 and not inventory.running)
    assert len(linked(bambuddy_sim)) == 3
