"""The live picture of one Bambuddy printer that the entry's entities read.

Bambuddy pushes full ``printer_status`` snapshots over its WebSocket, so there is no polling: the
first refresh reads the REST status once, then every snapshot replaces the state (snapshots are
complete; merging would keep trays that are gone). Slot assignments are re-read when Bambuddy says
they changed, and after every inventory sync (a full resync renumbers Bambuddy's spools).

Bambuddy may undo an assignment this integration made (an RFID spool in the slot, a spool of
another colour loaded): the re-read shows it at once, and the log says so once per assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import logging
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import ApiError, AuthenticationError
from .api.events import (
    PrinterStatusEvent,
    SpoolAssignmentChangedEvent,
    SpoolAssignmentVerifiedEvent,
    SpoolAutoAssignedEvent,
    WsEvent,
)
from .api.models_bambuddy import Assignment, PrinterStatus, slot_label
from .api.models_filaman import FilamanSpool
from .const import DOMAIN

if TYPE_CHECKING:
    from .data import FilamanBambuddyConfigEntry
    from .hub import BambuddyHub

_LOGGER = logging.getLogger(__name__)

ASSIGNMENT_REFRESH_COOLDOWN = 0.5

type SlotAddress = tuple[int, int]


@dataclass(frozen=True)
class PrinterData:
    """Everything the entities of one printer show."""

    status: PrinterStatus | None
    live: bool = True
    assignments: dict[SlotAddress, Assignment] = field(default_factory=dict)


class PrinterCoordinator(DataUpdateCoordinator[PrinterData]):
    """Push-fed state of one Bambuddy printer."""

    config_entry: FilamanBambuddyConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FilamanBambuddyConfigEntry,
        hub: BambuddyHub,
        printer_id: int,
    ) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} printer {printer_id}",
            update_interval=None,
        )
        self.hub = hub
        self.printer_id = printer_id
        # Slot → (Bambuddy spool, FilaMan spool) of assignments made by assign_spool.
        self._own_assignments: dict[SlotAddress, tuple[int, int]] = {}
        self._assignment_debouncer = Debouncer(
            hass,
            _LOGGER,
            cooldown=ASSIGNMENT_REFRESH_COOLDOWN,
            immediate=False,
            function=self.async_refresh_assignments,
        )

    async def _async_update_data(self) -> PrinterData:
        """Read status and assignments over REST (first refresh, and on request)."""
        try:
            status = await self.hub.bambuddy.printer_status(self.printer_id)
            assignments = await self.hub.bambuddy.assignments(self.printer_id)
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="bambuddy_auth_failed"
            ) from err
        except ApiError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bambuddy_unavailable",
                translation_placeholders={"error": str(err)},
            ) from err
        # Until the WebSocket is up, a REST snapshot would silently go stale.
        return PrinterData(
            status=status, live=self.hub.live.connected, assignments=_by_slot(assignments)
        )

    @callback
    def async_handle_event(self, event: WsEvent) -> None:
        """Apply a WebSocket event meant for this printer."""
        if event.printer_id != self.printer_id or self.data is None:
            return
        if isinstance(event, PrinterStatusEvent):
            self.async_set_updated_data(replace(self.data, status=event.status, live=True))
        elif isinstance(
            event,
            SpoolAssignmentChangedEvent | SpoolAutoAssignedEvent | SpoolAssignmentVerifiedEvent,
        ):
            self.hass.async_create_task(self._assignment_debouncer.async_call())

    @callback
    def async_set_live(self, connected: bool) -> None:
        """The WebSocket went down or came back: entities follow."""
        if self.data is None or self.data.live == connected:
            return
        self.async_set_updated_data(replace(self.data, live=connected))

    @callback
    def async_inventory_synced(self) -> None:
        """Bambuddy spool ids or FilaMan weights may have changed: refresh what slots show."""
        self.hass.async_create_task(self._assignment_debouncer.async_call())

    async def async_refresh_assignments(self) -> None:
        """Re-read the slot assignments now (errors only logged: the next event retries)."""
        try:
            assignments = await self.hub.bambuddy.assignments(self.printer_id)
        except ApiError as err:
            _LOGGER.debug("Could not re-read slot assignments: %s", err)
            return
        by_slot = _by_slot(assignments)
        self._report_undone(by_slot)
        if self.data is not None:
            self.async_set_updated_data(replace(self.data, assignments=by_slot))

    @callback
    def async_note_own_assignment(
        self, slot: SlotAddress, bambuddy_spool_id: int, filaman_spool_id: int
    ) -> None:
        """assign_spool put this spool in the slot (see :meth:`_report_undone`)."""
        self._own_assignments[slot] = (bambuddy_spool_id, filaman_spool_id)

    @callback
    def async_forget_own_assignment(self, slot: SlotAddress) -> None:
        self._own_assignments.pop(slot, None)

    def _report_undone(self, assignments: dict[SlotAddress, Assignment]) -> None:
        for slot, (bambuddy_id, filaman_id) in list(self._own_assignments.items()):
            now = assignments.get(slot)
            if now is not None and now.spool_id == bambuddy_id:
                continue
            del self._own_assignments[slot]
            _LOGGER.warning(
                "Bambuddy undid the assignment of FilaMan spool %s to slot %s of printer %s; "
                "the slot now holds %s",
                filaman_id,
                slot_label(*slot),
                self.printer_id,
                f"Bambuddy spool {now.spool_id}" if now is not None else "no spool",
            )

    def filaman_spool(self, filaman_spool_id: int | None) -> FilamanSpool | None:
        """The FilaMan spool as of the last complete listing, if known."""
        if filaman_spool_id is None:
            return None
        return self.hub.runner.filaman_spools.get(filaman_spool_id)

    def assignment(self, ams_id: int, tray_id: int) -> Assignment | None:
        """The Bambuddy spool assigned to a slot, if any."""
        return None if self.data is None else self.data.assignments.get((ams_id, tray_id))

    async def async_shutdown(self) -> None:
        """Cancel a pending assignment refresh too."""
        await super().async_shutdown()
        self._assignment_debouncer.async_shutdown()


def _by_slot(assignments: list[Assignment]) -> dict[SlotAddress, Assignment]:
    return {(a.ams_id, a.tray_id): a for a in assignments}
