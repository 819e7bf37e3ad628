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
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.exceptions import HomeAssistantError

from ..ams import slot_label as card_slot_label
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
from ..data import FilamanBambuddyConfigEntry, FilamanBambuddyData
from ..inventory.choices import SlotTray, SpoolChoice, SpoolIndex
from ..inventory.rfid import tag_uid, tray_uuid
from .targets import api_error, printer_entry, validation_error

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
    """The assign_spool action."""
    entry = printer_entry(call.hass, call.data[ATTR_DEVICE_ID])
    return await async_assign_filaman_spool(
        entry, call.data[ATTR_FILAMAN_SPOOL_ID], call.data[ATTR_AMS_ID], call.data[ATTR_TRAY_ID]
    )


async def async_assign_filaman_spool(
    entry: FilamanBambuddyConfigEntry, filaman_spool_id: int, ams_id: int, tray_id: int
) -> dict[str, Any]:
    """Assign the spool's Bambuddy twin (synced first if missing) to the slot.

    Every way of assigning goes through here (the action, the card, the slot select, the
    unassigned-tray repair, a move in FilaMan). Raises a translated ``ServiceValidationError``
    for what the caller can fix and ``HomeAssistantError`` when a server fails.
    """
    data = entry.runtime_data
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
                raise validation_error(
                    "rfid_slot_taken",
                    slot=slot_label(ams_id, tray_id),
                    holder=str(taken.holder.id) if taken.holder else "—",
                    tag=taken.tag,
                    spool=str(filaman_spool_id),
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
    """The unassign_spool action."""
    entry = printer_entry(call.hass, call.data[ATTR_DEVICE_ID])
    return await async_unassign_slot(entry, call.data[ATTR_AMS_ID], call.data[ATTR_TRAY_ID])


async def async_unassign_slot(
    entry: FilamanBambuddyConfigEntry, ams_id: int, tray_id: int
) -> dict[str, Any]:
    """Remove a slot's assignment (the printer keeps the slot's settings)."""
    data = entry.runtime_data
    try:
        await data.hub.bambuddy.unassign(data.coordinator.printer_id, ams_id, tray_id)
    except NotFoundError as err:
        raise validation_error("no_assignment", ams_id=str(ams_id), tray_id=str(tray_id)) from err
    except ApiError as err:
        raise api_error(err) from err
    data.coordinator.async_forget_own_assignment((ams_id, tray_id))
    await data.coordinator.async_refresh_assignments()
    return {"ams_id": ams_id, "tray_id": tray_id, "unassigned": True}


# --- Which spools to offer for a slot ------------------------------------------------------------


def loaded_spools(
    hass: HomeAssistant, entry: FilamanBambuddyConfigEntry, skip: tuple[int, int] | None = None
) -> dict[int, str]:
    """FilaMan spool id → the slot it is loaded in ("P1S A2"), over every printer of the server."""
    hub = entry.runtime_data.hub
    loaded: dict[int, str] = {}
    for other in hass.config_entries.async_loaded_entries(DOMAIN):
        data: FilamanBambuddyData = other.runtime_data
        if data.hub is not hub or data.coordinator.data is None:
            continue
        for slot, assignment in data.coordinator.data.assignments.items():
            if other is entry and slot == skip:
                continue
            filaman_id = assignment.spool.filaman_id if assignment.spool else None
            if filaman_id is not None:
                loaded[filaman_id] = f"{data.printer.name} {card_slot_label(*slot)}"
    return loaded


def slot_tray(entry: FilamanBambuddyConfigEntry, ams_id: int, tray_id: int) -> SlotTray:
    """What the printer reports loaded in the slot (nothing known: an empty picture)."""
    data = entry.runtime_data.coordinator.data
    tray = data.status.tray(ams_id, tray_id) if data and data.status else None
    if tray is None or tray.is_empty:
        return SlotTray()
    return SlotTray(tray.tray_type, tray.tray_color, tray.tag_uid, tray.tray_uuid)


def slot_choices(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    ams_id: int,
    tray_id: int,
    spools: SpoolIndex,
    *,
    limit: int | None = None,
) -> list[SpoolChoice]:
    """Every spool, best fit for the slot first (``limit``: only the fitting ones, that many)."""
    tray = slot_tray(entry, ams_id, tray_id)
    loaded = loaded_spools(hass, entry, (ams_id, tray_id))
    return spools.rank(tray, loaded_in=loaded, limit=limit)


async def async_spool_index(entry: FilamanBambuddyConfigEntry) -> SpoolIndex:
    """FilaMan's spools as of the last sync, ready to rank; read now when no sync has completed."""
    hub = entry.runtime_data.hub
    if hub.inventory.filaman_spools:
        return hub.inventory.spool_index
    try:
        return SpoolIndex.of(await hub.filaman.spools(include_archived=False))
    except ApiError as err:
        raise api_error(err) from err
