"""FilaMan change stream → inventory sync requests (the coordinator debounces them).

SSE is only a hint (no ids, per worker, may silently stall): every relevant event
asks for a full sync, and so does every (re)connect, because changes made while
the stream was down were missed. Periodic syncs remain the safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
import logging
from typing import Protocol

from ..api.filaman import FilamanClient
from ..api.models_filaman import SSE_CONNECTED

_LOGGER = logging.getLogger(__name__)

DEFAULT_EVENT_NAMES = (
    "spools_changed",
    "filaments_changed",
    "manufacturers_changed",
    "colors_changed",
)
REASON_SSE = "filaman_sse"
SPOOLS_CHANGED = "spools_changed"
REASON_SSE_CONNECTED = "filaman_sse_connected"


class SyncRequester(Protocol):
    """Who runs the sync (it debounces bursts of requests)."""

    def async_request_sync(self, reason: str) -> None:
        """A full sync soon."""

    def async_spools_changed(self) -> None:
        """Some spools changed: find and update just those (or fall back to a full sync)."""


class FilamanChangeWatcher:
    """Consumes ``filaman.events()`` and asks ``syncer`` for a sync on changes."""

    def __init__(
        self,
        filaman: FilamanClient,
        syncer: SyncRequester,
        event_names: Iterable[str] = DEFAULT_EVENT_NAMES,
        *,
        restart_delay: float = 5.0,
        reconnect_backoff: float = 1.0,
    ) -> None:
        self._filaman = filaman
        self._syncer = syncer
        self._event_names = frozenset(event_names)
        self._restart_delay = restart_delay
        self._reconnect_backoff = reconnect_backoff
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start consuming (idempotent)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._watch(), name="filaman_bambuddy FilaMan change watcher"
            )

    async def stop(self) -> None:
        """Stop consuming and close the stream."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            try:
                async for event in self._filaman.events(backoff_initial=self._reconnect_backoff):
                    self._handle(event.event)
                _LOGGER.debug("FilaMan event stream ended; starting it again")
            except Exception:
                # The client reconnects on API errors itself; anything else is a bug
                # we log and survive rather than losing change hints for good.
                _LOGGER.exception("FilaMan change watcher failed; restarting it")
                await asyncio.sleep(self._restart_delay)

    def _handle(self, name: str) -> None:
        try:
            if name == SSE_CONNECTED:
                # Whatever changed while the stream was down left no hint: a full sync.
                self._syncer.async_request_sync(REASON_SSE_CONNECTED)
            elif name == SPOOLS_CHANGED and name in self._event_names:
                self._syncer.async_spools_changed()
            elif name in self._event_names:
                # A filament, maker or colour touches every spool of it: a full sync.
                self._syncer.async_request_sync(REASON_SSE)
        except Exception:
            _LOGGER.exception("Cannot request a sync for FilaMan event %r", name)
