"""Exactly-once consumption: Bambuddy usage rows debited onto FilaMan spools.

Home Assistant-free. See :mod:`.processor` for the design.
"""

from .ledger import (
    EntryState,
    Ledger,
    LedgerEntry,
    PastRefusal,
    PastUsageRefused,
    SkipReason,
)
from .models import DebitRecord, PrintSpoolUsage, PrintUsage
from .processor import ConsumptionProcessor
from .store import JsonFileLedgerStore, LedgerStore, MemoryLedgerStore

__all__ = [
    "ConsumptionProcessor",
    "DebitRecord",
    "EntryState",
    "JsonFileLedgerStore",
    "Ledger",
    "LedgerEntry",
    "LedgerStore",
    "MemoryLedgerStore",
    "PastRefusal",
    "PastUsageRefused",
    "PrintSpoolUsage",
    "PrintUsage",
    "SkipReason",
]
