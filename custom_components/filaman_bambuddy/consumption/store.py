"""The ledger and its durable copy: saving is what carries exactly-once across a crash.

New entries are saved together with the advanced cursor (:mod:`.intake`), and an
entry is saved ``in_flight`` before its POST is sent (:mod:`.debit`). A failed save
is remembered (``dirty``) and tried again at the end of the run and on close.

Where it is kept: the Home Assistant glue backs :class:`LedgerStore` with
``helpers.storage.Store``; tests and tools use :class:`MemoryLedgerStore` or
:class:`JsonFileLedgerStore`. ``save`` must be durable when it returns: the processor
relies on it before it sends a debit.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from .ledger import Ledger

_LOGGER = logging.getLogger(__name__)


class LedgerBook:
    """One printer's :class:`~.ledger.Ledger` and the store it is saved to."""

    def __init__(self, printer_id: int, store: LedgerStore) -> None:
        self._printer_id = printer_id
        self._store = store
        self.ledger = Ledger(printer_id)
        self.dirty = False

    async def load(self, *, replay_from: int | None) -> None:
        """Restore the stored ledger, or begin a new one (see ``ConsumptionProcessor.start``)."""
        data = await self._store.load()
        if data is None:
            self.ledger = Ledger(self._printer_id)
            if replay_from is not None:
                self.ledger.begin(max(replay_from - 1, 0))
            return
        try:
            self.ledger = Ledger.from_dict(data, self._printer_id)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"stored consumption ledger is unreadable: {err}") from err

    async def save(self) -> bool:
        """Persist the ledger; on failure remember to retry and return False."""
        try:
            await self._store.save(self.ledger.to_dict())
        except Exception:
            self.dirty = True
            _LOGGER.exception("Printer %s: saving the consumption ledger failed", self._printer_id)
            return False
        self.dirty = False
        return True

    async def flush(self) -> None:
        """Save if a change is not stored yet."""
        if self.dirty:
            await self.save()


# --- Where the ledger is kept --------------------------------------------------------------------
# Where the ledger is persisted.
#
# The Home Assistant glue backs :class:`LedgerStore` with ``helpers.storage.Store``;
# tests and tools use :class:`MemoryLedgerStore` or :class:`JsonFileLedgerStore`.
# ``save`` must be durable when it returns: the processor relies on it before it
# sends a debit.


class LedgerStore(Protocol):
    async def load(self) -> dict[str, Any] | None: ...

    async def save(self, data: dict[str, Any]) -> None: ...


class MemoryLedgerStore:
    """Keeps a deep copy, so later changes to the ledger never leak into "disk"."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = copy.deepcopy(data)
        self.saves = 0

    async def load(self) -> dict[str, Any] | None:
        return copy.deepcopy(self.data)

    async def save(self, data: dict[str, Any]) -> None:
        self.data = copy.deepcopy(data)
        self.saves += 1


class JsonFileLedgerStore:
    """One JSON file, replaced atomically (write to a temp file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._read)

    async def save(self, data: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write, json.dumps(data, sort_keys=True))

    def _read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        data = json.loads(text)
        return data if isinstance(data, dict) else None

    def _write(self, text: str) -> None:
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
