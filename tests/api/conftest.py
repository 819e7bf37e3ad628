"""Fixtures for the API client tests: captured payloads, simulators, an aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

FIXTURES = Path(__file__).parent / "fixtures"


def load_json(name: str) -> Any:
    """A captured payload, e.g. ``load_json("bambuddy/spool_get.json")``."""
    return json.loads((FIXTURES / name).read_text())


def ws_frames(name: str) -> list[dict[str, Any]]:
    """The frames of a captured WebSocket file (one frame or a list)."""
    data = load_json(f"bambuddy/{name}")
    return data if isinstance(data, list) else [data]


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A cookie-free session, as the integration gives the FilaMan client."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client_session:
        yield client_session


@pytest.fixture
async def bambuddy_sim(socket_enabled: None) -> AsyncIterator[BambuddySimulator]:
    sim = BambuddySimulator(ws_usage_delay=0.05, assign_verify_delay=0.02)
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


@pytest.fixture
def bambuddy_key(bambuddy_sim: BambuddySimulator) -> str:
    return bambuddy_sim.create_api_key()


@pytest.fixture
def bambuddy(
    session: aiohttp.ClientSession, bambuddy_sim: BambuddySimulator, bambuddy_key: str
) -> BambuddyClient:
    assert bambuddy_sim.url is not None
    return BambuddyClient(session, bambuddy_sim.url, bambuddy_key, request_timeout=2)


@pytest.fixture
async def filaman_sim(socket_enabled: None) -> AsyncIterator[FilamanSimulator]:
    sim = FilamanSimulator()
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


@pytest.fixture
def filaman_key(filaman_sim: FilamanSimulator) -> str:
    return filaman_sim.create_api_key(role="user")


@pytest.fixture
def filaman(
    session: aiohttp.ClientSession, filaman_sim: FilamanSimulator, filaman_key: str
) -> FilamanClient:
    return FilamanClient(session, filaman_sim.url, filaman_key, request_timeout=2)
