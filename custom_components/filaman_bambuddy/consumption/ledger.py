"""The persisted consumption ledger of one printer: a pure state machine, no I/O.

Every usage Bambuddy logs becomes one :class:`~.entry.LedgerEntry` keyed by an
idempotency key and moved through::

    pending ──► in_flight ──► done
       │  ▲         │
       │  └─────────┤ (request provably not sent: back to pending)
       ├────────────┴──► skipped(reason)
       │
       └──► awaiting_link ──(the user or the sync links its Bambuddy spool)──► pending

``awaiting_link``: Bambuddy booked the grams to a spool no FilaMan spool is linked to (its
own RFID spool, say). They are owed, never pruned, and go back to the queue, each entry
once, when that spool gets linked (:meth:`Ledger.link_awaiting`).

``in_flight`` is written to the store *before* the FilaMan POST together with a
:class:`~.reconcile.Probe` of the spool's events; ``done`` only after FilaMan
accepted the POST (or reconciliation proved it had). ``cursor`` is the newest
Bambuddy usage row id already turned into an entry, so a row is ingested once and
the queue of unfinished entries survives restarts.

``anchor`` is where the ledger began; rows at or below it are taken in only on
request, each at most once ever (see :mod:`.past`).

Keys: ``bambuddy:{printer}:usage:{row id}``; after a detected Bambuddy database
reset row ids start again, so later epochs append ``~r{epoch}``. Legacy
``print_complete`` debits use ``bambuddy:{printer}:legacy:{received}:{ams}-{tray}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import math
from typing import Any

from ..api.models_bambuddy import UsageRow
from .entry import (
    OWED,
    UNFINISHED,
    EntryState,
    LedgerEntry,
    SkipReason,
    aware,
    by_seq,
    opt_int,
)
from .hints import UsageHint, take_hint_slot
from .past import PastRefusal, PastUsageRefused, inferred_anchor
from .reconcile import Probe

# Re-exported: the ledger's vocabulary is imported from here by the rest of the package.
__all__ = [
    "KEEP_FINISHED",
    "STORAGE_VERSION",
    "UNFINISHED",
    "EntryState",
    "IngestResult",
    "Ledger",
    "LedgerEntry",
    "PastRefusal",
    "PastUsageRefused",
    "SkipReason",
    "TransitionError",
    "UsageHint",
]

STORAGE_VERSION = 2  # 2: anchor, anchor_epoch, past_taken
# Finished entries kept for diagnostics; unfinished ones are never pruned.
KEEP_FINISHED = 200


@dataclass(frozen=True, slots=True)
class IngestResult:
    new_entries: tuple[LedgerEntry, ...] = ()
    anchored: bool = False
    reset_detected: bool = False


class TransitionError(RuntimeError):
    """A state change the state machine does not allow (a programming error)."""


@dataclass(slots=True)
class Ledger:
    """All consumption state of one Bambuddy printer."""

    printer_id: int
    cursor: int | None = None
    epoch: int = 0
    anchor: int | None = None
    anchor_epoch: int = 0
    past_taken: set[int] = field(default_factory=set)
    last_created_at: datetime | None = None
    seq: int = 0
    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    spool_map: dict[int, int] = field(default_factory=dict)
    legacy_seen: dict[str, datetime] = field(default_factory=dict)

    # --- queries -------------------------------------------------------------------

    def unfinished(self) -> list[LedgerEntry]:
        """Pending and in-flight entries, oldest first."""
        return sorted(
            (entry for entry in self.entries.values() if not entry.finished),
            key=by_seq,
        )

    @property
    def pending_count(self) -> int:
        return sum(1 for entry in self.entries.values() if not entry.finished)

    def awaiting_links(self) -> dict[int, list[LedgerEntry]]:
        """Entries waiting for a link, by the Bambuddy spool they were booked to."""
        waiting: dict[int, list[LedgerEntry]] = {}
        for entry in sorted(self.entries.values(), key=by_seq):
            if entry.state is EntryState.AWAITING_LINK and entry.bambuddy_spool_id is not None:
                waiting.setdefault(entry.bambuddy_spool_id, []).append(entry)
        return waiting

    def usage_key(self, usage_id: int) -> str:
        suffix = f"~r{self.epoch}" if self.epoch else ""
        return f"bambuddy:{self.printer_id}:usage:{usage_id}{suffix}"

    # --- ingestion -----------------------------------------------------------------

    def begin(self, cursor: int) -> None:
        """Start a fresh ledger after row ``cursor``: everything at or below it predates us."""
        self.cursor = self.anchor = cursor
        self.anchor_epoch = self.epoch

    def ingest(
        self,
        rows: Iterable[UsageRow],
        *,
        now: datetime,
        hints: Iterable[UsageHint] = (),
        blocked: str | None = None,
    ) -> IngestResult:
        """Turn rows newer than the cursor into entries and advance the cursor.

        First start (no cursor): anchor at the newest row, nothing is replayed.
        Newest row below the cursor: Bambuddy's database was reset; re-anchor at
        its newest row and take only rows dated after the newest row ever ingested
        (prints after the reset), so a restored backup is not replayed. Rows for
        other printers are ignored. ``blocked`` marks new rows skipped(blocked).
        """
        mine = [row for row in rows if row.printer_id in (None, self.printer_id)]
        if self.cursor is None:
            self.begin(max((row.id for row in mine), default=0))
            self._note_created(mine)
            return IngestResult(anchored=True)
        if not mine:
            return IngestResult()
        newest = max(row.id for row in mine)
        reset = newest < self.cursor
        if reset:
            self.epoch += 1
            self.cursor = 0
            cutoff = self.last_created_at
            fresh = [
                row
                for row in mine
                if cutoff is not None and row.created_at is not None and row.created_at > cutoff
            ]
        else:
            fresh = [row for row in mine if row.id > self.cursor]
        available = list(hints)
        created: list[LedgerEntry] = []
        for row in sorted(fresh, key=lambda row: row.id):
            created.append(self._entry_for_row(row, now, available, blocked))
        self.cursor = newest
        self._note_created(mine)
        self._prune()
        return IngestResult(new_entries=tuple(created), reset_detected=reset)

    def check_past_allowed(self) -> int:
        """The anchor below which past rows may be taken in, or :class:`PastUsageRefused`."""
        if self.cursor is None:
            raise PastUsageRefused(PastRefusal.NOT_ANCHORED)
        if self.anchor is None:
            raise PastUsageRefused(PastRefusal.ANCHOR_UNKNOWN)
        if self.epoch != self.anchor_epoch:
            # Ids below the anchor now name other rows (or a restored backup's): unsafe.
            raise PastUsageRefused(PastRefusal.HISTORY_RESET)
        return self.anchor

    def take_in_past(
        self, rows: Iterable[UsageRow], *, since: datetime, now: datetime
    ) -> tuple[LedgerEntry, ...]:
        """Entries for this printer's rows dated at or after ``since`` that predate the ledger.

        Only rows at or below the anchor that were never taken in before: rows above it
        are the regular ingestion's (already entries, or coming with the next run).
        Rows without a printer (deleted printer) or a date are left alone: they cannot be
        attributed to this printer's ledger alone, or to ``since``. The new entries are
        queued like any other but marked announced: a print that ended long ago is not
        reported as finishing now.
        """
        anchor = self.check_past_allowed()
        chosen = {
            row.id: row
            for row in rows
            if row.printer_id == self.printer_id
            and row.id <= anchor
            and row.created_at is not None
            and row.created_at >= since
            and row.id not in self.past_taken
            and self.usage_key(row.id) not in self.entries
        }
        created: list[LedgerEntry] = []
        for row_id in sorted(chosen):
            entry = self._entry_for_row(chosen[row_id], now, [], None)
            entry.announced = True
            self.past_taken.add(row_id)
            created.append(entry)
        self._prune()
        return tuple(created)

    def _note_created(self, rows: Iterable[UsageRow]) -> None:
        for row in rows:
            if row.created_at is not None and (
                self.last_created_at is None or row.created_at > self.last_created_at
            ):
                self.last_created_at = row.created_at

    def _entry_for_row(
        self, row: UsageRow, now: datetime, hints: list[UsageHint], blocked: str | None
    ) -> LedgerEntry:
        event_at = row.created_at or now
        self.seq += 1
        entry = LedgerEntry(
            key=self.usage_key(row.id),
            seq=self.seq,
            usage_id=row.id,
            bambuddy_spool_id=row.spool_id,
            grams=row.weight_used,
            event_at=event_at,
            print_name=row.print_name,
            print_status=row.status,
            print_key=f"{self.epoch}:{event_at.isoformat()}:{row.print_name}",
            slot=take_hint_slot(hints, row),
        )
        if not (math.isfinite(row.weight_used) and row.weight_used > 0):
            entry.state, entry.reason = EntryState.SKIPPED, SkipReason.INVALID.value
        elif blocked:
            entry.state, entry.reason = EntryState.SKIPPED, blocked
        self.entries[entry.key] = entry
        return entry

    def add_legacy(
        self,
        *,
        fingerprint: str,
        received_at: datetime,
        slots: Mapping[tuple[int, int], tuple[int | None, float]],
        print_name: str | None,
        print_status: str | None,
        dedupe_window: timedelta,
        blocked: str | None = None,
    ) -> tuple[LedgerEntry, ...]:
        """Entries for a legacy ``print_complete`` (grams per slot), once per delivery.

        ``fingerprint`` identifies the print's content (printer, job, status,
        grams); the same fingerprint within ``dedupe_window`` is a duplicate
        delivery and yields nothing. The key carries the receive time, so a later
        print of the same job on the same slot is a new debit.
        """
        for seen, at in list(self.legacy_seen.items()):
            if received_at - at > dedupe_window:
                del self.legacy_seen[seen]
        if fingerprint in self.legacy_seen:
            return ()
        self.legacy_seen[fingerprint] = received_at
        stamp = received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        created: list[LedgerEntry] = []
        for (ams_id, tray_id), (spool_id, grams) in sorted(slots.items()):
            self.seq += 1
            entry = LedgerEntry(
                key=f"bambuddy:{self.printer_id}:legacy:{stamp}:{ams_id}-{tray_id}",
                seq=self.seq,
                usage_id=None,
                bambuddy_spool_id=spool_id,
                grams=grams,
                event_at=received_at,
                print_name=print_name,
                print_status=print_status,
                print_key=f"legacy:{stamp}:{print_name}",
                slot=(ams_id, tray_id),
            )
            if not (math.isfinite(grams) and grams > 0):
                entry.state, entry.reason = EntryState.SKIPPED, SkipReason.INVALID.value
            elif spool_id is None:
                entry.state, entry.reason = EntryState.SKIPPED, SkipReason.UNLINKED.value
            elif blocked:
                entry.state, entry.reason = EntryState.SKIPPED, blocked
            self.entries[entry.key] = entry
            created.append(entry)
        self._prune()
        return tuple(created)

    # --- transitions -----------------------------------------------------------------

    def _get(self, key: str, allowed: frozenset[EntryState]) -> LedgerEntry:
        entry = self.entries.get(key)
        if entry is None:
            raise TransitionError(f"unknown ledger entry {key}")
        if entry.state not in allowed:
            raise TransitionError(f"{key}: not allowed from {entry.state}")
        return entry

    def resolve_spool(self, key: str, filaman_spool_id: int) -> None:
        """Fix the FilaMan spool of an unfinished entry (never changed once in flight)."""
        entry = self._get(key, frozenset({EntryState.PENDING}))
        entry.filaman_spool_id = filaman_spool_id
        if entry.bambuddy_spool_id is not None:
            self.spool_map[entry.bambuddy_spool_id] = filaman_spool_id

    def mark_in_flight(self, key: str, probe: Probe, at: datetime) -> None:
        entry = self._get(key, UNFINISHED)
        if entry.filaman_spool_id is None:
            raise TransitionError(f"{key}: no FilaMan spool to debit")
        entry.state = EntryState.IN_FLIGHT
        entry.probe = probe
        entry.attempted_at = at
        entry.attempts += 1
        entry.reason = None

    def mark_pending(self, key: str, reason: str | None = None) -> None:
        """Back to pending: the POST provably never reached FilaMan."""
        entry = self._get(key, UNFINISHED)
        entry.state = EntryState.PENDING
        entry.probe = None
        entry.reason = reason

    def mark_done(self, key: str, event_id: int | None, remaining_after: float | None) -> None:
        entry = self._get(key, frozenset({EntryState.IN_FLIGHT}))
        entry.state = EntryState.DONE
        entry.event_id = event_id
        entry.remaining_after = remaining_after
        entry.probe = None
        entry.reason = None
        self._prune()

    def mark_awaiting_link(self, key: str) -> None:
        """No usable FilaMan spool for the entry's Bambuddy spool (none linked, or the linked
        one is gone or refused the debit): hold the grams until another is linked."""
        entry = self._get(key, UNFINISHED)
        if entry.bambuddy_spool_id is None:
            raise TransitionError(f"{key}: no Bambuddy spool a link could name")
        entry.state = EntryState.AWAITING_LINK
        entry.reason = None
        entry.probe = None
        entry.filaman_spool_id = None

    def link_awaiting(self, bambuddy_spool_id: int, filaman_spool_id: int) -> list[LedgerEntry]:
        """Queue the grams held for ``bambuddy_spool_id`` onto ``filaman_spool_id``.

        Only entries still awaiting a link move, so asking twice queues nothing twice.
        """
        moved = self.awaiting_links().get(bambuddy_spool_id, [])
        for entry in moved:
            entry.state = EntryState.PENDING
            entry.filaman_spool_id = filaman_spool_id
        self.spool_map[bambuddy_spool_id] = filaman_spool_id
        return moved

    def dismiss_awaiting(self, bambuddy_spool_id: int) -> list[LedgerEntry]:
        """The user says the grams held for this spool are not FilaMan's: skip them."""
        dismissed = self.awaiting_links().get(bambuddy_spool_id, [])
        for entry in dismissed:
            entry.state, entry.reason = EntryState.SKIPPED, SkipReason.DISMISSED.value
        self._prune()
        return dismissed

    def mark_skipped(self, key: str, reason: str) -> None:
        entry = self._get(key, UNFINISHED)
        entry.state = EntryState.SKIPPED
        entry.reason = reason
        entry.probe = None
        self._prune()

    def set_remaining(self, key: str, remaining_after: float | None) -> None:
        self.entries[key].remaining_after = remaining_after

    def mark_announced(self, print_key: str) -> None:
        for entry in self.entries.values():
            if entry.print_key == print_key:
                entry.announced = True

    def settled_prints(self) -> list[list[LedgerEntry]]:
        """Prints not yet announced whose rows are all finished, oldest first."""
        groups: dict[str, list[LedgerEntry]] = {}
        for entry in sorted(self.entries.values(), key=by_seq):
            if not entry.announced:
                groups.setdefault(entry.print_key, []).append(entry)
        return [group for group in groups.values() if all(entry.finished for entry in group)]

    def _prune(self) -> None:
        finished = sorted(
            (entry for entry in self.entries.values() if entry.state not in OWED),
            key=by_seq,
        )
        for entry in finished[:-KEEP_FINISHED] if len(finished) > KEEP_FINISHED else ():
            del self.entries[entry.key]

    # --- (de)serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STORAGE_VERSION,
            "printer_id": self.printer_id,
            "cursor": self.cursor,
            "epoch": self.epoch,
            "anchor": self.anchor,
            "anchor_epoch": self.anchor_epoch,
            "past_taken": sorted(self.past_taken),
            "last_created_at": self.last_created_at.isoformat() if self.last_created_at else None,
            "seq": self.seq,
            "entries": [entry.to_dict() for entry in sorted(self.entries.values(), key=by_seq)],
            "spool_map": {str(bid): fid for bid, fid in sorted(self.spool_map.items())},
            "legacy_seen": {key: at.isoformat() for key, at in self.legacy_seen.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], printer_id: int) -> Ledger:
        """Restore a saved ledger; a ledger of another printer id is refused."""
        if int(data.get("printer_id", printer_id)) != printer_id:
            raise ValueError("stored ledger belongs to another printer")
        last_created = data.get("last_created_at")
        entries = [LedgerEntry.from_dict(item) for item in data.get("entries", [])]
        spool_map = data.get("spool_map") or {}
        legacy_seen = data.get("legacy_seen") or {}
        cursor = opt_int(data.get("cursor"))
        epoch = int(data.get("epoch", 0))
        seq = max([int(data.get("seq", 0)), *(entry.seq for entry in entries)])
        if "anchor" in data:
            anchor, anchor_epoch = opt_int(data["anchor"]), int(data.get("anchor_epoch", 0))
        else:
            anchor, anchor_epoch = inferred_anchor(printer_id, cursor, epoch, seq, entries), 0
        return cls(
            printer_id=printer_id,
            cursor=cursor,
            epoch=epoch,
            anchor=anchor,
            anchor_epoch=anchor_epoch,
            past_taken={int(row_id) for row_id in data.get("past_taken") or ()},
            last_created_at=(
                aware(datetime.fromisoformat(str(last_created))) if last_created else None
            ),
            seq=seq,
            entries={entry.key: entry for entry in entries},
            spool_map={int(bid): int(fid) for bid, fid in spool_map.items()},
            legacy_seen={
                str(key): aware(datetime.fromisoformat(str(at))) for key, at in legacy_seen.items()
            },
        )
