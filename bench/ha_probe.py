"""Child process: a real Home Assistant core with the integration, timing its event loop.

Reads one JSON object from stdin (server URLs, keys, printer id), sets up a config entry
against the simulators the parent hosts, and writes one JSON object to stdout:

* ``setup_s`` — ``async_setup`` of the entry until Home Assistant is idle again;
* ``sync_s`` — the entry's startup inventory sync (it runs in the background after setup);
* ``max_block_ms`` — the longest the event loop was blocked during that sync, measured by a
  ticker task that asks to wake every 5 ms and records how late it woke;
* ``late_ticks`` — ticks that woke more than 50 ms late;
* ``gc_full_ms`` — the longest full (generation 2) garbage collection meanwhile. Python runs one
  whenever long-lived objects have grown by a quarter; it walks the whole process heap (all of
  Home Assistant's objects, not only ours) and holds the GIL, so every thread waits, whichever
  thread allocated last;
* ``reread`` — the first sync after the startup sync created every twin: Bambuddy's listing is
  all new to the client, which recognises its items by the text of its own create answers;
* ``idle`` — the next sync: nothing changed, the state every sync interval meets;
* ``steady`` — ``STEADY_SYNCS`` more syncs in a row, each after ``DRIFTED`` Bambuddy spools
  were changed behind the integration's back (as Bambuddy's own usage tracker does), so each
  re-reads a changed listing and writes them back: whether any of them meets a full collection.
  A sync that leaves long-lived objects behind (or keeps thousands of short-lived ones alive
  while a young collection promotes them) brings one on every few runs;
* ``burst`` — 50 spools weighed at once through FilaMan's API: until every twin is updated, and
  the event loop's worst block meanwhile (the targeted path at work inside Home Assistant).

Home Assistant is started the way its own tests start it (``async_test_home_assistant``),
in a temporary configuration directory, with real sockets and no mocks of this project.
Run as ``python -m bench.ha_probe``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import gc
import json
import logging
import socket
import sys
import tempfile
import time
from typing import Any

from homeassistant import loader
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.filaman_bambuddy.const import (
    CONF_BAMBUDDY_API_KEY,
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_URL,
    CONF_PRINTER_ID,
    DOMAIN,
)

from .memory import rss_kib

TICK_S = 0.005
BURST = 50
STEADY_SYNCS = 20
DRIFTED = 10
LATE_MS = 50.0


@dataclass
class LoopWatch:
    """The worst lateness of a 5 ms ticker (and longest full collection) since :meth:`reset`."""

    max_block_ms: float = 0.0
    late_ticks: int = 0
    ticks: int = 0
    gc_full_ms: float = 0.0
    gc_full_count: int = 0
    _gc_started: float = 0.0
    _since: float = 0.0

    def reset(self) -> None:
        self.max_block_ms, self.late_ticks, self.ticks, self.gc_full_ms = 0.0, 0, 0, 0.0
        self.gc_full_count = 0
        # A tick due before the reset is late for the previous phase, not this one.
        self._since = time.perf_counter()

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """A ``gc.callbacks`` hook: time full collections."""
        if info["generation"] != 2:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            spent_ms = (time.perf_counter() - self._gc_started) * 1000
            self.gc_full_ms = max(self.gc_full_ms, spent_ms)
            self.gc_full_count += 1

    async def run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            late_ms = max(0.0, (now - max(last, self._since) - TICK_S) * 1000)
            last = now
            self.ticks += 1
            self.max_block_ms = max(self.max_block_ms, late_ms)
            if late_ms > LATE_MS:
                self.late_ticks += 1

    def figures(self) -> dict[str, float | int]:
        return {
            "max_block_ms": round(self.max_block_ms, 2),
            "late_ticks": self.late_ticks,
            "ticks": self.ticks,
            "gc_full_ms": round(self.gc_full_ms, 2),
            "gc_full_count": self.gc_full_count,
        }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def probe(config: dict[str, Any], config_dir: str) -> dict[str, Any]:
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        # What the pytest plugin's enable_custom_integrations fixture does.
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        assert await async_setup_component(
            hass, "http", {"http": {"server_host": "127.0.0.1", "server_port": _free_port()}}
        )
        await hass.async_block_till_done()
        watch = LoopWatch()
        ticker = asyncio.get_running_loop().create_task(watch.run())
        gc.callbacks.append(watch.on_gc)
        try:
            return await _measure(hass, config, watch)
        finally:
            gc.callbacks.remove(watch.on_gc)
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            await hass.async_stop(force=True)


async def _measure(hass: HomeAssistant, config: dict[str, Any], watch: LoopWatch) -> dict[str, Any]:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Bench X1C",
        unique_id="BENCHSERIAL",
        data={
            CONF_BAMBUDDY_URL: config["bambuddy_url"],
            CONF_BAMBUDDY_API_KEY: config["bambuddy_key"],
            CONF_PRINTER_ID: config["printer_id"],
            CONF_FILAMAN_URL: config["filaman_url"],
            CONF_FILAMAN_API_KEY: config["filaman_key"],
        },
    )
    entry.add_to_hass(hass)
    started = time.perf_counter()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    setup_s = time.perf_counter() - started
    during_setup = watch.figures()
    watch.reset()
    runner = entry.runtime_data.hub.inventory
    async with asyncio.timeout(300):
        while runner.last_result is None:  # noqa: ASYNC110 - the startup sync runs in the background
            await asyncio.sleep(0.05)
    sync = runner.last_result
    during_sync = watch.figures()
    watch.reset()
    reread = await runner.async_sync("bench re-read")
    during_reread = watch.figures()
    watch.reset()
    idle = await runner.async_sync("bench idle")
    during_idle = watch.figures()
    twins = await _twin_ids(hass, config)
    watch.reset()
    steady_started = time.perf_counter()
    steady_writes = 0

    def count_writes() -> None:
        # Bambuddy reports the drift as events, which may start a sync before ours does.
        nonlocal steady_writes
        if runner.last_result is not None:
            steady_writes += runner.last_result.updated

    remove = runner.async_add_listener(count_writes)
    for round_index in range(STEADY_SYNCS):
        await _drift(hass, config, twins[round_index * DRIFTED : (round_index + 1) * DRIFTED])
        await runner.async_sync("bench steady")
    steady_s = time.perf_counter() - steady_started
    await _settle(runner)  # the syncs our writes' echoes still set off belong to this phase
    remove()
    during_steady = watch.figures()
    watch.reset()
    burst = await _burst(hass, entry, config)
    during_burst = watch.figures()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    return {
        "setup_s": round(setup_s, 4),
        "setup_loop": during_setup,
        "sync_s": round(sync.duration_s, 3),
        "sync_result": sync.as_dict(),
        "sync_loop": during_sync,
        "reread_sync_s": round(reread.duration_s, 3),
        "reread_loop": during_reread,
        "idle_sync_s": round(idle.duration_s, 3),
        "idle_result": idle.as_dict(),
        "idle_loop": during_idle,
        "steady_syncs": STEADY_SYNCS,
        "steady_s": round(steady_s, 3),
        "steady_drifted": DRIFTED,
        "steady_writes": steady_writes,
        "steady_loop": during_steady,
        "burst": burst,
        "burst_loop": during_burst,
        "rss_kib": rss_kib(),
    }


async def _settle(runner: Any) -> None:
    """Wait until no sync ran for a second (Bambuddy reports every write as an event)."""
    seen = runner.last_result
    while True:
        await asyncio.sleep(1.0)
        if not runner.running and runner.last_result is seen:
            return
        seen = runner.last_result


async def _twin_ids(hass: HomeAssistant, config: dict[str, Any]) -> list[int]:
    """The ids of the Bambuddy spools the integration linked, in id order."""
    session = async_get_clientsession(hass)
    url = f"{config['bambuddy_url']}/api/v1/inventory/spools"
    async with session.get(url, headers={"X-API-Key": config["bambuddy_key"]}) as answer:
        spools = await answer.json()
    return sorted(spool["id"] for spool in spools if (spool["note"] or "").startswith("filaman:"))


async def _drift(hass: HomeAssistant, config: dict[str, Any], bambuddy_ids: list[int]) -> None:
    """Change Bambuddy spools the way its usage tracker does, through Bambuddy's REST API."""
    session = async_get_clientsession(hass)
    headers = {"X-API-Key": config["bambuddy_key"]}
    for bambuddy_id in bambuddy_ids:
        url = f"{config['bambuddy_url']}/api/v1/inventory/spools/{bambuddy_id}"
        body = {"weight_used": 1.5, "weight_locked": True}
        async with session.patch(url, json=body, headers=headers) as answer:
            answer.raise_for_status()


