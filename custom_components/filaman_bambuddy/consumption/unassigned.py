"""Trays a print draws from with no spool assigned: grams nobody books unless someone acts (pure).

Bambuddy books a print's filament only to trays that have a spool assigned; a tray without one
costs grams that never reach FilaMan. They can still be saved while the print runs: Bambuddy
charges a tray with no assignment at print start to the spool assigned when the print ends
(AUTOMATION.md §5, row "no | L"). So each such tray becomes a :class:`TrayCase` the moment the
print starts, and moves through::

    printing ──(print ends unassigned)──► ended ──(usage step books nothing)──► unrecorded
       │                                     │                                    │
       └─ closed: a spool got assigned,      └─ closed: Bambuddy booked it        └─ recorded
          or the slot emptied                   after all                            by hand, or
                                                                                     dismissed

Cases live in the consumption ledger (saved with it), so an HA restart mid-print or before the
user answers loses none. A case recorded by hand becomes a ledger entry with its own key,
``bambuddy:{printer}:manual:{case id}``: the same case can never be debited twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
import re
from typing import Any

from ..api.models_bambuddy import EXTERNAL_AMS_ID, FIRST_AMS_HT_ID

type Slot = tuple[int, int]


class CaseState(StrEnum):
    PRINTING = "printing"
    """The print runs: assigning a spool now saves the grams."""
    ENDED = "ended"
    """The print ended unassigned; Bambuddy's usage step (about 8 s) has not been seen yet."""
    UNRECORDED = "unrecorded"
    """Bambuddy booked nothing for the tray: only the user can say what it used."""


@dataclass(frozen=True, slots=True)
class TrayCase:
    """One tray one print draws from with no spool assigned."""

    case_id: str
    slot: Slot
    job: str | None
    started_at: datetime
    material: str | None = None
    color: str | None = None
    """``#RRGGBB`` of the loaded filament, when known."""
    state: CaseState = CaseState.PRINTING
    print_status: str | None = None
    ended_at: datetime | None = None
    progress: float | None = None
    """The print's last progress (%): a failed print used only part of its estimate."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "slot": list(self.slot),
            "job": self.job,
            "started_at": self.started_at.isoformat(),
            "material": self.material,
            "color": self.color,
            "state": self.state.value,
            "print_status": self.print_status,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "progress": self.progress,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrayCase:
        ended = data.get("ended_at")
        progress = data.get("progress")
        return cls(
            case_id=str(data["case_id"]),
            slot=(int(data["slot"][0]), int(data["slot"][1])),
            job=data.get("job"),
            started_at=datetime.fromisoformat(str(data["started_at"])),
            material=data.get("material"),
            color=data.get("color"),
            state=CaseState(data.get("state", CaseState.PRINTING)),
            print_status=data.get("print_status"),
            ended_at=datetime.fromisoformat(str(ended)) if ended else None,
            progress=None if progress is None else float(progress),
        )


def case_id_for(slot: Slot, started_at: datetime) -> str:
    """One case per tray and print: the print's start second tells two prints apart."""
    return f"{slot[0]}-{slot[1]}-{started_at.strftime('%Y%m%dT%H%M%S')}"


def manual_key(printer_id: int, case_id: str) -> str:
    """The idempotency key of the grams a user records for a case."""
    return f"bambuddy:{printer_id}:manual:{case_id}"


# --- Bambuddy's slot names -------------------------------------------------------------------

_AMS_LABEL = re.compile(r"^([A-H])([1-4])$")
_HT_LABEL = re.compile(r"^HT-([A-H])$")
_LITE_LABEL = re.compile(r"^Lite-([1-4])$")
# Bambuddy numbers an A2L's AMS Lite as unit 6 (global trays 24-27).
LITE_AMS_ID = 6


def slot_from_label(label: str | None) -> Slot | None:
    """The slot a ``missing_spool_assignment`` label names ("A3", "Ext-L", "HT-A", "Lite-2")."""
    text = (label or "").strip()
    if text == "Ext-L":
        return EXTERNAL_AMS_ID, 0
    if text == "Ext-R":
        return EXTERNAL_AMS_ID, 1
    if match := _AMS_LABEL.match(text):
        return ord(match[1]) - ord("A"), int(match[2]) - 1
    if match := _HT_LABEL.match(text):
        return FIRST_AMS_HT_ID + ord(match[1]) - ord("A"), 0
    if match := _LITE_LABEL.match(text):
        return LITE_AMS_ID, int(match[1]) - 1
    return None


