"""One self-healing Bambuddy WebSocket per server, shared by all its printers' entries.

:meth:`BambuddyLiveSession.run` mints a ws-token, connects, hands every event to
the listeners and reconnects with capped exponential backoff (seed §12, API.md §9).
It returns only after :meth:`~BambuddyLiveSession.close` and raises
:class:`AuthenticationError` when the key is rejected, so the caller can start a
reauth. Logs name the host only: never the key, the token or the WebSocket URL.
Home Assistant-free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from datetime import UTC, datetime
import logging
import time
from typing import Any

from .bambuddy import BambuddyClient
from .bambuddy_ws import BambuddyWebSocket
from .errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    NotFoundError,
    WebSocketUnauthorizedError,
)
from .events import WsEvent

_LOGGER = logging.getLogger(__name__)

# Return values are ignored.
EventListener = Callable[[WsEvent], object]
ConnectionListener = Callable[[bool], None]

TOKEN_LIFETIME = 55 * 60  # Bambuddy's tokens live 60 min; re-mint with a margin.
SOCKET_CLOSE_TIMEOUT = 2.0  # a dead link never answers our close frame


def reconnect_delay(attempt: int, cap: float) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based): 1, 2, 4 … ≤ cap."""
    return float(min(2 ** min(attempt, 30), cap))


