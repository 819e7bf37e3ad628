"""Which FilaMan spools a change hint is about (pure).

FilaMan's change stream says only ``spools_changed``: no ids (API.md §8). Most edits a maker
makes at the printer leave a spool event that names the spool: weighing it (measurement),
correcting it (adjustment), a consumption, a status change. So after a hint the newest page of
``/spools/all-events`` is compared with the page seen before: an event that is new, or whose
time or grams changed (FilaMan's 5-minute aggregation updates an event in place), names a spool
that changed.

The answer is "not sure" (``None``: the caller runs the full sync) when there is no earlier page
to compare with, or when the new page shares no event with it (more changes than one page holds);
an empty set means the change left no event (a field edit, a new or deleted spool), which the
full sync must find too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ..api.models_filaman import SpoolEvent

type EventMark = tuple[datetime | None, float | None, int]


def _mark(event: SpoolEvent) -> EventMark:
    return event.event_at, event.delta_weight_g, event.aggregation_count


@dataclass(slots=True)
class ChangeFinder:
    """The newest spool events seen, to tell which spools changed since."""

    seen: dict[int, EventMark] = field(default_factory=dict)
    primed: bool = False

    def prime(self, events: Iterable[SpoolEvent]) -> None:
        """Remember the newest events as they are now (after a complete sync)."""
        self.seen = {event.id: _mark(event) for event in events}
        self.primed = True

    def changed_spools(self, events: Iterable[SpoolEvent]) -> set[int] | None:
        """Spools with new or changed events since the last page; ``None`` when unsure."""
        page = list(events)
        if not self.primed:
            return None
        overlap = any(event.id in self.seen for event in page)
        if page and self.seen and not overlap:
            return None  # every event on the page is new: there may be more beyond it
        changed = {event.spool_id for event in page if self.seen.get(event.id) != _mark(event)}
        self.seen = {event.id: _mark(event) for event in page}
        return changed
