"""FilaMan as its Docker image runs it: nginx in front of gunicorn with four workers.

(``reference/DEPLOYMENTS.md``; FilaMan's ``Dockerfile`` CMD ``gunicorn -w 4 -k
uvicorn.workers.UvicornWorker``.) What that means for a client, and what this module reproduces:

* **Every request lands on some worker.** nginx talks HTTP/1.0 upstream, so each proxied request is
  a new connection, and the workers race to ``accept()`` it. The race is lopsided: a worker that is
  free and early in the kernel's wake-up order takes most connections (measured: one worker served
  9 of 20 edits in one run, 1 of 20 in another), while one that is still busy with a connection it
  just took loses the race. So connections opened at the same moment spread over the workers, and
  connections opened one after another mostly go to the same few. :class:`Workers` models this:
  each worker stays busy ``service_time`` after taking a connection; a connection goes to a free
  worker chosen by fixed, unequal preference weights, or, with none free, to the one free soonest.
* **The change stream is per worker.** ``/events/stream`` is an in-process bus
  (``app/core/event_bus.py``): a subscriber hears only writes its own worker served.
* **The database is shared.** Reads after a write see it, whichever worker serves them; spool
  events (``/spools/all-events``) are the same from every worker.
* A worker can be restarted by gunicorn (its streams end, its bus starts empty).
* One worker is the *primary* (it runs the printer drivers); on newer FilaMan releases the others
  proxy driver endpoints to it and may answer 503 ``primary_proxy_failed``.

With ``count=1`` it is the single process a ``uvicorn app.main:app`` run is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from contextvars import ContextVar
import random
from typing import Any

from aiohttp import web

from .sse import EventBus

DEFAULT_WORKERS = 4
# The worker that won the startup lock: it runs the printer drivers (the others do not).
PRIMARY_WORKER = 0
# How strongly the kernel's wake-up order favours each worker when several are free.
DEFAULT_PREFERENCE = (0.45, 0.30, 0.17, 0.08)
# How long a worker is busy with a connection before it can win the next accept (a request's
# parsing, FastAPI's dependencies and a database session on a small machine).
SERVICE_TIME = 0.02

# The worker serving the request in progress (set by the simulator's middleware).
_serving: ContextVar[int | None] = ContextVar("filaman_serving_worker", default=None)


class Workers:
    """gunicorn's workers behind nginx, each with its own event bus."""

    def __init__(
        self,
        count: int = DEFAULT_WORKERS,
        *,
        preference: tuple[float, ...] | None = None,
        service_time: float = SERVICE_TIME,
        seed: int = 20261207,
    ) -> None:
        if count < 1:
            raise ValueError("FilaMan runs at least one worker")
        weights = preference or DEFAULT_PREFERENCE
        self.count = count
        self.preference = tuple((weights * count)[:count])
        self.service_time = service_time
        self.buses = [EventBus() for _ in range(count)]
        self.served = [0] * count
        """Connections each worker took (for tests and the bench)."""
        self._busy_until = [0.0] * count
        self._random = random.Random(seed)
        self.published: list[dict[str, Any]] = []
        """Every event any worker published, for test assertions."""

    # --- which worker takes a connection ----------------------------------------------------

    def accept(self) -> int:
        """The worker that wins the race for a new connection now."""
        now = asyncio.get_running_loop().time()
        free = [w for w in range(self.count) if self._busy_until[w] <= now]
        if free:
            (worker,) = self._random.choices(free, [self.preference[w] for w in free])
        else:
            worker = min(range(self.count), key=lambda w: self._busy_until[w])
        self._busy_until[worker] = max(self._busy_until[worker], now) + self.service_time
        self.served[worker] += 1
        return worker

    @contextlib.contextmanager
    def serving(self, worker: int | None = None) -> Iterator[int]:
        """Handle one request on ``worker`` (default: the one that wins the accept)."""
        chosen = self.accept() if worker is None else worker
        token = _serving.set(chosen)
        try:
            yield chosen
        finally:
            _serving.reset(token)

    # --- the per-worker buses ---------------------------------------------------------------

    def current(self) -> int:
        """The worker serving the request in progress, else the one a new request would get."""
        worker = _serving.get()
        return self.accept() if worker is None else worker

    def publish(self, event: dict[str, Any]) -> None:
        """A write published its event: only its own worker's subscribers hear it."""
        self.published.append(event)
        self.buses[self.current()].publish(event)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """``/events/stream`` on the worker serving this request."""
        return await self.buses[self.current()].stream(request)

    def restart(self, worker: int) -> None:
        """gunicorn replaces a worker: its streams end, its new bus has no subscribers."""
        self.buses[worker].drop_all()
        self._busy_until[worker] = 0.0

    def silence(self, worker: int) -> None:
        """The worker drops its subscribers without ending their streams, as a full queue does
        (API.md §8): the streams stay open and hear nothing more."""
        self.buses[worker].unsubscribe_all()

    def drop_all(self) -> None:
        for bus in self.buses:
            bus.drop_all()

    @property
    def subscriber_count(self) -> int:
        return sum(bus.subscriber_count for bus in self.buses)

    @property
    def stream_count(self) -> int:
        return sum(bus.stream_count for bus in self.buses)

    def streams_per_worker(self) -> list[int]:
        """Open streams on each worker that still hear their worker (subscribed)."""
        return [bus.subscriber_count for bus in self.buses]
