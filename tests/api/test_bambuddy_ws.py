"""BambuddyWebSocket against the simulator (and a silent peer for the dead-link case)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import json

import aiohttp
from aiohttp import web
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.bambuddy_ws import BambuddyWebSocket
from custom_components.filaman_bambuddy.api.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
)
from custom_components.filaman_bambuddy.api.events import (
    ArchiveEvent,
    InventoryChangedEvent,
    MissingSpoolAssignmentEvent,
    PlateNotEmptyEvent,
    PongEvent,
    PrintCompleteEvent,
    PrinterStatusEvent,
    PrintStartEvent,
    SpoolAssignmentChangedEvent,
    SpoolAssignmentVerifiedEvent,
    SpoolAutoAssignedEvent,
    SpoolUsageLoggedEvent,
    UnknownEvent,
    UnknownTagEvent,
    WsEvent,
)
from simulators.bambuddy import BambuddySimulator

from .conftest import ws_frames

STEP = 2.0  # generous upper bound for one event on a loaded CI machine


async def next_of[T: WsEvent](ws: BambuddyWebSocket, kind: type[T]) -> T:
    """The next event of one class, skipping the others."""
    async with asyncio.timeout(STEP):
        while True:
            event = await ws.next_event()
            assert event is not None
            if isinstance(event, kind):
                return event


async def drain(ws: BambuddyWebSocket) -> None:
    """Read events until the iterator ends or raises."""
    async with asyncio.timeout(STEP):
        async for _event in ws:
            pass


async def test_snapshots_status_requests_and_ping(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    first = bambuddy_sim.add_printer("A")
    second = bambuddy_sim.add_printer("B")
    token = await bambuddy.ws_token()
    assert token
    async with bambuddy.connect_websocket(token) as ws:
        assert "token" not in repr(ws)
        initial = [await next_of(ws, PrinterStatusEvent) for _ in range(2)]
        assert [event.printer_id for event in initial] == [first, second]
        assert initial[0].status.name == "A"
        await ws.request_status(second)
        again = await next_of(ws, PrinterStatusEvent)
        assert again.status.printer_id == second
        await ws.ping()
        assert isinstance(await next_of(ws, PongEvent), PongEvent)
    assert not ws.connected
    assert await ws.next_event() is None


async def test_print_and_inventory_events(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    printer_id = bambuddy_sim.add_printer("X1C")
    bambuddy_sim.set_tray(printer_id, 0, 0, tray_type="PLA")
    spool = await bambuddy.create_spool({"material": "PLA"})
    async with bambuddy.connect_websocket(await bambuddy.ws_token()) as ws:
        await next_of(ws, PrinterStatusEvent)
        await bambuddy.patch_spool(spool.id, {"note": "filaman:1"})
        await next_of(ws, InventoryChangedEvent)
        await bambuddy.assign(spool.id, printer_id, 0, 0)
        changed = await next_of(ws, SpoolAssignmentChangedEvent)
        assert (changed.ams_id, changed.tray_id) == (0, 0)
        verified = await next_of(ws, SpoolAssignmentVerifiedEvent)
        assert verified.tray_id == 0
        printing = bambuddy_sim.start_print(printer_id, "Cube", grams={(0, 0): 4.2})
        start = await next_of(ws, PrintStartEvent)
        assert start.subtask_name == "Cube"
        complete = await next_of(ws, PrintCompleteEvent)
        assert complete.status == "completed"
        usage = await next_of(ws, SpoolUsageLoggedEvent)
        assert [(u.spool_id, u.weight_used, u.ams_id, u.tray_id) for u in usage.usage] == [
            (spool.id, 4.2, 0, 0)
        ]
        await printing


async def test_legacy_print_complete_weights(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    printer_id = bambuddy_sim.add_printer("Old")
    async with bambuddy.connect_websocket(await bambuddy.ws_token()) as ws:
        await bambuddy_sim.run_print(
            printer_id, grams={(0, 1): 3.0, (0, 2): 1.5}, legacy_weights="dict"
        )
        complete = await next_of(ws, PrintCompleteEvent)
        assert complete.legacy_weights == {"0-1": 3.0, "0-2": 1.5}
        await bambuddy_sim.run_print(printer_id, grams={(0, 1): 2.5}, legacy_weights="float")
        total = await next_of(ws, PrintCompleteEvent)
        assert total.legacy_weights == 2.5


async def test_every_event_type_and_junk_frames(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    frames = [
        *ws_frames("ws_spool_auto_assigned.json"),
        {"type": "missing_spool_assignment", "printer_id": 1, "missing_slots": []},
        {"type": "unknown_tag", "printer_id": 1, "ams_id": 0, "tray_id": 1},
        {"type": "archive_created", "data": {"id": 1, "printer_id": 1}},
        {"type": "plate_not_empty", "printer_id": 1, "message": "m"},
        {"type": "queue_item_added"},
    ]
    expected = [
        SpoolAutoAssignedEvent,
        MissingSpoolAssignmentEvent,
        UnknownTagEvent,
        ArchiveEvent,
        PlateNotEmptyEvent,
        UnknownEvent,
    ]
    async with bambuddy.connect_websocket(await bambuddy.ws_token()) as ws:
        for raw in ["not json", "[1, 2]", '"text"', "{broken"]:
            bambuddy_sim.inject_ws_frame(raw)
        for frame in frames:
            bambuddy_sim.inject_ws_frame(json.dumps(frame))
        received = []
        async with asyncio.timeout(STEP):
            async for event in ws:
                received.append(type(event))
                if len(received) == len(expected):
                    break
        assert received == expected
        assert ws.connected  # junk frames did not end the session


async def test_handshake_rejections(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    with pytest.raises(AuthenticationError) as bad_token:
        async with bambuddy.connect_websocket("not-a-token"):
            pass
    assert bad_token.value.status == 403
    assert "not-a-token" not in str(bad_token.value)
    token = await bambuddy.ws_token()
    bambuddy_sim.expire_ws_tokens()
    with pytest.raises(AuthenticationError):
        await bambuddy.connect_websocket(token).connect()
    bambuddy_sim.fail_next("GET", r"/ws$", 502)
    with pytest.raises(ApiConnectionError) as bad_gateway:
        await bambuddy.connect_websocket(await bambuddy.ws_token()).connect()
    assert bad_gateway.value.status == 502


async def test_server_drop_raises_connection_error(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    async with bambuddy.connect_websocket(await bambuddy.ws_token()) as ws:
        bambuddy_sim.drop_websockets()
        with pytest.raises(ApiConnectionError):
            await drain(ws)
    with pytest.raises(ApiConnectionError, match="not connected"):
        await ws.request_status(1)


async def test_unreachable_server(
    session: aiohttp.ClientSession, bambuddy_sim: BambuddySimulator, bambuddy_key: str
) -> None:
    assert bambuddy_sim.url is not None
    url = bambuddy_sim.url
    await bambuddy_sim.stop()
    ws = BambuddyClient(session, url, bambuddy_key).connect_websocket("tok")
    with pytest.raises(ApiConnectionError) as refused:
        await ws.connect()
    assert not refused.value.request_sent


async def test_pings_keep_a_quiet_link_alive(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    ws = bambuddy.connect_websocket(await bambuddy.ws_token(), ping_interval=0.05, pong_timeout=1)
    async with ws:
        pongs = 0
        async with asyncio.timeout(STEP):
            async for event in ws:
                pongs += isinstance(event, PongEvent)
                if pongs == 3:
                    break
        assert ws.connected


@pytest.fixture
async def silent_peer(socket_enabled: None) -> AsyncIterator[str]:
    """A WebSocket server that accepts and then never answers: a dead link."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=False)
        await socket.prepare(request)
        async for _message in socket:
            pass
        return socket

    app = web.Application()
    app.router.add_get("/api/v1/ws", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_missing_pong_is_a_dead_link(
    session: aiohttp.ClientSession, silent_peer: str
) -> None:
    client = BambuddyClient(session, silent_peer, "bb_key")
    async with client.connect_websocket(None, ping_interval=0.05, pong_timeout=0.1) as ws:
        with pytest.raises(ApiTimeoutError, match="no pong"):
            async with asyncio.timeout(STEP):
                await ws.next_event()


async def test_close_from_another_task_ends_iteration(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    ws = bambuddy.connect_websocket(await bambuddy.ws_token())
    await ws.connect()

    async def consume() -> int:
        return len([event async for event in ws])

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await ws.close()
    async with asyncio.timeout(STEP):
        assert await consumer == 0
