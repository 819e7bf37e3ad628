"""The background task of one processor: one run at a time, on request or when a retry is due.

Wakes (a WebSocket event, a reconnect, a timer) only *request* a run; a request
during a run gets exactly one follow-up run, so a burst of events costs one more
run, not one each. A failed run is retried with capped exponential backoff
(``retry_base`` doubling up to ``retry_cap``). A run that crashes on a bug is
backed off as well: a bug must not end exactly-once processing for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
import time

_LOGGER = logging.getLogger(__name__)

CLOSE_GRACE = 2.0  # s close() lets a running debit finish (and report) before cancelling


class Worker:
    """Runs ``run`` in one task whenever asked, and again when a scheduled retry is due."""

    def __init__(
        self,
        run: Callable[[], Awaitable[None]],
        *,
        printer_id: int,
        retry_base: float,
        retry_cap: float,
    ) -> None:
        self._run = run
        self._printer_id = printer_id
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._retry_at: float | None = None
        self._trigger = asyncio.Event()
        self._idle = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"filaman_bambuddy consumption {self._printer_id}"
        )

    def request(self, reason: str) -> None:
        """Ask for a run soon (ignored once closing)."""
        if self._closing.is_set():
            return
        _LOGGER.debug("Printer %s: consumption run requested (%s)", self._printer_id, reason)
        self._idle.clear()
        self._trigger.set()

    async def wait_idle(self) -> None:
        """Wait until no run is in progress or requested (scheduled retries may remain)."""
        while self._task is not None and not self._task.done():
            await self._idle.wait()
            if not self._trigger.is_set():
                return

    async def close(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Stop the task (no task or timer stays behind), then ``flush``, then release waiters.

        A run in progress gets ``CLOSE_GRACE`` seconds to finish; cancelling it is
        safe anyway (an unanswered POST stays in_flight and is reconciled later).
        """
        self._closing.set()
        self._trigger.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(CLOSE_GRACE):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await flush()
        self._idle.set()

    # --- called by a run, about the next one ---------------------------------------------

    def back_off(self) -> None:
        """The run failed: retry after the next backoff step."""
        self.failures += 1
        delay = min(self._retry_cap, self._retry_base * 2 ** min(self.failures - 1, 30))
        self._retry_at = time.monotonic() + delay

    def succeeded(self) -> None:
        self.failures = 0

    def retry_in(self, seconds: float) -> None:
        """Run again after ``seconds`` at the latest (an earlier retry stays)."""
        retry_at = time.monotonic() + seconds
        self._retry_at = min(self._retry_at or retry_at, retry_at)

    # --- the task ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._closing.is_set():
            if not self._trigger.is_set():
                self._idle.set()
                delay = None
                if self._retry_at is not None:
                    delay = max(self._retry_at - time.monotonic(), 0.0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._trigger.wait()
            if self._closing.is_set():
                return
            self._idle.clear()
            self._trigger.clear()
            self._retry_at = None  # the run schedules its own retry, if it needs one
            try:
                await self._run()
            except Exception:
                _LOGGER.exception("Printer %s: consumption run failed", self._printer_id)
                self.back_off()
