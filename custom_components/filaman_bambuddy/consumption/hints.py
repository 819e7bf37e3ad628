"""Slot addresses for usage rows, taken from ``spool_usage_logged`` items.

A Bambuddy usage row names a spool but not the AMS slot it was printed from; the
WebSocket ``spool_usage_logged`` event is the only place a usage has its slot.
The slot is the last way to find the FilaMan spool when the Bambuddy spool
cannot be mapped (see :mod:`.spool_link`), so items are kept for a while until
the rows they describe are ingested and matched (spool and grams).
"""

from __future__ import annotations

from dataclasses import dataclass
import time

from ..api.events import SpoolUsageLoggedEvent
from ..api.models_bambuddy import UsageRow

HINT_LIFETIME = 900.0  # s a spool_usage_logged slot hint waits for its rows
# A spool_usage_logged item matches a row when spool and grams (0.1 g) agree.
_HINT_GRAMS_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class UsageHint:
    """A ``spool_usage_logged`` item: the only place a usage has its slot address."""

    spool_id: int
    weight_used: float
    ams_id: int | None
    tray_id: int | None


class SlotHints:
    """The recent ``spool_usage_logged`` items of one printer, each kept ``HINT_LIFETIME``."""

    def __init__(self, printer_id: int) -> None:
        self._printer_id = printer_id
        self._hints: list[tuple[float, UsageHint]] = []

    def add(self, event: SpoolUsageLoggedEvent) -> None:
        """Keep the event's items (events of other printers are ignored)."""
        if event.printer_id not in (None, self._printer_id):
            return
        stamp = time.monotonic()
        self._hints.extend(
            (stamp, UsageHint(item.spool_id, item.weight_used, item.ams_id, item.tray_id))
            for item in event.usage
        )

    def current(self) -> list[UsageHint]:
        """Drop expired items; the rest, oldest first."""
        horizon = time.monotonic() - HINT_LIFETIME
        self._hints = [(stamp, hint) for stamp, hint in self._hints if stamp >= horizon]
        return [hint for _, hint in self._hints]

    def clear(self) -> None:
        self._hints.clear()


def take_hint_slot(hints: list[UsageHint], row: UsageRow) -> tuple[int, int] | None:
    """The slot of the usage event item that matches this row (each item used once)."""
    for hint in hints:
        if (
            hint.spool_id == row.spool_id
            and abs(hint.weight_used - row.weight_used) <= _HINT_GRAMS_TOLERANCE
            and hint.ams_id is not None
            and hint.tray_id is not None
        ):
            hints.remove(hint)
            return (hint.ams_id, hint.tray_id)
    return None
