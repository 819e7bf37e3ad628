"""Fixtures of the simulator contract tests: a running Bambuddy simulator and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from simulators.bambuddy import BambuddySimulator

from .bambuddy_client import USAGE_DELAY, close_sockets


@pytest.fixture
async def sim(socket_enabled: None) -> AsyncIterator[BambuddySimulator]:
    simulator = BambuddySimulator(ws_usage_delay=USAGE_DELAY, assign_verify_delay=0.01)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def key(sim: BambuddySimulator) -> str:
    return sim.create_api_key()


@pytest.fixture
async def http(sim: BambuddySimulator, key: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url, headers={"X-API-Key": key}) as session:
        yield session
        await close_sockets()


@pytest.fixture
async def anon(sim: BambuddySimulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        yield session
