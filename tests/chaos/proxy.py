"""A loopback proxy in front of FilaMan that can lose the answer to a write FilaMan applied.

FilaMan's simulator fails requests *before* handling them. The case that threatens "never
twice" is the opposite: the debit lands, then the connection breaks before the answer arrives.
``lose_next_answers`` makes the proxy forward a matching request, let FilaMan apply it, and then
reset the client's connection instead of answering. The SSE stream is passed through chunk by
chunk so the integration's change watcher keeps working through the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import aiohttp
from aiohttp import web

_FORWARDED = ("Authorization", "Content-Type", "Accept", "Cache-Control")


class AnswerLosingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.lose_path = re.compile(r"/spools/\d+/consumptions$")
        self.lose_next_answers = 0
        self.lost_answers = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[object]] = set()

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        # handler_cancellation: when the integration closes its SSE stream, ours to FilaMan closes.
        self._runner = web.AppRunner(
            app, shutdown_timeout=0.2, access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    @property
    def open_requests(self) -> int:
        """Requests (including SSE streams) the proxy is still serving."""
        return len(self._handlers)

    async def stop(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._proxy(request)
        finally:
            self._handlers.discard(task)

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
        try:
            upstream = await self._session.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            )
        except aiohttp.ClientError:
            # FilaMan is down: the client sees its connection drop, as it would.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)
        async with upstream:
            if upstream.content_type == "text/event-stream":
                return await self._stream(request, upstream)
            payload = await upstream.read()
            if (
                self.lose_next_answers > 0
                and request.method == "POST"
                and upstream.status < 300
                and self.lose_path.search(request.path)
            ):
                self.lose_next_answers -= 1
                self.lost_answers += 1
                if request.transport is not None:
                    request.transport.abort()  # applied upstream, answer lost
                return web.Response(status=502)
            return web.Response(
                status=upstream.status, body=payload, content_type=upstream.content_type
            )

    async def _stream(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=upstream.status, headers={"Content-Type": "text/event-stream"}
        )
        await response.prepare(request)
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        # Upstream ended (FilaMan dropped the stream): end ours too.
        if request.transport is not None:
            request.transport.close()
        return response
