"""The ledger together with its durable copy in the store.

Saving is what carries the exactly-once guarantees across a crash: new entries
are saved together with the advanced cursor (:mod:`.intake`), and an entry is
saved ``in_flight`` before its POST is sent (:mod:`.debit`). A failed save is
remembered (``dirty``) and tried again at the end of the run and on close.
"""

from __future__ import annotations

import logging

from .ledger import Ledger
from .store import LedgerStore

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
