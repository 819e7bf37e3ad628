"""Legacy ``print_complete`` weights: which slot got how many grams.

Old Bambuddy servers had no usage history; ``print_complete.data.weight_used``
was a float total or ``{"<ams>-<tray>": grams}``. Those events carry no id and no
time, so a print is identified by its content plus the time it was received.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import math

type LegacySlots = dict[tuple[int, int], tuple[int | None, float]]


def legacy_fingerprint(
    printer_id: int, name: str | None, status: str | None, slots: LegacySlots
) -> str:
    """Content identity of a legacy print end (for duplicate-delivery detection)."""
    grams = sorted((slot, spool_and_grams[1]) for slot, spool_and_grams in slots.items())
    return json.dumps([printer_id, name, status, grams])


def legacy_slots(
    weights: float | dict[str, float], slot_to_bambuddy_spool: Mapping[tuple[int, int], int]
) -> LegacySlots:
    """Slot → (Bambuddy spool or None, grams); a float total needs exactly one mapped slot."""
    if isinstance(weights, dict):
        slots: LegacySlots = {}
        for address, grams in weights.items():
            parts = address.split("-")
            if len(parts) != 2 or not all(part.strip().isdigit() for part in parts) or grams == 0:
                continue
            slot = (int(parts[0]), int(parts[1]))
            slots[slot] = (slot_to_bambuddy_spool.get(slot), grams)
        return slots
    if len(slot_to_bambuddy_spool) == 1 and math.isfinite(weights):
        ((slot, spool_id),) = slot_to_bambuddy_spool.items()
        return {slot: (spool_id, weights)}
    return {}
