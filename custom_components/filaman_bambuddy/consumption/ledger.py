"""The persisted consumption ledger of one printer: a pure state machine, no I/O.

Every usage Bambuddy logs becomes one :class:`LedgerEntry` keyed by an idempotency
key and moved through::

    pending ──► in_flight ──► done
       │  ▲         │
       │  └─────────┤ (request provably not sent: back to pending)
       ├────────────┴──► skipped(reason)
       │
       └──► awaiting_link ──(the user or the sync links its Bambuddy spool)──► pending

``in_flight`` is written to the store *before* the FilaMan POST together with a
:class:`Probe` of the spool's events; ``done`` only after FilaMan accepted the POST
(or reconciliation proved it had). ``awaiting_link``: Bambuddy booked the grams to a
spool linked to no usable FilaMan spool; they are owed, never pruned, and go back to
the queue, each entry once, when that spool gets linked (:meth:`Ledger.link_awaiting`).

``cursor`` is the newest Bambuddy usage row id already turned into an entry, so a
row is ingested once and the queue of unfinished entries survives restarts.
``anchor`` is where the ledger began; rows at or below it are taken in only on
request, each at most once ever (the rules at the end of this module).

Keys: ``bambuddy:{printer}:usage:{row id}``; after a detected Bambuddy database
reset row ids start again, so later epochs append ``~r{epoch}``. Legacy
``print_complete`` debits use ``bambuddy:{printer}:legacy:{received}:{ams}-{tray}``;
grams the user records for a tray Bambuddy did not book (:mod:`.unassigned`) use
``bambuddy:{printer}:manual:{case id}``.

The ledger also keeps those trays' open cases (``tray_cases``), so they survive a restart.

Reading order: one entry and its JSON form, the :class:`Ledger` that moves entries,
then the records it keeps with them (the probe, slot hints, the past-usage rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import math
import time
from typing import Any

from ..api.events import SpoolUsageLoggedEvent
from ..api.models_bambuddy import UsageRow, slot_label
from .unassigned import CaseState, TrayCase, manual_key
from .writers import OtherWriter

# --- One entry -----------------------------------------------------------------------------------
# One ledger entry: a usage owed to FilaMan, its state, and how it is stored.


class EntryState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    SKIPPED = "skipped"
    AWAITING_LINK = "awaiting_link"
    """Booked by Bambuddy to a spool linked to no FilaMan spool: owed, held until linked."""
    HELD_FOR_REVIEW = "held_for_review"
    """Grams FilaMan's figures say cannot be true (:mod:`.plausibility`): owed only if the
    user says so; ``reason`` holds the doubt."""


class SkipReason(StrEnum):
    """Why an entry was not debited (free text may follow after ``: ``)."""

    INVALID = "invalid"
    UNLINKED = "unlinked"
    FILAMAN_SPOOL_NOT_FOUND = "filaman_spool_not_found"
    REJECTED = "rejected"
    DISMISSED = "dismissed"
    """The user said grams held for an unlinked spool are not FilaMan's."""
    DISCARDED = "discarded"
    """The user said an implausible booking was not real."""


# The reason on grams held because the entry was pointed at another FilaMan: the spool ids
# they were bound to (or that Bambuddy's notes still name) are the old FilaMan's, so only
# the user may link them; the debit queue never relinks them by itself.
HELD_FOR_OTHER_FILAMAN = "other_filaman"


# Why an older version skipped grams that a link to a FilaMan spool can still place.
RECOVERABLE_SKIPS = frozenset(
    {SkipReason.UNLINKED, SkipReason.FILAMAN_SPOOL_NOT_FOUND, SkipReason.REJECTED}
)
# Sent by the debit queue.
UNFINISHED = frozenset({EntryState.PENDING, EntryState.IN_FLIGHT})
# Grams still owed to FilaMan: never pruned from the ledger.
OWED = UNFINISHED | {EntryState.AWAITING_LINK, EntryState.HELD_FOR_REVIEW}


