"""The bench's measurements; each phase uses fresh simulators and a fresh child process."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from simulators.bambuddy import slots

from .child import Child, run_once
from .servers import Servers, start_servers
from .stats import summary

POLL_S = 0.002
PROPAGATION_TIMEOUT_S = 60.0
BURST = 50  # edits made at once: a maker weighing a shelf of spools
DEBIT_TIMEOUT_S = 30.0
QUIET_S = 0.3
GRAMS_PER_PRINT = 3.5
# Baseline pauses are slept up to this many writes per run, then counted (keeps the bench short).
MAX_SLEPT_WRITES = 100


def _setup(servers: Servers, style: str, **extra: Any) -> dict[str, Any]:
    return {
        "cmd": "setup",
        "style": style,
        "bambuddy_url": servers.bambuddy_url,
        "bambuddy_key": servers.bambuddy_key,
        "filaman_url": servers.filaman.url,
        "filaman_key": servers.filaman_key,
        "printer_id": servers.printer_id,
        **extra,
    }


async def _timed_sync(agent: Child, servers: Servers) -> dict[str, Any]:
    servers.clear_logs()
    answer = await agent.call(cmd="sync")
    return {
        "wall_s": round(answer["wall_s"], 4),
        "requests": servers.requests(),
        "request_total": sum(servers.requests().values()),
        "bambuddy_writes": servers.bambuddy_writes(),
        "peak_rss_kib": answer["rss_kib"]["peak"],
        "rss_before_kib": answer["rss_before_kib"]["current"],
        "result": answer["result"],
    }


async def _quiet(servers: Servers, quiet_s: float = QUIET_S, limit_s: float = 30.0) -> None:
    """Wait until neither simulator saw a request for ``quiet_s``."""
    deadline = time.monotonic() + limit_s
    seen = -1
    since = time.monotonic()
    while time.monotonic() < deadline:
        count = len(servers.bambuddy.request_log) + len(servers.filaman.request_log)
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        await asyncio.sleep(0.02)


def _twin_of(servers: Servers, filaman_id: int) -> Any:
    note = f"filaman:{filaman_id}"
    return next(s for s in servers.bambuddy.db.spools.values() if s.fields.get("note") == note)


def _weigh(servers: Servers, filaman_id: int) -> None:
    """A FilaMan edit as a maker makes one: the spool weighed 1.25 g lighter (a measurement)."""
    spool = servers.filaman.spool(filaman_id)
    gross = (spool.remaining_weight_g or 500.0) - 1.25 + (spool.empty_spool_weight_g or 0.0)
    servers.filaman.record_measurement(filaman_id, gross)


async def _propagation(servers: Servers, edits: int, rng: random.Random) -> list[float]:
    """FilaMan edit → Bambuddy twin updated, one edit at a time."""
    samples: list[float] = []
    for _ in range(edits):
        await _quiet(servers)
        filaman_id = rng.choice(servers.spool_ids)
        twin = _twin_of(servers, filaman_id)
        before = twin.fields["weight_used"]
        started = time.perf_counter()
        _weigh(servers, filaman_id)
        async with asyncio.timeout(PROPAGATION_TIMEOUT_S):
            while twin.fields["weight_used"] == before:  # noqa: ASYNC110 - polling the simulator
                await asyncio.sleep(POLL_S)
        samples.append(time.perf_counter() - started)
    return samples


async def _burst(servers: Servers, rng: random.Random) -> list[float]:
    """``BURST`` edits of distinct spools at once → each twin updated (one latency each)."""
    await _quiet(servers)
    chosen = rng.sample(servers.spool_ids, min(BURST, len(servers.spool_ids)))
    twins = {filaman_id: _twin_of(servers, filaman_id) for filaman_id in chosen}
    before = {filaman_id: twin.fields["weight_used"] for filaman_id, twin in twins.items()}
    started = time.perf_counter()
    for filaman_id in chosen:
        _weigh(servers, filaman_id)
    landed: dict[int, float] = {}
    async with asyncio.timeout(PROPAGATION_TIMEOUT_S):
        while len(landed) < len(chosen):
            now = time.perf_counter() - started
            for filaman_id, twin in twins.items():
                if filaman_id not in landed and twin.fields["weight_used"] != before[filaman_id]:
                    landed[filaman_id] = now
            await asyncio.sleep(POLL_S)
    return sorted(landed.values())


async def _changes(agent: Child, servers: Servers, edits: int, seed: int) -> dict[str, Any]:
    """Single edits and one burst, with the agent's change path as it was set up."""
    await agent.call(cmd="watch")
    single = await _propagation(servers, edits, random.Random(seed))
    burst = await _burst(servers, random.Random(seed + 1))
    return {
        "single": summary(single) | {"samples_s": [round(s, 4) for s in single]},
        "burst": summary(burst) | {"edits": len(burst), "samples_s": [round(s, 4) for s in burst]},
    }


