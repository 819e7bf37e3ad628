"""Deciding whether a debit with an unknown outcome landed (pure part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from custom_components.filaman_bambuddy.api.models_filaman import SpoolEvent
from custom_components.filaman_bambuddy.consumption.debit import landed_by_weight, landed_event
from custom_components.filaman_bambuddy.consumption.ledger import EventMark, Probe

T0 = datetime(2026, 11, 24, 11, 42, 14, tzinfo=UTC)
NOTE = "Bambuddy: Benchy (usage #7)"


def event(event_id: int, delta: float, count: int = 1, note: str | None = None) -> SpoolEvent:
    meta: dict[str, Any] | None = {"aggregation_count": count} if count > 1 else None
    return SpoolEvent(event_id, 1, "print_consumption", T0, delta, note, meta, "ui")


def probe(**events: EventMark) -> Probe:
    return Probe(T0 - timedelta(minutes=6), {int(key[1:]): mark for key, mark in events.items()})


def test_new_event_with_our_note_landed() -> None:
    found = landed_event(probe(), [event(5, -12.5, note=NOTE)], 12.5, NOTE)
    assert found is not None
    assert found.id == 5


def test_new_event_of_someone_else_did_not_land() -> None:
    assert landed_event(probe(), [event(5, -12.5, note="manual")], 12.5, NOTE) is None


def test_our_event_merged_into_later_by_others_still_counts() -> None:
    assert landed_event(probe(), [event(5, -20.0, 2, note=NOTE)], 12.5, NOTE) is not None


def test_merge_into_a_probed_event_landed() -> None:
    before = probe(e4=EventMark(-5.0, 1))
    assert landed_event(before, [event(4, -17.5, 2, note="first")], 12.5, NOTE) is not None


def test_unchanged_probed_event_did_not_land() -> None:
    before = probe(e4=EventMark(-5.0, 1))
    assert landed_event(before, [event(4, -5.0, 1, note="first")], 12.5, NOTE) is None


def test_smaller_merge_is_someone_elses() -> None:
    before = probe(e4=EventMark(-5.0, 1))
    assert landed_event(before, [event(4, -7.0, 2, note="first")], 12.5, NOTE) is None


def test_other_event_types_are_ignored() -> None:
    other = SpoolEvent(5, 1, "measurement", T0, -12.5, NOTE, None, "ui")
    assert landed_event(probe(), [other], 12.5, NOTE) is None


def test_weight_fallback() -> None:
    before = Probe(T0, None, remaining_g=100.0)
    assert landed_by_weight(before, 87.5, 12.5)
    assert not landed_by_weight(before, 100.0, 12.5)
    assert landed_by_weight(Probe(T0, None, remaining_g=5.0), 0.0, 12.5)  # clamped
    assert not landed_by_weight(Probe(T0, None, remaining_g=None), 0.0, 12.5)


def test_probe_round_trip() -> None:
    before = probe(e4=EventMark(-5.0, 2))
    assert Probe.from_dict(before.to_dict()) == before
    unreadable = Probe(T0, None, 3.0)
    assert Probe.from_dict(unreadable.to_dict()) == unreadable
