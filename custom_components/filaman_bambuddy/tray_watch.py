"""Catch every tray a print draws from with no spool assigned, while its grams can be saved.

Bambuddy books grams only to trays with an assigned spool, and charges a tray that had none at
print start to whatever spool is assigned when the print ends. So the moment a print starts
from such a tray, this printer's :class:`TrayWatch` opens a case (:mod:`.consumption.unassigned`)
and tells the user at once: a fixable repair issue, one WARNING in the log and the bus event
``filaman_bambuddy_unassigned_tray`` (for a phone notification). Which trays a print uses:

* Bambuddy's ``missing_spool_assignment`` (sent right after ``print_start`` for the trays of
  the print's AMS mapping that have no spool), and the mapping in ``print_start`` itself;
* for a print with no mapping (started at the printer), the tray it is printing from
  (``tray_now`` in every status snapshot).

A case closes by itself when the slot gets a spool by any route (the repair, the card, the
select, Bambuddy's UI, RFID) or the slot empties. If the print ends with the tray still
unassigned, Bambuddy's usage step is awaited (a spool assigned at the very end still gets the
grams); then the case says plainly that the grams were not recorded, and its repair offers to
record them by hand. Cases live in the consumption ledger, so a restart loses none.
"""

from __future__ import annotations

from datetime import datetime
import logging
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .ams import slot_label
from .api.events import (
    MissingSpoolAssignmentEvent,
    PrintCompleteEvent,
    PrintStartEvent,
    SpoolUsageLoggedEvent,
    WsEvent,
)
from .api.models_bambuddy import PrinterStatus, Tray, slot_from_global_tray_id
from .const import DOMAIN
from .consumption.unassigned import (
    CaseState,
    PrintContext,
    Slot,
    TrayCase,
    known_text,
    slot_from_label,
    tray_colour,
)
from .data import FilamanBambuddyConfigEntry
from .entity import printer_device_identifier
from .print_events import PRINTING_STATES, USAGE_WAIT
from .repairs import async_sync_tray_case_issues

_LOGGER = logging.getLogger(__name__)

EVENT_UNASSIGNED_TRAY = f"{DOMAIN}_unassigned_tray"
# A status snapshot in one of these states after a print ran means it ended (print_complete
# may have been missed while the WebSocket was down).
ENDED_STATES = {"FINISH": "completed", "FAILED": "failed", "IDLE": "aborted"}


