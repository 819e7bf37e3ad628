"""Exactly-once debits against both simulators over loopback."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from custom_components.filaman_bambuddy.api.errors import NotFoundError
from custom_components.filaman_bambuddy.api.events import SpoolUsageLoggedEvent, parse_ws_event
from custom_components.filaman_bambuddy.consumption import (
    ConsumptionProcessor,
    EntryState,
    JsonFileLedgerStore,
    MemoryLedgerStore,
)

from .conftest import FULL, World, drained, settle


async def test_print_on_two_slots_debits_both_linked_spools_exactly(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    assert processor.cursor == 0

    await world.bsim.run_print(world.printer_id, "Benchy", grams={(0, 0): 12.5, (0, 1): 3.2})
    await settle(processor, "spool_usage_logged")

    assert world.remaining(world.fspool_a) == FULL - 12.5
    assert world.remaining(world.fspool_b) == FULL - 3.2
    assert world.deltas(world.fspool_a) == [-12.5]
    assert world.deltas(world.fspool_b) == [-3.2]
    rows = {row.spool_id: row for row in world.bsim.db.usage}
    (event_a,) = world.fsim.consumption_events(world.fspool_a)
    assert event_a.note == f"Bambuddy: Benchy (usage #{rows[world.bspool_a].id})"
    # The print's time (Bambuddy stores naive UTC), not the time of the debit.
    assert event_a.event_at == rows[world.bspool_a].created_at.replace(tzinfo=UTC)
    assert processor.pending_count == 0
    assert processor.cursor == max(row.id for row in world.bsim.db.usage)

    assert sorted((d.filaman_spool_id, d.grams, d.remaining_after) for d in world.debits) == [
        (world.fspool_a, 12.5, FULL - 12.5),
        (world.fspool_b, 3.2, FULL - 3.2),
    ]
    assert processor.last_debit is not None
    (usage,) = world.prints
    assert usage.print_name == "Benchy"
    assert usage.status == "completed"
    assert {(s.filaman_spool_id, s.grams, s.debited) for s in usage.spools} == {
        (world.fspool_a, 12.5, True),
        (world.fspool_b, 3.2, True),
    }
    snapshot = processor.snapshot()
    assert snapshot["pending_count"] == 0
    assert "api_key" not in str(snapshot).lower()


async def test_the_same_wake_twice_debits_once(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 7.5})
    event = parse_ws_event(world.frames[-1])
    assert isinstance(event, SpoolUsageLoggedEvent)
    await processor.wake("spool_usage_logged", event)
    await processor.wake("spool_usage_logged", event)
    await processor.wait_idle()
    await settle(processor, "reconnect")

    assert world.deltas(world.fspool_a) == [-7.5]
    assert world.remaining(world.fspool_a) == FULL - 7.5
    assert world.posts() == 1
    assert len(world.prints) == 1


async def test_first_start_does_not_replay_history(world: World) -> None:
    await world.bsim.run_print(world.printer_id, "Old", grams={(0, 0): 50.0})
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    assert world.deltas(world.fspool_a) == []
    assert processor.cursor == 1

    await world.bsim.run_print(world.printer_id, "New", grams={(0, 0): 5.0})
    await settle(processor)
    assert world.deltas(world.fspool_a) == [-5.0]
    assert world.remaining(world.fspool_a) == FULL - 5.0


async def test_replay_from_debits_history_on_first_start(world: World) -> None:
    await world.bsim.run_print(world.printer_id, "Old", grams={(0, 0): 50.0})
    await world.bsim.run_print(world.printer_id, "Older kept", grams={(0, 1): 2.0})
    processor = world.processor()
    await processor.start(replay_from=2)
    await processor.wait_idle()
    assert world.deltas(world.fspool_a) == []
    assert world.deltas(world.fspool_b) == [-2.0]


async def test_filaman_down_for_the_whole_print_then_back(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.fsim.down = True
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 12.5, (0, 1): 3.2})
    await settle(processor)
    assert processor.pending_count == 2
    assert processor.last_error is not None
    assert world.prints == []

    world.fsim.down = False
    await drained(processor)  # the backoff retry, no wake
    assert world.deltas(world.fspool_a) == [-12.5]
    assert world.deltas(world.fspool_b) == [-3.2]
    assert world.remaining(world.fspool_a) == FULL - 12.5
    assert world.remaining(world.fspool_b) == FULL - 3.2
    assert processor.snapshot()["last_error"] is None
    assert len(world.prints) == 1


async def test_restart_with_a_pending_queue(world: World, tmp_path: Path) -> None:
    store = JsonFileLedgerStore(tmp_path / "ledger.json")
    first = world.processor(store=store)
    await first.start()
    await first.wait_idle()
    world.fsim.down = True
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 12.5, (0, 1): 3.2})
    await settle(first)
    assert first.pending_count == 2
    await first.close()

    world.fsim.down = False
    second = world.processor(store=JsonFileLedgerStore(tmp_path / "ledger.json"))
    await second.start()
    await second.wait_idle()
    assert second.pending_count == 0
    assert world.deltas(world.fspool_a) == [-12.5]
    assert world.deltas(world.fspool_b) == [-3.2]
    assert world.posts() == 2


class CrashAfterPostStore(MemoryLedgerStore):
    """Saves fail once an entry is done: "disk" keeps the in_flight record, like a crash."""

    async def save(self, data: dict[str, object]) -> None:
        entries = data.get("entries")
        assert isinstance(entries, list)
        if any(entry["state"] == EntryState.DONE for entry in entries):
            raise OSError("disk gone")
        await super().save(data)


async def test_crash_after_filaman_applied_before_done_was_saved(world: World) -> None:
    crashing = CrashAfterPostStore()
    first = world.processor(store=crashing)
    await first.start()
    await first.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 12.5})
    await settle(first)
    assert world.posts() == 1
    await first.close()  # the final flush fails as well
    assert crashing.data is not None
    (saved,) = [entry for entry in crashing.data["entries"] if entry["usage_id"] == 1]
    assert saved["state"] == EntryState.IN_FLIGHT

    second = world.processor(store=MemoryLedgerStore(crashing.data))
    await second.start()
    await second.wait_idle()
    assert second.pending_count == 0
    assert world.posts() == 1  # reconciled, not sent again
    assert world.deltas(world.fspool_a) == [-12.5]
    assert world.remaining(world.fspool_a) == FULL - 12.5
    (entry,) = second.entries()
    assert entry.state is EntryState.DONE
    assert entry.event_id == world.fsim.consumption_events(world.fspool_a)[0].id


async def test_crash_after_a_merged_debit_is_reconciled_by_aggregation_count(
    world: World,
) -> None:
    crashing = CrashAfterPostStore()
    first = world.processor(store=crashing)
    await first.start()
    await first.wait_idle()
    world.fsim.record_consumption(world.fspool_a, 5.0, note="by hand")  # merge target
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 12.5})
    await settle(first)
    await first.close()

    second = world.processor(store=MemoryLedgerStore(crashing.data))
    await second.start()
    await second.wait_idle()
    assert world.posts() == 1
    (event,) = world.fsim.consumption_events(world.fspool_a)
    assert event.delta_weight_g == -17.5
    assert event.meta is not None
    assert event.meta["aggregation_count"] == 2
    assert world.remaining(world.fspool_a) == FULL - 17.5
    assert second.entries()[0].state is EntryState.DONE


async def test_not_applied_in_flight_debit_is_sent_again(world: World) -> None:
    """An in_flight record whose POST never reached FilaMan is debited after reconciling."""
    crashing = CrashAfterPostStore()
    first = world.processor(store=crashing)
    await first.start()
    await first.wait_idle()
    world.fsim.fail_next("POST", r"/consumptions$", status=503)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 12.5})
    await settle(first)
    await first.close()
    assert world.deltas(world.fspool_a) == []

    second = world.processor(store=MemoryLedgerStore(crashing.data))
    await second.start()
    await second.wait_idle()
    assert world.deltas(world.fspool_a) == [-12.5]
    assert world.remaining(world.fspool_a) == FULL - 12.5


async def test_client_timeout_while_filaman_applies_the_debit(world: World) -> None:
    slow = world.filaman_client(timeout=0.3)
    # FilaMan applies both debits at once but answers after the client gave up.
    world.fsim.answer_late("POST", r"/consumptions$", 0.8, count=2)
    processor = world.processor(filaman=slow, settle_time=0.1)
    await processor.start()
    await processor.wait_idle()
    # Two prints on one spool within 5 minutes: FilaMan merges the second debit
    # into the first event, so its reconciliation relies on aggregation_count.
    await world.bsim.run_print(world.printer_id, "One", grams={(0, 0): 12.5})
    await world.bsim.run_print(world.printer_id, "Two", grams={(0, 0): 2.5})
    await settle(processor)
    await drained(processor, 5)
    await processor.close()

    assert world.fsim.late_answers == 2  # both POSTs timed out on our side ...
    assert world.posts() == 2  # ... were applied, and never sent again
    (event,) = world.fsim.consumption_events(world.fspool_a)
    assert event.delta_weight_g == -15.0
    assert event.meta is not None
    assert event.meta["aggregation_count"] == 2
    assert world.remaining(world.fspool_a) == FULL - 15.0
    assert [d.grams for d in world.debits] == [12.5, 2.5]
    assert {d.event_id for d in world.debits} == {event.id}


def _shift_rows(world: World, first_id: int, delta: timedelta) -> None:
    for row in world.bsim.db.usage:
        if row.id >= first_id:
            row.created_at += delta


def _reset_bambuddy_database(world: World) -> None:
    world.bsim.db.usage.clear()
    world.bsim.db._next_ids.pop("usage", None)  # ids start again at 1


async def test_database_reset_restored_backup_is_not_replayed(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    for _ in range(2):
        await world.bsim.run_print(world.printer_id, grams={(0, 0): 1.0, (0, 1): 1.0})
    await settle(processor)
    assert processor.cursor == 4

    _reset_bambuddy_database(world)  # a restored backup: older rows, lower ids
    await world.bsim.run_print(world.printer_id, "Restored", grams={(0, 0): 40.0})
    _shift_rows(world, 1, -timedelta(days=2))
    await settle(processor)
    assert processor.cursor == 1
    assert world.deltas(world.fspool_a) == [-2.0]  # two merged 1 g debits, nothing replayed

    await world.bsim.run_print(world.printer_id, "After", grams={(0, 1): 4.0})
    _shift_rows(world, 2, timedelta(minutes=10))  # outside the aggregation window
    await settle(processor)
    assert world.deltas(world.fspool_b) == [-2.0, -4.0]
    assert world.remaining(world.fspool_b) == FULL - 6.0


async def test_database_reset_then_new_print_is_debited(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    for _ in range(2):
        await world.bsim.run_print(world.printer_id, grams={(0, 0): 1.0, (0, 1): 1.0})
    await settle(processor)

    _reset_bambuddy_database(world)
    await world.bsim.run_print(world.printer_id, "Fresh", grams={(0, 0): 3.0})
    _shift_rows(world, 1, timedelta(minutes=10))
    await settle(processor)
    assert processor.snapshot()["epoch"] == 1
    assert world.deltas(world.fspool_a) == [-2.0, -3.0]
    assert world.remaining(world.fspool_a) == FULL - 5.0
    await settle(processor)
    assert world.posts() == 5


async def test_unlinked_spool_usage_is_held_then_debited_once_when_linked(world: World) -> None:
    """Grams booked to a spool no FilaMan spool is linked to are owed, not dropped (issue 11)."""
    unlinked = await world.linked_spool((0, 2), note=None)
    held: list[dict[int, Any]] = []
    processor = world.processor(on_awaiting=lambda links: held.append(dict(links)))
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, "Vase", grams={(0, 0): 4.0, (0, 2): 9.0})
    await world.bsim.run_print(world.printer_id, "Clip", grams={(0, 2): 1.5})
    await settle(processor)

    assert world.deltas(world.fspool_a) == [-4.0]
    assert processor.pending_count == 0
    (waiting,) = processor.awaiting_links().values()
    assert (waiting.bambuddy_spool_id, waiting.grams, waiting.print_names) == (
        unlinked,
        10.5,
        ("Vase", "Clip"),
    )
    assert processor.awaiting_link_grams == 10.5
    assert held[-1] == processor.awaiting_links()
    assert processor.snapshot()["skipped_by_reason"] == {}
    vase = next(usage for usage in world.prints if usage.print_name == "Vase")
    assert {(s.bambuddy_spool_id, s.debited, s.awaiting_link) for s in vase.spools} == {
        (world.bspool_a, True, False),
        (unlinked, False, True),
    }

    assert await processor.link_spool(unlinked, world.fspool_b) == 10.5
    await drained(processor)
    # Two POSTs (FilaMan merges them into one event within its 5-minute window).
    assert world.remaining(world.fspool_b) == FULL - 10.5
    assert world.posts() == 3
    assert (await world.bambuddy.spool(unlinked)).note == f"filaman:{world.fspool_b}"
    assert processor.awaiting_links() == {}
    assert held[-1] == {}
    # Linking again, waking again, or a restart on the same ledger debits nothing more.
    assert await processor.link_spool(unlinked, world.fspool_b) == 0.0
    await settle(processor)
    await processor.close()
    again = world.processor()
    await again.start()
    await settle(again)
    assert (world.remaining(world.fspool_b), world.posts()) == (FULL - 10.5, 3)
    # From now on the spool is linked: its next print is debited at once.
    await world.bsim.run_print(world.printer_id, "Hook", grams={(0, 2): 2.0})
    await settle(again)
    assert (world.remaining(world.fspool_b), world.posts()) == (FULL - 12.5, 4)


async def held_six_grams(world: World) -> tuple[ConsumptionProcessor, int]:
    """A printed 6 g from slot A3, whose Bambuddy spool is linked to no FilaMan spool."""
    unlinked = await world.linked_spool((0, 2), note=None)
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 2): 6.0})
    await settle(processor)
    return processor, unlinked


async def test_held_usage_is_queued_when_the_sync_links_the_spool(world: World) -> None:
    """The inventory sync adopting the spool (writing our note) is enough: no user action."""
    processor, unlinked = await held_six_grams(world)
    assert processor.awaiting_link_grams == 6.0
    await world.bambuddy.patch_spool(unlinked, {"note": f"filaman:{world.fspool_a}"})
    await settle(processor)
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-6.0]
    assert processor.awaiting_links() == {}


async def test_held_usage_can_be_dismissed(world: World) -> None:
    processor, unlinked = await held_six_grams(world)
    assert await processor.dismiss_awaiting(unlinked) == 6.0
    assert processor.awaiting_links() == {}
    assert processor.snapshot()["skipped_by_reason"] == {"dismissed": 1}
    assert await processor.link_spool(unlinked, world.fspool_a) == 0.0  # nothing left to link
    await settle(processor)
    assert world.posts() == 0


async def test_link_to_a_missing_filaman_spool_changes_nothing(world: World) -> None:
    processor, unlinked = await held_six_grams(world)
    with pytest.raises(NotFoundError):
        await processor.link_spool(unlinked, 9999)
    assert processor.awaiting_link_grams == 6.0
    assert (await world.bambuddy.spool(unlinked)).note is None


async def test_deleted_spool_maps_through_the_event_slot(world: World) -> None:
    """The row's spool is gone; the event's slot now holds a re-created linked spool."""
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 1): 6.0})
    event = parse_ws_event(world.frames[-1])
    await world.bambuddy.delete_spool(world.bspool_b)
    await world.linked_spool((0, 1), f"filaman:{world.fspool_b}")
    await processor.wake("spool_usage_logged", event)  # type: ignore[arg-type]
    await processor.wait_idle()
    assert world.deltas(world.fspool_b) == [-6.0]


async def test_stored_link_survives_spool_deletion(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 1): 1.0})
    await settle(processor)  # learns bspool_b -> fspool_b
    await processor.close()

    world.fsim.down = True
    await world.bsim.run_print(world.printer_id, grams={(0, 1): 2.0})
    await world.bambuddy.delete_spool(world.bspool_b)
    world.fsim.down = False
    again = world.processor()
    await again.start()
    await again.wait_idle()
    assert world.remaining(world.fspool_b) == FULL - 3.0


async def test_usage_of_a_deleted_filaman_spool_is_held_for_another(world: World) -> None:
    """FilaMan spool 999 is gone: the grams wait for a link, and never bounce back onto 999."""
    await world.bambuddy.patch_spool(world.bspool_a, {"note": "filaman:999"})
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 4.0, (0, 1): 1.0})
    await settle(processor)
    await settle(processor)  # the note still names 999: not a link to act on
    reasons = {e.bambuddy_spool_id: (e.state, e.reason) for e in processor.entries()}
    assert reasons[world.bspool_a] == (EntryState.AWAITING_LINK, None)
    assert reasons[world.bspool_b] == (EntryState.DONE, None)
    assert world.deltas(world.fspool_b) == [-1.0]
    assert processor.awaiting_link_grams == 4.0
    assert sum(1 for m, p in world.fsim.request_log if p.endswith("/spools/999")) == 1
    assert await processor.link_spool(world.bspool_a, world.fspool_a) == 4.0
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-4.0]


async def test_permission_denied_keeps_the_grams_owed(world: World) -> None:
    viewer = world.filaman_client(world.fsim.create_api_key(role="viewer"))
    processor = world.processor(filaman=viewer)
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 4.0})
    await settle(processor)
    assert world.deltas(world.fspool_a) == []
    assert processor.pending_count == 1
    assert processor.last_error is not None
    assert "spool_events:create_consumption" in processor.last_error
    await processor.close()

    fixed = world.processor()  # the user gave the key the right role
    await fixed.start()
    await fixed.wait_idle()
    assert world.deltas(world.fspool_a) == [-4.0]


async def test_rejected_debit_is_held_until_the_user_decides(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.fsim.fail_next("POST", r"/consumptions$", status=422)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 4.0})
    await settle(processor)
    await settle(processor)  # not sent again on its own: FilaMan refused that spool
    (entry,) = processor.entries()
    assert entry.state is EntryState.AWAITING_LINK
    assert world.posts() == 1
    # The user links it again (same spool, FilaMan accepts now): debited once.
    assert await processor.link_spool(world.bspool_a, world.fspool_a) == 4.0
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-4.0]
    assert world.posts() == 2


async def test_blocked_mode_skips_and_advances_without_later_replay(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    processor.set_blocked("filaman_plugin_active")
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 4.0})
    await settle(processor)
    assert world.deltas(world.fspool_a) == []
    assert processor.cursor == 1
    assert [(e.state, e.reason) for e in processor.entries()] == [
        (EntryState.SKIPPED, "filaman_plugin_active")
    ]

    processor.set_blocked(None)
    await processor.wait_idle()
    assert world.deltas(world.fspool_a) == []
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 2.0})
    await settle(processor)
    assert world.deltas(world.fspool_a) == [-2.0]


async def test_entries_queued_before_a_block_are_held_not_dropped(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.fsim.down = True
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 4.0})
    await settle(processor)
    processor.set_blocked("spoolman_mode")
    world.fsim.down = False
    await settle(processor)
    assert processor.pending_count == 1
    assert world.deltas(world.fspool_a) == []
    processor.set_blocked(None)
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-4.0]


async def test_unreadable_stored_ledger_refuses_to_start(world: World) -> None:
    processor = world.processor(store=MemoryLedgerStore({"entries": [{"key": "x"}]}))
    with pytest.raises(ValueError, match="unreadable"):
        await processor.start()


async def test_more_new_rows_than_a_page_are_all_taken(world: World) -> None:
    processor = world.processor(page_limit=2)
    await processor.start()
    await processor.wait_idle()
    for name in ("One", "Two", "Three"):
        await world.bsim.run_print(world.printer_id, name, grams={(0, 0): 1.5, (0, 1): 0.5})
    await settle(processor)
    assert world.posts() == 6
    assert processor.cursor == 6
    assert world.remaining(world.fspool_a) == FULL - 1.5 - 1.5 - 1.5
    assert world.remaining(world.fspool_b) == FULL - 0.5 - 0.5 - 0.5
    assert len(world.prints) == 3


async def test_queued_debits_do_not_wait_for_bambuddy(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.fsim.down = True
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 2.0})
    await settle(processor)
    world.bsim.down = True
    world.fsim.down = False
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-2.0]
    assert processor.last_error is not None
    assert "Bambuddy" in processor.last_error


class SwitchableStore(MemoryLedgerStore):
    """Fails every save while ``broken``."""

    broken = False

    async def save(self, data: dict[str, object]) -> None:
        if self.broken:
            raise OSError("read-only file system")
        await super().save(data)


async def test_nothing_is_sent_while_in_flight_cannot_be_saved(world: World) -> None:
    store = SwitchableStore()
    processor = world.processor(store=store)
    await processor.start()
    await processor.wait_idle()
    store.broken = True
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 2.0})
    await settle(processor)
    assert world.posts() == 0
    assert processor.pending_count == 1
    store.broken = False
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-2.0]
    assert world.posts() == 1
