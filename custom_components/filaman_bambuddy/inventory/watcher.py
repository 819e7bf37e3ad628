"""FilaMan change stream → debounced inventory sync requests.

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
REASON_SSE_CONNECTED = "filaman_sse_connected"


class SyncRequester(Protocol):
    def request_sync(self, reason: str, delay: float = 0.0) -> None: ...


class FilamanChangeWatcher:
    """Consumes ``filaman.events()`` and calls ``runner.request_sync`` for changes."""

    def __init__(
        self,
        filaman: FilamanClient,
        runner: SyncRequester,
        event_names: Iterable[str] = DEFAULT_EVENT_NAMES,
        *,
        debounce: float = 0.3,
        restart_delay: float = 5.0,
        reconnect_backoff: float = 1.0,
    ) -> None:
        self._filaman = filaman
        self._runner = runner
        self._event_names = frozenset(event_names)
        self._debounce = debounce
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
                self._runner.request_sync(REASON_SSE_CONNECTED, delay=self._debounce)
            elif name in self._event_names:
                self._runner.request_sync(REASON_SSE, delay=self._debounce)
        except Exception:
            _LOGGER.exception("Cannot request a sync for FilaMan event %r", name)
