"""What the consumption processor tells the rest of the integration (callbacks, sensors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DebitRecord:
    """One debit FilaMan accepted (or that reconciliation proved it had accepted).

    ``usage_id`` is the Bambuddy usage row id (``None`` for a legacy
    ``print_complete`` debit). ``remaining_after`` is FilaMan's remaining weight
    read right after the debit, ``None`` when that read failed. ``event_id`` is
    the FilaMan event: a debit merged by FilaMan's 5-minute aggregation shares
    the id of the event it was merged into. ``at`` is the print's time.
    """

    usage_id: int | None
    filaman_spool_id: int
    bambuddy_spool_id: int | None
    grams: float
    remaining_after: float | None
    event_id: int | None
    print_name: str | None
    printer_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class PrintSpoolUsage:
    """One spool of a finished print; ``debited`` is false for skipped rows.

    ``awaiting_link``: the grams are owed but wait for the Bambuddy spool to be linked.
    """

    filaman_spool_id: int | None
    bambuddy_spool_id: int | None
    grams: float
    debited: bool
    skip_reason: str | None = None
    awaiting_link: bool = False


@dataclass(frozen=True, slots=True)
class AwaitingLink:
    """Grams Bambuddy booked to one unlinked spool of this printer, owed to FilaMan."""

    bambuddy_spool_id: int
    grams: float
    usage_ids: tuple[int, ...]
    print_names: tuple[str, ...]
    slot: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class PrintUsage:
    """A finished print, reported once when every one of its rows is settled."""

    printer_id: int
    print_name: str | None
    status: str | None
    spools: tuple[PrintSpoolUsage, ...]
    at: datetime
