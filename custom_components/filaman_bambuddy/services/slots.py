"""Assigning a FilaMan spool to an AMS slot, and clearing a slot's assignment.

A slot holding a Bambu RFID spool keeps only a Bambuddy spool that carries the tray's tag:
Bambuddy removes any other assignment at the printer's next report and assigns its own tag
holder (``shared/reference/bambuddy/AUTOMATION.md`` §3 row 4). So for such a slot the action
assigns the FilaMan spool's twin that holds the tag (the sync adopts Bambuddy's own spool for
it), or refuses with the reason, instead of reporting a success Bambuddy undoes seconds later.
"""

from __future__ import annotations

from typing import Any

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import ServiceCall, ServiceResponse
from homeassistant.exceptions import HomeAssistantError

from ..api import ApiError, NotFoundError, RejectedError
from ..api.models_bambuddy import (
    EXTERNAL_AMS_ID,
    FIRST_AMS_HT_ID,
    BambuddySpool,
    PrinterStatus,
    Tray,
    slot_label,
)
from ..const import DOMAIN
from ..data import FilamanBambuddyConfigEntry
from ..inventory.rfid import tag_uid, tray_uuid
from .targets import api_error, entry_for_device, validation_error

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


class _RfidSlotTaken(Exception):
    """The slot's RFID tag belongs to a Bambuddy spool that is not the requested spool's."""

    def __init__(self, holder: BambuddySpool | None, tag: str) -> None:
        super().__init__(tag)
        self.holder = holder
        self.tag = tag


def _holds_tag(spool: BambuddySpool, uuid: str, uid: str | None) -> bool:
    """Bambuddy keeps the assignment (row 3): same ``tray_uuid``, or same ``tag_uid``."""
    return tray_uuid(spool.tray_uuid) == uuid or (uid is not None and tag_uid(spool.tag_uid) == uid)


async def _twin_for_slot(
    entry: FilamanBambuddyConfigEntry, filaman_spool_id: int, tray: Tray | None
) -> BambuddySpool | None:
    """The FilaMan spool's twin Bambuddy will keep in the slot; ``None`` when it has none.

    Raises :class:`_RfidSlotTaken` when the slot holds a Bambu RFID spool that is not this
    FilaMan spool's.
    """
    spools = await entry.runtime_data.hub.bambuddy.spools(include_archived=True)
    active = sorted((s for s in spools if not s.archived), key=lambda spool: spool.id)
    uuid = tray_uuid(tray.tray_uuid) if tray is not None and not tray.is_empty else None
    if uuid is None:
        return next((s for s in active if s.filaman_id == filaman_spool_id), None)
    assert tray is not None
    holders = [s for s in active if _holds_tag(s, uuid, tag_uid(tray.tag_uid))]
    mine = next((s for s in holders if s.filaman_id == filaman_spool_id), None)
    if mine is None:
        raise _RfidSlotTaken(holders[0] if holders else None, uuid)
    return mine


async def async_assign_spool(call: ServiceCall) -> ServiceResponse:
    """Assign the spool's Bambuddy twin (synced first if missing) to the slot."""
    entry = entry_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    data = entry.runtime_data
    filaman_spool_id: int = call.data[ATTR_FILAMAN_SPOOL_ID]
    ams_id: int = call.data[ATTR_AMS_ID]
    tray_id: int = call.data[ATTR_TRAY_ID]
    status = data.coordinator.data.status if data.coordinator.data else None
    _check_slot(status, ams_id, tray_id)
    tray = status.tray(ams_id, tray_id) if status is not None else None
    try:
        spool = await data.hub.filaman.spool(filaman_spool_id)
        statuses = {status.id: status.key for status in await data.hub.filaman.spool_statuses()}
        if spool.status_id is not None and statuses.get(spool.status_id) == "archived":
            raise validation_error("spool_archived", spool=str(filaman_spool_id))
        try:
            twin = await _twin_for_slot(entry, filaman_spool_id, tray)
        except _RfidSlotTaken:
            twin = None
        if twin is None:
            # Not in Bambuddy yet (new in FilaMan since the last sync), or Bambuddy's own RFID
            # spool not adopted yet: sync, then look again.
            await data.hub.inventory.async_sync("assign_spool")
            try:
                twin = await _twin_for_slot(entry, filaman_spool_id, tray)
            except _RfidSlotTaken as taken:
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="rfid_slot_taken",
                    translation_placeholders={
                        "slot": slot_label(ams_id, tray_id),
                        "holder": str(taken.holder.id) if taken.holder else "—",
                        "tag": taken.tag,
                        "spool": str(filaman_spool_id),
                    },
                ) from None
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
    data.coordinator.async_note_own_assignment((ams_id, tray_id), twin.id, filaman_spool_id)
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
    data.coordinator.async_forget_own_assignment((ams_id, tray_id))
    await data.coordinator.async_refresh_assignments()
    response: dict[str, Any] = {"ams_id": ams_id, "tray_id": tray_id, "unassigned": True}
    return response
