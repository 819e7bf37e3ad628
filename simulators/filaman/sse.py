"""The in-process event bus behind GET /api/v1/events/stream (API.md §8).

Like the server: one bounded queue per client; when a publish finds a client's queue
full the client is dropped from the bus without closing its HTTP stream, which then
stays open and silent forever. No keep-alive comments are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import json
from typing import Any

from aiohttp import web

QUEUE_SIZE = 64


@dataclass(eq=False)
class _Client:
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class EventBus:
    def __init__(self) -> None:
        self._subscribed: set[_Client] = set()
        self._streams: set[_Client] = set()  # every open stream, subscribed or not
        self.published: list[dict[str, Any]] = []  # history, for test assertions

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribed)

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    def publish(self, event: dict[str, Any]) -> None:
        self.published.append(event)
        for client in list(self._subscribed):
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._subscribed.discard(client)  # silent: the stream stays open

    def unsubscribe_all(self) -> None:
        """Forget every subscriber but leave its stream open: silent from now on."""
        self._subscribed.clear()

    def drop_all(self) -> None:
        """End every open stream (the client sees the connection close)."""
        for client in list(self._streams):
            client.closed.set()
        self._subscribed.clear()

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        response.enable_chunked_encoding()
        client = _Client()
        self._subscribed.add(client)
        self._streams.add(client)
        try:
            await response.prepare(request)
            await response.write(b": connected\n\n")
            while not client.closed.is_set():
                event = await self._next(client)
                if event is None:
                    break
                # json.dumps default separators give the captured `{"event": "..."}` spacing.
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
        except asyncio.CancelledError:
            self._forget(client)
            raise
        except ConnectionResetError:
            # The client went away between two events: the stream simply ends, as on the
            # real server (no "Error handling request" in the log).
            self._forget(client)
            return response
        self._forget(client)
        response.force_close()
        return response

    async def _next(self, client: _Client) -> dict[str, Any] | None:
        if not client.queue.empty():
            return client.queue.get_nowait()
        getter = asyncio.ensure_future(client.queue.get())
        closer = asyncio.ensure_future(client.closed.wait())
        try:
            done, _ = await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (getter, closer):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if getter in done:
            return getter.result()
        return None

    def _forget(self, client: _Client) -> None:
        self._subscribed.discard(client)
        self._streams.discard(client)
