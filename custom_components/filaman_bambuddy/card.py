"""Serve the AMS dashboard card, keep its Lovelace resource current, answer its spool picker.

The card's JavaScript ships inside the integration (frontend/). Home Assistant serves that folder
under /filaman_bambuddy/, and in storage mode one Lovelace resource points at the card with the
integration's version in the URL, so a browser fetches the new file after an upgrade instead of a
cached old one.

Clicking a slot opens the card's spool picker. It asks ``filaman_bambuddy/slot_spools`` over
Home Assistant's WebSocket for the spools that match what the user typed, best fit for the slot
first (a page of them, so thousands of spools never cross the wire at once), then assigns or
unassigns through the ``assign_spool`` / ``unassign_spool`` actions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import Any, Final

from homeassistant.components.http.server import StaticPathConfig
from homeassistant.components.lovelace.const import LOVELACE_DATA, MODE_STORAGE
from homeassistant.components.lovelace.resources import ResourceStorageCollection
from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import async_response, websocket_command
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.loader import async_get_integration
from homeassistant.util.hass_dict import HassKey
import probatio
from yarl import URL

from .const import DOMAIN
from .inventory.choices import search
from .services import MAX_FILAMAN_SPOOL_ID, whole_number
from .services.slots import (
    async_assign_filaman_spool,
    async_spool_index,
    async_unassign_slot,
    slot_choices,
)
from .services.targets import printer_entry

_LOGGER = logging.getLogger(__name__)

FRONTEND_DIR: Final = Path(__file__).parent / "frontend"
CARD_FILENAME: Final = "filaman-bambuddy-ams-card.js"
STATIC_URL_BASE: Final = f"/{DOMAIN}"
CARD_URL_PATH: Final = f"{STATIC_URL_BASE}/{CARD_FILENAME}"
RESOURCE_TYPE: Final = "module"


@dataclass(slots=True)
class _CardRegistration:
    """What this Home Assistant run has already done for the card."""

    static_path_served: bool = False
    yaml_hint_logged: bool = False
    # Two entries set up at once must not create two resources.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_CARD_DATA: HassKey[_CardRegistration] = HassKey(f"{DOMAIN}_card")


def _registration(hass: HomeAssistant) -> _CardRegistration:
    return hass.data.setdefault(_CARD_DATA, _CardRegistration())


def is_card_url(url: str) -> bool:
    """Whether a resource URL points at our card, whatever version it carries."""
    return URL(url).path == CARD_URL_PATH


async def card_resource_url(hass: HomeAssistant) -> str:
    """The card's URL with the installed integration version as cache buster."""
    integration = await async_get_integration(hass, DOMAIN)
    return f"{CARD_URL_PATH}?v={integration.version or '0'}"


async def async_register_card(hass: HomeAssistant) -> None:
    """Serve the card and add or update its Lovelace resource. Safe to call more than once."""
    registration = _registration(hass)
    async with registration.lock:
        if not registration.static_path_served:
            await hass.http.async_register_static_paths(
                # No long-lived cache headers: the resource URL carries the version, and a
                # hand-added YAML resource without it must still pick up a new file.
                [StaticPathConfig(STATIC_URL_BASE, str(FRONTEND_DIR), cache_headers=False)]
            )
            registration.static_path_served = True
        await _async_ensure_resource(hass, registration)


async def _async_ensure_resource(hass: HomeAssistant, registration: _CardRegistration) -> None:
    lovelace = hass.data.get(LOVELACE_DATA)
    if lovelace is None:
        _LOGGER.debug("Lovelace is not loaded; the AMS card resource is not registered")
        return
    url = await card_resource_url(hass)
    resources = lovelace.resources
    if lovelace.resource_mode != MODE_STORAGE or not isinstance(
        resources, ResourceStorageCollection
    ):
        already_added = any(is_card_url(item.get("url", "")) for item in resources.async_items())
        if not already_added and not registration.yaml_hint_logged:
            registration.yaml_hint_logged = True
            _LOGGER.info(
                "Lovelace resources are managed in YAML; to use the AMS card add to "
                "configuration.yaml: lovelace: resources: - url: %s type: %s",
                url,
                RESOURCE_TYPE,
            )
        return

    await resources.async_get_info()  # loads the collection from storage on first use
    ours = [item for item in resources.async_items() if is_card_url(item["url"])]
    if not ours:
        await resources.async_create_item({"res_type": RESOURCE_TYPE, "url": url})
        _LOGGER.debug("Added Lovelace resource %s", url)
        return
    keep, *duplicates = ours
    if keep["url"] != url or keep.get("type") != RESOURCE_TYPE:
        await resources.async_update_item(keep["id"], {"res_type": RESOURCE_TYPE, "url": url})
        _LOGGER.debug("Updated Lovelace resource %s to %s", keep["url"], url)
    for duplicate in duplicates:
        await resources.async_delete_item(duplicate["id"])


