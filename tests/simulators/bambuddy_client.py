"""A test client of the Bambuddy simulator: REST helpers and a recording WebSocket."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

API = "/api/v1"
USAGE_DELAY = 0.05

# Sockets opened by a test; closed before its session so no response is left unclosed.
_OPEN_SOCKETS: list[aiohttp.ClientWebSocketResponse] = []


async def close_sockets() -> None:
    while _OPEN_SOCKETS:
        await _OPEN_SOCKETS.pop().close()


class Ws:
    """A WebSocket client that records every frame."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.frames: list[dict[str, Any]] = []

    async def next(self, wait: float = 2.0) -> dict[str, Any]:
        message = await self.socket.receive(timeout=wait)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        self.frames.append(frame)
        return frame

    async def next_of(self, kind: str, wait: float = 2.0) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while True:
            frame = await self.next(max(0.01, deadline - time.monotonic()))
            if frame["type"] == kind:
                return frame

    async def quiet(self, seconds: float = 0.1) -> list[dict[str, Any]]:
        """Frames that arrive within `seconds`."""
        received: list[dict[str, Any]] = []
        try:
            while True:
                received.append(await self.next(seconds))
        except TimeoutError:
            return received

    async def send(self, payload: Any) -> None:
        await self.socket.send_str(payload if isinstance(payload, str) else json.dumps(payload))


async def open_ws(http: aiohttp.ClientSession, *, token: str | None = None) -> Ws:
    if token is None:
        async with http.post(f"{API}/auth/ws-token") as response:
            token = (await response.json())["token"]
    socket = await http.ws_connect(f"{API}/ws?token={token}")
    _OPEN_SOCKETS.append(socket)
    return Ws(socket)


async def get_json(http: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with http.get(path, allow_redirects=False) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def send_json(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    async with http.request(method, path, json=body) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def create_spool(http: aiohttp.ClientSession, **fields: Any) -> dict[str, Any]:
    body = {"material": "PLA"} | fields
    result: dict[str, Any] = await send_json(http, "POST", f"{API}/inventory/spools", body)
    return result
