"""Tell automations about finished prints and debits: bus events and the event entity.

Bambuddy announces a finished print (``print_complete``, no grams) seconds before its usage
tracker writes the grams. Automations want one event with both, so the print-complete event is
fired when the consumption processor reports the print's usage — or, when no assigned slot was
used and no usage ever comes, after ``USAGE_WAIT`` seconds with an empty spool list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later

from .api.events import (
    PrintCompleteEvent,
    PrinterStatusEvent,
    PrintStartEvent,
    SpoolUsageLoggedEvent,
    WsEvent,
)
from .const import DOMAIN
from .consumption.models import DebitRecord, PrintUsage

EVENT_PRINT_COMPLETE = f"{DOMAIN}_print_complete"
EVENT_CONSUMPTION = f"{DOMAIN}_consumption"
PRINT_STATUSES = ("completed", "failed", "aborted", "cancelled")
# A snapshot in one of these states means a new print began (a repeated print_complete after
# it is a new print, not a duplicate delivery).
PRINTING_STATES = frozenset({"PREPARE", "SLICING", "RUNNING", "PAUSE"})

# Bambuddy writes usage about 8 s after print_complete; give it generous room.
USAGE_WAIT = 90.0

type UsagePending = Callable[[str | None], bool]


def print_finished_signal(entry_id: str) -> str:
    """Dispatcher signal the event entity of one entry listens to."""
    return f"{DOMAIN}_print_finished_{entry_id}"


def _status(value: str | None) -> str:
    value = (value or "completed").lower()
    return value if value in PRINT_STATUSES else "completed"


def _same_job(first: str | None, second: str | None) -> bool:
    return first is None or second is None or first == second


class PrintEventBridge:
    """Turns WebSocket print events and consumption callbacks into HA events for one printer.

    ``usage_pending(job)`` tells whether the consumption processor holds usage of that job
    it has not announced yet (FilaMan down, say): then the print is announced with its
    grams when they are settled, never early with an empty spool list.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        printer_id: int,
        printer_name: str,
        *,
        device_identifier: tuple[str, str],
        usage_pending: UsagePending,
    ) -> None:
        self._hass = hass
        self._entry_id = entry_id
        self._printer_id = printer_id
        self._printer_name = printer_name
        self._device_identifier = device_identifier
        self._usage_pending = usage_pending
        # (status, job) of a finished print whose usage has not been announced yet.
        self._waiting: tuple[str, str | None] | None = None
        # Bambuddy logged usage after that print_complete: the processor will announce it.
        self._usage_logged = False
        # (status, job) of the last print_complete, until a new print starts: a second
        # identical frame before that is a duplicate delivery.
        self._last_complete: tuple[str, str | None] | None = None
        self._cancel_wait: CALLBACK_TYPE | None = None

    @property
    def awaiting_usage(self) -> bool:
        """A print finished and Bambuddy has not booked its usage yet."""
        return self._waiting is not None and not self._usage_logged

    @callback
    def handle_ws_event(self, event: WsEvent) -> None:
        """Follow this printer's prints; start waiting for the usage of one that finished."""
        if event.printer_id != self._printer_id:
            return
        if isinstance(event, PrintStartEvent) or (
            isinstance(event, PrinterStatusEvent)
            and (event.status.state or "").upper() in PRINTING_STATES
        ):
            self._last_complete = None
        elif isinstance(event, SpoolUsageLoggedEvent):
            self._usage_logged = self._waiting is not None
        elif isinstance(event, PrintCompleteEvent):
            finished = (_status(event.status), event.subtask_name or event.filename)
            if finished == self._last_complete:
                return  # the same frame delivered again
            self._last_complete = finished
            self._cancel_timer()
            self._waiting = finished
            self._usage_logged = False
            self._cancel_wait = async_call_later(self._hass, USAGE_WAIT, self._usage_never_came)

    @callback
    def handle_print_usage(self, usage: PrintUsage) -> None:
        """The processor settled every usage row of a print."""
        status = _status(usage.status)
        if self._waiting is not None and _same_job(self._waiting[1], usage.print_name):
            status = self._waiting[0]  # print_complete knows aborted/cancelled
            self._cancel_timer()
            self._waiting = None
        spools = [
            {
                "filaman_spool_id": spool.filaman_spool_id,
                "bambuddy_spool_id": spool.bambuddy_spool_id,
                "grams": spool.grams,
                "debited": spool.debited,
                "awaiting_link": spool.awaiting_link,
                "held_for_review": spool.held_for_review,
            }
            for spool in usage.spools
        ]
        self._fire_print_complete(status, usage.print_name, spools)

    @callback
    def handle_debit(self, debit: DebitRecord) -> None:
        """One FilaMan spool was debited."""
        self._hass.bus.async_fire(
            EVENT_CONSUMPTION,
            {
                "printer_id": self._printer_id,
                "printer_name": self._printer_name,
                "device_id": self._device_id(),
                "filaman_spool_id": debit.filaman_spool_id,
                "bambuddy_spool_id": debit.bambuddy_spool_id,
                "grams": debit.grams,
                "remaining_g": debit.remaining_after,
                "job": debit.print_name,
                "usage_id": debit.usage_id,
            },
        )

    @callback
    def _usage_never_came(self, _now: Any) -> None:
        self._cancel_wait = None
        if self._waiting is None:
            return
        status, job = self._waiting
        if self._usage_logged or self._usage_pending(job):
            return  # the processor announces it once FilaMan took the grams
        self._waiting = None
        self._fire_print_complete(status, job, [])

    def _device_id(self) -> str | None:
        device = dr.async_get(self._hass).async_get_device_by_identifier(
            self._device_identifier, self._entry_id
        )
        return device.id if device is not None else None

    def _fire_print_complete(
        self, status: str, job: str | None, spools: list[dict[str, Any]]
    ) -> None:
        data = {
            "printer_id": self._printer_id,
            "printer_name": self._printer_name,
            "device_id": self._device_id(),
            "job": job,
            "status": status,
            "spools": spools,
            "total_grams": round(sum(spool["grams"] for spool in spools), 2),
            # Booked by Bambuddy to a spool no FilaMan spool is linked to: see Repairs.
            "awaiting_link_grams": round(
                sum(spool["grams"] for spool in spools if spool.get("awaiting_link")), 2
            ),
            # Booked grams FilaMan's figures rule out, waiting for the user's decision (Repairs).
            "held_for_review_grams": round(
                sum(spool["grams"] for spool in spools if spool.get("held_for_review")), 2
            ),
        }
        self._hass.bus.async_fire(EVENT_PRINT_COMPLETE, data)
        async_dispatcher_send(self._hass, print_finished_signal(self._entry_id), status, data)

    def _cancel_timer(self) -> None:
        if self._cancel_wait is not None:
            self._cancel_wait()
            self._cancel_wait = None

    @callback
    def async_stop(self) -> None:
        """Forget a pending wait (entry unload)."""
        self._cancel_timer()
        self._waiting = None
