"""Plain-dict views of ledger state for Home Assistant diagnostics (no secrets)."""

from __future__ import annotations

from typing import Any

from .entry import EntryState, LedgerEntry
from .ledger import Ledger
from .models import DebitRecord


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
    }
