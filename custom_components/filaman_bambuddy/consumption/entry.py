"""One ledger entry: a usage owed to FilaMan, its state, and how it is stored.

Kept apart from :mod:`.ledger` so the entry's shape and its JSON form can be read
without the state machine that moves it (see :mod:`.ledger` for the transitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .reconcile import Probe


class EntryState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DONE = "done"
    SKIPPED = "skipped"
    AWAITING_LINK = "awaiting_link"
    """Booked by Bambuddy to a spool linked to no FilaMan spool: owed, held until linked."""


class SkipReason(StrEnum):
    """Why an entry was not debited (free text may follow after ``: ``)."""

    INVALID = "invalid"
    UNLINKED = "unlinked"
    FILAMAN_SPOOL_NOT_FOUND = "filaman_spool_not_found"
    REJECTED = "rejected"
    DISMISSED = "dismissed"
    """The user said grams held for an unlinked spool are not FilaMan's."""


# Why an older version skipped grams that a link to a FilaMan spool can still place.
RECOVERABLE_SKIPS = frozenset(
    {SkipReason.UNLINKED, SkipReason.FILAMAN_SPOOL_NOT_FOUND, SkipReason.REJECTED}
)
# Sent by the debit queue.
UNFINISHED = frozenset({EntryState.PENDING, EntryState.IN_FLIGHT})
# Grams still owed to FilaMan: never pruned from the ledger.
OWED = UNFINISHED | {EntryState.AWAITING_LINK}


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

    @property
    def finished(self) -> bool:
        """Nothing more the queue can do: done, skipped, or waiting for the user's link."""
        return self.state not in UNFINISHED

    @property
    def note(self) -> str:
        """The FilaMan event note; also how reconciliation recognises our own event."""
        name = self.print_name or "print"
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
