"""The consumption ledger's persistence: Home Assistant's Store, one file per config entry.

The processor saves before and after every FilaMan debit; Store writes atomically, so a crash
leaves either the old or the new ledger, never a torn one.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import CONF_PRINTER_ID, DOMAIN
from .consumption import Ledger, LedgerEntry
from .consumption.processor import hold_ledger_for_other_filaman

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


async def async_owed_grams(hass: HomeAssistant, entry: ConfigEntry) -> float:
    """Grams the entry's ledger still owes FilaMan (queued, in flight or held), 0 if none.

    Read from the running processor when the entry is loaded, else from its stored ledger.
    """
    entries: list[LedgerEntry]
    if entry.state is ConfigEntryState.LOADED:
        entries = entry.runtime_data.consumption.entries()
    else:
        ledger = await _stored_ledger(hass, entry)
        entries = list(ledger.entries.values()) if ledger is not None else []
    return round(sum(item.grams for item in entries if item.owed), 2)


async def async_hold_for_other_filaman(hass: HomeAssistant, entry: ConfigEntry) -> float:
    """Before the entry is pointed at another FilaMan: hold what its ledger owes for the user.

    The running processor does it under its lock when the entry is loaded; otherwise the
    stored ledger is changed (nothing else writes it then). Returns the grams held.
    """
    if entry.state is ConfigEntryState.LOADED:
        return float(await entry.runtime_data.consumption.hold_for_other_filaman())
    ledger = await _stored_ledger(hass, entry)
    if ledger is None:
        return 0.0
    grams = hold_ledger_for_other_filaman(ledger, ledger.printer_id)
    await _store(hass, entry.entry_id).async_save(ledger.to_dict())
    return grams


async def _stored_ledger(hass: HomeAssistant, entry: ConfigEntry) -> Ledger | None:
    data = await _store(hass, entry.entry_id).async_load()
    if data is None:
        return None
    return Ledger.from_dict(data, int(entry.data[CONF_PRINTER_ID]))
