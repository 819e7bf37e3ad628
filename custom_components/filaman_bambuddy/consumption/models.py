"""What the consumption parts tell each other and the rest of the integration.

The records handed to Home Assistant (a debit, a finished print, grams awaiting a
link), how a step of a run says "not now" (:class:`Transient`, :class:`Wait`, and the
:class:`Problems` the user sees), and the plain-dict views for diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
import logging
from typing import Any

from .ledger import EntryState, Ledger, LedgerEntry
from .plausibility import Doubt


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
    held_for_review: bool = False
    """Booked grams FilaMan's figures rule out: not debited unless the user says so."""


@dataclass(frozen=True, slots=True)
class AwaitingLink:
    """Grams Bambuddy booked to one unlinked spool of this printer, owed to FilaMan."""

    bambuddy_spool_id: int
    grams: float
    usage_ids: tuple[int, ...]
    print_names: tuple[str, ...]
    slot: tuple[int, int] | None
    other_filaman: bool = False
    """Held because the printer now debits another FilaMan: only the user may link them."""


@dataclass(frozen=True, slots=True)
class OwedGrams:
    """Grams booked by Bambuddy that are not in FilaMan yet."""

    queued: float
    """On their way: pending or in flight (FilaMan down, say)."""
    awaiting_link: float
    """Held until the user links their spool (Settings → Repairs)."""
    held_for_review: float = 0.0
    """Booked grams FilaMan's figures rule out, held for the user's decision (Repairs)."""

    @property
    def total(self) -> float:
        return round(self.queued + self.awaiting_link + self.held_for_review, 2)


@dataclass(frozen=True, slots=True)
class HeldBooking:
    """One usage row held for review: what Bambuddy booked and what FilaMan expected."""

    key: str
    filaman_spool_id: int | None
    bambuddy_spool_id: int | None
    grams: float
    doubt: Doubt
    expected_g: float


@dataclass(frozen=True, slots=True)
class HeldPrint:
    """A print whose bookings are held for review: one repair, one answer for all of them."""

    print_key: str
    print_name: str | None
    at: datetime
    bookings: tuple[HeldBooking, ...]

    @property
    def grams(self) -> float:
        return round(sum(booking.grams for booking in self.bookings), 2)


@dataclass(frozen=True, slots=True)
class PrintUsage:
    """A finished print, reported once when every one of its rows is settled."""

    printer_id: int
    print_name: str | None
    status: str | None
    spools: tuple[PrintSpoolUsage, ...]
    at: datetime


# --- How a step says "not now" -------------------------------------------------------------------
# How a step of a consumption run says "not now", and what the user sees of it.
#
# A step that cannot go on raises :class:`Transient` (the run ends and is retried
# with backoff by the worker in :mod:`.processor`) or :class:`Wait` (retried after a known time).
# :class:`Problems` keeps the message shown as ``last_error`` until a run succeeds,
# and logs a warning that every retry would repeat only once.

_LOGGER = logging.getLogger(__name__)


class Transient(Exception):
    """This cycle cannot go on; retry later with backoff."""


class Paused(Exception):
    """Another tool deducts this printer's prints: the queue waits for the user's decision."""


class Wait(Exception):
    """The head of the queue must wait ``seconds`` (an in-flight POST settling)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class Problems:
    """The latest error of one printer's processor and the warnings already logged."""

    def __init__(self, printer_id: int) -> None:
        self._printer_id = printer_id
        self._logged: set[str] = set()
        self.last_error: str | None = None

    def fail(self, what: str, err: BaseException) -> Transient:
        """Record ``what`` failed (shown as ``last_error``); the exception to raise."""
        self.last_error = f"{what}: {err}"
        _LOGGER.debug("Printer %s: %s", self._printer_id, self.last_error)
        return Transient(self.last_error)

    def clear(self) -> None:
        self.last_error = None

    def warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            _LOGGER.warning(message, *args)


# --- Views for diagnostics -----------------------------------------------------------------------
# Plain-dict views of ledger state for Home Assistant diagnostics (no secrets).


def processor_snapshot(
    ledger: Ledger,
    entries: list[LedgerEntry],
    *,
    blocked: str | None,
    usage_supported: bool | None,
    last_error: str | None,
    consecutive_failures: int,
    last_debit: DebitRecord | None,
) -> dict[str, Any]:
    """``ConsumptionProcessor.snapshot``: queue, cursor, errors and recent entries."""
    skipped: dict[str, int] = {}
    for entry in entries:
        if entry.state is EntryState.SKIPPED:
            reason = (entry.reason or "").split(":", 1)[0]
            skipped[reason] = skipped.get(reason, 0) + 1
    return {
        "printer_id": ledger.printer_id,
        "cursor": ledger.cursor,
        "epoch": ledger.epoch,
        "blocked": blocked,
        "usage_supported": usage_supported,
        "pending_count": ledger.pending_count,
        "last_error": last_error,
        "consecutive_failures": consecutive_failures,
        "last_debit": debit_dict(last_debit),
        "skipped_by_reason": skipped,
        "spool_map": {str(bid): fid for bid, fid in sorted(ledger.spool_map.items())},
        "entries": [entry_summary(entry) for entry in entries[-50:]],
        "unassigned_trays": [case.to_dict() for case in ledger.tray_cases.values()],
        # Bookings FilaMan's figures rule out, waiting for the user (reason: doubt:expected g).
        "held_for_review": {
            print_key: [entry_summary(entry) for entry in held]
            for print_key, held in ledger.held_for_review().items()
        },
        # Other tools seen deducting this printer's prints, with what was seen and the answer.
        "other_writers": [record.to_dict() for record in ledger.writers.values()],
    }


def debit_dict(record: DebitRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "usage_id": record.usage_id,
        "filaman_spool_id": record.filaman_spool_id,
        "bambuddy_spool_id": record.bambuddy_spool_id,
        "grams": record.grams,
        "remaining_after": record.remaining_after,
        "event_id": record.event_id,
        "print_name": record.print_name,
        "at": record.at.isoformat(),
    }


def entry_summary(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "state": entry.state.value,
        "reason": entry.reason,
        "usage_id": entry.usage_id,
        "bambuddy_spool_id": entry.bambuddy_spool_id,
        "filaman_spool_id": entry.filaman_spool_id,
        "grams": entry.grams,
        "print_name": entry.print_name,
        "event_at": entry.event_at.isoformat(),
        "attempts": entry.attempts,
        "event_id": entry.event_id,
        "reviewed": entry.reviewed,  # the user approved grams held for review
    }


def notify[T](callback: Callable[[T], None] | None, value: T) -> None:
    if callback is None:
        return
    try:
        callback(value)
    except Exception:
        _LOGGER.exception("Consumption callback failed")
