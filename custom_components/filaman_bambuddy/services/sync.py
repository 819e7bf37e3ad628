"""Sync now and Full resync (actions and the buttons share these).

A run that did not complete is an error of the action (a translated ``HomeAssistantError``), not a
``status: failed`` answer; deletions the mass-deletion guard withheld are the caller's to confirm
(a ``ServiceValidationError`` that says how).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.exceptions import HomeAssistantError

from ..const import DOMAIN
from ..data import FilamanBambuddyConfigEntry, FilamanBambuddyData
from ..inventory.result import SyncResult
from .targets import target_entry, validation_error

ATTR_FORCE = "force"
ATTR_ALLOW_DELETIONS = "allow_deletions"

# Printer states in which deleting Bambuddy's spools would break the running print's tracking.
BUSY_STATES = frozenset({"RUNNING", "PAUSE", "PREPARE", "SLICING"})


async def async_sync_now(call: ServiceCall) -> ServiceResponse:
    """Copy FilaMan into Bambuddy now; answer with the run's counts."""
    entry = target_entry(call)
    result = await async_sync(entry, "service", allow_mass_delete=call.data[ATTR_ALLOW_DELETIONS])
    return dict(result.as_dict())


async def async_full_resync_action(call: ServiceCall) -> ServiceResponse:
    """The full_resync action: guarded unless forced."""
    entry = target_entry(call)
    result = await async_full_resync(call.hass, entry, force=call.data[ATTR_FORCE])
    return dict(result.as_dict())


async def async_sync(
    entry: FilamanBambuddyConfigEntry, reason: str, *, allow_mass_delete: bool = False
) -> SyncResult:
    """One sync of the entry's Bambuddy server; raises when it did not complete."""
    result = await entry.runtime_data.hub.inventory.async_sync(
        reason, allow_mass_delete=allow_mass_delete
    )
    return raise_for_result(result)


def raise_for_result(result: SyncResult) -> SyncResult:
    """The result of a complete run; a translated error otherwise."""
    if result.withheld_deletes:
        raise validation_error("deletions_withheld", count=str(result.withheld_deletes))
    if not result.complete:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="sync_incomplete",
            translation_placeholders={"error": result.error or f"{result.failed} writes failed"},
        )
    return result


async def async_full_resync(
    hass: HomeAssistant, entry: FilamanBambuddyConfigEntry, *, force: bool
) -> SyncResult:
    """Delete and re-create Bambuddy's inventory, unless a printer on that server is printing.

    Deleting spools mid-print would orphan the running print's usage tracking in Bambuddy; so
    would deleting them in the seconds after a print, before Bambuddy has booked its usage.
    """
    hub = entry.runtime_data.hub
    if not force:
        for other in hass.config_entries.async_loaded_entries(DOMAIN):
            other_data: FilamanBambuddyData = other.runtime_data
            if other_data.hub is not hub or other_data.coordinator.data is None:
                continue
            status = other_data.coordinator.data.status
            if status is not None and (status.state or "").upper() in BUSY_STATES:
                raise validation_error("printer_busy", printer=other.title)
            if other_data.bridge.awaiting_usage:
                raise validation_error("usage_not_booked", printer=other.title)
    return raise_for_result(await hub.inventory.async_full_resync())
