"""Keys and WebSocket tokens never reach log lines or exception text on error paths."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
import logging

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.errors import ApiError
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.api.filaman_sse import events
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

OUR_LOGGERS = "custom_components.filaman_bambuddy"


async def collect_errors(*calls: object) -> list[ApiError]:
    errors: list[ApiError] = []
    for call in calls:
        try:
            await call  # type: ignore[misc]
        except ApiError as err:
            errors.append(err)
    return errors


async def test_no_secret_in_logs_or_errors(
    session: aiohttp.ClientSession,
    bambuddy_sim: BambuddySimulator,
    filaman_sim: FilamanSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert bambuddy_sim.url is not None
    bambuddy_key = bambuddy_sim.create_api_key(can_manage_inventory=False)
    filaman_key = filaman_sim.create_api_key(role="viewer")
    wrong_bambuddy = "bb_" + "W" * 43
    wrong_filaman = "uak.77." + "S" * 43
    caplog.set_level(logging.DEBUG)

    bambuddy = BambuddyClient(session, bambuddy_sim.url, bambuddy_key, request_timeout=0.2)
    token = await bambuddy.ws_token()
    assert token
    filaman = FilamanClient(session, filaman_sim.url, filaman_key, request_timeout=0.2)
    errors = await collect_errors(
        BambuddyClient(session, bambuddy_sim.url, wrong_bambuddy).verify_key(),
        bambuddy.verify_write_access(),
        bambuddy.spool(42),
        FilamanClient(session, filaman_sim.url, wrong_filaman).me(),
        filaman.add_consumption(1, 1.0, datetime.now(UTC)),
        bambuddy.connect_websocket(token + "x").connect(),
    )
    # Echoing servers: error bodies that repeat the credential are redacted.
    bambuddy_sim.fail_next("GET", r"/printers/$", 400, body={"detail": f"bad key {bambuddy_key}"})
    filaman_sim.fail_next("GET", r"/me$", 401, body={"detail": {"message": f"no {filaman_key}"}})
    errors += await collect_errors(bambuddy.printers(), filaman.me())

    bambuddy_sim.expire_ws_tokens()
    errors += await collect_errors(bambuddy.connect_websocket(token).connect())
    live_token = await bambuddy.ws_token()
    assert live_token
    async with bambuddy.connect_websocket(live_token) as ws:
        bambuddy_sim.drop_websockets()
        async with asyncio.timeout(2):
            errors += await collect_errors(ws.next_event())

    bambuddy_sim.latency = filaman_sim.latency = 0.5
    errors += await collect_errors(bambuddy.printers(), filaman.me())
    bambuddy_sim.latency = filaman_sim.latency = 0
    bambuddy_sim.down = filaman_sim.down = True
    errors += await collect_errors(bambuddy.printers(), filaman.spools())
    stream = events(session, filaman_sim.url, backoff_initial=0.01)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.1)
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pending
    await stream.aclose()
    url = bambuddy_sim.url
    await bambuddy_sim.stop()
    errors += await collect_errors(
        BambuddyClient(session, url, bambuddy_key).printers(),
        BambuddyClient(session, url, bambuddy_key).connect_websocket(live_token).connect(),
    )

    assert len(errors) == 16
    secrets = [bambuddy_key, filaman_key, wrong_bambuddy, wrong_filaman, token, live_token]
    texts = [str(err) for err in errors]
    texts += [r.getMessage() for r in caplog.records if r.name.startswith(OUR_LOGGERS)]
    texts += [repr(bambuddy), repr(filaman), repr(ws)]
    assert any("HTTP 401" in text for text in texts)
    for secret in secrets:
        leaks = [text for text in texts if secret in text]
        assert not leaks, leaks
    for secret in (bambuddy_key, filaman_key):
        assert secret[:12] not in "\n".join(texts)
