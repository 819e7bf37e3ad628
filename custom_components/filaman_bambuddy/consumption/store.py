"""Where the ledger is persisted.

The Home Assistant glue backs :class:`LedgerStore` with ``helpers.storage.Store``;
tests and tools use :class:`MemoryLedgerStore` or :class:`JsonFileLedgerStore`.
``save`` must be durable when it returns: the processor relies on it before it
sends a debit.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from pathlib import Path
from typing import Any, Protocol


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
