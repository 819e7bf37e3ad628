"""Assigning a FilaMan spool to an AMS slot, and clearing a slot's assignment."""

from __future__ import annotations

from typing import Any

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import ServiceCall, ServiceResponse
from homeassistant.exceptions import HomeAssistantError

from .action_targets import api_error, entry_for_device, validation_error
from .api import ApiError, NotFoundError, RejectedError
from .api.models_bambuddy import (
    EXTERNAL_AMS_ID,
    FIRST_AMS_HT_ID,
    BambuddySpool,
    PrinterStatus,
)
from .const import DOMAIN
from .data import FilamanBambuddyConfigEntry

ATTR_FILAMAN_SPOOL_ID = "filaman_spool_id"
ATTR_AMS_ID = "ams_id"
ATTR_TRAY_ID = "tray_id"


def _check_slot(status: PrinterStatus | None, ams_id: int, tray_id: int) -> None:
    """The slot must be one the printer reports.

    A printer Bambuddy has not reached since it started reports no slots at all; then any
    address such a printer could have is accepted (Bambuddy keeps it pending).
    """
    if status is not None and status.slots():
        if status.tray(ams_id, tray_id) is not None:
            return
    elif _possible_slot(ams_id, tray_id):
        return
    raise validation_error("unknown_slot", ams_id=str(ams_id), tray_id=str(tray_id))


def _possible_slot(ams_id: int, tray_id: int) -> bool:
    if ams_id == EXTERNAL_AMS_ID:
        return tray_id in (0, 1)
    if FIRST_AMS_HT_ID <= ams_id < FIRST_AMS_HT_ID + 8:
        return tray_id == 0
    return ams_id < 4


async def _linked_bambuddy_spool(
    entry: FilamanBambuddyConfigEntry, filaman_spool_id: int
) -> BambuddySpool | None:
    spools = await entry.runtime_data.hub.bambuddy.spools(include_archived=True)
    linked = [s for s in spools if s.filaman_id == filaman_spool_id and not s.archived]
    return min(linked, key=lambda spool: spool.id) if linked else None


async def async_assign_spool(call: ServiceCall) -> ServiceResponse:
    """Assign the spool's Bambuddy twin (synced first if missing) to the slot."""
    entry = entry_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    data = entry.runtime_data
    filaman_spool_id: int = call.data[ATTR_FILAMAN_SPOOL_ID]
    ams_id: int = call.data[ATTR_AMS_ID]
    tray_id: int = call.data[ATTR_TRAY_ID]
    coordinator_data = data.coordinator.data
    _check_slot(coordinator_data.status if coordinator_data else None, ams_id, tray_id)
    try:
        spool = await data.hub.filaman.spool(filaman_spool_id)
        statuses = {status.id: status.key for status in await data.hub.filaman.spool_statuses()}
        if spool.status_id is not None and statuses.get(spool.status_id) == "archived":
            raise validation_error("spool_archived", spool=str(filaman_spool_id))
        twin = await _linked_bambuddy_spool(entry, filaman_spool_id)
        if twin is None:
            # Not in Bambuddy yet (new in FilaMan since the last sync): sync, then look again.
            await data.hub.runner.sync(reason="assign_spool")
            twin = await _linked_bambuddy_spool(entry, filaman_spool_id)
        if twin is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="spool_not_synced",
                translation_placeholders={"spool": str(filaman_spool_id)},
            )
        assignment = await data.hub.bambuddy.assign(
            twin.id, data.coordinator.printer_id, ams_id, tray_id
        )
    except NotFoundError as err:
        raise validation_error("unknown_spool", spool=str(filaman_spool_id)) from err
    except RejectedError as err:
        raise validation_error("assignment_rejected", error=err.detail or str(err)) from err
    except ApiError as err:
        raise api_error(err) from err
    # Answer with the slot entities already showing the new spool.
    await data.coordinator.async_refresh_assignments()
    return {
        "filaman_spool_id": filaman_spool_id,
        "bambuddy_spool_id": twin.id,
        "ams_id": ams_id,
        "tray_id": tray_id,
        "configured": assignment.configured,
        "pending_config": assignment.pending_config,
    }


async def async_unassign_spool(call: ServiceCall) -> ServiceResponse:
    """Remove a slot's assignment (the printer keeps the slot's settings)."""
    entry = entry_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    data = entry.runtime_data
    ams_id: int = call.data[ATTR_AMS_ID]
    tray_id: int = call.data[ATTR_TRAY_ID]
    try:
        await data.hub.bambuddy.unassign(data.coordinator.printer_id, ams_id, tray_id)
    except NotFoundError as err:
        raise validation_error("no_assignment", ams_id=str(ams_id), tray_id=str(tray_id)) from err
    except ApiError as err:
        raise api_error(err) from err
    await data.coordinator.async_refresh_assignments()
    response: dict[str, Any] = {"ams_id": ams_id, "tray_id": tray_id, "unassigned": True}
    return response
