"""The live Bambuddy session against the simulator over loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import logging
from typing import Any

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.bambuddy_live import (
    BambuddyLiveSession,
    reconnect_delay,
)
from custom_components.filaman_bambuddy.api.bambuddy_ws import BambuddyWebSocket
from custom_components.filaman_bambuddy.api.errors import (
    ApiConnectionError,
    AuthenticationError,
    MissingPermissionError,
)
from custom_components.filaman_bambuddy.api.events import (
    PrintCompleteEvent,
    PrinterStatusEvent,
    PrintStartEvent,
    SpoolUsageLoggedEvent,
    UnknownEvent,
    WsEvent,
)
from simulators.bambuddy import BambuddySimulator

LIVE_LOGGER = "custom_components.filaman_bambuddy.api.bambuddy_live"
TOKEN_PATH = ("POST", "/api/v1/auth/ws-token")
FAST = 0.02  # reconnect cap in tests: every backoff sleep is 20 ms
HANG = 0.6  # simulator latency that stands for a request that hangs


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Collects events and connection changes as listeners."""

    def __init__(self) -> None:
        self.events: list[WsEvent] = []
        self.connection: list[bool] = []

    def on_event(self, event: WsEvent) -> None:
        self.events.append(event)

    def on_connection(self, connected: bool) -> None:
        self.connection.append(connected)

    def of_type[E: WsEvent](self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll: the conditions are spread over the session and the simulator."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
async def http(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def sim(socket_enabled: None) -> AsyncIterator[BambuddySimulator]:
    simulator = BambuddySimulator(ws_usage_delay=0.02, assign_verify_delay=0.01)
    await simulator.start(host="127.0.0.1", port=0)
    simulator.add_printer("Workshop X1C")
    simulator.add_printer("Garage P1S", model="P1S")
    yield simulator
    await simulator.stop()


@pytest.fixture
def key(sim: BambuddySimulator) -> str:
    return sim.create_api_key()


@pytest.fixture
def client(http: aiohttp.ClientSession, sim: BambuddySimulator, key: str) -> BambuddyClient:
    assert sim.url is not None
    return BambuddyClient(http, sim.url, key, request_timeout=2)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def live(client: BambuddyClient, clock: FakeClock) -> AsyncIterator[BambuddyLiveSession]:
    session = BambuddyLiveSession(client, reconnect_interval=FAST, clock=clock)
    yield session
    await session.close()


@pytest.fixture
def recorder(live: BambuddyLiveSession) -> Recorder:
    recorder = Recorder()
    live.add_listener(recorder.on_event)
    live.add_connection_listener(recorder.on_connection)
    return recorder


def start(live: BambuddyLiveSession) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(live.run(), name="live-run")


def token_mints(sim: BambuddySimulator) -> int:
    return sim.request_log.count(TOKEN_PATH)


def log_lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for record in caplog.records if text in record.getMessage())


async def drop_and_reconnect(sim: BambuddySimulator, live: BambuddyLiveSession) -> None:
    reconnects = live.reconnect_count
    sim.drop_websockets()
    await wait_until(lambda: live.reconnect_count == reconnects + 1 and live.connected)


# --- connect and dispatch ------------------------------------------------------------


async def test_connect_delivers_one_snapshot_per_printer(
    sim: BambuddySimulator, live: BambuddyLiveSession, recorder: Recorder
) -> None:
    task = start(live)
    await wait_until(lambda: len(recorder.of_type(PrinterStatusEvent)) == 2)

    assert live.connected
    assert recorder.connection == [True]
    assert [e.printer_id for e in recorder.of_type(PrinterStatusEvent)] == [1, 2]
    assert recorder.of_type(PrinterStatusEvent)[1].status.name == "Garage P1S"
    assert live.last_connected_at is not None
    assert live.reconnect_count == 0
    assert token_mints(sim) == 1

    await live.close()
    assert task.done()
    assert task.result() is None
    assert recorder.connection == [True, False]


async def test_events_reach_listeners_in_arrival_order(
    sim: BambuddySimulator, live: BambuddyLiveSession, recorder: Recorder
) -> None:
    start(live)
    await wait_until(lambda: live.connected and len(recorder.events) == 2)
    for number in range(50):
        sim.broadcast({"type": "test_sequence", "n": number})
    await wait_until(lambda: len(recorder.of_type(UnknownEvent)) == 50)
    assert [event.raw["n"] for event in recorder.of_type(UnknownEvent)] == list(range(50))

    sim.set_tray(1, 0, 0, tray_type="PLA", tray_sub_brands="PLA Basic")
    recorder.events.clear()
    await sim.run_print(1, name="Benchy", status="completed")
    await wait_until(lambda: bool(recorder.of_type(PrintCompleteEvent)))
    kinds = [event.type for event in recorder.events]
    assert kinds.index("print_start") < kinds.index("print_complete")
    assert recorder.of_type(PrintStartEvent)[0].printer_id == 1
    assert recorder.of_type(PrintCompleteEvent)[0].status == "completed"


async def test_usage_event_follows_print_complete(
    sim: BambuddySimulator,
    client: BambuddyClient,
    live: BambuddyLiveSession,
    recorder: Recorder,
) -> None:
    spool = await client.create_spool({"material": "PLA", "label_weight": 1000, "rgba": "FFFFFFFF"})
    sim.set_tray(1, 0, 1, tray_type="PLA", tray_color="FFFFFFFF")
    await client.assign(spool.id, 1, 0, 1)
    start(live)
    await wait_until(lambda: live.connected)
    recorder.events.clear()

    await sim.run_print(1, grams={(0, 1): 12.5})
    await wait_until(lambda: bool(recorder.of_type(SpoolUsageLoggedEvent)))

    kinds = [event.type for event in recorder.events]
    assert kinds.index("print_complete") < kinds.index("spool_usage_logged")
    usage = recorder.of_type(SpoolUsageLoggedEvent)[0].usage
    assert [(item.spool_id, item.weight_used) for item in usage] == [(spool.id, 12.5)]


async def test_request_status_answers_with_a_snapshot(
    live: BambuddyLiveSession, recorder: Recorder
) -> None:
    with pytest.raises(ApiConnectionError):
        await live.request_status(1)
    start(live)
    await wait_until(lambda: len(recorder.of_type(PrinterStatusEvent)) == 2)

    await live.request_status(2)
    await wait_until(lambda: len(recorder.of_type(PrinterStatusEvent)) == 3)
    assert recorder.of_type(PrinterStatusEvent)[-1].printer_id == 2


async def test_removed_listener_gets_nothing(
    sim: BambuddySimulator, live: BambuddyLiveSession, recorder: Recorder
) -> None:
    late = Recorder()
    remove = live.add_listener(late.on_event)
    remove_connection = live.add_connection_listener(late.on_connection)
    remove()
    remove_connection()
    remove()  # removing twice is harmless
    start(live)
    await wait_until(lambda: len(recorder.events) == 2)
    assert late.events == []
    assert late.connection == []


async def test_listener_errors_do_not_end_the_session(
    sim: BambuddySimulator,
    live: BambuddyLiveSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: WsEvent) -> None:
        raise ValueError("listener bug")

    def broken_connection(connected: bool) -> None:
        raise ValueError("connection listener bug")

    # Broken listeners registered first must not keep events from the ones after them.
    live.add_listener(broken)
    live.add_connection_listener(broken_connection)
    recorder = Recorder()
    live.add_listener(recorder.on_event)
    live.add_connection_listener(recorder.on_connection)
    start(live)
    await wait_until(lambda: len(recorder.events) == 2)
    sim.broadcast({"type": "inventory_changed"})
    await wait_until(lambda: len(recorder.events) == 3)

    assert live.connected
    assert live.reconnect_count == 0
    assert recorder.connection == [True]
    assert log_lines(caplog, "Error in a Bambuddy event listener") == 3
    assert log_lines(caplog, "Error in a Bambuddy connection listener") == 1


# --- reconnects ----------------------------------------------------------------------


def test_backoff_doubles_up_to_the_reconnect_interval() -> None:
    assert [reconnect_delay(attempt, 30) for attempt in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert reconnect_delay(0, 0.5) == 0.5
    assert reconnect_delay(10_000, 30) == 30  # no overflow for long outages


async def test_drop_reconnects_and_logs_one_pair_per_outage(
    sim: BambuddySimulator,
    live: BambuddyLiveSession,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LIVE_LOGGER)
    start(live)
    await wait_until(lambda: len(recorder.events) == 2)

    await drop_and_reconnect(sim, live)
    # The server sends fresh snapshots on every connect.
    await wait_until(lambda: len(recorder.of_type(PrinterStatusEvent)) == 4)
    assert recorder.connection == [True, False, True]
    host = f"127.0.0.1:{sim.url.rsplit(':', 1)[1]}" if sim.url else ""
    assert log_lines(caplog, f"Lost connection to Bambuddy at {host}; reconnecting") == 1
    assert log_lines(caplog, f"Connection to Bambuddy at {host} is back") == 1

    # A longer outage: many failed attempts, still one line each way.
    sim.down = True
    await wait_until(lambda: live.snapshot()["backoff_attempt"] >= 5)
    assert not live.connected
    assert live.last_error is not None
    sim.down = False
    await wait_until(lambda: live.connected)

    assert log_lines(caplog, "Lost connection to Bambuddy") == 2
    assert log_lines(caplog, "is back") == 2
    assert live.reconnect_count == 2
    assert recorder.connection == [True, False, True, False, True]
    assert [r.levelno for r in caplog.records if "Lost connection" in r.getMessage()] == [
        logging.INFO,
        logging.INFO,
    ]


async def test_backoff_grows_while_failing_and_resets_after_a_stable_connection(
    sim: BambuddySimulator,
    client: BambuddyClient,
    clock: FakeClock,
) -> None:
    live = BambuddyLiveSession(client, reconnect_interval=FAST, stable_after=30, clock=clock)
    try:
        start(live)
        await wait_until(lambda: live.connected)
        sim.down = True
        await wait_until(lambda: live.snapshot()["backoff_attempt"] >= 4)
        sim.down = False
        await wait_until(lambda: live.connected)
        attempts = live.snapshot()["backoff_attempt"]
        assert attempts >= 4
        assert live.snapshot()["retry_delay"] is None  # connected: no retry pending

        # A short connection does not reset the counter ...
        await drop_and_reconnect(sim, live)
        assert live.snapshot()["backoff_attempt"] == attempts + 1

        # ... one that lasted stable_after does: the next wait is 1 s again (capped here).
        clock.now += 30
        await drop_and_reconnect(sim, live)
        assert live.snapshot()["backoff_attempt"] == 1
    finally:
        await live.close()


async def test_server_restart_reconnects_with_the_same_token(
    sim: BambuddySimulator,
    live: BambuddyLiveSession,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start(live)
    await wait_until(lambda: len(recorder.events) == 2)

    await sim.restart()
    await wait_until(lambda: live.reconnect_count == 1 and live.connected)
    await wait_until(lambda: len(recorder.of_type(PrinterStatusEvent)) == 4)
    assert token_mints(sim) == 1  # tokens live in the database and survive a restart
    assert log_lines(caplog, "Lost connection to Bambuddy") == 1
    assert log_lines(caplog, "is back") == 1


async def test_first_connect_failure_is_logged_once_and_retried(
    sim: BambuddySimulator,
    live: BambuddyLiveSession,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim.down = True
    start(live)
    await wait_until(lambda: live.snapshot()["backoff_attempt"] >= 3)
    assert recorder.connection == []
    sim.down = False
    await wait_until(lambda: live.connected)

    assert log_lines(caplog, "Cannot connect to Bambuddy") == 1
    assert log_lines(caplog, "is back") == 1
    assert log_lines(caplog, "Lost connection") == 0
    assert live.reconnect_count == 0  # the first connection is not a reconnect


async def test_frames_that_are_not_json_objects_are_skipped(
    sim: BambuddySimulator, live: BambuddyLiveSession, recorder: Recorder
) -> None:
    start(live)
    await wait_until(lambda: len(recorder.events) == 2)

    sim.inject_ws_frame("this is not json {")
    sim.inject_ws_frame("[1, 2, 3]")
    sim.inject_ws_frame('"a string"')
    sim.broadcast({"type": "inventory_changed"})
    await wait_until(lambda: len(recorder.events) == 3)

    assert recorder.events[-1].type == "inventory_changed"
    assert live.connected
    assert live.reconnect_count == 0
    assert recorder.connection == [True]


async def test_a_hung_server_is_detected_by_the_missing_pong(
    sim: BambuddySimulator,
    http: aiohttp.ClientSession,
    key: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert sim.url is not None

    class QuickPingClient(BambuddyClient):
        """Pings every 50 ms (pong within 200 ms) so the test need not wait 30 s."""

        def connect_websocket(
            self, token: str | None, *, ping_interval: float = 30.0, pong_timeout: float = 10.0
        ) -> BambuddyWebSocket:
            return super().connect_websocket(token, ping_interval=0.05, pong_timeout=0.2)

    live = BambuddyLiveSession(
        QuickPingClient(http, sim.url, key, request_timeout=2), reconnect_interval=FAST
    )
    try:
        start(live)
        await wait_until(lambda: live.connected)
        await asyncio.sleep(0.5)
        assert live.reconnect_count == 0  # pongs arrive: the link is healthy

        # A hung server keeps the socket open but answers nothing, not even pings.
        monkeypatch.setattr(sim.hub, "_answer", lambda *args: True)
        await wait_until(lambda: live.reconnect_count == 1)
        monkeypatch.undo()  # the server recovers
        assert live.last_error is not None
        assert "pong" in live.last_error
        await asyncio.sleep(0.5)
        assert live.connected
        assert live.reconnect_count == 1
        assert log_lines(caplog, "Lost connection to Bambuddy") == 1
    finally:
        await live.close()


# --- tokens --------------------------------------------------------------------------


async def test_token_is_reused_until_its_lifetime_then_reminted(
    sim: BambuddySimulator, live: BambuddyLiveSession, clock: FakeClock
) -> None:
    start(live)
    await wait_until(lambda: live.connected)
    assert token_mints(sim) == 1

    clock.now += 54 * 60
    await drop_and_reconnect(sim, live)
    assert token_mints(sim) == 1

    clock.now += 60  # 55 min old
    await drop_and_reconnect(sim, live)
    assert token_mints(sim) == 2
    assert live.snapshot()["token_age"] == 0


async def test_stale_token_rejected_at_handshake_is_reminted_once(
    sim: BambuddySimulator,
    live: BambuddyLiveSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start(live)
    await wait_until(lambda: live.connected)
    sim.expire_ws_tokens()  # e.g. the server clock ran ahead of ours

    await drop_and_reconnect(sim, live)
    assert token_mints(sim) == 2
    assert log_lines(caplog, "Lost connection to Bambuddy") == 1
    assert log_lines(caplog, "is back") == 1


async def test_rejected_fresh_token_raises_authentication_error(
    sim: BambuddySimulator, live: BambuddyLiveSession, recorder: Recorder
) -> None:
    start_task = start(live)
    await wait_until(lambda: live.connected)
    # The cached token and the freshly minted one are both refused.
    sim.fail_next("GET", r"^/api/v1/ws$", 403, count=2)
    sim.drop_websockets()

    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(start_task, 5)
    assert token_mints(sim) == 2
    assert not live.connected
    assert not live.running
    assert recorder.connection == [True, False]


async def test_revoked_key_raises_authentication_error(
    sim: BambuddySimulator, key: str, live: BambuddyLiveSession
) -> None:
    task = start(live)
    await wait_until(lambda: live.connected)
    sim.revoke_api_key(key)
    # An open socket and an unexpired token survive a key deletion (API.md §9.1).
    await drop_and_reconnect(sim, live)

    sim.expire_ws_tokens()
    sim.drop_websockets()
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(task, 5)
    assert live.last_error is not None
    assert "401" in live.last_error
    assert not live.connected

    # run() may be started again after it returned, e.g. once the key is valid again.
    sim.db.api_keys[key].enabled = True
    task = start(live)
    await wait_until(lambda: live.connected)
    assert not task.done()


async def test_key_without_read_scope_fails_at_once(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    assert sim.url is not None
    writer = sim.create_api_key(can_read_status=False)
    live = BambuddyLiveSession(
        BambuddyClient(http, sim.url, writer, request_timeout=2), reconnect_interval=FAST
    )
    with pytest.raises(MissingPermissionError) as raised:
        await asyncio.wait_for(live.run(), 5)
    assert raised.value.permission == "can_read_status"
    assert live.snapshot()["connected"] is False


async def test_server_with_auth_disabled_needs_no_key(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    assert sim.url is not None
    sim.auth_enabled = False
    live = BambuddyLiveSession(
        BambuddyClient(http, sim.url, None, request_timeout=2), reconnect_interval=FAST
    )
    recorder = Recorder()
    live.add_listener(recorder.on_event)
    try:
        start(live)
        await wait_until(lambda: len(recorder.events) == 2)
    finally:
        await live.close()


# --- shutdown ------------------------------------------------------------------------


def _other_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [task for task in asyncio.all_tasks() if task is not current and not task.done()]


async def test_close_stops_run_and_leaves_no_task(
    sim: BambuddySimulator, client: BambuddyClient
) -> None:
    before = set(_other_tasks())
    live = BambuddyLiveSession(client, reconnect_interval=FAST)
    connection: list[bool] = []
    live.add_connection_listener(connection.append)
    task = start(live)
    await wait_until(lambda: live.connected)

    await live.close()
    assert task.done()
    assert not task.cancelled()
    assert task.result() is None
    assert not live.connected
    assert not live.running
    assert live.closed
    assert connection == [True, False]
    # The simulator's handler for our socket ends too once it has seen the close.
    await wait_until(lambda: set(_other_tasks()) <= before and not sim.hub.clients)

    # A closed session stays closed; closing again is harmless.
    await asyncio.wait_for(live.run(), 1)
    await live.close()
    assert not live.connected
    assert connection == [True, False]


async def _close_quickly(live: BambuddyLiveSession, task: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    closing_started = loop.time()
    await live.close()
    assert loop.time() - closing_started < HANG / 2
    assert task.done()
    assert task.result() is None
    assert not live.running


async def test_close_interrupts_the_backoff_sleep(
    sim: BambuddySimulator, client: BambuddyClient
) -> None:
    live = BambuddyLiveSession(client, reconnect_interval=30)  # sleeps 1 s, 2 s …
    sim.down = True
    task = start(live)
    await wait_until(lambda: live.snapshot()["retry_delay"] == 1)
    await _close_quickly(live, task)


async def test_close_interrupts_a_hanging_mint(
    sim: BambuddySimulator, client: BambuddyClient
) -> None:
    live = BambuddyLiveSession(client, reconnect_interval=FAST)
    sim.latency = HANG
    task = start(live)
    await wait_until(lambda: token_mints(sim) == 1)
    await _close_quickly(live, task)
    # Let the simulator's delayed handler finish so no server task lingers.
    sim.latency = 0
    await asyncio.sleep(HANG)


async def test_close_interrupts_a_hanging_handshake(
    sim: BambuddySimulator, client: BambuddyClient
) -> None:
    live = BambuddyLiveSession(client, reconnect_interval=FAST)
    task = start(live)
    await wait_until(lambda: live.connected)
    sim.latency = HANG
    sim.drop_websockets()  # the reconnect reuses the token and hangs in the handshake
    await wait_until(lambda: sim.request_log.count(("GET", "/api/v1/ws")) == 2)
    await _close_quickly(live, task)
    assert token_mints(sim) == 1
    sim.latency = 0
    await asyncio.sleep(HANG)


async def test_run_twice_at_once_is_refused(live: BambuddyLiveSession) -> None:
    start(live)
    await wait_until(lambda: live.connected)
    with pytest.raises(RuntimeError):
        await live.run()
    assert live.connected


# --- secrets -------------------------------------------------------------------------


async def test_no_secret_in_logs_or_diagnostics(
    sim: BambuddySimulator,
    key: str,
    live: BambuddyLiveSession,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    task = start(live)
    await wait_until(lambda: live.connected)
    sim.expire_ws_tokens()
    await drop_and_reconnect(sim, live)
    sim.down = True
    await wait_until(lambda: live.snapshot()["backoff_attempt"] >= 2)
    sim.down = False
    await wait_until(lambda: live.connected)
    sim.revoke_api_key(key)
    sim.expire_ws_tokens()
    sim.drop_websockets()
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(task, 5)

    secrets = [key, *sim.db.ws_tokens]
    assert len(secrets) >= 3
    # Our records only: the simulator's own access log shows the URLs it served.
    ours = [r for r in caplog.records if r.name.startswith("custom_components.")]
    assert any("rejected the cached ws-token" in r.getMessage() for r in ours)
    shown = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in ours)
    shown += repr(live.snapshot()) + repr(live) + (live.last_error or "")
    for secret in secrets:
        assert secret not in shown
    assert "token=" not in shown
    # This module names the host only (the client logs the query-less URL at debug).
    live_text = "\n".join(r.getMessage() for r in ours if r.name == LIVE_LOGGER)
    assert "/api/v1/ws" not in live_text
    assert "/api/v1/ws" not in repr(live.snapshot())