def tray_colour(value: str | None) -> str | None:
    """``#RRGGBB`` of a raw ``RRGGBBAA`` / ``#RRGGBB`` colour; ``None`` for "Unknown" and junk."""
    text = (value or "").strip().removeprefix("#")
    if len(text) in (6, 8) and all(char in "0123456789abcdefABCDEF" for char in text):
        return f"#{text[:6].upper()}"
    return None


def known_text(value: str | None) -> str | None:
    """Bambuddy says "Unknown" where it knows nothing."""
    text = (value or "").strip()
    return None if not text or text == "Unknown" else text


# --- The cases of one printer ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrintContext:
    """The print in progress, as far as the cases need it."""

    job: str | None
    started_at: datetime
    mapped: bool
    """Its print_start named the trays it uses (else the tray in use is watched)."""


class TrayCases:
    """Every open case of one printer, by case id (the ledger stores the dict itself)."""

    def __init__(self, cases: dict[str, TrayCase]) -> None:
        self.cases = cases

    def open_for(self, slot: Slot) -> TrayCase | None:
        """The case of the running print for ``slot``, if one is open."""
        return next(
            (
                case
                for case in self.cases.values()
                if case.slot == slot and case.state is CaseState.PRINTING
            ),
            None,
        )

    def open(
        self,
        print_: PrintContext,
        slot: Slot,
        *,
        material: str | None,
        color: str | None,
    ) -> TrayCase | None:
        """Open a case for a tray of the running print; ``None`` when one is open already (what
        it did not know of the tray yet is added to it)."""
        existing = self.open_for(slot)
        if existing is not None:
            if (existing.material is None and material) or (existing.color is None and color):
                # Bambuddy's warning knows the tray better than print_start did.
                self.cases[existing.case_id] = replace(
                    existing, material=existing.material or material, color=existing.color or color
                )
            return None
        case = TrayCase(
            case_id=case_id_for(slot, print_.started_at),
            slot=slot,
            job=print_.job,
            started_at=print_.started_at,
            material=material,
            color=color,
        )
        if case.case_id in self.cases:
            return None  # the print of that second has ended already: its case stays as it is
        self.cases[case.case_id] = case
        return case

    def close_printing(self, slot: Slot) -> TrayCase | None:
        """The slot got a spool or emptied during the print: its grams are safe (or none)."""
        case = self.open_for(slot)
        if case is not None:
            del self.cases[case.case_id]
        return case

    def progress(self, percent: float | None) -> None:
        """Remember how far the print got (for the estimate of a failed print)."""
        if percent is None:
            return
        for case_id, case in list(self.cases.items()):
            if case.state is CaseState.PRINTING:
                self.cases[case_id] = replace(case, progress=percent)

    def print_ended(self, status: str | None, at: datetime) -> list[TrayCase]:
        """The print ended: its still-unassigned trays wait for Bambuddy's usage step."""
        ended: list[TrayCase] = []
        for case_id, case in list(self.cases.items()):
            if case.state is CaseState.PRINTING:
                self.cases[case_id] = replace(
                    case, state=CaseState.ENDED, print_status=status, ended_at=at
                )
                ended.append(self.cases[case_id])
        return ended

    def usage_step(self, booked_slots: set[Slot] | None) -> tuple[list[TrayCase], list[TrayCase]]:
        """Bambuddy's usage step for the ended print: (booked anyway, left unrecorded).

        ``booked_slots``: the slots of its ``spool_usage_logged`` items; ``None`` when no usage
        came at all (nothing was booked).
        """
        booked: list[TrayCase] = []
        unrecorded: list[TrayCase] = []
        for case_id, case in list(self.cases.items()):
            if case.state is not CaseState.ENDED:
                continue
            if booked_slots is not None and case.slot in booked_slots:
                del self.cases[case_id]
                booked.append(case)
            else:
                self.cases[case_id] = replace(case, state=CaseState.UNRECORDED)
                unrecorded.append(self.cases[case_id])
        return booked, unrecorded

    def unrecorded(self) -> list[TrayCase]:
        return [case for case in self.cases.values() if case.state is CaseState.UNRECORDED]

    def take(self, case_id: str) -> TrayCase | None:
        """Remove a case the user answered (recorded by hand or dismissed)."""
        return self.cases.pop(case_id, None)


def estimate_grams(
    case: TrayCase, archive_grams: float | None, booked_grams: float
) -> float | None:
    """What the tray probably used: the print's slicer estimate minus what was booked to its
    other trays, scaled to how far a failed print got. ``None`` when Bambuddy has no estimate."""
    if archive_grams is None or archive_grams <= 0:
        return None
    total = archive_grams
    if case.print_status not in (None, "completed") and case.progress is not None:
        total *= max(0.0, min(case.progress, 100.0)) / 100
    left = round(total - booked_grams, 1)
    return left if left > 0 else None
