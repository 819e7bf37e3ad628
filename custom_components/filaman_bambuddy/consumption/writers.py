"""Who else deducts this printer's prints from FilaMan? Evidence only, never a guess.

FilaMan has several tools that deduct prints by themselves: its own Bambuddy plugin, the Bambu
Lab driver plugin (estimated weights), and 3MF-based usage trackers such as Bambu Usage Tracking
(``Niko11111/FilaManBambuUsage``). One of them beside this integration counts every print twice.
Two kinds of evidence name such a tool:

* **its consumptions**: a ``print_consumption`` event on a spool this integration debits, dated
  near a print it debits, written under another ``source`` than FilaMan's API (``ui``, which is
  ours and a person's by hand, and ``system``). Plugins write under their own source
  (``bambuddy``, ``bambu_usage``); they never merge with ours (FilaMan aggregates per source).
* **its installation** (seen only with an admin key): an active plugin that tracks consumption
  for the Bambu Lab driver, or that driver itself, bound to a FilaMan printer with this
  printer's serial number.

What is seen is said in the repair; the user decides who writes (:mod:`.ledger` keeps it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..api.models_filaman import FilamanPlugin, FilamanPrinter, SpoolEvent

# Sources FilaMan gives API writes (ours, a person's) and its own bookkeeping.
API_SOURCES = frozenset({"ui", "system", "api"})
CONSUMPTION = "print_consumption"
# Another tool books a print when it ends, as we do; its event time is the print's end.
NEAR_A_PRINT = timedelta(minutes=15)
BAMBU_LAB_DRIVER = "bambulab"
KNOWN_TOOLS = {
    "bambuddy": "FilaMan's Bambuddy plugin",
    "bambu_usage": "Bambu Usage Tracking",
    BAMBU_LAB_DRIVER: "FilaMan's Bambu Lab driver",
}


@dataclass(frozen=True, slots=True)
class OtherWriter:
    """A tool seen deducting (or set up to deduct) this printer's prints."""

    key: str
    """The event source or plugin key: what the user's decision is remembered by."""
    name: str
    evidence: str
    """What was seen, language-neutral: ``spool #12: 14.2 g, 2026-12-01 12:03 UTC`` or the
    plugin and FilaMan printer."""
    evidence_id: str
    """Identifies the evidence itself (an event id, a plugin)."""
    seen_at: datetime | None = None
    """When the evidence happened (an event's time); ``None`` for an installation."""


def tool_name(key: str) -> str:
    return KNOWN_TOOLS.get(key, key)


def writers_in_events(
    events: Iterable[SpoolEvent], our_debits: Sequence[tuple[int, datetime]]
) -> list[OtherWriter]:
    """Other sources' consumptions near prints we debit, one writer per source.

    ``our_debits``: (FilaMan spool, print time) of what this integration debits or is about to.
    """
    found: dict[str, OtherWriter] = {}
    for event in events:
        source = (event.source or "").strip()
        if event.event_type != CONSUMPTION or not source or source in API_SOURCES:
            continue
        if event.event_at is None or source in found:
            continue
        if not any(
            spool == event.spool_id and abs(event.event_at - at) <= NEAR_A_PRINT
            for spool, at in our_debits
        ):
            continue
        grams = -(event.delta_weight_g or 0.0)
        found[source] = OtherWriter(
            key=source,
            name=tool_name(source),
            evidence=(
                f"spool #{event.spool_id}: {grams:g} g, "
                f"{event.event_at.strftime('%Y-%m-%d %H:%M')} UTC ({source})"
            ),
            evidence_id=f"event:{event.id}",
            seen_at=event.event_at,
        )
    return list(found.values())


def writers_in_plugins(
    plugins: Iterable[FilamanPlugin], printers: Iterable[FilamanPrinter], serial: str | None
) -> list[OtherWriter]:
    """Active plugins that deduct this printer's prints, by the Bambu Lab driver's printer.

    A tracker can only be tied to a printer through the driver it reads (Bambu Usage Tracking
    reads the Bambu Lab driver's printers); one that names no driver is not guessed at.
    """
    if not serial:
        return []
    ours = [
        printer
        for printer in printers
        if printer.driver_key == BAMBU_LAB_DRIVER
        and printer.is_active
        and (printer.serial or "").strip().upper() == serial.strip().upper()
    ]
    if not ours:
        return []
    where = ", ".join(f"FilaMan printer '{printer.name}'" for printer in ours)
    found: list[OtherWriter] = []
    for plugin in plugins:
        if not plugin.is_active:
            continue
        driven = plugin.driver_key == BAMBU_LAB_DRIVER
        tracker = plugin.tracks_consumption and plugin.requires_driver == BAMBU_LAB_DRIVER
        if driven or tracker:
            name = KNOWN_TOOLS.get(plugin.key, plugin.name)
            found.append(
                OtherWriter(
                    key=plugin.key,
                    name=name,
                    evidence=f"plugin '{plugin.name}' active, {where} ({serial})",
                    evidence_id=f"plugin:{plugin.key}",
                )
            )
    return found