async def _consumption(servers: Servers, prints: int) -> list[float]:
    """``spool_usage_logged`` sent → FilaMan spool debited, one print at a time."""
    filaman_id = servers.spool_ids[0]
    bambuddy, printer = servers.bambuddy, servers.printer_id
    bambuddy.set_tray(printer, 0, 0, tray_type="PLA", tray_sub_brands="PLA Basic")
    slots.assign_spool(bambuddy, _twin_of(servers, filaman_id), printer, 0, 0)
    await _quiet(servers)
    samples: list[float] = []
    for index in range(prints):
        before = servers.filaman.spool(filaman_id).remaining_weight_g
        # run_print returns right after the usage rows are written and the event is sent.
        await bambuddy.run_print(printer, f"Bench {index}", grams={(0, 0): GRAMS_PER_PRINT})
        started = time.perf_counter()
        async with asyncio.timeout(DEBIT_TIMEOUT_S):
            while servers.filaman.spool(filaman_id).remaining_weight_g == before:  # noqa: ASYNC110
                await asyncio.sleep(POLL_S)
        samples.append(time.perf_counter() - started)
        await _quiet(servers, quiet_s=0.1)
    return samples


async def measure_ours(size: int, edits: int, prints: int, seed: int) -> dict[str, Any]:
    servers = await start_servers(size)
    agent = await Child.start("bench.agent")
    try:
        await agent.call(**_setup(servers, "ours"))
        initial = await _timed_sync(agent, servers)
        idle = await _timed_sync(agent, servers)
        targeted = await _changes(agent, servers, edits, seed)
        consumption = await _consumption(servers, prints)
    finally:
        await agent.close()
    # The previous path, in the same run: every change hint waits out the debounce and runs a
    # full listing and comparison.
    agent = await Child.start("bench.agent")
    try:
        await agent.call(**_setup(servers, "ours", change_path="full"))
        await _timed_sync(agent, servers)
        full_listing = await _changes(agent, servers, edits, seed)
    finally:
        await agent.close()
        await servers.stop()
    return {
        "spools": size,
        "initial": initial,
        "idle": idle,
        "propagation": targeted["single"],
        "burst": targeted["burst"],
        "full_listing": full_listing,
        "consumption": summary(consumption) | {"samples_s": [round(s, 4) for s in consumption]},
    }


async def measure_plugin(size: int) -> dict[str, Any]:
    servers = await start_servers(size)
    agent = await Child.start("bench.agent")
    try:
        await agent.call(**_setup(servers, "plugin", sleep_pauses=size <= MAX_SLEPT_WRITES))
        initial = await _timed_sync(agent, servers)
        idle = await _timed_sync(agent, servers)
    finally:
        await agent.close()
        await servers.stop()
    return {"spools": size, "initial": initial, "idle": idle}


async def measure_home_assistant(size: int) -> dict[str, Any]:
    servers = await start_servers(size)
    try:
        setup = _setup(servers, "ours")
        return {"spools": size} | await run_once("bench.ha_probe", setup)
    finally:
        await servers.stop()
