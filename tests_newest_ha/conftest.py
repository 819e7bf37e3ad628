"""One lane per test module: simulators and a real `hass`, started once, stopped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from .lane import Lane


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def lane(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Lane]:
    state_dir: Path = tmp_path_factory.mktemp("newest-ha")
    async with aiohttp.ClientSession() as session:
        lane = Lane(state_dir=state_dir, session=session)
        try:
            await lane.start_simulators()
            await lane.start_hass()
            yield lane
        finally:
            await lane.stop()
            print(f"\nnewest-HA lane: logs in {state_dir / 'logs'}")
