"""A loopback HTTP server that answers every request with one scripted, possibly broken, reply."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """What the server sends: a status and raw bytes, or a reset, or an answer that is too late."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    reset: bool = False
    delay: float = 0.0
    charset: str | None = None
    chunked: bool = False  # no Content-Length: the body's size is known only once read


class RawServer:
    def __init__(self) -> None:
        self.reply = Reply()
        self.requests: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[object]] = set()
        self.url = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        # Late answers the client gave up on must not outlive the test.
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._reply(request)
        finally:
            self._handlers.discard(task)

    async def _reply(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        await request.read()
        reply = self.reply
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.reset:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if reply.chunked:
            response = web.StreamResponse(status=reply.status)
            response.content_type = reply.content_type
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(reply.body), 65536):
                await response.write(reply.body[start : start + 65536])
            await response.write_eof()
            return response
        return web.Response(
            status=reply.status,
            body=reply.body,
            content_type=reply.content_type,
            charset=reply.charset,
        )