class TrayWatch:
    """The unassigned-tray cases of one printer (see the module docstring)."""

    def __init__(self, hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> None:
        self._hass = hass
        self._entry = entry
        self._print: PrintContext | None = None
        self._cancel_wait: CALLBACK_TYPE | None = None
        self._raised: set[str] = set()

    @property
    def _printer_id(self) -> int:
        return self._entry.runtime_data.coordinator.printer_id

    @callback
    def start(self) -> None:
        """Follow the printer; show the cases a restart kept."""
        data = self._entry.runtime_data
        self._entry.async_on_unload(data.hub.live.add_listener(self._on_event))
        self._entry.async_on_unload(data.coordinator.async_add_listener(self._on_status))
        self._entry.async_on_unload(self._stop_waiting)
        cases = data.consumption.tray_cases
        if any(case.state is CaseState.ENDED for case in cases.cases.values()):
            self._wait_for_usage()  # stopped between a print's end and its usage step
        self._publish()

    @callback
    def refresh(self) -> None:
        """A case was answered elsewhere (its repair): show what is left."""
        self._publish()

    # --- what Bambuddy says -----------------------------------------------------------------

    @callback
    def _on_event(self, event: WsEvent) -> None:
        if event.printer_id != self._printer_id:
            return
        if isinstance(event, PrintStartEvent):
            mapping = [tray for tray in event.ams_mapping or () if tray >= 0]
            self._print = PrintContext(
                job=event.subtask_name or event.filename,
                started_at=dt_util.utcnow(),
                mapped=bool(mapping),
            )
            status = self._status()
            for global_tray in mapping:
                slot = slot_from_global_tray_id(global_tray)
                tray = status.tray(*slot) if status is not None else None
                if not self._assigned(slot) and (tray is None or not tray.is_empty):
                    self._open(slot, *_describe(tray))
        elif isinstance(event, MissingSpoolAssignmentEvent):
            for missing in event.missing_slots:
                named = slot_from_label(missing.slot)
                if named is not None and not self._assigned(named):
                    self._open(named, known_text(missing.profile), tray_colour(missing.color))
        elif isinstance(event, PrintCompleteEvent):
            self._end(event.status)
        elif isinstance(event, SpoolUsageLoggedEvent):
            booked = {
                (item.ams_id, item.tray_id)
                for item in event.usage
                if item.ams_id is not None and item.tray_id is not None
            }
            self._usage_step(booked)

    @callback
    def _on_status(self) -> None:
        """Every snapshot and assignment change: close, open and end cases."""
        status = self._status()
        if status is None:
            return
        state = (status.state or "").upper()
        cases = self._entry.runtime_data.consumption.tray_cases
        changed = False
        if state in PRINTING_STATES:
            if self._print is None:
                self._print = self._resume(status)
            cases.progress(status.progress)
            tray = status.active_tray
            if not self._print.mapped and tray is not None and not tray.is_empty:
                slot = (tray.ams_id, tray.tray_id)
                if not self._assigned(slot):
                    self._open(slot, *_describe(tray))
        elif state in ENDED_STATES and (
            self._print is not None
            or any(case.state is CaseState.PRINTING for case in cases.cases.values())
        ):
            self._end(ENDED_STATES[state])
        for case in list(cases.cases.values()):
            if case.state is not CaseState.PRINTING:
                continue
            tray = status.tray(*case.slot)
            if self._assigned(case.slot):
                why = "it has a spool assigned now"
            elif status.connected and (tray is None or tray.is_empty):
                why = "the slot is empty now"
            else:
                continue
            cases.close_printing(case.slot)
            changed = True
            _LOGGER.info(
                "Printer %s: slot %s is no longer a problem for %s: %s",
                self._entry.title,
                slot_label(*case.slot),
                case.job or "the print",
                why,
            )
        if changed:
            self._save_and_publish()

    def _resume(self, status: PrinterStatus) -> PrintContext:
        """A print that started before we knew (a restart): its cases say when."""
        cases = self._entry.runtime_data.consumption.tray_cases.cases.values()
        printing = [case for case in cases if case.state is CaseState.PRINTING]
        if printing:
            return PrintContext(printing[0].job, printing[0].started_at, mapped=False)
        return PrintContext(status.subtask_name or status.gcode_file, dt_util.utcnow(), False)

    # --- the cases ------------------------------------------------------------------------------

    def _open(self, slot: Slot, material: str | None, color: str | None) -> None:
        if self._print is None:
            status = self._status()
            self._print = PrintContext(
                status.subtask_name if status else None, dt_util.utcnow(), mapped=True
            )
        case = self._entry.runtime_data.consumption.tray_cases.open(
            self._print, slot, material=material, color=color
        )
        if case is None:
            return  # open already (the warning may have told more about the tray: kept)
        _LOGGER.warning(
            "Printer %s: %s prints from slot %s (%s), which has no spool assigned; its grams are "
            "not recorded unless a spool is assigned before the print ends (see Settings → "
            "Repairs)",
            self._entry.title,
            case.job or "a print",
            slot_label(*slot),
            " ".join(part for part in (material, color) if part) or "unknown filament",
        )
        self._fire(case)
        self._save_and_publish()

    def _end(self, status: str | None) -> None:
        self._print = None
        cases = self._entry.runtime_data.consumption.tray_cases
        if cases.print_ended((status or "completed").lower(), dt_util.utcnow()):
            self._wait_for_usage()
            self._save_and_publish()

    def _wait_for_usage(self) -> None:
        self._stop_waiting()
        self._cancel_wait = async_call_later(self._hass, USAGE_WAIT, self._usage_never_came)

    @callback
    def _usage_never_came(self, _now: datetime) -> None:
        self._cancel_wait = None
        self._usage_step(None)

    def _usage_step(self, booked: set[Slot] | None) -> None:
        """Bambuddy's usage step: a tray it booked after all is fine; the rest are unrecorded."""
        consumption = self._entry.runtime_data.consumption
        cases = consumption.tray_cases
        if not any(case.state is CaseState.ENDED for case in cases.cases.values()):
            return
        self._stop_waiting()
        booked = set(booked or ()) | self._booked_in_ledger()
        for case in cases.usage_step(booked)[1]:
            _LOGGER.warning(
                "Printer %s: the grams of %s on slot %s were not recorded by Bambuddy (no spool "
                "was assigned); record them by hand in Settings → Repairs",
                self._entry.title,
                case.job or "a print",
                slot_label(*case.slot),
            )
            self._fire(case)
        self._save_and_publish()

    def _booked_in_ledger(self) -> set[Slot]:
        """Slots of ended cases whose print the ledger holds usage for at that slot (the usage
        event may have been missed; the rows are read on every reconnect)."""
        consumption = self._entry.runtime_data.consumption
        assignments = self._assignments()
        booked: set[Slot] = set()
        for case in consumption.tray_cases.cases.values():
            if case.state is not CaseState.ENDED:
                continue
            assigned = assignments.get(case.slot)
            for entry in consumption.entries():
                if (
                    entry.print_name == case.job
                    and entry.event_at >= case.started_at
                    and (
                        entry.slot == case.slot
                        or (assigned is not None and entry.bambuddy_spool_id == assigned.spool_id)
                    )
                ):
                    booked.add(case.slot)
        return booked

    # --- telling the user -------------------------------------------------------------------

    def _fire(self, case: TrayCase) -> None:
        device = dr.async_get(self._hass).async_get_device_by_identifier(
            printer_device_identifier(self._entry.runtime_data.coordinator), self._entry.entry_id
        )
        self._hass.bus.async_fire(
            EVENT_UNASSIGNED_TRAY,
            {
                "printer_id": self._printer_id,
                "printer_name": self._entry.runtime_data.printer.name,
                "device_id": device.id if device is not None else None,
                "slot": slot_label(*case.slot),
                "ams_id": case.slot[0],
                "tray_id": case.slot[1],
                "material": case.material,
                "color": case.color,
                "job": case.job,
                "state": "unrecorded" if case.state is CaseState.UNRECORDED else "printing",
            },
        )

    def _save_and_publish(self) -> None:
        consumption = self._entry.runtime_data.consumption
        self._entry.async_create_background_task(
            self._hass, consumption.save_tray_cases(), f"{DOMAIN} save tray cases"
        )
        self._publish()

    def _publish(self) -> None:
        cases = self._entry.runtime_data.consumption.tray_cases.cases
        async_sync_tray_case_issues(self._hass, self._entry, cases, self._raised)

    @callback
    def _stop_waiting(self) -> None:
        if self._cancel_wait is not None:
            self._cancel_wait()
            self._cancel_wait = None

    # --- the printer now --------------------------------------------------------------------

    def _status(self) -> PrinterStatus | None:
        data = self._entry.runtime_data.coordinator.data
        return data.status if data is not None else None

    def _assignments(self) -> dict[Slot, Any]:
        data = self._entry.runtime_data.coordinator.data
        return data.assignments if data is not None else {}

    def _assigned(self, slot: Slot) -> bool:
        return slot in self._assignments()


def _describe(tray: Tray | None) -> tuple[str | None, str | None]:
    """Material and colour of a tray as the printer reports it."""
    if tray is None or tray.is_empty:
        return None, None
    return tray.tray_type or None, tray_colour(tray.tray_color)