@dataclass(slots=True)
class LedgerEntry:
    key: str
    seq: int
    usage_id: int | None
    bambuddy_spool_id: int | None
    grams: float
    event_at: datetime
    print_name: str | None
    print_status: str | None
    print_key: str
    state: EntryState = EntryState.PENDING
    reason: str | None = None
    filaman_spool_id: int | None = None
    slot: tuple[int, int] | None = None
    attempts: int = 0
    attempted_at: datetime | None = None
    probe: Probe | None = None
    event_id: int | None = None
    remaining_after: float | None = None
    announced: bool = False
    reviewed: bool = False
    """The user approved the grams (as booked or changed): no plausibility check again."""

    @property
    def finished(self) -> bool:
        """Nothing more the queue can do: done, skipped, or waiting for the user's link."""
        return self.state not in UNFINISHED

    @property
    def owed(self) -> bool:
        """Its grams are not in FilaMan yet (queued, in flight, or held for the user)."""
        return self.state in OWED

    @property
    def note(self) -> str:
        """The FilaMan event note; also how reconciliation recognises our own event."""
        name = self.print_name or "print"
        if ":manual:" in self.key:
            slot = slot_label(*self.slot) if self.slot else "?"
            return f"Bambuddy: {name} ({slot}, recorded by hand)"
        if self.usage_id is None:
            return f"Bambuddy: {name} (legacy {self.key.split(':legacy:', 1)[-1]})"
        return f"Bambuddy: {name} (usage #{self.usage_id})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "seq": self.seq,
            "usage_id": self.usage_id,
            "bambuddy_spool_id": self.bambuddy_spool_id,
            "grams": self.grams,
            "event_at": self.event_at.isoformat(),
            "print_name": self.print_name,
            "print_status": self.print_status,
            "print_key": self.print_key,
            "state": self.state.value,
            "reason": self.reason,
            "filaman_spool_id": self.filaman_spool_id,
            "slot": list(self.slot) if self.slot is not None else None,
            "attempts": self.attempts,
            "attempted_at": self.attempted_at.isoformat() if self.attempted_at else None,
            "probe": self.probe.to_dict() if self.probe is not None else None,
            "event_id": self.event_id,
            "remaining_after": self.remaining_after,
            "announced": self.announced,
            "reviewed": self.reviewed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerEntry:
        slot = data.get("slot")
        attempted_at = data.get("attempted_at")
        probe = data.get("probe")
        state = EntryState(data.get("state", EntryState.PENDING))
        reason = data.get("reason")
        if (
            state is EntryState.SKIPPED
            and str(reason or "").split(":", 1)[0] in RECOVERABLE_SKIPS
            and data.get("bambuddy_spool_id") is not None
        ):
            # Saved by a version that dropped such grams: they become recoverable.
            state, reason = EntryState.AWAITING_LINK, None
        return cls(
            key=str(data["key"]),
            seq=int(data["seq"]),
            usage_id=opt_int(data.get("usage_id")),
            bambuddy_spool_id=opt_int(data.get("bambuddy_spool_id")),
            grams=float(data["grams"]),
            event_at=aware(datetime.fromisoformat(str(data["event_at"]))),
            print_name=data.get("print_name"),
            print_status=data.get("print_status"),
            print_key=str(data.get("print_key") or data["key"]),
            state=state,
            reason=reason,
            filaman_spool_id=opt_int(data.get("filaman_spool_id")),
            slot=_slot(slot),
            attempts=int(data.get("attempts", 0)),
            attempted_at=(
                aware(datetime.fromisoformat(str(attempted_at))) if attempted_at else None
            ),
            probe=Probe.from_dict(probe) if isinstance(probe, Mapping) else None,
            event_id=opt_int(data.get("event_id")),
            remaining_after=(
                float(data["remaining_after"]) if data.get("remaining_after") is not None else None
            ),
            announced=bool(data.get("announced", False)),
            reviewed=bool(data.get("reviewed", False)),
        )


def by_seq(entry: LedgerEntry) -> int:
    """Sort key: ledger order (the order entries were created and are sent in)."""
    return entry.seq


def opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def aware(value: datetime) -> datetime:
    """A stored time without a zone is taken as UTC (times are compared, so need one)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _slot(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None


# Re-exported: the ledger's vocabulary is imported from here by the rest of the package.
# 2: anchor, anchor_epoch, past_taken; 3: tray_cases; 4: held_for_review, writers
STORAGE_VERSION = 4
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
    tray_cases: dict[str, TrayCase] = field(default_factory=dict)
    """Trays printed from with no spool assigned (:mod:`.unassigned`), by case id."""
    writers: dict[str, WriterRecord] = field(default_factory=dict)
    """Other tools seen deducting this printer's prints (:mod:`.writers`), by key, with the
    user's decision: while one is undecided nothing is sent."""

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

    def awaiting_links(self, *, relinkable_only: bool = False) -> dict[int, list[LedgerEntry]]:
        """Entries waiting for a link, by the Bambuddy spool they were booked to.

        ``relinkable_only``: leave out grams only the user may link (held for another FilaMan).
        """
        waiting: dict[int, list[LedgerEntry]] = {}
        for entry in sorted(self.entries.values(), key=by_seq):
            if entry.state is not EntryState.AWAITING_LINK or entry.bambuddy_spool_id is None:
                continue
            if relinkable_only and entry.reason == HELD_FOR_OTHER_FILAMAN:
                continue
            waiting.setdefault(entry.bambuddy_spool_id, []).append(entry)
        return waiting

    def owed(self) -> list[LedgerEntry]:
        """Every entry whose grams are not in FilaMan yet: queued, in flight or held."""
        return [entry for entry in self.entries.values() if entry.owed]

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

    def add_manual(
        self, case: TrayCase, filaman_spool_id: int, grams: float, now: datetime
    ) -> LedgerEntry | None:
        """The grams a user recorded for a tray Bambuddy did not book; ``None`` if the case was
        recorded before (its key exists: never twice)."""
        key = manual_key(self.printer_id, case.case_id)
        if key in self.entries:
            return None
        self.seq += 1
        entry = LedgerEntry(
            key=key,
            seq=self.seq,
            usage_id=None,
            bambuddy_spool_id=None,
            grams=grams,
            event_at=case.ended_at or now,
            print_name=case.job,
            print_status=case.print_status,
            print_key=f"manual:{case.case_id}",
            slot=case.slot,
            filaman_spool_id=filaman_spool_id,
            announced=True,  # the print itself was announced when it ended
        )
        self.entries[key] = entry
        return entry

    # --- other writers -----------------------------------------------------------------

    def note_writer(self, writer: OtherWriter, now: datetime) -> bool:
        """Remember a tool seen deducting this printer's prints; True when it needs the user.

        A tool already asked about is not asked again, with one exception: it deducted a print
        after the user chose this integration to write (then it was not stopped after all).
        """
        record = self.writers.get(writer.key)
        if record is not None:
            again = (
                record.choice is WriterChoice.US
                and writer.seen_at is not None
                and writer.seen_at > record.since
            )
            if not again:
                return False
        self.writers[writer.key] = WriterRecord(
            key=writer.key,
            name=writer.name,
            evidence=writer.evidence,
            evidence_id=writer.evidence_id,
            choice=WriterChoice.UNDECIDED,
            since=now,
        )
        return True

    def decide_writer(self, key: str, choice: WriterChoice, now: datetime) -> WriterRecord:
        """The user's answer: ``US`` (this integration writes) or ``THEM``."""
        record = replace(self.writers[key], choice=choice, since=now)
        self.writers[key] = record
        return record

    def undecided_writers(self) -> list[WriterRecord]:
        return [r for r in self.writers.values() if r.choice is WriterChoice.UNDECIDED]

    def yielded_to(self) -> WriterRecord | None:
        """A tool the user chose to write instead of this integration, if any."""
        return next((r for r in self.writers.values() if r.choice is WriterChoice.THEM), None)

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

    def link_awaiting(
        self, bambuddy_spool_id: int, filaman_spool_id: int, *, by_user: bool = True
    ) -> list[LedgerEntry]:
        """Queue the grams held for ``bambuddy_spool_id`` onto ``filaman_spool_id``.

        Only entries still awaiting a link move, so asking twice queues nothing twice; a link
        found by the queue itself (``by_user=False``) leaves grams only the user may link.
        """
        waiting = self.awaiting_links(relinkable_only=not by_user)
        moved = waiting.get(bambuddy_spool_id, [])
        for entry in moved:
            entry.state = EntryState.PENDING
            entry.reason = None
            entry.filaman_spool_id = filaman_spool_id
        self.spool_map[bambuddy_spool_id] = filaman_spool_id
        return moved

    def hold_for_other_filaman(self) -> tuple[list[LedgerEntry], list[TrayCase]]:
        """The printer now debits another FilaMan: nothing owed may reach it by spool id.

        Every id this ledger knows is the old FilaMan's, and so are the ids Bambuddy's notes
        still name until the sync has matched the new one, so the same id there is most
        likely another spool. Grams booked to a Bambuddy spool are held for the user to link
        (an in-flight one may have landed in the old FilaMan: the user knows); grams recorded
        by hand go back to their tray's case. Returns (held entries, reopened cases).
        """
        held: list[LedgerEntry] = []
        reopened: list[TrayCase] = []
        for entry in sorted(self.entries.values(), key=by_seq):
            if not entry.owed:
                continue
            if entry.bambuddy_spool_id is None:
                reopened.append(self.reopen_manual(entry.key))
                continue
            entry.state = EntryState.AWAITING_LINK
            entry.reason = HELD_FOR_OTHER_FILAMAN
            entry.filaman_spool_id = None
            entry.probe = None
            held.append(entry)
        self.spool_map.clear()
        return held, reopened

    def reopen_manual(self, key: str) -> TrayCase:
        """Undo a by-hand record that never reached FilaMan: its case asks the user again."""
        entry = self.entries.pop(key)
        case_id = entry.key.split(":manual:", 1)[-1]
        assert entry.slot is not None  # a manual entry always names its tray
        case = TrayCase(
            case_id=case_id,
            slot=entry.slot,
            job=entry.print_name,
            started_at=entry.event_at,
            state=CaseState.UNRECORDED,
            print_status=entry.print_status,
            ended_at=entry.event_at,
        )
        self.tray_cases[case_id] = case
        return case

    def mark_held_for_review(self, key: str, reason: str) -> None:
        """Not sent: FilaMan's figures say the booking cannot be true (``reason``)."""
        entry = self._get(key, frozenset({EntryState.PENDING}))
        entry.state, entry.reason = EntryState.HELD_FOR_REVIEW, reason

    def held_for_review(self) -> dict[str, list[LedgerEntry]]:
        """Held bookings by the print they belong to, oldest first."""
        held: dict[str, list[LedgerEntry]] = {}
        for entry in sorted(self.entries.values(), key=by_seq):
            if entry.state is EntryState.HELD_FOR_REVIEW:
                held.setdefault(entry.print_key, []).append(entry)
        return held

    def review(self, key: str, grams: float | None) -> LedgerEntry:
        """The user's answer to one held booking: debit ``grams`` (queued, never checked
        again), or ``None``: it was not real (skipped). Answering twice changes nothing."""
        entry = self._get(key, frozenset({EntryState.HELD_FOR_REVIEW}))
        if grams is None:
            entry.state, entry.reason = EntryState.SKIPPED, SkipReason.DISCARDED.value
            self._prune()
        else:
            entry.state, entry.reason, entry.grams = EntryState.PENDING, None, grams
            entry.reviewed = True
        return entry

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
            "tray_cases": [case.to_dict() for case in self.tray_cases.values()],
            "writers": [record.to_dict() for record in self.writers.values()],
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
            tray_cases={
                case.case_id: case
                for case in (TrayCase.from_dict(item) for item in data.get("tray_cases") or ())
            },
            writers={
                record.key: record
                for record in (WriterRecord.from_dict(item) for item in data.get("writers") or ())
            },
        )


