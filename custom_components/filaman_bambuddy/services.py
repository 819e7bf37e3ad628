"""Actions: Sync now, Full resync, assign and unassign a FilaMan spool, debit past prints.

Registered once in ``async_setup`` (not per entry) so automations referring to them validate even
while an entry is not loaded; each call resolves its target entry and fails with a translated
error when that entry is missing, not loaded, or the input does not fit.
"""

from __future__ import annotations

from datetime import timedelta
import math
from typing import Any, assert_never

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
import probatio

from .api import ApiError, NotFoundError, RejectedError
from .api.models_bambuddy import (
    EXTERNAL_AMS_ID,
    FIRST_AMS_HT_ID,
    BambuddySpool,
    PrinterStatus,
)
from .const import DOMAIN
from .consumption import EntryState, PastRefusal, PastUsageRefused
from .data import FilamanBambuddyConfigEntry, FilamanBambuddyData
from .inventory.runner import SyncResult
from .wiring import async_wake_consumption

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_FORCE = "force"
ATTR_ALLOW_DELETIONS = "allow_deletions"
ATTR_FILAMAN_SPOOL_ID = "filaman_spool_id"
ATTR_AMS_ID = "ams_id"
ATTR_TRAY_ID = "tray_id"
ATTR_SINCE = "since"

SERVICE_SYNC_NOW = "sync_now"
SERVICE_FULL_RESYNC = "full_resync"
SERVICE_ASSIGN_SPOOL = "assign_spool"
SERVICE_UNASSIGN_SPOOL = "unassign_spool"
SERVICE_DEBIT_PAST_PRINTS = "debit_past_prints"

# How far back debit_past_prints may reach: long enough to catch up after installing, short
# enough that FilaMan's spools have not been weighed or corrected for those prints meanwhile.
PAST_PRINTS_MAX_AGE = timedelta(days=30)
# The response lists at most this many usage ids (the counts cover all of them).
PAST_PRINTS_LISTED_IDS = 50

# Printer states in which deleting Bambuddy's spools would break the running print's tracking.
BUSY_STATES = frozenset({"RUNNING", "PAUSE", "PREPARE", "SLICING"})


def _whole_number(minimum: int, maximum: int | None = None) -> probatio.All[int]:
    return probatio.All(probatio.Coerce(int), probatio.Range(min=minimum, max=maximum))


