"""FilaMan's SSE change stream: parsing, reconnects, the synthetic connected event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
import logging

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.errors import ApiError
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.api.filaman_sse import _SseParser, events, parse_sse_data
from custom_components.filaman_bambuddy.api.models_filaman import SSE_CONNECTED, SseEvent
from simulators.filaman import FilamanSimulator

from .conftest import FIXTURES

STEP = 2.0
SSE_LOGGER = "custom_components.filaman_bambuddy.api.filaman_sse"


@pytest.fixture
async def filaman_sim(socket_enabled: None) -> AsyncIterator[FilamanSimulator]:
    """One worker: these tests are about one stream's protocol. (What four workers mean for
    noticing changes is the watcher's business: tests/inventory/test_watcher.py.)"""
    sim = FilamanSimulator(workers=1)
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


def feed_all(text: str) -> list[SseEvent]:
    parser = _SseParser()
    parsed = (parser.feed(line) for line in text.splitlines(keepends=True))
    return [event for event in parsed if event is not None]


def test_parse_captured_stream() -> None:
    parsed = feed_all((FIXTURES / "filaman/sse_auth.txt").read_text())
    assert [event.event for event in parsed] == ["spools_changed"] * 4


def test_parse_fields_comments_and_junk() -> None:
    text = (
        ": connected\r\n\r\n"
        "event: ignored\nid: 7\nretry: 10\n"
        'data: {"event": "printer_status",\n'
        'data:  "printer_id": 2, "connected": true}\n\n'
        "data: not json\n\n"
        "data: [1, 2]\n\n"
        "\n\n"
        'data:{"event":"slots_update","printer_id":"3"}\n\n'
    )
    parsed = feed_all(text)
    assert [(event.event, event.printer_id) for event in parsed] == [
        ("printer_status", 2),
        ("slots_update", 3),
    ]
    assert parsed[0].raw["connected"] is True


async def assert_stream_released(sim: FilamanSimulator) -> None:
    """The server notices a closed stream on its next write: publish, then count streams."""
    sim.publish_event({"event": "spools_changed"})
    async with asyncio.timeout(STEP):
        while sim.bus.stream_count:  # noqa: ASYNC110 - the simulator offers no event to await
            await asyncio.sleep(0.01)


async def next_event(stream: AsyncGenerator[SseEvent]) -> SseEvent:
    async with asyncio.timeout(STEP):
        return await anext(stream)


async def test_connected_then_change_hints(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    stream = filaman.events()
    try:
        assert (await next_event(stream)).event == SSE_CONNECTED
        filaman_sim.add_manufacturer("Polymaker")
        assert (await next_event(stream)).event == "manufacturers_changed"
        filaman_sim.publish_event({"event": "printer_update", "printer_id": 4})
        update = await next_event(stream)
        assert (update.event, update.printer_id) == ("printer_update", 4)
    finally:
        await stream.aclose()
    await assert_stream_released(filaman_sim)


async def test_reconnects_after_the_server_drops_the_stream(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    stream = filaman.events(backoff_initial=0.01)
    try:
        assert (await next_event(stream)).event == SSE_CONNECTED
        filaman_sim.drop_sse()
        assert (await next_event(stream)).event == SSE_CONNECTED
        filaman_sim.publish_event({"event": "spools_changed"})
        assert (await next_event(stream)).event == "spools_changed"
    finally:
        await stream.aclose()


async def test_periodic_reconnect_detects_silent_links(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    stream = filaman.events(reconnect_every=0.1)
    try:
        assert (await next_event(stream)).event == SSE_CONNECTED
        assert (await next_event(stream)).event == SSE_CONNECTED
        assert filaman_sim.request_log.count(("GET", "/api/v1/events/stream")) == 2
    finally:
        await stream.aclose()


async def test_outage_is_logged_once_and_recovers(
    session: aiohttp.ClientSession, filaman_sim: FilamanSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    filaman_sim.down = True
    stream = events(session, filaman_sim.url, backoff_initial=0.01, backoff_max=0.02)
    try:
        with caplog.at_level(logging.DEBUG, SSE_LOGGER):
            pending = asyncio.ensure_future(next_event(stream))
            await asyncio.sleep(0.2)
            assert not pending.done()
            filaman_sim.down = False
            assert (await pending).event == SSE_CONNECTED
    finally:
        await stream.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "FilaMan event stream is back"
    ]
    assert filaman_sim.request_log.count(("GET", "/api/v1/events/stream")) > 2


async def test_http_error_on_the_stream_is_retried(
    session: aiohttp.ClientSession, filaman_sim: FilamanSimulator
) -> None:
    filaman_sim.fail_next("GET", r"/events/stream$", 502)
    stream = events(session, filaman_sim.url, backoff_initial=0.01)
    try:
        assert (await next_event(stream)).event == SSE_CONNECTED
    finally:
        await stream.aclose()
    assert filaman_sim.request_log.count(("GET", "/api/v1/events/stream")) == 2


async def test_cancelling_the_consumer_stops_cleanly(
    session: aiohttp.ClientSession, filaman_sim: FilamanSimulator
) -> None:
    received: list[str] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for event in events(session, filaman_sim.url):
            received.append(event.event)
            first.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(STEP):
        await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received == [SSE_CONNECTED]
    await assert_stream_released(filaman_sim)


def test_hostile_nesting_is_skipped_not_raised() -> None:
    # json.loads raises RecursionError, not ValueError, past the interpreter's recursion limit.
    assert parse_sse_data("[" * 100_000) is None


async def test_one_stream_of_a_pool_ends_when_the_server_ends_it(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    """``change_stream``: one connection, ``connected`` first, then hints, no reconnect."""
    seen: list[str] = []

    async def consume() -> None:
        async for event in filaman.change_stream():
            seen.append(event.event)
            if event.event == SSE_CONNECTED:
                filaman_sim.publish_event({"event": "spools_changed"})
            else:
                filaman_sim.drop_sse()

    async with asyncio.timeout(STEP):
        await consume()
    assert seen == [SSE_CONNECTED, "spools_changed"]


async def test_a_stream_that_cannot_open_raises(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filaman_sim.fail_next("GET", "/events/stream", 502)
    with pytest.raises(ApiError):
        async for _event in filaman.change_stream():
            pass
