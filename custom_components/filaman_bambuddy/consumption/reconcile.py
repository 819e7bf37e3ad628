"""Did a debit whose outcome we never saw land in FilaMan? (No idempotency key exists.)

Before every POST we store a :class:`Probe`: every ``print_consumption`` event of
the spool that FilaMan's 5-minute aggregation could merge our debit into (event
time ≥ ours - 5 min, later-dated ones included), each with its delta and
``aggregation_count``. After a crash, timeout or 5xx we read the same window again.
Our debit landed when either

* an event that was not in the probe carries our note (a new event; FilaMan keeps
  the note of the event that created it, even when others merge into it later), or
* a probed event's ``aggregation_count`` grew and its delta grew by at least our
  grams (our debit was merged; the new note is dropped by FilaMan).

Accepted ambiguity: if our POST did not land but someone else debits at least as
many grams into the same aggregated event before we reconcile, we conclude
"landed" (a missed debit is preferred over a double one: it is visible in
FilaMan's events and fixed by one manual consumption).

When the key cannot read events (no ``spool_events:read``), the probe falls back
to ``remaining_weight_g``: landed when it dropped by at least our grams (or hit 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..api.errors import AuthenticationError
from ..api.filaman import FilamanClient
from ..api.models_filaman import SpoolEvent
from .filaman_events import spool_events_since

CONSUMPTION = "print_consumption"
AGGREGATION_WINDOW = timedelta(minutes=5)
# Margin for clock rounding between our event time and FilaMan's comparison.
_WINDOW_MARGIN = timedelta(minutes=1)
GRAMS_EPSILON = 0.01


@dataclass(frozen=True, slots=True)
class EventMark:
    delta_weight_g: float
    aggregation_count: int


@dataclass(frozen=True, slots=True)
class Probe:
    """The spool's FilaMan state just before a POST, enough to recognise our debit."""

    window_start: datetime
    events: Mapping[int, EventMark] | None
    remaining_g: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start.isoformat(),
            "events": (
                None
                if self.events is None
                else {
                    str(event_id): [mark.delta_weight_g, mark.aggregation_count]
                    for event_id, mark in self.events.items()
                }
            ),
            "remaining_g": self.remaining_g,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Probe:
        events = data.get("events")
        remaining = data.get("remaining_g")
        return cls(
            window_start=datetime.fromisoformat(str(data["window_start"])),
            events=(
                None
                if events is None
                else {
                    int(event_id): EventMark(float(mark[0]), int(mark[1]))
                    for event_id, mark in events.items()
                }
            ),
            remaining_g=None if remaining is None else float(remaining),
        )


def window_start_for(event_at: datetime) -> datetime:
    return event_at - AGGREGATION_WINDOW - _WINDOW_MARGIN


def marks_of(events: Sequence[SpoolEvent]) -> dict[int, EventMark]:
    return {
        event.id: EventMark(event.delta_weight_g or 0.0, event.aggregation_count)
        for event in events
        if event.event_type == CONSUMPTION
    }


def landed_event(
    probe: Probe, events: Sequence[SpoolEvent], grams: float, note: str
) -> SpoolEvent | None:
    """The event that proves our debit landed, or ``None`` (see module docstring)."""
    if probe.events is None:
        return None
    for event in events:
        if event.event_type != CONSUMPTION:
            continue
        before = probe.events.get(event.id)
        if before is None:
            if event.note == note:
                return event
            continue
        grew_by = before.delta_weight_g - (event.delta_weight_g or 0.0)
        if event.aggregation_count > before.aggregation_count and grew_by >= grams - GRAMS_EPSILON:
            return event
    return None


def landed_by_weight(probe: Probe, remaining_now: float | None, grams: float) -> bool:
    """Fallback without event access: did the remaining weight drop by our grams?"""
    before = probe.remaining_g
    if before is None or remaining_now is None:
        return False
    return before - remaining_now >= grams - GRAMS_EPSILON or (remaining_now == 0 < before)


async def capture_probe(filaman: FilamanClient, spool_id: int, event_at: datetime) -> Probe:
    """Read what is needed to reconcile a POST of a debit dated ``event_at``."""
    start = window_start_for(event_at)
    try:
        events, _complete = await spool_events_since(filaman, spool_id, start)
    except AuthenticationError:
        spool = await filaman.spool(spool_id)
        return Probe(start, None, spool.remaining_weight_g)
    return Probe(start, marks_of(events))


async def find_landed(
    filaman: FilamanClient, spool_id: int, probe: Probe, grams: float, note: str
) -> tuple[bool, int | None]:
    """(landed, event id) for an in-flight debit; raises on transport errors."""
    if probe.events is None:
        spool = await filaman.spool(spool_id)
        return landed_by_weight(probe, spool.remaining_weight_g, grams), None
    events, _complete = await spool_events_since(filaman, spool_id, probe.window_start)
    event = landed_event(probe, events, grams, note)
    return (event is not None), (event.id if event is not None else None)
