"""Resolving which entry an action means, and the errors actions raise.

Every action fails with a translated error when its target entry is missing or not loaded, so an
automation author sees what to fix instead of a stack trace.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr

from ..api import ApiError
from ..const import DOMAIN
from ..data import FilamanBambuddyConfigEntry
from ..entity import printer_device_identifier

ATTR_CONFIG_ENTRY_ID = "config_entry_id"


def validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    """A translated error about the call's input."""
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def loaded_entry(hass: HomeAssistant, entry_id: str) -> FilamanBambuddyConfigEntry:
    """The entry with this id, if it is ours and loaded."""
    entry: FilamanBambuddyConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise validation_error("entry_not_found", target=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise validation_error("entry_not_loaded", target=entry.title)
    return entry


def entry_for_device(hass: HomeAssistant, device_id: str) -> FilamanBambuddyConfigEntry:
    """The loaded entry a printer device belongs to."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise validation_error("device_not_found", target=device_id)
    entry = hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise validation_error("device_not_found", target=device_id)
    return loaded_entry(hass, entry.entry_id)


def printer_entry(hass: HomeAssistant, device_id: str) -> FilamanBambuddyConfigEntry:
    """The loaded entry whose printer this device is: not its Bambuddy server, not an AMS."""
    entry = entry_for_device(hass, device_id)
    device = dr.async_get(hass).async_get(device_id)
    assert device is not None  # entry_for_device found it
    if printer_device_identifier(entry.runtime_data.coordinator) not in device.identifiers:
        raise validation_error(
            "device_not_printer", target=device.name_by_user or device.name or device_id
        )
    return entry


def target_entry(call: ServiceCall) -> FilamanBambuddyConfigEntry:
    """The entry a call names, or the only one there is."""
    hass = call.hass
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        return loaded_entry(hass, entry_id)
    if device_id := call.data.get(ATTR_DEVICE_ID):
        return entry_for_device(hass, device_id)
    entries = hass.config_entries.async_loaded_entries(DOMAIN)
    if len(entries) != 1:
        raise validation_error("target_required")
    return loaded_entry(hass, entries[0].entry_id)


def api_error(err: ApiError) -> HomeAssistantError:
    """A server failed the request the action needed."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="server_error",
        translation_placeholders={"error": str(err)},
    )
