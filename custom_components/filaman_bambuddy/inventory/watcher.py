"""Notice every FilaMan change within seconds, whichever of FilaMan's workers made it.

FilaMan as its image runs it is nginx in front of four gunicorn workers (DEPLOYMENTS.md). Its
change stream is an in-process bus: a stream hears only the writes its own worker served, so one
stream misses most edits. The watcher uses what FilaMan offers, cheapest first:

1. **A pool of streams, opened together.** nginx hands each connection to whichever worker wins
   the accept race, and a worker busy with the connection it just took loses the next one: streams
   opened at the same moment spread over the workers (measured on the real server: four such
   streams together heard every edit). Every hint goes to the inventory coordinator:
   ``spools_changed`` to its targeted path, anything else to a full sync. Nothing is sent at idle
   (FilaMan sends no keep-alives), so the pool costs open connections only.
2. **A light poll of what every worker shares** (:meth:`FilamanClient.change_marks`: two
   one-item pages): the newest spool event and the counts of events and spools. Every second
   while FilaMan is being edited, every ``poll_idle`` seconds otherwise. A change no stream told
   of is both handled (the targeted path or a full sync) and evidence that a worker has no stream
   on it: the pool is opened anew (more streams if that keeps happening).
3. **The full sync on the interval**, the net under both.

When a stream ends (a worker restarted, FilaMan restarted) the pool is opened anew and a full sync
asked for, since that worker's edits in between were heard by nobody. A stream the server
silently stopped feeding (its 64-event queue ran over) shows up as (2)'s evidence. The pool is also
renewed every ``refresh_every`` seconds, the new streams opened before the old ones close.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import logging
from typing import Protocol

from ..api.errors import ApiError
from ..api.filaman import FilamanClient
from ..api.models_filaman import SSE_CONNECTED, ChangeMarks

_LOGGER = logging.getLogger(__name__)

REASON_SSE = "filaman_sse"
REASON_SSE_CONNECTED = "filaman_sse_connected"
REASON_POLL = "filaman_poll"
SPOOLS_CHANGED = "spools_changed"
SYNC_EVENTS = frozenset({"filaments_changed", "manufacturers_changed", "colors_changed"})

STREAMS = 6  # FilaMan's image runs 4 workers: room for one busy during the opening
MAX_STREAMS = 16
POLL_ACTIVE = 1.0
POLL_IDLE = 5.0
ACTIVE_FOR = 60.0  # s after the last change the poll stays fast
REFRESH_EVERY = 1800.0
HANDOVER = 5.0  # s new streams get to connect before the ones they replace close
REOPEN_AT_MOST_EVERY = 30.0  # s between pools opened because of a blind change
GROW_IF_BLIND_WITHIN = 300.0  # s: blind again this soon after a new pool means too few streams


class SyncRequester(Protocol):
    """Who runs the sync (it debounces bursts of requests)."""

    def async_request_sync(self, reason: str) -> None:
        """A full sync soon."""

    def async_spools_changed(self, *, events_only: bool = False) -> None:
        """Some spools changed: find and update just those (or fall back to a full sync);
        ``events_only``: FilaMan's spool events changed, so no full sync is needed for it."""


@dataclass(eq=False)
class _Pool:
    """One set of streams opened together."""

    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    connected: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    """One of its streams ended or could not be opened."""
    up: asyncio.Event = field(default_factory=asyncio.Event)
    """One of its streams is connected."""


