"""What a run reports to the rest of the integration: finished prints and debits.

The callbacks belong to Home Assistant; one that raises is logged and must not
break exactly-once processing.
"""

from __future__ import annotations

from collections.abc import Callable
import logging

from .book import LedgerBook
from .entry import EntryState
from .models import PrintSpoolUsage, PrintUsage

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
                )
                for entry in group
            ),
            at=first.event_at,
        )
        notify(on_print, usage)


def notify[T](callback: Callable[[T], None] | None, value: T) -> None:
    if callback is None:
        return
    try:
        callback(value)
    except Exception:
        _LOGGER.exception("Consumption callback failed")
