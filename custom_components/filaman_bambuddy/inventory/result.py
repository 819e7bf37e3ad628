"""The outcome of one inventory sync run (for service responses and sensors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .rfid import TagConflict

SyncStatus = Literal["success", "partial", "failed"]


@dataclass(frozen=True, slots=True)
class SyncResult:
    """Counts of one run. ``complete``: the listings were read and no write failed."""

    reason: str
    full_resync: bool
    created: int
    updated: int
    deleted: int
    unchanged: int
    failed: int
    duration_s: float
    started_at: datetime
    finished_at: datetime
    complete: bool
    error: str | None
    linked: int | None = None
    """Linked Bambuddy spools after the run (``None`` if the run could not tell)."""
    withheld_deletes: int = 0
    """Deletes the mass-deletion guard held back; ``error`` then says why."""
    adopted: int = 0
    """Unlinked Bambuddy spools holding a FilaMan spool's RFID tag, linked (among ``updated``)."""
    archived: int = 0
    """Surplus twins archived (a FilaMan spool had more than one Bambuddy spool)."""
    tag_conflicts: tuple[TagConflict, ...] = ()
    """RFID tags the sync did not act on; each is a repair issue."""

    @property
    def status(self) -> SyncStatus:
        """``success``; ``partial`` (some writes failed); ``failed`` (``error`` says why:
        the run stopped, or the mass-deletion guard withheld deletes)."""
        if self.error is not None:
            return "failed"
        return "success" if self.complete else "partial"

    @property
    def writes(self) -> int:
        return self.created + self.updated + self.deleted + self.archived

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (ISO 8601 UTC timestamps) for service responses."""
        return {
            "reason": self.reason,
            "full_resync": self.full_resync,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "linked": self.linked,
            "withheld_deletes": self.withheld_deletes,
            "adopted": self.adopted,
            "archived": self.archived,
            "tag_conflicts": len(self.tag_conflicts),
            "duration_s": round(self.duration_s, 3),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "complete": self.complete,
            "error": self.error,
        }
