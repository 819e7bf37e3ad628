"""The latest status snapshot per Bambuddy printer, fed by the live session.

Bambuddy's ``printer_status`` frames are full snapshots (API.md §11.10): a new one
replaces the stored status, it is never merged into it. Listeners learn which
printer changed; an identical snapshot (e.g. the one sent after a reconnect)
is stored but not announced. Home Assistant-free.
"""

from __future__ import annotations

from collections.abc import Callable
import logging

from .api.events import PrinterStatusEvent, WsEvent
from .api.models_bambuddy import PrinterStatus

_LOGGER = logging.getLogger(__name__)

StatusListener = Callable[[int], None]


class PrinterStatusStore:
    """Keeps the newest :class:`PrinterStatus` of every printer it has seen."""

    def __init__(self) -> None:
        self._statuses: dict[int, PrinterStatus] = {}
        self._listeners: list[StatusListener] = []

    def add_listener(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener(printer_id)`` after that printer's status changed."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def handle_event(self, event: WsEvent) -> bool:
        """Store a ``printer_status`` snapshot; other events are ignored.

        Shaped like a live-session listener. Returns whether the status changed.
        """
        if not isinstance(event, PrinterStatusEvent):
            return False
        return self.update(event.status)

    def update(self, status: PrinterStatus) -> bool:
        """Replace the printer's status (also for REST reads); True when it changed."""
        previous = self._statuses.get(status.printer_id)
        self._statuses[status.printer_id] = status
        if previous == status:
            return False
        self._notify(status.printer_id)
        return True

    def get(self, printer_id: int) -> PrinterStatus | None:
        return self._statuses.get(printer_id)

    @property
    def printer_ids(self) -> frozenset[int]:
        return frozenset(self._statuses)

    def forget(self, printer_id: int) -> None:
        """Drop a printer's status (e.g. it was removed from Bambuddy)."""
        if self._statuses.pop(printer_id, None) is not None:
            self._notify(printer_id)

    def _notify(self, printer_id: int) -> None:
        # Copy: a listener may remove itself while being called.
        for listener in list(self._listeners):
            try:
                listener(printer_id)
            except Exception:
                _LOGGER.exception("Error in a printer status listener")
