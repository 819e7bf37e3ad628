"""The consumption ledger's persistence: Home Assistant's Store, one file per config entry.

The processor saves before and after every FilaMan debit; Store writes atomically, so a crash
leaves either the old or the new ledger, never a torn one.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN

STORAGE_VERSION = 1


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.ledger.{entry_id}", atomic_writes=True)


class HaLedgerStore:
    """``LedgerStore`` backed by ``helpers.storage.Store``."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._store = _store(hass, entry_id)

    async def load(self) -> dict[str, Any] | None:
        """The saved ledger, or None on first start."""
        return await self._store.async_load()

    async def save(self, data: dict[str, Any]) -> None:
        """Write now (not delayed): a debit's state must be on disk before the next step."""
        await self._store.async_save(data)


async def async_remove_ledger(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the ledger of a removed entry."""
    await _store(hass, entry_id).async_remove()
