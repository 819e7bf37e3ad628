"""A loopback reverse proxy that answers chosen requests late, after the server applied them.

It forwards the request to the upstream simulator at once (so the write is applied)
and holds the response for ``delay`` seconds, longer than the client's timeout:
the client sees a timeout for a write that did happen.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
from aiohttp import web

_FORWARDED = ("Authorization", "Content-Type", "Accept")


class LateAnswerProxy:
    def __init__(self, upstream: str, session: aiohttp.ClientSession) -> None:
        self.upstream = upstream.rstrip("/")
        self.session = session
        self.late_path: re.Pattern[str] | None = None
        self.late_method = "POST"
        self.delay = 1.0
        self.late_answers = 0
        self._holding = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        # Let held answers finish, so no request handler outlives the test.
        while self._holding:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            payload = await upstream.read()
            status = upstream.status
            content_type = upstream.content_type
        late = (
            self.late_path is not None
            and request.method == self.late_method
            and self.late_path.search(request.path) is not None
        )
        if late:
            self.late_answers += 1
            self._holding += 1
            try:
                await asyncio.sleep(self.delay)
            finally:
                self._holding -= 1
        return web.Response(status=status, body=payload, content_type=content_type)