# --- Another tool that deducts the same prints ---------------------------------------------------


class WriterChoice(StrEnum):
    UNDECIDED = "undecided"
    """Seen, not answered: nothing is sent for this printer meanwhile."""
    US = "us"
    """The user lets this integration write (the other tool was stopped or is not this one's)."""
    THEM = "them"
    """The other tool writes: this integration skips the printer's prints."""


@dataclass(frozen=True, slots=True)
class WriterRecord:
    key: str
    name: str
    evidence: str
    evidence_id: str
    choice: WriterChoice
    since: datetime
    """When it was seen (undecided) or decided."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "evidence": self.evidence,
            "evidence_id": self.evidence_id,
            "choice": self.choice.value,
            "since": self.since.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WriterRecord:
        return cls(
            key=str(data["key"]),
            name=str(data.get("name") or data["key"]),
            evidence=str(data.get("evidence") or ""),
            evidence_id=str(data.get("evidence_id") or ""),
            choice=WriterChoice(data.get("choice", WriterChoice.UNDECIDED)),
            since=aware(datetime.fromisoformat(str(data["since"]))),
        )


# --- The probe stored with an in-flight entry ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventMark:
    delta_weight_g: float
    aggregation_count: int


@dataclass(frozen=True, slots=True)
class Probe:
    """The spool's FilaMan state just before a POST, enough to recognise our debit."""

    window_start: datetime
    events: Mapping[int, EventMark] | None
    remaining_g: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start.isoformat(),
            "events": (
                None
                if self.events is None
                else {
                    str(event_id): [mark.delta_weight_g, mark.aggregation_count]
                    for event_id, mark in self.events.items()
                }
            ),
            "remaining_g": self.remaining_g,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Probe:
        events = data.get("events")
        remaining = data.get("remaining_g")
        return cls(
            window_start=datetime.fromisoformat(str(data["window_start"])),
            events=(
                None
                if events is None
                else {
                    int(event_id): EventMark(float(mark[0]), int(mark[1]))
                    for event_id, mark in events.items()
                }
            ),
            remaining_g=None if remaining is None else float(remaining),
        )


