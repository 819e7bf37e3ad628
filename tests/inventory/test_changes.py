"""Finding the spools a FilaMan change hint is about (changes.py is pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.filaman_bambuddy.api.models_filaman import SpoolEvent
from custom_components.filaman_bambuddy.inventory.changes import ChangeFinder

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def event(
    event_id: int, spool_id: int, grams: float = -5.0, *, minutes: int = 0, merged: int = 1
) -> SpoolEvent:
    return SpoolEvent(
        id=event_id,
        spool_id=spool_id,
        event_type="print_consumption",
        event_at=T0 + timedelta(minutes=minutes),
        delta_weight_g=grams,
        note=None,
        meta={"aggregation_count": merged} if merged > 1 else None,
    )


def test_unprimed_finder_is_unsure() -> None:
    assert ChangeFinder().changed_spools([event(1, 7)]) is None


def test_new_and_changed_events_name_their_spools() -> None:
    finder = ChangeFinder()
    finder.prime([event(2, 8, minutes=1), event(1, 7)])
    page = [event(3, 9, minutes=2), event(2, 8, -9.0, minutes=2, merged=2), event(1, 7)]
    assert finder.changed_spools(page) == {8, 9}  # 8: merged in place (5-minute aggregation)
    assert finder.changed_spools(page) == set()  # the same page again: nothing new


def test_a_page_of_only_new_events_may_hide_more() -> None:
    finder = ChangeFinder()
    finder.prime([event(1, 7)])
    assert finder.changed_spools([event(3, 9, minutes=2), event(2, 8, minutes=1)]) is None


def test_an_empty_history_primes_and_a_first_event_is_found() -> None:
    finder = ChangeFinder()
    finder.prime([])
    assert finder.changed_spools([event(1, 7)]) == {7}
