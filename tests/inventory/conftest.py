"""Fixtures for the inventory sync tests: spool builders, both simulators, clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import copy
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.api.models_filaman import FilamanSpool
from custom_components.filaman_bambuddy.coordinator import InventoryCoordinator
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The inventory package is HA-free: these tests need no Home Assistant instance."""


def captured_filaman_spool() -> dict[str, Any]:
    """FilaMan's captured ``GET /spools/1`` (1250 g gross, 250 g tare, 1000 g left)."""
    data: dict[str, Any] = json.loads(
        (FIXTURES / "filaman" / "examples" / "spool_get.json").read_text()
    )
    return data


def filaman_spool(
    *,
    filament: dict[str, Any] | None = None,
    colors: list[str] | None = None,
    **fields: Any,
) -> FilamanSpool:
    """The captured spool with some fields replaced (``filament`` keys merge)."""
    data = copy.deepcopy(captured_filaman_spool())
    data.update(fields)
    if filament:
        data["filament"].update(filament)
    if colors is not None:
        data["filament"]["colors"] = [
            {"id": index, "position": index, "color": {"id": index, "hex_code": hex_code}}
            for index, hex_code in enumerate(colors, start=1)
        ]
    return FilamanSpool.from_json(data)


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client_session:
        yield client_session


@pytest.fixture
async def bambuddy_sim(socket_enabled: None) -> AsyncIterator[BambuddySimulator]:
    sim = BambuddySimulator(ws_usage_delay=0.05, assign_verify_delay=0.02)
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


@pytest.fixture
def bambuddy(session: aiohttp.ClientSession, bambuddy_sim: BambuddySimulator) -> BambuddyClient:
    assert bambuddy_sim.url is not None
    return BambuddyClient(
        session, bambuddy_sim.url, bambuddy_sim.create_api_key(), request_timeout=2
    )


@pytest.fixture
async def filaman_sim(socket_enabled: None) -> AsyncIterator[FilamanSimulator]:
    sim = FilamanSimulator()
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


@pytest.fixture
def filaman(session: aiohttp.ClientSession, filaman_sim: FilamanSimulator) -> FilamanClient:
    return FilamanClient(
        session, filaman_sim.url, filaman_sim.create_api_key(role="user"), request_timeout=2
    )


async def wait_until(predicate: Callable[[], bool], within: float = 3.0) -> None:
    """Poll ``predicate`` (cheap, in-process state) until it holds; fail after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.002)


def inventory_coordinator(
    hass: HomeAssistant,
    bambuddy: BambuddyClient,
    filaman: FilamanClient,
    *,
    filaman_printer_id: int | None = None,
    sync_interval: timedelta = timedelta(minutes=5),
    **options: Any,
) -> InventoryCoordinator:
    """The inventory coordinator of one Bambuddy server, as the hub builds it."""
    return InventoryCoordinator(
        hass,
        bambuddy,
        filaman,
        name="test inventory",
        filaman_printer_id=filaman_printer_id,
        sync_interval=sync_interval,
        **options,
    )


@pytest.fixture
async def inventory(
    hass: HomeAssistant, bambuddy: BambuddyClient, filaman: FilamanClient
) -> AsyncIterator[InventoryCoordinator]:
    """The server's inventory coordinator against both simulators (FilaMan printer 1)."""
    coordinator = inventory_coordinator(hass, bambuddy, filaman, filaman_printer_id=1)
    yield coordinator
    await coordinator.async_shutdown()
