"""Bad WebSocket frames and SSE messages of every event type: ignored, the session lives on,
no data changes (no debit, no inventory write), and the next good event is still handled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
import json
import logging
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.api import FilamanClient, ProtocolError, filaman_sse
from custom_components.filaman_bambuddy.api.filaman_sse import MAX_MESSAGE_CHARS
from custom_components.filaman_bambuddy.api.models_filaman import SSE_CONNECTED, SseEvent
from custom_components.filaman_bambuddy.inventory.watcher import FilamanChangeWatcher
from tests.ha.conftest import (  # noqa: F401 - fixtures
    Servers,
    bambuddy_version,
    loaded_entry,
    servers,
)

from .raw_server import RawServer, Reply

WS_TYPES = (
    "printer_status",
    "print_start",
    "missing_spool_assignment",
    "print_complete",
    "spool_usage_logged",
    "inventory_changed",
    "spool_assignment_changed",
    "spool_auto_assigned",
    "spool_assignment_verified",
    "unknown_tag",
    "archive_created",
    "archive_updated",
    "plate_not_empty",
    "pong",
    "no_such_event_type",
)
HUGE = "x" * 256_000  # bounded: well below the client's 16 MiB frame limit


def bad_frames(kind: str, printer_id: int) -> list[str]:
    """Every way one event type can arrive broken, as raw text frames."""
    frames: list[Any] = [
        {"type": kind},
        {"type": kind, "printer_id": printer_id},
        {"type": kind, "printer_id": "one", "data": "x", "usage": "x", "ams_id": "a",
         "tray_id": [], "spool_id": {}, "verified": "maybe", "missing_slots": 5},
        {"type": kind, "printer_id": printer_id, "data": [], "usage": [1, "a", None,
         {"spool_id": "x", "weight_used": "lots"}, {"spool_id": 999999, "weight_used": -5}]},
        {"type": kind, "printer_id": printer_id, "data": {"status": 7, "state": [], "ams": "x",
         "vt_tray": {}, "weight_used": {"0-0": "x", "bad": 3}}},
        {"type": kind, "printer_id": printer_id, "data": {"junk": HUGE}},
        {"type": [kind], "printer_id": printer_id},
    ]  # fmt: skip
    raw = [json.dumps(frame) for frame in frames]
    return [*raw, "{not json", "[1, 2, 3]", "null", '"text"', "", "\x00\xff"]


def ha_problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.name.startswith("custom_components")
    ]


@pytest.mark.parametrize("kind", WS_TYPES)
async def test_bad_websocket_frames_change_nothing(
    hass: HomeAssistant,
    servers: Servers,  # noqa: F811
    loaded_entry: MockConfigEntry,  # noqa: F811
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = loaded_entry.runtime_data
    live = data.hub.live
    reconnects = live.reconnect_count
    bambuddy_spools = {s.id: dict(s.fields) for s in servers.bambuddy.db.spools.values()}
    filaman_events = len(servers.filaman.events())
    for frame in bad_frames(kind, servers.printer_id):
        servers.bambuddy.inject_ws_frame(frame)
    # The next good event still arrives: the printer goes offline.
    servers.bambuddy.set_online(servers.printer_id, False)
    async with asyncio.timeout(5):
        while data.coordinator.data.status.connected:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await data.consumption.wait_idle()
    await hass.async_block_till_done()
    assert live.connected
    assert live.reconnect_count == reconnects
    assert ha_problems(caplog) == []
    assert len(servers.filaman.events()) == filaman_events, "a bad frame debited FilaMan"
    assert {s.id: s.fields for s in servers.bambuddy.db.spools.values()} == bambuddy_spools


BAD_SSE = (
    b": comment\n\n"
    b"data: {not json\n\n"
    b"data: [1, 2]\n\n"
    b"data: null\n\n"
    b'data: "spools_changed"\n\n'
    b'data: {"event": 5}\n\n'
    b'data: {"event": ["spools_changed"], "printer_id": "x"}\n\n'
    b"data: {}\n\n"
    b'data: {"event": "no_such_event"}\n\n'
    b'data: {"event": "printer_status", "printer_id": {"a": 1}}\n\n'
    b'event: weird\nid: 7\nretry: x\ndata: {"event": "filaments_changed",\ndata: "x": 1}\n\n'
    b'data: {"event": "spools_changed", "junk": "' + HUGE.encode() + b'"}\n\n'
    b"\xff\xfe garbage line\n\n"
    b'data: {"event": "spools_changed"}\n\n'
)


async def first_events(stream: AsyncIterator[SseEvent], count: int) -> list[SseEvent]:
    events: list[SseEvent] = []
    async with asyncio.timeout(5):
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
    return events


async def test_bad_sse_messages_are_skipped(
    raw_server: RawServer, session: aiohttp.ClientSession
) -> None:
    raw_server.reply = Reply(body=BAD_SSE, content_type="text/event-stream")
    client = FilamanClient(session, raw_server.url, "uak.1." + "s" * 43)
    stream = client.events(backoff_initial=0.01, backoff_max=0.05)
    try:
        events = await first_events(stream, 8)
    finally:
        await stream.aclose()
    names = [event.event for event in events]
    # Non-objects are dropped; objects with odd fields become events the watcher ignores;
    # the 256 KB message is over the parser's cap and is dropped unread.
    assert names[0] == SSE_CONNECTED
    assert not any(len(repr(event)) > MAX_MESSAGE_CHARS for event in events)
    assert names[-1] == "spools_changed"
    assert "filaments_changed" in names  # a multi-line data field is joined
    assert names[1:].count(SSE_CONNECTED) <= 1


async def test_a_message_that_never_ends_is_dropped_not_collected(
    raw_server: RawServer, session: aiohttp.ClientSession
) -> None:
    """``data:`` lines with no blank line to end them: past the cap they are thrown away as
    they come, so the parser stays small, and the next whole message still arrives."""
    endless = b"data: " + b"x" * 1000 + b"\n"
    body = endless * 300 + b'\ndata: {"event": "spools_changed"}\n\n'
    raw_server.reply = Reply(body=body, content_type="text/event-stream")
    async with aclosing(filaman_sse.stream(session, raw_server.url)) as stream:
        events = [event.event async for event in stream]
    assert len(body) > 4 * MAX_MESSAGE_CHARS
    assert events == [SSE_CONNECTED, "spools_changed"]


async def test_a_line_over_the_read_limit_is_a_protocol_error(
    raw_server: RawServer, session: aiohttp.ClientSession
) -> None:
    raw_server.reply = Reply(
        body=b"data: " + b"x" * 2_000_000 + b"\n\n", content_type="text/event-stream"
    )
    async with aclosing(filaman_sse.stream(session, raw_server.url)) as stream:
        assert (await anext(stream)).event == SSE_CONNECTED
        with pytest.raises(ProtocolError, match="read limit"):
            await anext(stream)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502])
async def test_sse_http_errors_are_retried_not_raised(
    status: int, raw_server: RawServer, session: aiohttp.ClientSession
) -> None:
    raw_server.reply = Reply(status=status, body=b'{"detail": "no"}')
    client = FilamanClient(session, raw_server.url, "uak.1." + "s" * 43)
    stream = client.events(backoff_initial=0.01, backoff_max=0.02)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.3)
    assert not pending.done(), "an HTTP error ended the stream"
    assert len(raw_server.requests) >= 3, "the stream was not retried"
    raw_server.reply = Reply(
        body=b'data: {"event": "spools_changed"}\n\n', content_type="text/event-stream"
    )
    async with asyncio.timeout(5):
        assert (await pending).event == SSE_CONNECTED
    await stream.aclose()


class RecordingRunner:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def async_request_sync(self, reason: str) -> None:
        self.reasons.append(reason)

    def async_spools_changed(self, *, events_only: bool = False) -> None:
        self.reasons.append("filaman_sse")


async def test_watcher_survives_bad_sse(
    raw_server: RawServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    raw_server.reply = Reply(body=BAD_SSE, content_type="text/event-stream")
    runner = RecordingRunner()
    watcher = FilamanChangeWatcher(
        FilamanClient(session, raw_server.url, "uak.1." + "s" * 43), runner
    )
    watcher.start()
    try:
        async with asyncio.timeout(5):
            while "filaman_sse" not in runner.reasons:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert watcher.running
    finally:
        await watcher.stop()
    assert set(runner.reasons) <= {"filaman_sse", "filaman_sse_connected"}
    assert ha_problems(caplog) == []