# --- Slot hints from spool_usage_logged ----------------------------------------------------------
# Slot addresses for usage rows, taken from ``spool_usage_logged`` items.
#
# A Bambuddy usage row names a spool but not the AMS slot it was printed from; the
# WebSocket ``spool_usage_logged`` event is the only place a usage has its slot.
# The slot is the last way to find the FilaMan spool when the Bambuddy spool
# cannot be mapped (see :mod:`.debit`), so items are kept for a while until
# the rows they describe are ingested and matched (spool and grams).

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


# --- Usage from before the ledger began ----------------------------------------------------------
# Usage from before the ledger's start: when it may be debited, and why not otherwise.
#
# A first start anchors after the newest Bambuddy usage row; rows at or below that
# ``anchor`` (of epoch ``anchor_epoch``) predate the ledger and were never ingested.
# The user's "debit past prints" takes such rows in (:meth:`.ledger.Ledger.take_in_past`)
# only when a double debit is ruled out: the anchor must be known and Bambuddy's
# row ids must not have restarted since it was set. Every row taken in is remembered
# in ``past_taken`` for good, so pruning finished entries never lets one in twice.


class PastRefusal(StrEnum):
    """Why rows from before the ledger's start cannot be taken in (safely) now."""

    NOT_ANCHORED = "not_anchored"  # no usage history read yet: no anchor to count from
    ANCHOR_UNKNOWN = "anchor_unknown"  # a ledger stored before anchors were kept
    HISTORY_RESET = "history_reset"  # Bambuddy's ids restarted since the anchor was set
    BLOCKED = "blocked"  # another writer debits this printer
    UNSUPPORTED = "unsupported"  # Bambuddy has no usage history endpoint
    TOO_MANY_ROWS = "too_many_rows"  # the history since then exceeds one readable page


class PastUsageRefused(Exception):
    """Past rows were not taken in; nothing changed. ``reason`` says why."""

    def __init__(self, reason: PastRefusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


def inferred_anchor(
    printer_id: int, cursor: int | None, epoch: int, seq: int, entries: list[LedgerEntry]
) -> int | None:
    """The first-start anchor of a ledger saved before anchors were stored, where provable.

    In epoch 0 rows are ingested in id order and every ingested row becomes an entry with
    the next ``seq``; finished entries are pruned oldest first. So:

    * nothing ever ingested (``seq`` 0): the cursor has not moved since the first start;
    * the very first entry (``seq`` 1) still kept and a usage row: every row this ledger
      ever ingested has an id at or above its id.

    Anything else (pruned history, a legacy first entry, a reset epoch) cannot be proved:
    ``None``, and past rows are refused rather than risk a double debit.
    """
    if cursor is None or epoch != 0:
        return None
    if seq == 0 and not entries:
        return cursor
    first = min(entries, key=by_seq, default=None)
    if (
        first is not None
        and first.seq == 1
        and first.usage_id is not None
        and first.key == f"bambuddy:{printer_id}:usage:{first.usage_id}"
    ):
        return first.usage_id - 1
    return None
