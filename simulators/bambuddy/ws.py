"""The WebSocket at /api/v1/ws: one ordered outgoing queue per client, JSON-object frames in."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import json
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

_LOGGER = logging.getLogger(__name__)


@dataclass(eq=False)
class WsClient:
    """One accepted socket. Frames go through `outbox` so every client sees events in order."""

    request: web.Request
    socket: web.WebSocketResponse
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    printer_ids: frozenset[int] | None = None
    """Bambuddy 1.2.6 (#1727): the printers this socket hears about; ``None`` = all."""

    def may_receive(self, printer_id: int | None) -> bool:
        return printer_id is None or self.printer_ids is None or printer_id in self.printer_ids

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, as Bambuddy does on bad frames."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class WsHub:
    """Accepts sockets, answers ping/get_status and fans events out to every client."""

    def __init__(self) -> None:
        self.clients: set[WsClient] = set()
        # (monotonic time, event type) of recent broadcasts: tests measure event timing at the
        # source, which a loaded machine's client-side receive times cannot show.
        self.timeline: deque[tuple[float, str]] = deque(maxlen=1000)

    def publish(self, event: dict[str, Any]) -> None:
        self.timeline.append((time.monotonic(), str(event.get("type"))))
        text = json.dumps(event)
        printer_id = event_printer_id(event)
        for client in self.clients:
            if client.may_receive(printer_id):
                client.outbox.put_nowait(text)

    def publish_raw(self, text: str) -> None:
        for client in self.clients:
            client.outbox.put_nowait(text)

    def drop_all(self) -> None:
        for client in list(self.clients):
            client.abort()

    async def close_all(self, code: int) -> None:
        """Close every socket with ``code`` (1.2.6: 4401 when printer scopes changed)."""
        for client in list(self.clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await client.socket.close(code=code)

    async def serve(
        self,
        request: web.Request,
        *,
        snapshots: Callable[[], list[dict[str, Any]]],
        snapshot_for: Callable[[int], dict[str, Any] | None],
        printer_ids: frozenset[int] | None = None,
    ) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        client = WsClient(request, socket, printer_ids=printer_ids)
        for frame in snapshots():
            if client.may_receive(event_printer_id(frame)):
                client.outbox.put_nowait(json.dumps(frame))
        self.clients.add(client)
        sender = asyncio.create_task(self._send_loop(client), name="bambuddy-sim-ws-sender")
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT or not self._answer(
                    client, message.data, snapshot_for
                ):
                    client.abort()
                    break
        finally:
            self.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return socket

    def _answer(
        self,
        client: WsClient,
        text: str,
        snapshot_for: Callable[[int], dict[str, Any] | None],
    ) -> bool:
        """Handle one client frame; False when it is not a JSON object (drop the socket)."""
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            return False
        if not isinstance(payload, dict):
            return False
        kind = payload.get("type")
        if kind == "ping":
            client.outbox.put_nowait(json.dumps({"type": "pong"}))
        elif kind == "get_status" and isinstance(payload.get("printer_id"), int):
            if not client.may_receive(payload["printer_id"]):
                return True  # out of scope: answered like an unknown id, with nothing
            frame = snapshot_for(payload["printer_id"])
            if frame is not None:
                client.outbox.put_nowait(json.dumps(frame))
        return True

    @staticmethod
    async def _send_loop(client: WsClient) -> None:
        while True:
            text = await client.outbox.get()
            try:
                await client.socket.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                _LOGGER.debug("WebSocket send failed: %s", exc)
                return


def event_printer_id(event: dict[str, Any]) -> int | None:
    """The printer a broadcast is about: top-level ``printer_id`` or inside ``data``."""
    printer_id = event.get("printer_id")
    if printer_id is None and isinstance(event.get("data"), dict):
        printer_id = event["data"].get("printer_id")
    return printer_id if isinstance(printer_id, int) else None