class FilamanChangeWatcher:
    """Turns FilaMan changes into sync requests (see the module docstring)."""

    def __init__(
        self,
        filaman: FilamanClient,
        syncer: SyncRequester,
        *,
        streams: int = STREAMS,
        poll_active: float = POLL_ACTIVE,
        poll_idle: float = POLL_IDLE,
        refresh_every: float = REFRESH_EVERY,
        reconnect_backoff: float = 1.0,
        backoff_max: float = 60.0,
        reopen_at_most_every: float = REOPEN_AT_MOST_EVERY,
    ) -> None:
        self._filaman = filaman
        self._syncer = syncer
        self.stream_count = streams
        self._poll_active = poll_active
        self._poll_idle = poll_idle
        self._refresh_every = refresh_every
        self._backoff_initial = reconnect_backoff
        self._backoff_max = backoff_max
        self._reopen_at_most_every = reopen_at_most_every
        self._tasks: list[asyncio.Task[None]] = []
        self._reopen = asyncio.Event()
        self._reopen_reason = ""
        self._pools: list[_Pool] = []
        self._last_hint = -1e9
        self._last_change = -1e9
        self._opened_at = -1e9
        self._failing = False
        self.pools_opened = 0
        self.blind_changes = 0
        """Changes the poll found that no stream had told of (diagnostics, bench)."""

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        """Start the streams and the poll (idempotent)."""
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._keep_pool(), name="filaman_bambuddy FilaMan change streams"),
            loop.create_task(self._poll(), name="filaman_bambuddy FilaMan change poll"),
        ]

    async def stop(self) -> None:
        """Stop everything and close every stream."""
        tasks = self._tasks + [task for pool in self._pools for task in pool.tasks]
        self._tasks, self._pools = [], []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- 1. the streams ---------------------------------------------------------------------

    async def _keep_pool(self) -> None:
        """Open a pool; open the next one when a stream ends, when asked, or to refresh."""
        backoff = self._backoff_initial
        missed = True  # before the first pool nothing was heard: a full sync when it is up
        while True:
            pool = self._open_pool()
            # Retire the pools before this one once it is up (or given up on): a handover.
            await _first_of(pool.up, pool.ended, within=HANDOVER)
            for old in self._pools[:-1]:
                self._close(old)
            self._pools = [pool]
            if pool.connected:
                backoff = self._backoff_initial
                if missed:
                    self._request(REASON_SSE_CONNECTED)
                missed = False
            else:
                await asyncio.sleep(backoff)  # FilaMan is down: try again later
                backoff = min(backoff * 2, self._backoff_max)
                missed = True
                continue
            self._reopen.clear()
            await _first_of(pool.ended, self._reopen, within=self._refresh_every)
            if pool.ended.is_set():
                # A worker or FilaMan restarted: what it served meanwhile reached no stream.
                self._close(pool)
                self._pools = []
                missed = True
                _LOGGER.debug("A FilaMan change stream ended; opening the streams again")
            elif self._reopen.is_set():
                _LOGGER.debug("Opening FilaMan's change streams again: %s", self._reopen_reason)

    def _open_pool(self) -> _Pool:
        """``stream_count`` streams, opened at the same moment so the workers share them."""
        pool = _Pool()
        loop = asyncio.get_running_loop()
        pool.tasks = [
            loop.create_task(self._stream(pool), name="filaman_bambuddy FilaMan change stream")
            for _ in range(self.stream_count)
        ]
        self._pools.append(pool)
        self._opened_at = loop.time()
        self.pools_opened += 1
        return pool

    def _close(self, pool: _Pool) -> None:
        for task in pool.tasks:
            task.cancel()

    async def _stream(self, pool: _Pool) -> None:
        try:
            async with contextlib.aclosing(self._filaman.change_stream()) as events:
                async for event in events:
                    if event.event == SSE_CONNECTED:
                        pool.connected += 1
                        pool.up.set()
                        if self._failing:
                            _LOGGER.info("FilaMan's change stream is back")
                            self._failing = False
                    else:
                        self._hint(event.event)
        except ApiError as err:
            if pool.connected == 0 and not self._failing:
                _LOGGER.warning("FilaMan's change stream is unavailable (%s); retrying", err)
                self._failing = True
            else:
                _LOGGER.debug("A FilaMan change stream failed: %s", err)
        except Exception:
            # A bug here must not end change hints for good: the pool is opened again.
            _LOGGER.exception("A FilaMan change stream failed unexpectedly")
        pool.ended.set()

    def _hint(self, name: str) -> None:
        self._last_hint = self._last_change = asyncio.get_running_loop().time()
        if name == SPOOLS_CHANGED:
            self._request(None)
        elif name in SYNC_EVENTS:
            self._request(REASON_SSE)  # a filament, maker or colour touches all its spools

    def _request(self, full_sync_reason: str | None, *, events_only: bool = False) -> None:
        """A full sync for ``full_sync_reason``, else the targeted path (a bug there is logged,
        never the end of watching)."""
        try:
            if full_sync_reason is None:
                self._syncer.async_spools_changed(events_only=events_only)
            else:
                self._syncer.async_request_sync(full_sync_reason)
        except Exception:
            _LOGGER.exception("Cannot request a sync (%s)", full_sync_reason or SPOOLS_CHANGED)

    def request_reopen(self, reason: str) -> None:
        """Open the streams anew (a handover: the old ones close once the new are up)."""
        self._reopen_reason = reason
        self._reopen.set()

    # --- 2. the poll ------------------------------------------------------------------------

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        marks: ChangeMarks | None = None
        polled_at = loop.time()
        while True:
            idle = loop.time() - self._last_change > ACTIVE_FOR
            await asyncio.sleep(self._poll_idle if idle else self._poll_active)
            try:
                now_marks = await self._filaman.change_marks()
            except ApiError as err:
                _LOGGER.debug("FilaMan change poll failed: %s", err)
                continue
            except Exception:
                _LOGGER.exception("FilaMan change poll failed unexpectedly")
                continue
            previous, marks = marks, now_marks
            since, polled_at = polled_at, loop.time()
            if previous is None or now_marks == previous:
                continue
            self._last_change = polled_at
            # Handled whether or not a stream told of it: a hint for another edit in the same
            # second may have been handled before this change was made.
            if (now_marks.spools, now_marks.newest_spool) != (
                previous.spools,
                previous.newest_spool,
            ):
                self._request(REASON_POLL)  # a new, archived or deleted spool: a full sync
            if (now_marks.events, now_marks.newest_event) != (
                previous.events,
                previous.newest_event,
            ):
                self._request(None, events_only=True)  # what the newest events name
            if self._last_hint < since:
                self._blind_change()

    def _blind_change(self) -> None:
        """A change no stream told of: open streams that cover every worker."""
        self.blind_changes += 1
        loop = asyncio.get_running_loop()
        since_opened = loop.time() - self._opened_at
        if since_opened < self._reopen_at_most_every:
            return
        if since_opened < GROW_IF_BLIND_WITHIN and self.stream_count < MAX_STREAMS:
            self.stream_count += 2  # the last pool did not reach every worker either
        self.request_reopen("a change reached no stream")


async def _first_of(*events: asyncio.Event, within: float) -> None:
    """Wait until one of ``events`` is set, or ``within`` seconds passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