_TARGET = {
    probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
    probatio.Optional(ATTR_DEVICE_ID): cv.string,
}
_SLOT = {
    probatio.Required(ATTR_DEVICE_ID): cv.string,
    probatio.Required(ATTR_AMS_ID): _whole_number(0, 255),
    probatio.Required(ATTR_TRAY_ID): _whole_number(0, 3),
}
SYNC_SCHEMA = probatio.Schema(
    {**_TARGET, probatio.Optional(ATTR_ALLOW_DELETIONS, default=False): cv.boolean}
)
FULL_RESYNC_SCHEMA = probatio.Schema(
    {**_TARGET, probatio.Optional(ATTR_FORCE, default=False): cv.boolean}
)
ASSIGN_SCHEMA = probatio.Schema(
    {**_SLOT, probatio.Required(ATTR_FILAMAN_SPOOL_ID): _whole_number(1)}
)
UNASSIGN_SCHEMA = probatio.Schema(_SLOT)
DEBIT_PAST_PRINTS_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Required(ATTR_SINCE): cv.datetime,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SYNC_NOW,
        _sync_now,
        schema=SYNC_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_FULL_RESYNC,
        _full_resync,
        schema=FULL_RESYNC_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_ASSIGN_SPOOL,
        _assign_spool,
        schema=ASSIGN_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_UNASSIGN_SPOOL,
        _unassign_spool,
        schema=UNASSIGN_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_DEBIT_PAST_PRINTS,
        _debit_past_prints,
        schema=DEBIT_PAST_PRINTS_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> FilamanBambuddyConfigEntry:
    entry: FilamanBambuddyConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _error("entry_not_found", target=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _error("entry_not_loaded", target=entry.title)
    return entry


def _entry_for_device(hass: HomeAssistant, device_id: str) -> FilamanBambuddyConfigEntry:
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise _error("device_not_found", target=device_id)
    entry = hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _error("device_not_found", target=device_id)
    return _loaded_entry(hass, entry.entry_id)


def _target_entry(call: ServiceCall) -> FilamanBambuddyConfigEntry:
    """The entry a call names, or the only one there is."""
    hass = call.hass
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        return _loaded_entry(hass, entry_id)
    if device_id := call.data.get(ATTR_DEVICE_ID):
        return _entry_for_device(hass, device_id)
    entries = hass.config_entries.async_loaded_entries(DOMAIN)
    if len(entries) != 1:
        raise _error("target_required")
    return _loaded_entry(hass, entries[0].entry_id)


async def _sync_now(call: ServiceCall) -> ServiceResponse:
    entry = _target_entry(call)
    result = await entry.runtime_data.hub.runner.sync(
        reason="service", allow_mass_delete=call.data[ATTR_ALLOW_DELETIONS]
    )
    return dict(result.as_dict())


async def _full_resync(call: ServiceCall) -> ServiceResponse:
    entry = _target_entry(call)
    result = await async_full_resync(call.hass, entry, force=call.data[ATTR_FORCE])
    return dict(result.as_dict())


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
                raise _error("printer_busy", printer=other.title)
            if other_data.bridge.awaiting_usage:
                raise _error("usage_not_booked", printer=other.title)
    return await hub.runner.full_resync()


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
    raise _error("unknown_slot", ams_id=str(ams_id), tray_id=str(tray_id))


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


async def _assign_spool(call: ServiceCall) -> ServiceResponse:
    entry = _entry_for_device(call.hass, call.data[ATTR_DEVICE_ID])
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
            raise _error("spool_archived", spool=str(filaman_spool_id))
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
        raise _error("unknown_spool", spool=str(filaman_spool_id)) from err
    except RejectedError as err:
        raise _error("assignment_rejected", error=err.detail or str(err)) from err
    except ApiError as err:
        raise _api_error(err) from err
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


async def _unassign_spool(call: ServiceCall) -> ServiceResponse:
    entry = _entry_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    data = entry.runtime_data
    ams_id: int = call.data[ATTR_AMS_ID]
    tray_id: int = call.data[ATTR_TRAY_ID]
    try:
        await data.hub.bambuddy.unassign(data.coordinator.printer_id, ams_id, tray_id)
    except NotFoundError as err:
        raise _error("no_assignment", ams_id=str(ams_id), tray_id=str(tray_id)) from err
    except ApiError as err:
        raise _api_error(err) from err
    await data.coordinator.async_refresh_assignments()
    response: dict[str, Any] = {"ams_id": ams_id, "tray_id": tray_id, "unassigned": True}
    return response


async def _debit_past_prints(call: ServiceCall) -> ServiceResponse:
    """Debit usage Bambuddy logged before this entry's first start (never replayed by itself)."""
    entry = _entry_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    # A time without a zone is the user's local time, as the UI's date-time picker sends it.
    since = dt_util.as_utc(call.data[ATTR_SINCE])
    now = dt_util.utcnow()
    if since > now:
        raise _error("since_in_future", since=dt_util.as_local(since).isoformat())
    if since < now - PAST_PRINTS_MAX_AGE:
        raise _error("since_too_old", days=str(PAST_PRINTS_MAX_AGE.days))
    data = entry.runtime_data
    try:
        taken = await data.consumption.debit_past(since)
    except PastUsageRefused as err:
        raise _past_refusal(err.reason, entry.title) from err
    except ApiError as err:
        raise _api_error(err) from err
    if taken:
        # Answer once the debits had their try (FilaMan down: they stay pending and retry).
        await async_wake_consumption(call.hass, entry, "debit_past_prints")
    states = [taken_entry.state for taken_entry in taken]
    done, skipped = states.count(EntryState.DONE), states.count(EntryState.SKIPPED)
    response: dict[str, Any] = {
        "taken_in": len(taken),
        "grams": round(sum(e.grams for e in taken if math.isfinite(e.grams) and e.grams > 0), 1),
        "usage_ids": [e.usage_id for e in taken][:PAST_PRINTS_LISTED_IDS],
        "debited": done,
        "skipped": skipped,
        "pending": len(states) - done - skipped,
    }
    return response


def _past_refusal(reason: PastRefusal, printer: str) -> ServiceValidationError:
    match reason:
        case PastRefusal.NOT_ANCHORED:
            return _error("past_prints_not_ready", printer=printer)
        case PastRefusal.ANCHOR_UNKNOWN:
            return _error("past_prints_anchor_unknown", printer=printer)
        case PastRefusal.HISTORY_RESET:
            return _error("past_prints_history_reset", printer=printer)
        case PastRefusal.BLOCKED:
            return _error("past_prints_blocked", printer=printer)
        case PastRefusal.UNSUPPORTED:
            return _error("past_prints_unsupported", printer=printer)
        case PastRefusal.TOO_MANY_ROWS:
            return _error("past_prints_too_many", printer=printer)
    assert_never(reason)


def _api_error(err: ApiError) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="server_error",
        translation_placeholders={"error": str(err)},
    )
