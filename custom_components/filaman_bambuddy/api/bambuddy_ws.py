"""Bambuddy's live WebSocket (API.md §9).

The server sends no application pings, so this client sends ``{"type": "ping"}``
every ``ping_interval`` seconds while it is being iterated and treats a missing
``pong`` within ``pong_timeout`` as a dead link. Frames that are not JSON objects
are skipped. The token travels in the URL query: URLs are never logged and never
put into exception text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import json
import logging
from types import TracebackType
from typing import Any, Self

import aiohttp
from yarl import URL

from ._http import api_url, connection_error
from .errors import (
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
    WebSocketUnauthorizedError,
)
from .events import WsEvent, parse_ws_event

_LOGGER = logging.getLogger(__name__)

WS_PATH = "/ws"
_CLOSED_TYPES = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
# Bambuddy's "unauthorised" close code (1.2.6: the key's printer scope changed).
CLOSE_UNAUTHORIZED = 4401


class BambuddyWebSocket:
    """One WebSocket session; ``async with`` opens it, ``async for`` yields events.

    The iterator raises :class:`ApiConnectionError` when the link dies (server
    close, error, missing pong) and ends when :meth:`close` was called.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: URL,
        token: str | None,
        *,
        ping_interval: float = 30.0,
        pong_timeout: float = 10.0,
        connect_timeout: float = 15.0,
    ) -> None:
        self._session = session
        self._url = api_url(base_url, WS_PATH).with_scheme(
            "wss" if base_url.scheme == "https" else "ws"
        )
        self._token = token
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout
        self._connect_timeout = connect_timeout
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closing = False
        self._next_ping = 0.0
        self._pong_deadline: float | None = None

    def __repr__(self) -> str:
        return f"BambuddyWebSocket({str(self._url.with_query(None))!r})"

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def connect(self) -> None:
        """Open the socket. 403 handshake → :class:`AuthenticationError`."""
        what = "Bambuddy WebSocket"
        url = self._url.with_query({"token": self._token} if self._token else None)
        try:
            # Only the handshake is bounded; the open socket is watched by ping/pong.
            async with asyncio.timeout(self._connect_timeout):
                self._ws = await self._session.ws_connect(
                    url,
                    timeout=aiohttp.ClientWSTimeout(
                        ws_receive=None, ws_close=self._connect_timeout
                    ),
                    autoping=True,
                    heartbeat=None,
                    max_msg_size=16 * 1024 * 1024,
                )
        except aiohttp.WSServerHandshakeError as err:
            if err.status in (401, 403):
                raise AuthenticationError(
                    f"{what}: handshake rejected (HTTP {err.status}); token invalid or expired",
                    status=err.status,
                ) from None
            raise ApiConnectionError(
                f"{what}: handshake failed (HTTP {err.status})", status=err.status
            ) from None
        except (aiohttp.ClientError, TimeoutError) as err:
            raise connection_error(err, what) from None
        self._closing = False
        loop_time = _loop_time()
        self._next_ping = loop_time + self._ping_interval
        self._pong_deadline = None
        _LOGGER.debug("Connected to %s", self._url.with_query(None))

    async def close(self) -> None:
        """Close the socket; a running iteration ends without an error."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON object (the server drops the link on anything else)."""
        ws = self._require_open()
        try:
            await ws.send_str(json.dumps(message))
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as err:
            raise ApiConnectionError(
                f"Bambuddy WebSocket: send failed ({type(err).__name__})"
            ) from None

    async def ping(self) -> None:
        """Send an application ping; a pong must follow within ``pong_timeout``."""
        await self.send({"type": "ping"})
        now = _loop_time()
        if self._pong_deadline is None:
            self._pong_deadline = now + self._pong_timeout
        self._next_ping = now + self._ping_interval

    async def request_status(self, printer_id: int) -> None:
        """Ask for one ``printer_status`` (the server answers nothing for unknown ids)."""
        await self.send({"type": "get_status", "printer_id": printer_id})

    def _require_open(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None or self._ws.closed:
            raise ApiConnectionError("Bambuddy WebSocket: not connected")
        return self._ws

    def __aiter__(self) -> AsyncIterator[WsEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[WsEvent]:
        while True:
            event = await self.next_event()
            if event is None:
                return
            yield event

    async def next_event(self) -> WsEvent | None:
        """The next event; ``None`` after :meth:`close`. Raises on a dead link."""
        while True:
            if self._closing:
                return None
            ws = self._require_open()
            now = _loop_time()
            if self._pong_deadline is not None and now >= self._pong_deadline:
                raise ApiTimeoutError("Bambuddy WebSocket: no pong received; link is dead")
            if now >= self._next_ping:
                await self.ping()
                continue
            wake_at = self._next_ping
            if self._pong_deadline is not None:
                wake_at = min(wake_at, self._pong_deadline)
            try:
                message = await ws.receive(timeout=max(wake_at - now, 0.0))
            except TimeoutError:
                continue
            event = self._handle(message)
            if event is not None:
                return event

    def _handle(self, message: aiohttp.WSMessage) -> WsEvent | None:
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return self._decode(message.data)
        if message.type in _CLOSED_TYPES:
            if self._closing:
                return None
            code = message.data if message.type is aiohttp.WSMsgType.CLOSE else None
            if code == CLOSE_UNAUTHORIZED:
                raise WebSocketUnauthorizedError(
                    "Bambuddy WebSocket: closed as unauthorised (4401)"
                )
            raise ApiConnectionError("Bambuddy WebSocket: closed by the server")
        if message.type is aiohttp.WSMsgType.ERROR:
            raise ApiConnectionError(
                f"Bambuddy WebSocket: connection error ({type(message.data).__name__})"
            )
        return None  # PING/PONG frames are answered by aiohttp itself

    def _decode(self, payload: str | bytes) -> WsEvent | None:
        try:
            frame = json.loads(payload)
        except ValueError, RecursionError:  # ValueError includes UnicodeDecodeError
            _LOGGER.debug("Skipping a WebSocket frame that is not JSON")
            return None
        if not isinstance(frame, dict):
            _LOGGER.debug("Skipping a WebSocket frame that is not a JSON object")
            return None
        event = parse_ws_event(frame)
        if event.type == "pong":
            self._pong_deadline = None
        return event


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