async def _burst(
    hass: HomeAssistant, entry: MockConfigEntry, config: dict[str, Any]
) -> dict[str, Any]:
    """Weigh ``BURST`` spools through FilaMan's REST API; wait until every twin is updated."""
    inventory = entry.runtime_data.hub.inventory
    chosen = [inventory.filaman_spools[i] for i in sorted(inventory.filaman_spools)[:BURST]]
    updated = 0
    done = asyncio.Event()

    def count() -> None:
        nonlocal updated
        if inventory.last_result is not None:
            updated += inventory.last_result.updated
        if updated >= len(chosen):
            done.set()

    remove = inventory.async_add_listener(count)
    session = async_get_clientsession(hass)
    headers = {"Authorization": f"ApiKey {config['filaman_key']}"}
    started = time.perf_counter()
    for spool in chosen:
        gross = (spool.remaining_weight_g or 500.0) - 1.25 + (spool.empty_spool_weight_g or 0.0)
        url = f"{config['filaman_url']}/api/v1/spools/{spool.id}/measurements"
        async with session.post(url, json={"measured_weight_g": gross}, headers=headers) as answer:
            answer.raise_for_status()
    async with asyncio.timeout(60):
        await done.wait()
    remove()
    return {"edits": len(chosen), "all_landed_s": round(time.perf_counter() - started, 3)}


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = json.loads(sys.stdin.readline())
    with tempfile.TemporaryDirectory(prefix="bench-ha-") as config_dir:
        result = asyncio.run(probe(config, config_dir))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
