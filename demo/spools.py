"""Which FilaMan spool goes into which loaded AMS slot, so the demo card shows spool names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .simulators import Tray


def _colors(spool: dict[str, Any]) -> list[str]:
    colors = sorted(spool["filament"].get("colors") or [], key=lambda c: c.get("position", 0))
    return [str(c["color"]["hex_code"]).upper() for c in colors if c.get("color")]


def _usable(spool: dict[str, Any]) -> bool:
    remaining = spool.get("remaining_weight_g")
    return remaining is None or remaining > 0


def match_spools(
    trays: Sequence[Tray], spools: Sequence[dict[str, Any]]
) -> dict[tuple[int, int], int]:
    """(ams_id, tray_id) -> FilaMan spool id; each spool once, same material and colour first.

    Slots whose material no spool has stay unassigned.
    """
    candidates = sorted((s for s in spools if _usable(s)), key=lambda s: int(s["id"]))
    used: set[int] = set()
    matches: dict[tuple[int, int], int] = {}

    def pick(tray: Tray, same_color: bool) -> None:
        for spool in candidates:
            if spool["id"] in used or spool["filament"]["material_type"] != tray.material:
                continue
            if same_color and tray.color.upper() not in _colors(spool):
                continue
            used.add(spool["id"])
            matches[(tray.ams_id, tray.tray_id)] = int(spool["id"])
            return

    loaded = [tray for tray in trays if tray.loaded]
    for same_color in (True, False):
        for tray in loaded:
            if (tray.ams_id, tray.tray_id) not in matches:
                pick(tray, same_color)
    return matches
