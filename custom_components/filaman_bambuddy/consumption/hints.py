"""Slot addresses for usage rows, taken from ``spool_usage_logged`` items.

A Bambuddy usage row names a spool but not the AMS slot it was printed from; the
WebSocket ``spool_usage_logged`` event is the only place a usage has its slot.
The slot is the last way to find the FilaMan spool when the Bambuddy spool
cannot be mapped, so an item is matched to its row on spool and grams.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api.models_bambuddy import UsageRow

# A spool_usage_logged item matches a row when spool and grams (0.1 g) agree.
_HINT_GRAMS_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class UsageHint:
    """A ``spool_usage_logged`` item: the only place a usage has its slot address."""

    spool_id: int
    weight_used: float
    ams_id: int | None
    tray_id: int | None


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
