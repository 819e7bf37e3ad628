"""Home Assistant side of location-following (:mod:`.inventory.locations` holds the rules).

A pass runs shortly after the printer's slot assignments change and after every inventory sync
(FilaMan's spools and their locations are read by the sync), when the entry's option
``follow_locations`` is on (the default). What it learns between passes is kept in a ``Store``.
The assignments a pass asks for (a spool moved to a slot's location in FilaMan) go through the
same path as every other assignment. A FilaMan key that may not create locations or move spools
gets a repair naming the permission; nothing else is affected.
"""

from __future__ import annotations

import logging

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.storage import Store

from .ams import slot_label
from .api import ApiError
from .const import (
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_PRINTER_ID,
    CONF_FOLLOW_LOCATIONS,
    DOMAIN,
)
from .data import FilamanBambuddyConfigEntry
from .inventory.locations import FollowState, LocationFollower, Slot
from .repairs import ISSUE_LOCATION_PERMISSION
from .services.slots import async_assign_filaman_spool
from .validation import find_bound_filaman_printers

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
PASS_DELAY = 1.0  # s: a burst of assignment events is one pass


class SpoolLocations:
    """Location-following for one printer (entry)."""

    def __init__(self, hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> None:
        self._hass = hass
        self._entry = entry
        self._store: Store[dict[str, object]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.locations.{entry.entry_id}"
        )
        self._follower: LocationFollower | None = None
        self._assigned_seen: dict[Slot, int] | None = None
        self._debouncer = Debouncer(
            hass, _LOGGER, cooldown=PASS_DELAY, immediate=False, function=self._async_pass
        )

    @property
    def enabled(self) -> bool:
        return bool(self._entry.options.get(CONF_FOLLOW_LOCATIONS, True))

    @callback
    def start(self) -> None:
        """Follow assignment changes and syncs (each pass waits for the first complete sync)."""
        if not self.enabled:
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
            return
        data = self._entry.runtime_data
        self._entry.async_on_unload(data.coordinator.async_add_listener(self._assignments_seen))
        self._entry.async_on_unload(data.hub.inventory.async_add_listener(self._schedule))
        self._entry.async_on_unload(self._debouncer.async_shutdown)

    @callback
    def _assignments_seen(self) -> None:
        """Status pushes come every second while printing: only an assignment change counts."""
        assigned = self._assigned()
        if assigned != self._assigned_seen:
            self._assigned_seen = assigned
            self._schedule()

    @callback
    def _schedule(self) -> None:
        self._entry.async_create_background_task(
            self._hass, self._debouncer.async_call(), f"{DOMAIN} spool locations"
        )

    def _assigned(self) -> dict[Slot, int]:
        """Slot → the FilaMan spool Bambuddy has assigned there."""
        return {
            slot: assignment.spool.filaman_id
            for slot, assignment in self._entry.runtime_data.coordinator.data.assignments.items()
            if assignment.spool is not None and assignment.spool.filaman_id is not None
        }

    async def _async_pass(self) -> None:
        data = self._entry.runtime_data
        spools = data.hub.inventory.filaman_spools
        status = data.coordinator.data.status
        if not spools or status is None:
            return  # before the first complete sync FilaMan's locations are not known
        try:
            follower = self._follower or await self._create_follower()
            assigned = {
                slot: spool_id for slot, spool_id in self._assigned().items() if spool_id in spools
            }
            slots = [(tray.ams_id, tray.tray_id) for tray in status.slots()] or list(assigned)
            wanted = await follower.follow(
                assigned, {spool.id: spool.location_id for spool in spools.values()}, slots
            )
        except ApiError as err:
            _LOGGER.debug("Spool locations not followed this time: %s", err)
            return
        self._report_permission(follower.missing_permission)
        for spool_id, slot in wanted.items():
            try:
                await async_assign_filaman_spool(self._entry, spool_id, *slot)
            except HomeAssistantError as err:
                _LOGGER.warning(
                    "FilaMan spool %s was moved to slot %s of %s in FilaMan, but it could not be "
                    "assigned there (%s); it goes back to where it was",
                    spool_id,
                    slot_label(*slot),
                    self._entry.title,
                    err,
                )
            else:
                _LOGGER.info(
                    "FilaMan spool %s was moved to slot %s of %s in FilaMan: assigned in Bambuddy",
                    spool_id,
                    slot_label(*slot),
                    self._entry.title,
                )

    async def _create_follower(self) -> LocationFollower:
        """Whose slots these are: the FilaMan printer of this Bambuddy printer, if it has one."""
        data = self._entry.runtime_data
        owner, name = f"b{data.printer.id}", data.printer.name
        filaman_printer_id = self._entry.data.get(CONF_FILAMAN_PRINTER_ID)
        if filaman_printer_id is not None:
            printer = await data.hub.filaman.printer(int(filaman_printer_id))
            owner, name = str(printer.id), printer.name
        else:
            bound = await find_bound_filaman_printers(
                data.hub.filaman, self._entry.data[CONF_BAMBUDDY_URL], data.printer.id
            )
            if bound:
                owner, name = str(bound[0].id), bound[0].name
        stored = await self._store.async_load()
        self._follower = LocationFollower(
            data.hub.filaman,
            owner=owner,
            printer_name=name,
            state=FollowState.from_dict(stored) if stored else FollowState(),
            save=lambda state: self._store.async_delay_save(state.to_dict, 1.0),
        )
        return self._follower

    def snapshot(self) -> dict[str, object]:
        """For diagnostics: whether it runs, whose locations, what it last left behind."""
        follower = self._follower
        return {
            "enabled": self.enabled,
            "owner": follower.owner if follower else None,
            "missing_permission": follower.missing_permission if follower else None,
            "state": follower.state.to_dict() if follower else None,
        }

    @property
    def _issue_id(self) -> str:
        return f"{ISSUE_LOCATION_PERMISSION}_{self._entry.entry_id}"

    def _report_permission(self, permission: str | None) -> None:
        if permission is None:
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
            return
        follower = self._follower
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_LOCATION_PERMISSION,
            translation_placeholders={
                "printer": self._entry.title,
                "permission": permission,
                "owner": follower.owner if follower is not None else "",
            },
        )


async def async_remove_locations_store(hass: HomeAssistant, entry_id: str) -> None:
    """A removed entry's record goes with it."""
    await Store[dict[str, object]](
        hass, STORAGE_VERSION, f"{DOMAIN}.locations.{entry_id}"
    ).async_remove()
