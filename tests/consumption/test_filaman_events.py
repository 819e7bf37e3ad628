"""Reading a spool's recent event window from the FilaMan simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.filaman_bambuddy.consumption import debit
from custom_components.filaman_bambuddy.consumption.debit import spool_events_since

from .conftest import World

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def spaced_consumptions(world: World, count: int) -> None:
    """``count`` print_consumption events on spool A, 10 minutes apart (never merged)."""
    for index in range(count):
        world.fsim.record_consumption(
            world.fspool_a, 1.0, event_at=T0 + timedelta(minutes=10 * index)
        )


def event_requests(world: World) -> int:
    path = f"/api/v1/spools/{world.fspool_a}/events"
    return world.fsim.request_log.count(("GET", path))


async def test_window_stops_at_the_first_older_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(debit, "PAGE_SIZE", 2)
    spaced_consumptions(world, 7)
    world.fsim.request_log.clear()

    events, complete = await spool_events_since(
        world.filaman, world.fspool_a, T0 + timedelta(minutes=35)
    )

    assert complete
    assert [event.event_at for event in events] == [
        T0 + timedelta(minutes=minutes) for minutes in (60, 50, 40)
    ]
    assert event_requests(world) == 2  # the third page is never needed


async def test_window_reaching_the_end_of_the_listing_is_complete(world: World) -> None:
    spaced_consumptions(world, 3)
    events, complete = await spool_events_since(
        world.filaman, world.fspool_a, T0 - timedelta(days=1)
    )
    assert complete
    assert len(events) == len(world.fsim.events(world.fspool_a))


async def test_window_larger_than_the_bound_is_incomplete(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(debit, "PAGE_SIZE", 2)
    monkeypatch.setattr(debit, "MAX_EVENTS", 3)
    spaced_consumptions(world, 3)
    since = T0 - timedelta(days=1)
    events, complete = await spool_events_since(world.filaman, world.fspool_a, since)
    assert (len(events), complete) == (3, False)
    # Exactly the bound and nothing more in the window still counts as complete.
    monkeypatch.setattr(debit, "MAX_EVENTS", 4)  # three consumptions + "opened"
    events, complete = await spool_events_since(world.filaman, world.fspool_a, since)
    assert (len(events), complete) == (4, True)
