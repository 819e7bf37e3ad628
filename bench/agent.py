"""Child process that runs the code under test; the parent (with the simulators) measures.

One JSON command per stdin line, one JSON answer per stdout line:

* ``{"cmd": "setup", "style": "ours"|"plugin", "bambuddy_url", "bambuddy_key", "filaman_url",
  "filaman_key", "printer_id", "sleep_pauses", "change_path": "targeted"|"full",
  "change_watch": "pool"|"one_stream"}``; ``full`` routes every FilaMan change hint to a full
  sync, as before the targeted path existed; ``one_stream`` watches FilaMan with one change
  stream and no poll, as before FilaMan's workers were taken into account.
* ``{"cmd": "sync"}`` → ``{"wall_s", "result", "rss_before_kib", "rss_kib"}``: one inventory sync,
  ours (:class:`InventoryCoordinator`, in a Home Assistant core started the way its own tests
  start one) or the plugin-style baseline.
* ``{"cmd": "watch"}`` (ours): start what the hub runs — the FilaMan change watcher, the live
  WebSocket session and the consumption processor — and answer once they are up.
* ``{"cmd": "quit"}``.

Run as ``python -m bench.agent``. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import logging
import sys
import tempfile
import time
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    async_test_home_assistant,
)

from custom_components.filaman_bambuddy.api import BambuddyClient, FilamanClient
from custom_components.filaman_bambuddy.api.bambuddy_live import BambuddyLiveSession
from custom_components.filaman_bambuddy.api.events import SpoolUsageLoggedEvent, WsEvent
from custom_components.filaman_bambuddy.consumption import (
    ConsumptionProcessor,
    MemoryLedgerStore,
)
from custom_components.filaman_bambuddy.coordinator import InventoryCoordinator
from custom_components.filaman_bambuddy.inventory.watcher import FilamanChangeWatcher

from .memory import rss_kib
from .plugin_style import plugin_sync

# The previous design: one change stream (reconnected every 10 minutes) and no poll.
ONE_STREAM: dict[str, Any] = {
    "streams": 1,
    "poll_active": 1e9,
    "poll_idle": 1e9,
    "refresh_every": 600.0,
}


class _FullListingPath:
    """The watcher's target with the targeted path switched off: every hint is a full sync."""

    def __init__(self, coordinator: InventoryCoordinator) -> None:
        self._coordinator = coordinator

    def async_request_sync(self, reason: str) -> None:
        self._coordinator.async_request_sync(reason)

    def async_spools_changed(self, *, events_only: bool = False) -> None:
        self._coordinator.async_request_sync("filaman_sse")


class Agent:
    def __init__(
        self, hass: HomeAssistant, session: aiohttp.ClientSession, setup: dict[str, Any]
    ) -> None:
        self.style: str = setup["style"]
        self.sleep_pauses: bool = bool(setup.get("sleep_pauses", True))
        self.printer_id: int = setup["printer_id"]
        self.bambuddy = BambuddyClient(session, setup["bambuddy_url"], setup["bambuddy_key"])
        self.filaman = FilamanClient(session, setup["filaman_url"], setup["filaman_key"])
        # The interval is the safety net; the bench measures the pushed changes.
        self.runner = InventoryCoordinator(
            hass,
            self.bambuddy,
            self.filaman,
            name="bench inventory",
            filaman_printer_id=None,
            sync_interval=timedelta(hours=1),
        )
        full_path = setup.get("change_path", "targeted") == "full"
        one_stream = setup.get("change_watch", "pool") == "one_stream"
        self.watcher = FilamanChangeWatcher(
            self.filaman,
            _FullListingPath(self.runner) if full_path else self.runner,
            **(ONE_STREAM if one_stream else {}),
        )
        self.live = BambuddyLiveSession(self.bambuddy, reconnect_interval=5)
        self.consumption = ConsumptionProcessor(
            self.bambuddy, self.filaman, self.printer_id, MemoryLedgerStore()
        )
        self._tasks: set[asyncio.Task[Any]] = set()

    async def sync(self) -> dict[str, Any]:
        before = rss_kib()
        started = time.perf_counter()
        if self.style == "plugin":
            run = await plugin_sync(self.bambuddy, self.filaman, sleep_pauses=self.sleep_pauses)
            wall = time.perf_counter() - started
            if not run.slept:
                wall += run.paused_s  # the pauses the plugin would have slept
            result: dict[str, Any] = {
                "writes": run.writes,
                "failed": run.failed,
                "paused_s": run.paused_s,
                "pauses_slept": run.slept,
            }
        else:
            outcome = await self.runner.async_sync("bench")
            wall = time.perf_counter() - started
            result = dict(outcome.as_dict())
        return {"wall_s": wall, "result": result, "rss_before_kib": before, "rss_kib": rss_kib()}

    async def watch(self) -> dict[str, Any]:
        def on_event(event: WsEvent) -> None:
            # The same routing as hub.py and __init__.py.
            if event.type == "inventory_changed":
                self.runner.async_bambuddy_inventory_changed()
            if isinstance(event, SpoolUsageLoggedEvent) and event.printer_id == self.printer_id:
                self._spawn(self.consumption.wake("spool_usage_logged", event))

        self.live.add_listener(on_event)
        self._spawn(self.live.run())
        self.watcher.start()
        await self.consumption.start()
        await self.consumption.wait_idle()
        async with asyncio.timeout(10):
            while not self.live.connected:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return {"ok": True}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        await self.watcher.stop()
        await self.consumption.close()
        await self.runner.async_shutdown()
        await self.live.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def serve() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            await _serve(hass)
            await hass.async_stop(force=True)


async def _serve(hass: HomeAssistant) -> None:
    agent: Agent | None = None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            name = command["cmd"]
            answer: dict[str, Any]
            if name == "setup":
                agent = Agent(hass, session, command)
                answer = {"ok": True, "rss_kib": rss_kib()}
            elif name == "quit":
                break
            else:
                assert agent is not None, "setup first"
                answer = await (agent.sync() if name == "sync" else agent.watch())
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
        if agent is not None:
            await agent.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
