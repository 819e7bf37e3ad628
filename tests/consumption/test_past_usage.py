"""Debiting usage rows from before the ledger's first start, on request, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.filaman_bambuddy.api.errors import ApiError
from custom_components.filaman_bambuddy.api.models_bambuddy import UsageRow
from custom_components.filaman_bambuddy.consumption import (
    EntryState,
    JsonFileLedgerStore,
    Ledger,
    MemoryLedgerStore,
    PastRefusal,
    PastUsageRefused,
    processor as processor_module,
)
from custom_components.filaman_bambuddy.consumption.ledger import (
    KEEP_FINISHED,
    STORAGE_VERSION,
    Probe,
)

from .conftest import FULL, World, drained, settle

PRINTER = 3
T0 = datetime(2026, 11, 24, 11, 42, 14, tzinfo=UTC)


def row(
    row_id: int,
    grams: float = 10.0,
    *,
    at: datetime = T0,
    printer_id: int | None = PRINTER,
) -> UsageRow:
    return UsageRow(row_id, 1, printer_id, "Benchy", grams, 1, "completed", None, at)


def anchored_at(anchor: int) -> Ledger:
    ledger = Ledger(PRINTER)
    ledger.ingest([row(anchor)], now=T0)
    return ledger


def refusal(ledger: Ledger) -> PastRefusal:
    with pytest.raises(PastUsageRefused) as refused:
        ledger.take_in_past([row(1)], since=T0 - timedelta(days=1), now=T0)
    return refused.value.reason


def finish(ledger: Ledger, key: str) -> None:
    ledger.resolve_spool(key, 9)
    ledger.mark_in_flight(key, Probe(T0, {}), T0)
    ledger.mark_done(key, None, None)


# --- the pure ledger ---------------------------------------------------------------------------


def test_first_ingest_remembers_its_anchor() -> None:
    ledger = Ledger(PRINTER)
    ledger.ingest([row(5), row(4)], now=T0)
    ledger.ingest([row(7), row(6), row(5)], now=T0)
    assert (ledger.anchor, ledger.anchor_epoch, ledger.cursor) == (5, 0, 7)


def test_past_rows_dated_since_are_taken_once_in_id_order_and_not_announced() -> None:
    ledger = anchored_at(5)
    since = T0 - timedelta(hours=1)
    rows = [
        row(5, 2.0),
        row(3, 1.5),
        row(4, printer_id=PRINTER + 1),  # another printer's
        row(2, printer_id=None),  # a deleted printer's: cannot be attributed
        row(1, at=since - timedelta(seconds=1)),  # older than asked
    ]
    created = ledger.take_in_past(rows, since=since, now=T0)
    assert [entry.usage_id for entry in created] == [3, 5]
    assert all(entry.state is EntryState.PENDING and entry.announced for entry in created)
    assert [entry.key for entry in ledger.unfinished()] == [
        f"bambuddy:{PRINTER}:usage:3",
        f"bambuddy:{PRINTER}:usage:5",
    ]
    assert ledger.settled_prints() == []
    assert ledger.past_taken == {3, 5}
    assert ledger.take_in_past(rows, since=since - timedelta(days=1), now=T0)[0].usage_id == 1
    assert ledger.take_in_past(rows, since=since - timedelta(days=1), now=T0) == ()


def test_rows_above_the_anchor_are_never_taken_as_past() -> None:
    ledger = anchored_at(5)
    ledger.ingest([row(7), row(6)], now=T0)
    ledger.cursor = 8  # even a row above the anchor that was never ingested stays out
    created = ledger.take_in_past([row(i) for i in range(1, 10)], since=T0, now=T0)
    assert [entry.usage_id for entry in created] == [1, 2, 3, 4, 5]


def test_past_rows_stay_taken_after_their_entries_are_pruned() -> None:
    ledger = anchored_at(5)
    for entry in ledger.take_in_past([row(4), row(3)], since=T0, now=T0):
        finish(ledger, entry.key)
    for row_id in range(6, 6 + KEEP_FINISHED + 2):
        (entry,) = ledger.ingest([row(row_id)], now=T0).new_entries
        finish(ledger, entry.key)
    assert ledger.usage_key(3) not in ledger.entries
    restored = Ledger.from_dict(json.loads(json.dumps(ledger.to_dict())), PRINTER)
    assert restored.take_in_past([row(4), row(3)], since=T0, now=T0) == ()


def test_invalid_past_rows_are_skipped_and_remembered() -> None:
    ledger = anchored_at(5)
    (entry,) = ledger.take_in_past([row(2, 0.0)], since=T0, now=T0)
    assert (entry.state, entry.reason) == (EntryState.SKIPPED, "invalid")
    assert ledger.take_in_past([row(2, 0.0)], since=T0, now=T0) == ()


def test_anchor_and_taken_rows_round_trip() -> None:
    ledger = anchored_at(5)
    ledger.take_in_past([row(2)], since=T0, now=T0)
    data = json.loads(json.dumps(ledger.to_dict()))
    assert (data["version"], data["anchor"], data["anchor_epoch"], data["past_taken"]) == (
        STORAGE_VERSION,
        5,
        0,
        [2],
    )
    restored = Ledger.from_dict(data, PRINTER)
    assert (restored.anchor, restored.anchor_epoch, restored.past_taken) == (5, 0, {2})
    assert restored.to_dict() == ledger.to_dict()


def test_refused_before_the_first_anchor() -> None:
    assert refusal(Ledger(PRINTER)) is PastRefusal.NOT_ANCHORED


def test_refused_after_a_bambuddy_database_reset() -> None:
    ledger = anchored_at(5)
    ledger.ingest([row(2, at=T0 + timedelta(minutes=1))], now=T0)  # newest below the cursor
    assert ledger.epoch == 1
    assert refusal(ledger) is PastRefusal.HISTORY_RESET


# --- ledgers stored before anchors were kept ---------------------------------------------------


def old_format(ledger: Ledger) -> dict[str, Any]:
    data = ledger.to_dict()
    for key in ("anchor", "anchor_epoch", "past_taken"):
        del data[key]
    data["version"] = 1
    return data


def test_old_ledger_that_never_ingested_a_row_is_anchored_at_its_cursor() -> None:
    restored = Ledger.from_dict(old_format(anchored_at(5)), PRINTER)
    assert restored.anchor == 5
    assert [e.usage_id for e in restored.take_in_past([row(5)], since=T0, now=T0)] == [5]


def test_old_ledger_with_its_first_entry_kept_is_anchored_below_that_row() -> None:
    ledger = anchored_at(5)
    ledger.ingest([row(9), row(8)], now=T0)  # rows 6 and 7 belong to another printer
    ledger.ingest([row(10)], now=T0)
    assert Ledger.from_dict(old_format(ledger), PRINTER).anchor == 7


@pytest.mark.parametrize("history", ["pruned", "legacy_first", "reset", "never_read"])
def test_old_ledger_without_proof_of_its_anchor_refuses(history: str) -> None:
    ledger = anchored_at(5)
    if history == "pruned":
        for row_id in range(6, 6 + KEEP_FINISHED + 1):
            (entry,) = ledger.ingest([row(row_id)], now=T0).new_entries
            finish(ledger, entry.key)
    elif history == "legacy_first":
        ledger = Ledger(PRINTER)
        ledger.add_legacy(
            fingerprint="f",
            received_at=T0,
            slots={(0, 0): (1, 5.0)},
            print_name="Old",
            print_status="completed",
            dedupe_window=timedelta(minutes=10),
        )
        ledger.ingest([row(5)], now=T0)
        ledger.ingest([row(6)], now=T0)
    elif history == "reset":
        ledger.ingest([row(2, at=T0 + timedelta(minutes=1))], now=T0)
    else:
        ledger = Ledger(PRINTER)
    restored = Ledger.from_dict(old_format(ledger), PRINTER)
    assert restored.anchor is None
    if history == "never_read":  # anchoring later stores a real anchor
        assert refusal(restored) is PastRefusal.NOT_ANCHORED
        restored.ingest([row(4)], now=T0)
        assert restored.anchor == 4
    else:
        assert refusal(restored) is PastRefusal.ANCHOR_UNKNOWN


# --- the processor against the simulators ------------------------------------------------------


def shift_rows(world: World, first_id: int, delta: timedelta) -> None:
    """Date rows from ``first_id`` on ``delta`` later (Bambuddy orders by date)."""
    for usage in world.bsim.db.usage:
        if usage.id >= first_id:
            usage.created_at += delta


async def test_prints_before_the_first_start_are_debited_once_on_request(world: World) -> None:
    await world.bsim.run_print(world.printer_id, "Old", grams={(0, 0): 20.0})
    await world.bsim.run_print(world.printer_id, "Older", grams={(0, 1): 7.0})
    shift_rows(world, 1, -timedelta(hours=2))
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    assert (processor.anchor, world.posts()) == (2, 0)

    await world.bsim.run_print(world.printer_id, "New", grams={(0, 0): 5.0})
    await settle(processor)
    assert world.remaining(world.fspool_a) == FULL - 5.0

    since = datetime.now(UTC) - timedelta(days=1)
    created = await processor.debit_past(since)
    assert [(entry.usage_id, entry.grams) for entry in created] == [(1, 20.0), (2, 7.0)]
    await drained(processor)
    assert world.remaining(world.fspool_a) == FULL - 25.0
    assert world.remaining(world.fspool_b) == FULL - 7.0
    assert all(entry.state is EntryState.DONE for entry in created)
    assert world.posts() == 3
    assert [debit.usage_id for debit in world.debits] == [3, 1, 2]
    assert [usage.print_name for usage in world.prints] == ["New"]  # old prints not announced

    assert await processor.debit_past(since - timedelta(days=1)) == ()
    await settle(processor)
    assert world.posts() == 3


async def test_since_limits_the_past_rows(world: World) -> None:
    await world.bsim.run_print(world.printer_id, "Last week", grams={(0, 0): 20.0})
    shift_rows(world, 1, -timedelta(days=7))
    await world.bsim.run_print(world.printer_id, "Yesterday", grams={(0, 0): 3.0})
    shift_rows(world, 2, -timedelta(days=1))
    processor = world.processor()
    await processor.start()
    created = await processor.debit_past(datetime.now(UTC) - timedelta(days=2))
    assert [entry.usage_id for entry in created] == [2]
    await drained(processor)
    assert world.remaining(world.fspool_a) == FULL - 3.0


async def test_restart_between_requests_keeps_the_anchor(world: World, tmp_path: Path) -> None:
    store = JsonFileLedgerStore(tmp_path / "ledger.json")
    await world.bsim.run_print(world.printer_id, "Old", grams={(0, 0): 20.0})
    first = world.processor(store=store)
    await first.start()
    await first.wait_idle()
    await first.close()
    await world.bsim.run_print(world.printer_id, "While stopped", grams={(0, 1): 2.0})

    second = world.processor(store=store)
    await second.start()
    await second.wait_idle()
    assert second.anchor == 1  # not moved up to the row ingested after the restart
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [entry.usage_id for entry in await second.debit_past(since)] == [1]
    await drained(second)
    await second.close()

    third = world.processor(store=store)
    await third.start()
    assert await third.debit_past(since) == ()
    await drained(third)
    assert world.remaining(world.fspool_a) == FULL - 20.0
    assert world.remaining(world.fspool_b) == FULL - 2.0
    assert world.posts() == 2


async def test_replay_from_sets_the_anchor_below_the_replayed_rows(world: World) -> None:
    for grams in (1.0, 2.0, 4.0):
        await world.bsim.run_print(world.printer_id, grams={(0, 0): grams})
    processor = world.processor()
    await processor.start(replay_from=3)
    assert processor.anchor == 2
    created = await processor.debit_past(datetime.now(UTC) - timedelta(hours=1))
    assert [entry.usage_id for entry in created] == [1, 2]
    await drained(processor)
    assert world.remaining(world.fspool_a) == FULL - 7.0
    assert world.posts() == 3


async def test_refused_while_blocked(world: World) -> None:
    await world.bsim.run_print(world.printer_id, "Old", grams={(0, 0): 20.0})
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    processor.set_blocked("filaman_plugin_active")
    with pytest.raises(PastUsageRefused) as refused:
        await processor.debit_past(datetime.now(UTC) - timedelta(hours=1))
    assert refused.value.reason is PastRefusal.BLOCKED
    assert processor.entries() == []
    processor.set_blocked(None)
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [entry.usage_id for entry in await processor.debit_past(since)] == [1]


async def test_a_reset_seen_by_the_request_itself_refuses(world: World) -> None:
    for _ in range(2):
        await world.bsim.run_print(world.printer_id, "Before", grams={(0, 0): 1.0})
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, "After", grams={(0, 0): 1.0})
    await settle(processor)
    assert (processor.anchor, processor.cursor) == (2, 3)

    # Bambuddy's database reset: the next print gets id 1, below the anchor. Taken as a
    # "past" row it would be debited again when the regular run sees the reset.
    world.bsim.db.usage.clear()
    world.bsim.db._next_ids.pop("usage", None)
    await world.bsim.run_print(world.printer_id, "Fresh", grams={(0, 0): 3.0})
    shift_rows(world, 1, timedelta(minutes=10))
    with pytest.raises(PastUsageRefused) as refused:
        await processor.debit_past(datetime.now(UTC) - timedelta(hours=1))
    assert refused.value.reason is PastRefusal.HISTORY_RESET
    await drained(processor)
    assert world.remaining(world.fspool_a) == FULL - 4.0  # "After" and "Fresh", once each
    assert world.posts() == 2


async def test_refused_without_a_usage_history(world: World) -> None:
    world.bsim.fail_next("GET", r"/inventory/usage$", status=404, count=10_000)
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    with pytest.raises(PastUsageRefused) as refused:
        await processor.debit_past(datetime.now(UTC) - timedelta(hours=1))
    assert refused.value.reason is PastRefusal.UNSUPPORTED


async def test_bambuddy_down_is_an_api_error_and_takes_nothing(world: World) -> None:
    await world.bsim.run_print(world.printer_id, "Old", grams={(0, 0): 20.0})
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.bsim.down = True
    with pytest.raises(ApiError):
        await processor.debit_past(datetime.now(UTC) - timedelta(hours=1))
    world.bsim.down = False
    assert processor.entries() == []


async def test_refused_when_the_history_since_exceeds_the_largest_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processor_module, "MAX_PAGE_LIMIT", 4)
    for _ in range(5):
        await world.bsim.run_print(world.printer_id, grams={(0, 0): 1.0})
    processor = world.processor(page_limit=2)
    await processor.start()
    await processor.wait_idle()
    with pytest.raises(PastUsageRefused) as refused:
        await processor.debit_past(datetime.now(UTC) - timedelta(hours=1))
    assert refused.value.reason is PastRefusal.TOO_MANY_ROWS
    assert processor.entries() == []
    assert len(await processor.debit_past(datetime.now(UTC) + timedelta(hours=1))) == 0


async def test_a_failed_save_sends_nothing_until_it_is_saved(world: World) -> None:
    class FlakyStore(MemoryLedgerStore):
        fail = False

        async def save(self, data: dict[str, Any]) -> None:
            if self.fail:
                raise OSError("disk full")
            await super().save(data)

    store = FlakyStore()
    await world.bsim.run_print(world.printer_id, "Old", grams={(0, 0): 20.0})
    processor = world.processor(store=store)
    await processor.start()
    await processor.wait_idle()
    store.fail = True
    created = await processor.debit_past(datetime.now(UTC) - timedelta(hours=1))
    assert len(created) == 1
    await processor.wait_idle()
    assert world.posts() == 0
    store.fail = False
    await drained(processor)
    assert world.posts() == 1
    assert store.data is not None
    assert store.data["past_taken"] == [1]
