"""The inventory coordinator against both simulators over loopback: runs, requests, echoes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.coordinator import InventoryCoordinator
from custom_components.filaman_bambuddy.inventory import SyncResult
from custom_components.filaman_bambuddy.inventory.plan import values_equal
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .conftest import inventory_coordinator, wait_until
from .populate import expected, linked, populate, spool_json, writes

SPOOL_PATH = r"^/api/v1/inventory/spools/\d+$"


async def test_fifty_spools_are_linked_with_every_field_right(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    stock = populate(filaman_sim, count=50)
    assert stock.printer_id == 1

    result = await inventory.async_sync("test")

    assert (result.created, result.updated, result.deleted, result.failed) == (50, 0, 0, 0)
    assert result.complete
    assert result.status == "success"
    assert result.linked == inventory.linked_count == 50
    twins = linked(bambuddy_sim)
    assert sorted(twins) == stock.active
    for spool_id in stock.active:
        (twin,) = twins[spool_id]
        desired = expected(filaman_sim, spool_id, stock.printer_id)
        stored = spool_json(bambuddy_sim, twin.id)
        for key, value in desired.fields.items():
            assert values_equal(key, value, stored[key]), (spool_id, key, value, stored[key])
        assert stored["slicer_filament"] is None
    # Hand-checked shapes: captured-style 1250 g gross / 250 g tare spool, shorthand colour,
    # invalid colour, null gross, spool- and filament-level temperatures.
    first = spool_json(bambuddy_sim, twins[1][0].id)
    assert (first["label_weight"], first["core_weight"], first["weight_used"]) == (1000, 250, 0.0)
    assert (first["rgba"], first["tag_uid"], first["weight_locked"]) == (
        "00AE42FF",
        "04F5023A112200",
        True,
    )
    assert (first["nozzle_temp_min"], first["nozzle_temp_max"]) == (190, 220)
    assert first["cost_per_kg"] == 20.0
    second = spool_json(bambuddy_sim, twins[2][0].id)
    assert (second["rgba"], second["label_weight"], second["weight_used"]) == (
        "AABBCCFF",
        1000,
        7.25,
    )
    assert (second["nozzle_temp_min"], second["nozzle_temp_max"]) == (205, 225)
    assert spool_json(bambuddy_sim, twins[5][0].id)["rgba"] is None  # "#XYZ" was not sent

    bambuddy_sim.request_log.clear()
    filaman_sim.request_log.clear()
    again = await inventory.async_sync("again")

    assert writes(bambuddy_sim.request_log) == []
    assert (again.created, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 50)
    # Printer params come from one export per run, never per spool.
    param_reads = [path for _, path in filaman_sim.request_log if "param" in path]
    assert param_reads == ["/api/v1/printers/1/params/export"]


async def test_failed_patch_deletes_nothing_and_is_counted(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    stock = populate(filaman_sim, count=10, archived=0)
    await inventory.async_sync("initial")
    before = {link: [s.id for s in twins] for link, twins in linked(bambuddy_sim).items()}
    filaman_sim.edit_spool(3, remaining_weight_g=100.0)
    filaman_sim.edit_spool(4, remaining_weight_g=100.0)
    bambuddy_sim.fail_next("PATCH", SPOOL_PATH, status=500)

    result = await inventory.async_sync("test")

    assert (result.updated, result.failed, result.deleted, result.created) == (1, 1, 0, 0)
    assert not result.complete
    assert result.status == "partial"
    assert result.error is None
    after = {link: [s.id for s in twins] for link, twins in linked(bambuddy_sim).items()}
    assert after == before
    assert sorted(after) == stock.active
    assert inventory.consecutive_failures == 1
    # The next run repairs what failed and touches nothing else.
    repaired = await inventory.async_sync("retry")
    assert (repaired.updated, repaired.failed, repaired.deleted) == (1, 0, 0)
    assert inventory.consecutive_failures == 0
    assert inventory.last_success is repaired


async def test_failed_create_deletes_nothing(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=6, archived=0)
    bambuddy_sim.fail_next("POST", r"^/api/v1/inventory/spools$", status=422)
    result = await inventory.async_sync("test")
    assert (result.created, result.failed, result.deleted) == (5, 1, 0)
    assert len(linked(bambuddy_sim)) == 5
    assert (await inventory.async_sync("retry")).created == 1
    assert len(linked(bambuddy_sim)) == 6


async def test_archiving_a_filaman_spool_removes_its_twin(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=5, archived=0)
    await inventory.async_sync("initial")
    filaman_sim.archive_spool(2)
    filaman_sim.delete_spool_permanent(4)

    result = await inventory.async_sync("test")

    assert (result.deleted, result.unchanged, result.failed) == (2, 3, 0)
    assert sorted(linked(bambuddy_sim)) == [1, 3, 5]
    assert inventory.linked_count == 3


async def test_hand_made_spool_survives_sync_and_full_resync_removes_it(
    inventory: InventoryCoordinator,
    bambuddy: BambuddyClient,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=4, archived=0)
    mine = await bambuddy.create_spool({"material": "PETG", "note": "bought at the fair"})
    await inventory.async_sync("initial")
    old_ids = {twins[0].id for twins in linked(bambuddy_sim).values()}
    assert mine.id in bambuddy_sim.db.spools

    result = await inventory.async_full_resync()

    assert result.full_resync
    assert (result.deleted, result.created, result.failed) == (5, 4, 0)
    assert mine.id not in bambuddy_sim.db.spools
    assert len(bambuddy_sim.db.spools) == 4
    assert sorted(linked(bambuddy_sim)) == [1, 2, 3, 4]
    assert not old_ids & {twins[0].id for twins in linked(bambuddy_sim).values()}


async def test_full_resync_deletes_nothing_when_filaman_cannot_be_read(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=3, archived=0)
    await inventory.async_sync("initial")
    filaman_sim.fail_next("GET", r"^/api/v1/spools$", status=503)
    result = await inventory.async_full_resync()
    assert result.error is not None
    assert result.status == "failed"
    assert result.deleted == 0
    assert len(bambuddy_sim.db.spools) == 3


async def test_filaman_listing_failure_mid_way_deletes_nothing(
    inventory: InventoryCoordinator,
    bambuddy: BambuddyClient,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    stock = populate(filaman_sim, count=205, archived=0)  # two pages of 200
    twin = await bambuddy.create_spool({"material": "PLA", "note": "filaman:1"})
    filaman_sim.archive_spool(1)  # a complete listing would now delete the twin
    active = stock.active[1:]
    # Page 1 is answered (exactly as the server would), then page 2 fails.
    first_page = {
        "items": [filaman_sim.spool_json(spool_id) for spool_id in active[:200]],
        "page": 1,
        "page_size": 200,
        "total": len(active),
    }
    filaman_sim.fail_next("GET", r"^/api/v1/spools$", status=200, body=first_page)
    filaman_sim.fail_next("GET", r"^/api/v1/spools$", status=500)
    bambuddy_sim.request_log.clear()
    result = await inventory.async_sync("test")

    assert result.error is not None
    assert not result.complete
    assert (result.deleted, result.created, result.updated) == (0, 0, 0)
    assert writes(bambuddy_sim.request_log) == []
    assert twin.id in bambuddy_sim.db.spools
    assert inventory.filaman_spools == {}
    assert filaman_sim.request_log.count(("GET", "/api/v1/spools")) == 2


async def test_restores_a_twin_archived_in_bambuddy(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=2, archived=0)
    await inventory.async_sync("initial")
    twin_id = linked(bambuddy_sim)[1][0].id
    bambuddy_sim.db.spools[twin_id].archived_at = datetime.now(UTC)
    bambuddy_sim.request_log.clear()

    result = await inventory.async_sync("test")

    assert (result.updated, result.created, result.deleted) == (1, 0, 0)
    assert bambuddy_sim.db.spools[twin_id].archived_at is None
    assert writes(bambuddy_sim.request_log) == [
        ("POST", f"/api/v1/inventory/spools/{twin_id}/restore")
    ]


async def test_duplicates_are_reduced_to_the_assigned_one(
    inventory: InventoryCoordinator,
    bambuddy: BambuddyClient,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=2, archived=0)
    await inventory.async_sync("initial")
    original = linked(bambuddy_sim)[1][0].id
    duplicate = await bambuddy.create_spool({"material": "PLA", "note": "filaman:1"})
    printer_id = bambuddy_sim.add_printer("Workshop")
    await bambuddy.assign(duplicate.id, printer_id, 0, 0)

    result = await inventory.async_sync("test")

    # The surplus twin is archived, never deleted (it may carry usage history).
    assert (result.deleted, result.archived) == (0, 1)
    assert bambuddy_sim.db.spools[original].archived_at is not None
    active = [s for s in linked(bambuddy_sim)[1] if s.archived_at is None]
    assert [s.id for s in active] == [duplicate.id]
    assert (await inventory.async_sync("again")).writes == 0


async def test_unlinked_spools_are_untouched_by_sync(
    inventory: InventoryCoordinator,
    bambuddy: BambuddyClient,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    mine = await bambuddy.create_spool({"material": "PETG", "note": "filaman:x"})
    populate(filaman_sim, count=1, archived=0)
    bambuddy_sim.request_log.clear()
    await inventory.async_sync("test")
    assert spool_json(bambuddy_sim, mine.id)["material"] == "PETG"
    assert all(not path.endswith(f"/{mine.id}") for _, path in bambuddy_sim.request_log)


async def test_concurrent_callers_share_one_run(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator
) -> None:
    populate(filaman_sim, count=3, archived=0)
    first, second = await asyncio.gather(
        inventory.async_sync("button"), inventory.async_sync("service")
    )
    assert first is second
    assert inventory.run_count == 1
    assert first.reason == "button, service"


async def test_caller_during_a_run_gets_a_run_that_started_after_it(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=3, archived=0)
    bambuddy_sim.latency = 0.05
    first = asyncio.create_task(inventory.async_sync("first"))
    await wait_until(lambda: inventory.running)
    asked_at = datetime.now(UTC)
    second = await inventory.async_sync("second")
    assert second is not await first
    assert second.started_at >= asked_at
    assert second.reason == "second"
    assert inventory.run_count == 2


async def test_triggers_during_a_run_cause_exactly_one_follow_up(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=3, archived=0)
    results: list[SyncResult] = []
    inventory.async_add_listener(lambda: results.append(inventory.last_result))  # type: ignore[arg-type]
    bambuddy_sim.latency = 0.03
    first = asyncio.create_task(inventory.async_sync("first"))
    await wait_until(lambda: inventory.running)
    for _ in range(5):
        inventory.async_request_sync("sse")
    waiters = [asyncio.create_task(inventory.async_sync(f"caller {n}")) for n in range(3)]
    await first
    follow_ups = await asyncio.gather(*waiters)
    assert len({id(result) for result in follow_ups}) == 1
    await asyncio.sleep(0.1)
    assert inventory.run_count == 2
    assert [r.reason for r in results] == ["first", "sse, caller 0, caller 1, caller 2"]
    assert inventory.last_result is results[-1]


async def test_the_interval_runs_a_sync_and_stops_with_the_coordinator(
    hass: HomeAssistant, inventory: InventoryCoordinator, filaman_sim: FilamanSimulator
) -> None:
    populate(filaman_sim, count=1, archived=0)
    inventory.async_start_interval()
    inventory.async_start_interval()  # once is enough
    async_fire_time_changed(hass, dt_util.utcnow() + inventory.sync_interval + timedelta(seconds=1))
    await wait_until(lambda: inventory.run_count == 1 and not inventory.running)
    assert inventory.last_result is not None
    assert inventory.last_result.reason == "interval"
    await inventory.async_shutdown()
    async_fire_time_changed(hass, dt_util.utcnow() + 3 * inventory.sync_interval)
    await asyncio.sleep(0.1)
    assert inventory.run_count == 1


async def test_debounced_requests_coalesce(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator
) -> None:
    populate(filaman_sim, count=1, archived=0)
    done = asyncio.Event()
    inventory.async_add_listener(done.set)
    for _ in range(10):
        inventory.async_request_sync("burst")
        await asyncio.sleep(0.01)
    await asyncio.wait_for(done.wait(), 2)
    await asyncio.sleep(0.1)
    assert inventory.run_count == 1


async def test_starting_run_absorbs_a_waiting_debounced_request(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator
) -> None:
    populate(filaman_sim, count=1, archived=0)
    inventory.async_request_sync("sse")
    result = await inventory.async_sync("button")
    assert result.reason == "sse, button"  # in the order they were asked for
    await asyncio.sleep(0.3)
    assert inventory.run_count == 1


async def test_echo_of_own_writes_does_not_loop(
    hass: HomeAssistant,
    bambuddy: BambuddyClient,
    filaman: FilamanClient,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=8, archived=0)
    inventory = inventory_coordinator(hass, bambuddy, filaman, echo_window=0.5)
    echoes = 0

    async def pump() -> None:
        nonlocal echoes
        async with bambuddy.connect_websocket(await bambuddy.ws_token()) as ws:
            async for event in ws:
                if event.type == "inventory_changed":
                    echoes += 1
                    inventory.async_bambuddy_inventory_changed()

    listener = asyncio.create_task(pump())
    try:
        await asyncio.sleep(0.1)
        result = await inventory.async_sync("initial")
        assert result.created == 8
        await asyncio.sleep(0.3)
        assert echoes == 8
        assert inventory.run_count == 1
        # A foreign write after the echo window does trigger a sync.
        await asyncio.sleep(0.3)
        twin_id = linked(bambuddy_sim)[1][0].id
        await bambuddy.patch_spool(twin_id, {"brand": "Someone else"})
        await wait_until(lambda: inventory.run_count == 2)
        await wait_until(lambda: not inventory.running)
        assert spool_json(bambuddy_sim, twin_id)["brand"] == "Bambu Lab"
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await inventory.async_shutdown()


async def test_close_cancels_timers_and_waiters(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=2, archived=0)
    inventory.async_request_sync("later")
    bambuddy_sim.latency = 0.2
    waiter = asyncio.create_task(inventory.async_sync("cut short"))
    await wait_until(lambda: inventory.running)
    await inventory.async_shutdown()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not inventory.running
    inventory.async_request_sync("after close")
    with pytest.raises(RuntimeError):
        await inventory.async_sync("after close")


async def test_listener_errors_do_not_break_runs(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator
) -> None:
    populate(filaman_sim, count=1, archived=0)
    seen: list[SyncResult] = []

    def broken() -> None:
        raise ValueError("listener bug")

    def record() -> None:
        assert inventory.last_result is not None
        seen.append(inventory.last_result)

    inventory.async_add_listener(broken)
    remove = inventory.async_add_listener(record)
    first = await inventory.async_sync("one")
    remove()
    await inventory.async_sync("two")
    assert seen == [first]
    data = first.as_dict()
    assert data["status"] == "success"
    assert data["created"] == 1
    assert data["started_at"].endswith("+00:00")
    assert first.started_at.tzinfo is not None
    assert first.finished_at >= first.started_at


async def test_bambuddy_down_reports_failure_without_writes(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=2, archived=0)
    bambuddy_sim.fail_next("GET", r"^/api/v1/inventory/spools$", status=500)
    result = await inventory.async_sync("test")
    assert result.status == "failed"
    assert result.writes == 0
    assert inventory.linked_count is None
    assert len(inventory.filaman_spools) == 2


# --- Bambuddy's own RFID spools ------------------------------------------------------------

RFID_TAG = "A1B2C3D4E5F60708"


def rfid_world(filaman_sim: FilamanSimulator, bambuddy_sim: BambuddySimulator) -> tuple[int, int]:
    """(FilaMan spool with the tag, Bambuddy's rfid_auto spool in A1 of a new printer)."""
    maker = filaman_sim.add_manufacturer("Bambu Lab")
    filament = filaman_sim.add_filament(maker, "PLA", "Basic", color_hex="#00AE42")
    spool = filaman_sim.add_spool(filament, rfid_uid=RFID_TAG)
    printer_id = bambuddy_sim.add_printer("Workshop")
    bambuddy_sim.set_tray(
        printer_id, 0, 0, tray_type="PLA", tray_color="00AE42FF", tag_uid=RFID_TAG,
        tray_uuid="0123456789ABCDEF0123456789ABCDEF",
    )  # fmt: skip
    (auto,) = bambuddy_sim.db.spools
    return spool, auto


async def test_rfid_spool_is_adopted_once_and_counted(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator, bambuddy_sim: BambuddySimulator
) -> None:
    spool, auto = rfid_world(filaman_sim, bambuddy_sim)
    result = await inventory.async_sync("test")
    assert (result.created, result.updated, result.adopted, result.linked) == (0, 1, 1, 1)
    assert bambuddy_sim.db.spools[auto].fields["note"] == f"filaman:{spool}"
    assert bambuddy_sim.db.spools[auto].fields["weight_locked"] is True
    again = await inventory.async_sync("again")
    assert (again.writes, again.adopted) == (0, 0)


async def test_surplus_twin_archive_failure_is_retried_not_deleted(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator, bambuddy_sim: BambuddySimulator
) -> None:
    spool, auto = rfid_world(filaman_sim, bambuddy_sim)
    twin = bambuddy_sim.add_spool(material="PLA", tag_uid=RFID_TAG, note=f"filaman:{spool}").id
    bambuddy_sim.fail_next("POST", r"/archive$", 500)
    failed = await inventory.async_sync("test")
    assert (failed.failed, failed.archived, failed.status) == (1, 0, "partial")
    assert bambuddy_sim.db.spools[twin].archived_at is None
    healed = await inventory.async_sync("retry")
    assert (healed.archived, healed.status) == (1, "success")
    assert bambuddy_sim.db.spools[twin].archived_at is not None
    assert bambuddy_sim.db.spools[auto].fields["note"] == f"filaman:{spool}"


async def test_surplus_twin_gone_before_its_archive_is_no_failure(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator, bambuddy_sim: BambuddySimulator
) -> None:
    spool, _auto = rfid_world(filaman_sim, bambuddy_sim)
    bambuddy_sim.add_spool(material="PLA", tag_uid=RFID_TAG, note=f"filaman:{spool}")
    bambuddy_sim.fail_next("POST", r"/archive$", 404, body={"detail": "Spool not found"})
    result = await inventory.async_sync("test")
    assert (result.failed, result.archived, result.status) == (0, 0, "success")


async def test_no_merge_while_assignments_cannot_be_read(
    inventory: InventoryCoordinator, filaman_sim: FilamanSimulator, bambuddy_sim: BambuddySimulator
) -> None:
    spool, auto = rfid_world(filaman_sim, bambuddy_sim)
    twin = bambuddy_sim.add_spool(material="PLA", tag_uid=RFID_TAG, note=f"filaman:{spool}").id
    bambuddy_sim.fail_next("GET", r"/inventory/assignments$", 500)
    result = await inventory.async_sync("test")
    assert (result.archived, result.adopted) == (0, 0)
    assert bambuddy_sim.db.spools[auto].fields["note"] is None  # not guessed without the slots
    assert bambuddy_sim.db.spools[twin].archived_at is None


async def test_a_tag_conflict_is_reported_once_and_clears(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool, _auto = rfid_world(filaman_sim, bambuddy_sim)
    other = filaman_sim.add_spool(filaman_sim.state.spools[spool].filament_id)
    filaman_sim.state.spools[other].rfid_uid = RFID_TAG.lower()  # the same tag, another form
    first = await inventory.async_sync("test")
    second = await inventory.async_sync("again")
    assert (
        [c.kind for c in first.tag_conflicts]
        == [c.kind for c in second.tag_conflicts]
        == ["shared_tag"]
    )
    assert sum("RFID tag" in r.getMessage() for r in caplog.records) == 1
    filaman_sim.state.spools[other].rfid_uid = None
    assert (await inventory.async_sync("fixed")).tag_conflicts == ()
