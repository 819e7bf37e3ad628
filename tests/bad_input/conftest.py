"""Fixtures for the bad-input matrix: a scripted raw HTTP server and a cookie-free session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from .raw_server import RawServer


@pytest.fixture
async def raw_server(socket_enabled: None) -> AsyncIterator[RawServer]:
    server = RawServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client_session:
        yield client_session