class BambuddyLiveSession:
    """The live event stream of one Bambuddy server.

    ``clock`` (monotonic seconds) times the token age and the connection
    stability; tests inject it.
    """

    def __init__(
        self,
        client: BambuddyClient,
        *,
        reconnect_interval: float = 30.0,
        token_lifetime: float = TOKEN_LIFETIME,
        stable_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._reconnect_interval = reconnect_interval
        self._token_lifetime = token_lifetime
        self._stable_after = stable_after
        self._clock = clock
        self._host = _host_label(client)
        self._listeners: list[EventListener] = []
        self._connection_listeners: list[ConnectionListener] = []
        self._ws: BambuddyWebSocket | None = None
        self._run_task: asyncio.Task[Any] | None = None
        self._closed = False
        # Token cache: reused until ``token_lifetime`` old (tokens are reusable).
        self._token: str | None = None
        self._token_minted_at: float | None = None
        self._attempt = 0
        self._retry_delay: float | None = None
        self._outage_logged = False
        self._ever_connected = False
        self.connected = False
        self.last_connected_at: datetime | None = None
        self.last_error: str | None = None
        self.reconnect_count = 0

    def __repr__(self) -> str:
        return f"BambuddyLiveSession({self._host!r}, connected={self.connected})"

    # --- listeners ----------------------------------------------------------------------

    def add_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event, in arrival order; returns remove."""
        return _register(self._listeners, listener)

    def add_connection_listener(self, listener: ConnectionListener) -> Callable[[], None]:
        """Call ``listener(connected)`` on every connect and disconnect; returns remove."""
        return _register(self._connection_listeners, listener)

    # --- loop ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._run_task is not None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`; run() then returns at once."""
        return self._closed

    def _stopping(self) -> bool:
        # A call, not an attribute: close() flips the flag while run() awaits.
        return self._closed

    async def run(self) -> None:
        """Keep the WebSocket up until :meth:`close`; may be called again after it returned.

        Raises :class:`AuthenticationError` when the key is rejected while minting a
        token, or a freshly minted token is rejected at the handshake.
        """
        if self._closed:
            return
        if self._run_task is not None:
            raise RuntimeError("BambuddyLiveSession.run() is already running")
        task = asyncio.current_task()
        self._run_task = task
        try:
            await self._loop()
        except asyncio.CancelledError:
            # close() cancels a run stuck in a mint or handshake: that is a normal stop.
            if self._stopping() and task is not None and task.uncancel() == 0:
                return
            raise
        finally:
            self._run_task = None
            self._set_connected(False)

    async def _loop(self) -> None:
        while not self._stopping():
            try:
                await self._connect_and_listen()
            except AuthenticationError as err:
                self.last_error = str(err)
                _LOGGER.warning("Bambuddy at %s rejected the API key: %s", self._host, err)
                raise
            except WebSocketUnauthorizedError as err:
                # The key's printer scope changed (Bambuddy 1.2.6): its token is stale, the
                # key is not. A fresh token, and the scope is worked out anew at connect.
                _LOGGER.info("Bambuddy at %s closed the WebSocket (4401); reconnecting", self._host)
                self.last_error = str(err)
                self._forget_token()
            except ApiError as err:
                self._connection_failed(err)
            if self._stopping():
                return
            self._retry_delay = reconnect_delay(self._attempt, self._reconnect_interval)
            self._attempt += 1
            _LOGGER.debug("Reconnecting to Bambuddy at %s in %.2f s", self._host, self._retry_delay)
            await asyncio.sleep(self._retry_delay)

    async def _connect_and_listen(self) -> None:
        ws = await self._open_socket()
        self._ws = ws
        connected_since = self._clock()
        self._on_connected()
        try:
            async for event in ws:
                self._dispatch(event)
            if not self._stopping():
                # The iterator only ends after close(); anything else is a lost link.
                raise ApiConnectionError("Bambuddy WebSocket: stream ended")
        finally:
            self._ws = None
            if self._clock() - connected_since >= self._stable_after:
                self._attempt = 0
            self._set_connected(False)
            await _close_socket(ws)

    async def _open_socket(self) -> BambuddyWebSocket:
        cached = self._cached_token()
        token = cached if cached is not None else await self._mint_token()
        try:
            return await self._connect(token)
        except AuthenticationError:
            if cached is None:
                raise
            # Tokens can expire early (server-side, clock skew): one fresh try.
            _LOGGER.debug("Bambuddy at %s rejected the cached ws-token; minting anew", self._host)
            self._forget_token()
            return await self._connect(await self._mint_token())

    async def _connect(self, token: str | None) -> BambuddyWebSocket:
        ws = self._client.connect_websocket(token)
        await ws.connect()
        return ws

    def _cached_token(self) -> str | None:
        """The cached token while it is young enough, else None (the cache is dropped)."""
        minted_at = self._token_minted_at
        if minted_at is None or self._clock() - minted_at >= self._token_lifetime:
            self._forget_token()
            return None
        return self._token

    async def _mint_token(self) -> str | None:
        try:
            token = await self._client.ws_token()
        except NotFoundError:
            # A server without /auth/ws-token: connect without one.
            token = None
        # Only a real token is cached; None means "ask again next attempt".
        if token is not None:
            self._token = token
            self._token_minted_at = self._clock()
        return token

    def _forget_token(self) -> None:
        self._token = None
        self._token_minted_at = None

    # --- state changes ------------------------------------------------------------------

    def _on_connected(self) -> None:
        if self._ever_connected:
            self.reconnect_count += 1
        self._ever_connected = True
        self.last_connected_at = datetime.now(UTC)
        self._retry_delay = None
        if self._outage_logged:
            _LOGGER.info("Connection to Bambuddy at %s is back", self._host)
            self._outage_logged = False
        else:
            _LOGGER.debug("Connected to Bambuddy at %s", self._host)
        self._set_connected(True)

    def _connection_failed(self, err: ApiError) -> None:
        self.last_error = str(err)
        if self._closed:
            return
        if self._outage_logged:
            _LOGGER.debug("Bambuddy at %s still unreachable: %s", self._host, err)
            return
        self._outage_logged = True
        if self._ever_connected:
            _LOGGER.info("Lost connection to Bambuddy at %s; reconnecting", self._host)
            _LOGGER.debug("Reason: %s", err)
        else:
            _LOGGER.info("Cannot connect to Bambuddy at %s (%s); retrying", self._host, err)

    def _set_connected(self, connected: bool) -> None:
        if connected == self.connected:
            return
        self.connected = connected
        for listener in list(self._connection_listeners):
            try:
                listener(connected)
            except Exception:
                _LOGGER.exception("Error in a Bambuddy connection listener")

    def _dispatch(self, event: WsEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("Error in a Bambuddy event listener (%s event)", event.type)

    # --- requests and shutdown ----------------------------------------------------------

    async def request_status(self, printer_id: int) -> None:
        """Ask for a fresh ``printer_status`` of one printer (answered as an event).

        Raises :class:`ApiConnectionError` while not connected.
        """
        ws = self._ws
        if ws is None:
            raise ApiConnectionError("Bambuddy WebSocket: not connected")
        await ws.request_status(printer_id)

    async def close(self) -> None:
        """Stop :meth:`run` for good and close the socket; returns once run() has ended."""
        self._closed = True
        task = self._run_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.wait([task])
        ws, self._ws = self._ws, None
        if ws is not None:
            await _close_socket(ws)
        self._set_connected(False)

    def snapshot(self) -> dict[str, Any]:
        """Connection facts for diagnostics; holds no key, token or URL."""
        return {
            "host": self._host,
            "running": self.running,
            "connected": self.connected,
            "last_connected_at": (
                self.last_connected_at.isoformat() if self.last_connected_at else None
            ),
            "last_error": self.last_error,
            "reconnect_count": self.reconnect_count,
            "backoff_attempt": self._attempt,
            "retry_delay": self._retry_delay,
            "token_age": (
                None if self._token_minted_at is None else self._clock() - self._token_minted_at
            ),
            "listeners": len(self._listeners),
        }


async def _close_socket(ws: BambuddyWebSocket) -> None:
    """Close politely, but do not wait long for a server that no longer answers."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SOCKET_CLOSE_TIMEOUT):
            await ws.close()


def _register[T](listeners: list[T], listener: T) -> Callable[[], None]:
    listeners.append(listener)

    def remove() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return remove


def _host_label(client: BambuddyClient) -> str:
    """``host`` or ``host:port`` of the server: no scheme, path, user info or query."""
    url = client.base_url
    host = url.host or "?"
    return f"{host}:{url.port}" if url.explicit_port else host
