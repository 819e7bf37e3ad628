"""Pure ledger transitions, ingestion rules and (de)serialisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any

import pytest

from custom_components.filaman_bambuddy.api.models_bambuddy import UsageRow
from custom_components.filaman_bambuddy.consumption.ledger import (
    HELD_FOR_OTHER_FILAMAN,
    KEEP_FINISHED,
    EntryState,
    EventMark,
    Ledger,
    Probe,
    TransitionError,
    UsageHint,
)
from custom_components.filaman_bambuddy.consumption.unassigned import CaseState, TrayCase

PRINTER = 3
T0 = datetime(2026, 11, 24, 11, 42, 14, tzinfo=UTC)


def row(
    row_id: int,
    spool_id: int = 1,
    grams: float = 10.0,
    *,
    at: datetime = T0,
    name: str = "Benchy",
    printer_id: int | None = PRINTER,
) -> UsageRow:
    return UsageRow(row_id, spool_id, printer_id, name, grams, 1, "completed", None, at)


def probe() -> Probe:
    return Probe(T0 - timedelta(minutes=6), {7: EventMark(-5.0, 1)})


def test_first_ingest_anchors_without_replay() -> None:
    ledger = Ledger(PRINTER)
    result = ledger.ingest([row(5), row(4)], now=T0)
    assert result.anchored
    assert ledger.cursor == 5
    assert ledger.entries == {}


def test_first_ingest_of_an_empty_history_anchors_at_zero() -> None:
    ledger = Ledger(PRINTER)
    ledger.ingest([], now=T0)
    assert ledger.cursor == 0
    ledger.ingest([row(1)], now=T0)
    assert [entry.usage_id for entry in ledger.unfinished()] == [1]


def test_rows_above_cursor_become_entries_once_in_id_order() -> None:
    ledger = Ledger(PRINTER, cursor=2)
    rows = [row(4, spool_id=2), row(3), row(2), row(1)]
    result = ledger.ingest(rows, now=T0)
    assert [entry.usage_id for entry in result.new_entries] == [3, 4]
    assert ledger.cursor == 4
    assert ledger.ingest(rows, now=T0).new_entries == ()
    assert [entry.key for entry in ledger.unfinished()] == [
        "bambuddy:3:usage:3",
        "bambuddy:3:usage:4",
    ]
    assert ledger.unfinished()[0].note == "Bambuddy: Benchy (usage #3)"


def test_rows_of_other_printers_are_ignored() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    ledger.ingest([row(1, printer_id=9)], now=T0)
    assert ledger.entries == {}


@pytest.mark.parametrize("grams", [0.0, -2.0, float("nan"), float("inf")])
def test_invalid_grams_are_skipped(grams: float) -> None:
    ledger = Ledger(PRINTER, cursor=0)
    (entry,) = ledger.ingest([row(1, grams=grams)], now=T0).new_entries
    assert entry.state is EntryState.SKIPPED
    assert entry.reason == "invalid"


def test_blocked_rows_are_skipped_and_the_cursor_advances() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    (entry,) = ledger.ingest([row(1)], now=T0, blocked="filaman_plugin_active").new_entries
    assert entry.state is EntryState.SKIPPED
    assert entry.reason == "filaman_plugin_active"
    assert ledger.cursor == 1


def test_hint_gives_the_matching_row_its_slot() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    hints = [UsageHint(2, 3.2, 0, 1), UsageHint(1, 12.5, 0, 0)]
    result = ledger.ingest([row(1, 1, 12.5), row(2, 2, 3.2), row(3, 3, 1.0)], now=T0, hints=hints)
    assert [entry.slot for entry in result.new_entries] == [(0, 0), (0, 1), None]


def test_reset_reanchors_and_takes_only_rows_dated_after_the_last_seen() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    ledger.ingest([row(10, at=T0), row(9, at=T0)], now=T0)
    later = T0 + timedelta(minutes=3)
    result = ledger.ingest([row(2, at=later), row(1, at=T0 - timedelta(days=1))], now=later)
    assert result.reset_detected
    assert ledger.epoch == 1
    assert ledger.cursor == 2
    assert [entry.key for entry in result.new_entries] == ["bambuddy:3:usage:2~r1"]
    # The same rows again are not new.
    assert ledger.ingest([row(2, at=later)], now=later).new_entries == ()


def test_transitions() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    (entry,) = ledger.ingest([row(1)], now=T0).new_entries
    with pytest.raises(TransitionError):
        ledger.mark_in_flight(entry.key, probe(), T0)  # no FilaMan spool yet
    with pytest.raises(TransitionError):
        ledger.mark_done(entry.key, 1, None)  # never sent
    ledger.resolve_spool(entry.key, 42)
    assert ledger.spool_map == {1: 42}
    ledger.mark_in_flight(entry.key, probe(), T0)
    assert entry.state is EntryState.IN_FLIGHT
    assert entry.attempts == 1
    ledger.mark_pending(entry.key)
    assert entry.probe is None
    ledger.mark_in_flight(entry.key, probe(), T0)
    ledger.mark_done(entry.key, 99, 987.5)
    assert (entry.state, entry.event_id, entry.remaining_after) == (EntryState.DONE, 99, 987.5)
    assert ledger.pending_count == 0
    with pytest.raises(TransitionError):
        ledger.mark_skipped(entry.key, "late")
    with pytest.raises(TransitionError):
        ledger.mark_pending("bambuddy:3:usage:404")


def test_settled_prints_group_rows_of_one_print_and_wait_for_all() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    first, second = ledger.ingest([row(1, 1), row(2, 2)], now=T0).new_entries
    assert ledger.settled_prints() == []
    ledger.mark_skipped(first.key, "unlinked")
    assert ledger.settled_prints() == []
    ledger.resolve_spool(second.key, 5)
    ledger.mark_in_flight(second.key, probe(), T0)
    ledger.mark_done(second.key, 1, None)
    (group,) = ledger.settled_prints()
    assert [entry.usage_id for entry in group] == [1, 2]
    ledger.mark_announced(first.print_key)
    assert ledger.settled_prints() == []


def test_round_trip_through_json() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    first, _second = ledger.ingest([row(1), row(2, 2)], now=T0).new_entries
    ledger.resolve_spool(first.key, 42)
    ledger.mark_in_flight(first.key, probe(), T0)
    ledger.add_legacy(
        fingerprint="x",
        received_at=T0,
        slots={(0, 1): (7, 2.5)},
        print_name="Cube",
        print_status="completed",
        dedupe_window=timedelta(minutes=10),
    )
    data = json.loads(json.dumps(ledger.to_dict()))
    restored = Ledger.from_dict(data, PRINTER)
    assert restored.to_dict() == ledger.to_dict()
    assert restored.entries[first.key].probe == probe()
    with pytest.raises(ValueError, match="another printer"):
        Ledger.from_dict(data, PRINTER + 1)


def test_legacy_duplicates_within_the_window_are_dropped_later_prints_are_not() -> None:
    ledger = Ledger(PRINTER)
    window = timedelta(minutes=10)
    kwargs: dict[str, Any] = {
        "slots": {(0, 0): (7, 5.0)},
        "print_name": "Cube",
        "print_status": "completed",
    }
    first = ledger.add_legacy(fingerprint="f", received_at=T0, dedupe_window=window, **kwargs)
    again = ledger.add_legacy(
        fingerprint="f", received_at=T0 + timedelta(seconds=5), dedupe_window=window, **kwargs
    )
    later = ledger.add_legacy(
        fingerprint="f", received_at=T0 + timedelta(hours=1), dedupe_window=window, **kwargs
    )
    assert len(first) == 1
    assert again == ()
    assert len(later) == 1
    assert first[0].key != later[0].key
    assert first[0].note.startswith("Bambuddy: Cube (legacy ")


def test_finished_entries_are_pruned_unfinished_never() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    rows = [row(index, grams=0.0 if index > 1 else 1.0) for index in range(1, KEEP_FINISHED + 20)]
    ledger.ingest(rows, now=T0)
    assert len(ledger.entries) == KEEP_FINISHED + 1
    assert ledger.unfinished()[0].usage_id == 1


def test_awaiting_link_holds_grams_until_linked_once() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    first, second, other = ledger.ingest([row(1, 8), row(2, 8), row(3, 9)], now=T0).new_entries
    for entry in (first, second, other):
        ledger.mark_awaiting_link(entry.key)
    assert entry.finished  # not the queue's business, yet never pruned (below)
    assert {bid: [e.usage_id for e in group] for bid, group in ledger.awaiting_links().items()} == {
        8: [1, 2],
        9: [3],
    }
    moved = ledger.link_awaiting(8, 42)
    assert [(e.usage_id, e.state, e.filaman_spool_id) for e in moved] == [
        (1, EntryState.PENDING, 42),
        (2, EntryState.PENDING, 42),
    ]
    assert ledger.spool_map[8] == 42
    assert ledger.link_awaiting(8, 42) == []  # asking twice queues nothing twice
    assert [e.usage_id for e in ledger.dismiss_awaiting(9)] == [3]
    assert (other.state, other.reason) == (EntryState.SKIPPED, "dismissed")
    with pytest.raises(TransitionError):
        ledger.mark_awaiting_link(other.key)


def test_awaiting_entries_are_never_pruned() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    (held,) = ledger.ingest([row(1, 8)], now=T0).new_entries
    ledger.mark_awaiting_link(held.key)
    rows = [row(n, 9) for n in range(2, KEEP_FINISHED + 10)]
    for entry in ledger.ingest(rows, now=T0).new_entries:
        ledger.mark_skipped(entry.key, "test")
    assert held.key in ledger.entries


@pytest.mark.parametrize("reason", ["unlinked", "filaman_spool_not_found", "rejected: HTTP 422"])
def test_grams_an_older_version_skipped_become_recoverable(reason: str) -> None:
    ledger = Ledger(PRINTER, cursor=0)
    (entry,) = ledger.ingest([row(1, 8)], now=T0).new_entries
    ledger.mark_skipped(entry.key, reason)
    restored = Ledger.from_dict(json.loads(json.dumps(ledger.to_dict())), PRINTER)
    assert restored.entries[entry.key].state is EntryState.AWAITING_LINK
    assert list(restored.awaiting_links()) == [8]


def test_a_dismissal_stays_a_dismissal() -> None:
    ledger = Ledger(PRINTER, cursor=0)
    (entry,) = ledger.ingest([row(1, 8)], now=T0).new_entries
    ledger.mark_awaiting_link(entry.key)
    ledger.dismiss_awaiting(8)
    restored = Ledger.from_dict(json.loads(json.dumps(ledger.to_dict())), PRINTER)
    assert restored.entries[entry.key].state is EntryState.SKIPPED
    assert restored.awaiting_links() == {}


def test_another_filaman_gets_nothing_owed_by_spool_id() -> None:
    """Every owed entry is held for the user (never relinked by the queue), a by-hand record
    goes back to its tray's case, and what landed stays landed."""
    ledger = Ledger(PRINTER, cursor=0)
    done, queued, flying, held = ledger.ingest(
        [row(1, 8), row(2, 8), row(3, 9), row(4, 10)], now=T0
    ).new_entries
    for entry, spool in ((done, 41), (queued, 41), (flying, 42)):
        ledger.resolve_spool(entry.key, spool)
    ledger.mark_in_flight(done.key, probe(), T0)
    ledger.mark_done(done.key, 5, 990.0)
    ledger.mark_in_flight(flying.key, probe(), T0)
    ledger.mark_awaiting_link(held.key)
    case = TrayCase("0-2-20261124T110000", (0, 2), "Vase", T0, state=CaseState.UNRECORDED)
    manual = ledger.add_manual(case, 43, 4.0, T0)
    assert manual is not None

    held_now, reopened = ledger.hold_for_other_filaman()

    assert [e.usage_id for e in held_now] == [2, 3, 4]
    for entry in held_now:
        assert (entry.state, entry.reason, entry.filaman_spool_id, entry.probe) == (
            EntryState.AWAITING_LINK, HELD_FOR_OTHER_FILAMAN, None, None
        )  # fmt: skip
    assert done.state is EntryState.DONE
    assert manual.key not in ledger.entries
    assert [(c.case_id, c.slot, c.job, c.state) for c in reopened] == [
        (case.case_id, (0, 2), "Vase", CaseState.UNRECORDED)
    ]
    assert ledger.tray_cases[case.case_id] == reopened[0]
    assert ledger.spool_map == {}
    assert sum(entry.grams for entry in ledger.owed()) == 30.0
    # The queue's own relinking leaves them; the user's link moves them, once.
    assert ledger.awaiting_links(relinkable_only=True) == {}
    assert ledger.link_awaiting(8, 77, by_user=False) == []
    assert [e.usage_id for e in ledger.link_awaiting(8, 77)] == [2]
    assert (queued.state, queued.reason, queued.filaman_spool_id) == (EntryState.PENDING, None, 77)
    restored = Ledger.from_dict(json.loads(json.dumps(ledger.to_dict())), PRINTER)
    assert restored.entries[flying.key].reason == HELD_FOR_OTHER_FILAMAN
    assert restored.awaiting_links(relinkable_only=True) == {}
    assert case.case_id in restored.tray_cases
