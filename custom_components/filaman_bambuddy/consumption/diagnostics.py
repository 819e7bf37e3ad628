"""Plain-dict views of ledger state for Home Assistant diagnostics (no secrets)."""

from __future__ import annotations

from typing import Any

from .ledger import LedgerEntry
from .models import DebitRecord


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
    }
