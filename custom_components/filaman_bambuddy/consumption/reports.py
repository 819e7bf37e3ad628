"""What a run reports to the rest of the integration: finished prints and debits.

The callbacks belong to Home Assistant; one that raises is logged and must not
break exactly-once processing.
"""

from __future__ import annotations

from collections.abc import Callable
import logging

from .book import LedgerBook
from .entry import EntryState
from .models import AwaitingLink, PrintSpoolUsage, PrintUsage

_LOGGER = logging.getLogger(__name__)


def announce_prints(
    book: LedgerBook, printer_id: int, on_print: Callable[[PrintUsage], None] | None
) -> None:
    """Report each print whose rows are all settled, once (marked announced in the ledger)."""
    ledger = book.ledger
    for group in ledger.settled_prints():
        first = group[0]
        ledger.mark_announced(first.print_key)
        book.dirty = True
        usage = PrintUsage(
            printer_id=printer_id,
            print_name=first.print_name,
            status=first.print_status,
            spools=tuple(
                PrintSpoolUsage(
                    filaman_spool_id=entry.filaman_spool_id,
                    bambuddy_spool_id=entry.bambuddy_spool_id,
                    grams=entry.grams,
                    debited=entry.state is EntryState.DONE,
                    skip_reason=entry.reason if entry.state is EntryState.SKIPPED else None,
                    awaiting_link=entry.state is EntryState.AWAITING_LINK,
                )
                for entry in group
            ),
            at=first.event_at,
        )
        notify(on_print, usage)


def awaiting_links(book: LedgerBook) -> dict[int, AwaitingLink]:
    """What waits for a link, per unlinked Bambuddy spool (for repair issues and sensors)."""
    summary: dict[int, AwaitingLink] = {}
    for bambuddy_id, entries in book.ledger.awaiting_links().items():
        names = dict.fromkeys(entry.print_name or "print" for entry in entries)
        summary[bambuddy_id] = AwaitingLink(
            bambuddy_spool_id=bambuddy_id,
            grams=round(sum(entry.grams for entry in entries), 2),
            usage_ids=tuple(entry.usage_id for entry in entries if entry.usage_id is not None),
            print_names=tuple(names),
            slot=next((entry.slot for entry in reversed(entries) if entry.slot), None),
        )
    return summary


def notify[T](callback: Callable[[T], None] | None, value: T) -> None:
    if callback is None:
        return
    try:
        callback(value)
    except Exception:
        _LOGGER.exception("Consumption callback failed")