async def async_unregister_card(hass: HomeAssistant) -> None:
    """Remove our Lovelace resource (storage mode); the static path lives until restart."""
    lovelace = hass.data.get(LOVELACE_DATA)
    if lovelace is None or not isinstance(lovelace.resources, ResourceStorageCollection):
        return
    resources = lovelace.resources
    async with _registration(hass).lock:
        await resources.async_get_info()
        for item in list(resources.async_items()):
            if is_card_url(item["url"]):
                await resources.async_delete_item(item["id"])
                _LOGGER.debug("Removed Lovelace resource %s", item["url"])


# --- the spool picker --------------------------------------------------------------------------

PICKER_COMMAND: Final = f"{DOMAIN}/slot_spools"
SET_COMMAND: Final = f"{DOMAIN}/set_slot_spool"
PICKER_PAGE: Final = 50


@callback
def async_register_picker(hass: HomeAssistant) -> None:
    """The WebSocket commands behind the card's spool picker."""
    async_register_command(hass, ws_slot_spools)
    async_register_command(hass, ws_set_slot_spool)


@websocket_command(
    {
        probatio.Required("type"): PICKER_COMMAND,
        probatio.Required("device_id"): str,
        probatio.Required("ams_id"): probatio.All(int, probatio.Range(min=0, max=255)),
        probatio.Required("tray_id"): probatio.All(int, probatio.Range(min=0, max=3)),
        probatio.Optional("query", default=""): probatio.All(str, probatio.Length(max=100)),
        probatio.Optional("limit", default=PICKER_PAGE): probatio.All(
            int, probatio.Range(min=1, max=200)
        ),
    }
)
@async_response
async def ws_slot_spools(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """The spools matching ``query``, best fit for the slot first, and the one assigned now."""
    try:
        entry = printer_entry(hass, msg["device_id"])
        spools = await async_spool_index(entry)
    except HomeAssistantError as err:
        connection.send_error(msg["id"], "not_available", str(err))
        return
    ams_id, tray_id = msg["ams_id"], msg["tray_id"]
    found = search(slot_choices(hass, entry, ams_id, tray_id, spools), msg["query"])
    assignment = entry.runtime_data.coordinator.assignment(ams_id, tray_id)
    connection.send_result(
        msg["id"],
        {
            "spools": [choice.as_dict() for choice in found[: msg["limit"]]],
            "total": len(found),
            "assigned_filaman_spool_id": (
                assignment.spool.filaman_id if assignment and assignment.spool else None
            ),
            "assigned": assignment is not None,
        },
    )


@websocket_command(
    {
        probatio.Required("type"): SET_COMMAND,
        probatio.Required("device_id"): str,
        probatio.Required("ams_id"): whole_number(0, 255),
        probatio.Required("tray_id"): whole_number(0, 3),
        # None clears the slot.
        probatio.Required("filaman_spool_id"): probatio.Any(
            None, whole_number(1, MAX_FILAMAN_SPOOL_ID)
        ),
    }
)
@async_response
async def ws_set_slot_spool(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Assign a spool to the slot, or clear it, as the actions do.

    The card's own command, not the actions: Home Assistant logs a refused action call from
    the UI as an ERROR, but a user picking a spool the slot cannot take (another spool's RFID
    tag in it, say) made no error of Home Assistant's. The card shows the reason instead.
    """
    ams_id, tray_id = msg["ams_id"], msg["tray_id"]
    try:
        entry = printer_entry(hass, msg["device_id"])
        if (spool_id := msg["filaman_spool_id"]) is None:
            result = await async_unassign_slot(entry, ams_id, tray_id)
        else:
            result = await async_assign_filaman_spool(entry, spool_id, ams_id, tray_id)
    except HomeAssistantError as err:
        refused = isinstance(err, ServiceValidationError)
        connection.send_error(
            msg["id"],
            "service_validation_error" if refused else "home_assistant_error",
            str(err),
            translation_domain=err.translation_domain,
            translation_key=err.translation_key,
            translation_placeholders=err.translation_placeholders,
        )
        return
    connection.send_result(msg["id"], result)
