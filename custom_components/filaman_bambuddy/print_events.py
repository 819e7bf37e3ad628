"""Tell automations about finished prints and debits: bus events and the event entity.

Bambuddy announces a finished print (``print_complete``, no grams) seconds before its usage
tracker writes the grams. Automations want one event with both, so the print-complete event is
fired when the consumption processor reports the print's usage — or, when no assigned slot was
used and no usage ever comes, after ``USAGE_WAIT`` seconds with an empty spool list.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later

from .api.events import PrintCompleteEvent, WsEvent
from .const import DOMAIN
from .consumption.models import DebitRecord, PrintUsage

EVENT_PRINT_COMPLETE = f"{DOMAIN}_print_complete"
EVENT_CONSUMPTION = f"{DOMAIN}_consumption"
PRINT_STATUSES = ("completed", "failed", "aborted", "cancelled")

# Bambuddy writes usage about 8 s after print_complete; give it generous room.
USAGE_WAIT = 90.0


def print_finished_signal(entry_id: str) -> str:
    """Dispatcher signal the event entity of one entry listens to."""
    return f"{DOMAIN}_print_finished_{entry_id}"


def _status(value: str | None) -> str:
    value = (value or "completed").lower()
    return value if value in PRINT_STATUSES else "completed"


class PrintEventBridge:
    """Turns WebSocket print events and consumption callbacks into HA events for one printer."""

    def __init__(self, hass: HomeAssistant, entry_id: str, printer_id: int, printer_name: str):
        self._hass = hass
        self._entry_id = entry_id
        self._printer_id = printer_id
        self._printer_name = printer_name
        self._waiting: tuple[str, str | None] | None = (
            None  # (status, job) of a print without usage yet
        )
        self._cancel_wait: CALLBACK_TYPE | None = None

    @callback
    def handle_ws_event(self, event: WsEvent) -> None:
        """Start waiting for the usage of a print that just finished."""
        if not isinstance(event, PrintCompleteEvent) or event.printer_id != self._printer_id:
            return
        self._cancel_timer()
        self._waiting = (_status(event.status), event.subtask_name or event.filename)
        self._cancel_wait = async_call_later(self._hass, USAGE_WAIT, self._usage_never_came)

    @callback
    def handle_print_usage(self, usage: PrintUsage) -> None:
        """The processor settled every usage row of a print."""
        status = self._waiting[0] if self._waiting else _status(usage.status)
        self._cancel_timer()
        self._waiting = None
        spools = [
            {
                "filaman_spool_id": spool.filaman_spool_id,
                "bambuddy_spool_id": spool.bambuddy_spool_id,
                "grams": spool.grams,
                "debited": spool.debited,
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
        if self._waiting is not None:
            status, job = self._waiting
            self._waiting = None
            self._fire_print_complete(status, job, [])

    def _fire_print_complete(
        self, status: str, job: str | None, spools: list[dict[str, Any]]
    ) -> None:
        data = {
            "printer_id": self._printer_id,
            "printer_name": self._printer_name,
            "job": job,
            "status": status,
            "spools": spools,
            "total_grams": round(sum(spool["grams"] for spool in spools), 2),
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
