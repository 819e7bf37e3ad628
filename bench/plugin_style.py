"""The baseline: a small, faithful re-implementation of how FilaMan's Bambuddy plugin syncs.

From the seed-plugin behaviour notes (§6, §7): list FilaMan's non-archived spools and
Bambuddy's active spools, then for **every** FilaMan spool send the whole payload — ``PATCH``
when a ``filaman:<id>`` twin exists, ``POST`` otherwise — one request at a time with a 50 ms
pause after each write. No diff against Bambuddy's state, so every run writes every spool.
(1.1+ keeps an in-memory "last payload" cache, empty after every restart; the bench measures
the cache-less behaviour of 1.0.x and of every first run after a restart.)

Only the inventory path is reproduced; the plugin reads FilaMan from its own database, so
the listing over REST here costs it slightly more than the original.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import time
from typing import Any

from custom_components.filaman_bambuddy.api import ApiError, BambuddyClient, FilamanClient
from custom_components.filaman_bambuddy.api.models_filaman import FilamanSpool

WRITE_PAUSE_S = 0.05


@dataclass
class PluginRun:
    writes: int
    failed: int
    paused_s: float
    slept: bool


def plugin_payload(spool: FilamanSpool) -> dict[str, Any]:
    """The plugin's field mapping (§7 "plugin sends" column), gross label weight included."""
    filament = spool.filament
    gross = spool.initial_total_weight_g
    remaining = spool.remaining_weight_g
    rgba = "FFFFFFFF"
    if filament.color_hexes:
        digits = filament.color_hexes[0].lstrip("#").upper()
        rgba = digits + "FF" if len(digits) == 6 else digits if len(digits) == 8 else rgba
    payload: dict[str, Any] = {
        "material": filament.material_type or "PLA",
        "brand": filament.manufacturer.name if filament.manufacturer else None,
        "rgba": rgba,
        "label_weight": int(gross or 1000),
        "weight_used": (
            round(max(0.0, (gross or 0.0) - remaining), 2) if remaining is not None else 0
        ),
        "weight_locked": False,
        "note": f"filaman:{spool.id}",
    }
    if filament.manufacturer_color_name:
        payload["color_name"] = filament.manufacturer_color_name
    return payload


async def plugin_sync(
    bambuddy: BambuddyClient, filaman: FilamanClient, *, sleep_pauses: bool
) -> PluginRun:
    """One plugin-style run. With ``sleep_pauses`` false the pauses are counted, not slept."""
    spools = await filaman.spools(include_archived=False)
    twins = {
        twin.filaman_id: twin
        for twin in await bambuddy.spools(include_archived=False)
        if twin.filaman_id is not None
    }
    writes = failed = 0
    paused = 0.0
    for spool in spools:
        payload = plugin_payload(spool)
        twin = twins.get(spool.id)
        try:
            if twin is not None:
                await bambuddy.patch_spool(twin.id, payload)
            else:
                await bambuddy.create_spool(payload)
        except ApiError:
            failed += 1
        writes += 1
        started = time.monotonic()
        if sleep_pauses:
            await asyncio.sleep(WRITE_PAUSE_S)
            paused += time.monotonic() - started
        else:
            paused += WRITE_PAUSE_S
    return PluginRun(writes=writes, failed=failed, paused_s=paused, slept=sleep_pauses)
