"""Schedules inventory sync runs: one at a time, triggers coalesced, none dropped.

Coalescing: requests that arrive while a run is in progress are merged into
exactly one follow-up run, which starts after the current one ends. Every
``sync()`` caller gets the result of a run that started after its request, so a
"Sync now" click is never silently answered by a run that began before it.

Echo of our own writes: Bambuddy broadcasts ``inventory_changed`` (without ids)
for every REST write, including ours. Each write we send adds one "echo credit";
:meth:`InventorySyncRunner.bambuddy_inventory_changed` spends a credit instead of
scheduling a run while a run is in progress or within ``echo_window`` seconds
after it. A foreign change that lands inside that window may be swallowed; the
next trigger or periodic sync picks it up. Even without this, the loop is
bounded: the follow-up of a writing run finds nothing to change, writes nothing
and so causes no further echo.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import contextlib
import logging

from ..api.bambuddy import BambuddyClient
from ..api.filaman import FilamanClient
from ..api.models_filaman import FilamanSpool
from .result import SyncResult
from .sync_run import SyncRun

__all__ = ["InventorySyncRunner", "SyncListener", "SyncResult"]

_LOGGER = logging.getLogger(__name__)

DEFAULT_DEBOUNCE = 0.3
DEFAULT_DEBOUNCE_MAX_WAIT = 1.0
DEFAULT_ECHO_WINDOW = 3.0
REASON_BAMBUDDY_CHANGED = "bambuddy_inventory_changed"

SyncListener = Callable[[SyncResult], None]


class InventorySyncRunner:
    """FilaMan → Bambuddy inventory sync for one Bambuddy server and FilaMan server."""

    def __init__(
        self,
        bambuddy: BambuddyClient,
        filaman: FilamanClient,
        *,
        filaman_printer_id: int | None = None,
        write_concurrency: int = 4,
        debounce_max_wait: float = DEFAULT_DEBOUNCE_MAX_WAIT,
        echo_window: float = DEFAULT_ECHO_WINDOW,
    ) -> None:
        self._sync_run = SyncRun(
            bambuddy,
            filaman,
            filaman_printer_id=filaman_printer_id,
            write_concurrency=write_concurrency,
            before_write=self._count_own_write,
        )
        self._debounce_max_wait = debounce_max_wait
        self._echo_window = echo_window
        self._waiters: list[asyncio.Future[SyncResult]] = []
        self._in_flight: list[asyncio.Future[SyncResult]] = []
        self._reasons: list[str] = []
        self._requested = False
        self._full_requested = False
        self._mass_delete_allowed = False
        self._worker: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_first: float | None = None
        self._timer_reasons: list[str] = []
        self._listeners: list[SyncListener] = []
        self._last_result: SyncResult | None = None
        self._last_success: SyncResult | None = None
        self._consecutive_failures = 0
        self._linked_count: int | None = None
        self._running = False
        self._closed = False
        self._echo_credits = 0
        self._echo_until = 0.0
        self._run_count = 0

    # --- state --------------------------------------------------------------------------

    @property
    def last_result(self) -> SyncResult | None:
        return self._last_result

    @property
    def last_success(self) -> SyncResult | None:
        """The last run that read both sides and had no failed write."""
        return self._last_success

    @property
    def consecutive_failures(self) -> int:
        """Runs in a row that were not complete (error or failed writes); 0 after a success."""
        return self._consecutive_failures

    @property
    def filaman_spools(self) -> Mapping[int, FilamanSpool]:
        """Non-archived FilaMan spools of the last complete listing, by id (empty before)."""
        return self._sync_run.filaman_spools

    @property
    def running(self) -> bool:
        return self._running

    @property
    def linked_count(self) -> int | None:
        """Linked Bambuddy spools after the last run that could tell (``None`` before)."""
        return self._linked_count

    @property
    def run_count(self) -> int:
        """Runs started so far (useful to tell whether a trigger caused a run)."""
        return self._run_count

    def add_listener(self, listener: SyncListener) -> Callable[[], None]:
        """Call ``listener(result)`` after every run; returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    # --- triggers -----------------------------------------------------------------------

    async def sync(self, *, reason: str, allow_mass_delete: bool = False) -> SyncResult:
        """Run a sync (or join the next one) and return the result of a run that
        started after this call. Cancelling the caller does not cancel the run.

        ``allow_mass_delete``: the user confirmed that the twins the mass-deletion
        guard withheld (``SyncResult.withheld_deletes``) may go; it applies to the
        run this call joins.
        """
        return await self._enqueue(reason, full=False, allow_mass_delete=allow_mass_delete)

    async def full_resync(self) -> SyncResult:
        """Delete every Bambuddy spool, then create all FilaMan spools anew.

        Slot assignments and Bambuddy usage history are lost. Nothing is deleted
        when FilaMan cannot be read completely first.
        """
        return await self._enqueue("full_resync", full=True)

    def request_sync(self, reason: str, delay: float = 0.0) -> None:
        """Fire-and-forget trigger. With ``delay`` > 0 bursts are debounced: the run
        starts ``delay`` after the last request, but at most ``debounce_max_wait``
        (or ``delay`` if longer) after the first one."""
        if self._closed:
            return
        if delay <= 0:
            self._mark_requested(reason)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._timer_first is None:
            self._timer_first = now
        if reason not in self._timer_reasons:
            self._timer_reasons.append(reason)
        due = min(now + delay, self._timer_first + max(delay, self._debounce_max_wait))
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._debounce_elapsed)

    def bambuddy_inventory_changed(self, delay: float = DEFAULT_DEBOUNCE) -> None:
        """Bambuddy's ``inventory_changed`` arrived: resync unless it is our own echo."""
        if self._closed:
            return
        now = asyncio.get_running_loop().time()
        if self._echo_credits > 0 and (self._running or now <= self._echo_until):
            self._echo_credits -= 1
            return
        self._echo_credits = 0
        self.request_sync(REASON_BAMBUDDY_CHANGED, delay)

    # --- scheduling ---------------------------------------------------------------------

    def _debounce_elapsed(self) -> None:
        self._timer = None
        self._timer_first = None
        reasons, self._timer_reasons = self._timer_reasons, []
        self._mark_requested(", ".join(reasons) or "debounced")

    def _absorb_debounced(self) -> None:
        """A run about to start covers a debounced request that has not fired yet."""
        if self._timer is None:
            return
        self._timer.cancel()
        self._timer = None
        self._timer_first = None
        reasons, self._timer_reasons = self._timer_reasons, []
        self._reasons.extend(reasons)

    def _mark_requested(self, reason: str) -> None:
        if self._closed:
            return
        self._requested = True
        self._reasons.append(reason)
        self._ensure_worker()

    async def _enqueue(
        self, reason: str, *, full: bool, allow_mass_delete: bool = False
    ) -> SyncResult:
        if self._closed:
            raise RuntimeError("the inventory sync runner is closed")
        waiter: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._reasons.append(reason)
        self._full_requested |= full
        self._mass_delete_allowed |= allow_mass_delete
        self._ensure_worker()
        return await asyncio.shield(waiter)

    def _ensure_worker(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name="filaman_bambuddy inventory sync"
            )

    async def _work(self) -> None:
        try:
            while self._waiters or self._requested:
                # Everything requested so far is served by this run, including a
                # debounced request still waiting; later requests collect into exactly
                # one follow-up run.
                self._absorb_debounced()
                self._in_flight, self._waiters = self._waiters, []
                reasons, self._reasons = self._reasons, []
                full, self._full_requested = self._full_requested, False
                allow_mass_delete, self._mass_delete_allowed = self._mass_delete_allowed, False
                self._requested = False
                result = await self._run(", ".join(dict.fromkeys(reasons)), full, allow_mass_delete)
                served, self._in_flight = self._in_flight, []
                for waiter in served:
                    if not waiter.done():
                        waiter.set_result(result)
                self._notify(result)
        finally:
            self._worker = None

    async def _run(self, reason: str, full: bool, allow_mass_delete: bool) -> SyncResult:
        loop = asyncio.get_running_loop()
        if loop.time() > self._echo_until:
            self._echo_credits = 0
        self._running = True
        self._run_count += 1
        try:
            result = await self._sync_run.run(
                reason=reason, full=full, allow_mass_delete=allow_mass_delete
            )
        finally:
            self._running = False
            self._echo_until = loop.time() + self._echo_window
        self._last_result = result
        if result.complete:
            self._last_success = result
            self._consecutive_failures = 0
        else:
            self._consecutive_failures += 1
        if result.linked is not None:
            self._linked_count = result.linked
        return result

    def _count_own_write(self) -> None:
        self._echo_credits += 1

    def _notify(self, result: SyncResult) -> None:
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:
                _LOGGER.exception("Inventory sync listener failed")

    # --- shutdown -----------------------------------------------------------------------

    async def close(self) -> None:
        """Cancel the debounce timer and any run; pending ``sync()`` callers are cancelled."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        worker = self._worker
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for waiter in (*self._in_flight, *self._waiters):
            waiter.cancel()
        self._in_flight.clear()
        self._waiters.clear()
        self._listeners.clear()
