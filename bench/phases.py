"""The bench's measurements; each phase uses fresh simulators and a fresh child process."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp

from custom_components.filaman_bambuddy.inventory.watcher import ACTIVE_FOR
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


# --- FilaMan as its image runs it: four workers, every kind of change -----------------------------

WORKER_KINDS = ("weighing", "adjustment", "price", "filament", "new_spool", "archived")
LATE_S = 10.0  # a change later than this counts as late (and the clock stops)
IDLE_S = 60.0  # how long the idle load is measured (nothing changes meanwhile)
ONE_STREAM_SAMPLES = 2  # per kind of change, for the previous design


class _FilamanUi:
    """Edits made the way FilaMan's web UI makes them: REST requests through its workers."""

    def __init__(self, session: aiohttp.ClientSession, servers: Servers, key: str) -> None:
        self.session = session
        self.servers = servers
        self.headers = {"Authorization": f"ApiKey {key}"}
        self.base = f"{servers.filaman.url}/api/v1"

    async def call(self, method: str, path: str, body: dict[str, Any]) -> Any:
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers
        ) as response:
            response.raise_for_status()
            return await response.json() if response.status != 204 else None

    async def edit(self, kind: str, spool_id: int, rng: random.Random) -> int:
        """One edit of ``kind``; returns the FilaMan spool it is about."""
        spool = self.servers.filaman.spool(spool_id)
        if kind == "weighing":
            gross = (spool.remaining_weight_g or 500.0) - 1.25 + (spool.empty_spool_weight_g or 0)
            await self.call(
                "POST", f"/spools/{spool_id}/measurements", {"measured_weight_g": gross}
            )
        elif kind == "adjustment":
            await self.call(
                "POST",
                f"/spools/{spool_id}/adjustments",
                {"adjustment_type": "relative", "delta_weight_g": -2.0},
            )
        elif kind == "price":
            await self.call("PATCH", f"/spools/{spool_id}", {"purchase_price": rng.randint(15, 40)})
        elif kind == "filament":
            others = [f for f in self.servers.filament_ids if f != spool.filament_id]
            await self.call("PATCH", f"/spools/{spool_id}", {"filament_id": rng.choice(others)})
        elif kind == "new_spool":
            created = await self.call(
                "POST",
                "/spools",
                {"filament_id": spool.filament_id, "initial_total_weight_g": 1250.0},
            )
            return int(created["id"])
        elif kind == "archived":
            await self.call("DELETE", f"/spools/{spool_id}", {})
        return spool_id


def _twin_state(servers: Servers, filaman_id: int) -> tuple[Any, ...] | None:
    """What Bambuddy holds for a FilaMan spool (``None``: no active twin)."""
    note = f"filaman:{filaman_id}"
    for twin in servers.bambuddy.db.spools.values():
        if twin.fields.get("note") == note and twin.archived_at is None:
            fields = twin.fields
            return (
                fields.get("weight_used"),
                fields.get("cost_per_kg"),
                fields.get("material"),
                fields.get("rgba"),
            )
    return None


async def _until_in_bambuddy(servers: Servers, filaman_id: int, before: Any) -> float | None:
    """Seconds until Bambuddy's twin changed from ``before``; ``None`` if not within LATE_S."""
    started = time.perf_counter()
    deadline = started + LATE_S
    while time.perf_counter() < deadline:
        if _twin_state(servers, filaman_id) != before:
            return time.perf_counter() - started
        await asyncio.sleep(POLL_S)
    return None


async def _kinds(
    ui: _FilamanUi, servers: Servers, per_kind: int, rng: random.Random
) -> dict[str, Any]:
    """Every kind of change, one at a time; each timed until its effect is in Bambuddy."""
    results: dict[str, Any] = {}
    usable = list(servers.spool_ids)
    rng.shuffle(usable)
    for kind in WORKER_KINDS:
        samples: list[float] = []
        late = 0
        for _ in range(per_kind):
            await _quiet(servers)
            spool_id = usable.pop()
            # A new spool's twin is compared with "none yet"; the rest with the twin as it was.
            before = None if kind == "new_spool" else _twin_state(servers, spool_id)
            started = time.perf_counter()
            about = await ui.edit(kind, spool_id, rng)
            if await _until_in_bambuddy(servers, about, before) is None:
                late += 1
                samples.append(LATE_S)
            else:
                samples.append(time.perf_counter() - started)
        results[kind] = summary(samples) | {
            "late": late,
            "samples_s": [round(value, 4) for value in samples],
        }
    return results


async def _burst_of_weighings(
    ui: _FilamanUi, servers: Servers, rng: random.Random
) -> dict[str, Any]:
    """``BURST`` spools weighed at the same moment (each request to some worker)."""
    await _quiet(servers)
    synced = [spool_id for spool_id in servers.spool_ids if _twin_state(servers, spool_id)]
    chosen = rng.sample(synced, min(BURST, len(synced)))  # not the ones archived just now
    before = {spool_id: _twin_state(servers, spool_id) for spool_id in chosen}
    started = time.perf_counter()
    await asyncio.gather(*(ui.edit("weighing", spool_id, rng) for spool_id in chosen))
    landed: dict[int, float] = {}
    deadline = started + LATE_S
    while len(landed) < len(chosen) and time.perf_counter() < deadline:
        for spool_id in chosen:
            if spool_id not in landed and _twin_state(servers, spool_id) != before[spool_id]:
                landed[spool_id] = time.perf_counter() - started
        await asyncio.sleep(POLL_S)
    samples = [landed.get(spool_id, LATE_S) for spool_id in chosen]
    return summary(samples) | {"edits": len(chosen), "late": len(chosen) - len(landed)}


async def _idle_load(servers: Servers, seconds: float) -> dict[str, Any]:
    """What watching costs FilaMan while nothing changes: requests, bytes, full listings.

    Measured once the watcher has gone idle (a minute after the last change)."""
    await _quiet(servers)
    await asyncio.sleep(ACTIVE_FOR + 1)
    filaman = servers.filaman
    servers.clear_logs()
    sent_before, pages_before = filaman.sent_bytes, filaman.listing_pages
    await asyncio.sleep(seconds)
    per_minute = 60.0 / seconds
    return {
        "seconds": seconds,
        "requests_per_min": round(len(filaman.request_log) * per_minute, 1),
        "bytes_per_min": round((filaman.sent_bytes - sent_before) * per_minute),
        "requests": servers.requests(),
        "listing_pages": filaman.listing_pages - pages_before,
        "open_streams": filaman.bus.stream_count,
    }


async def measure_workers(size: int, per_kind: int, seed: int, idle_s: float) -> dict[str, Any]:
    """Every kind of FilaMan change at four workers: our stream pool and poll against the one
    stream of the previous design, in the same run (fresh simulators for each)."""
    designs: dict[str, Any] = {}
    # The one-stream design misses most changes (each then costs LATE_S): fewer samples.
    for design, samples in (("pool", per_kind), ("one_stream", ONE_STREAM_SAMPLES)):
        servers = await start_servers(size)
        agent = await Child.start("bench.agent")
        try:
            async with aiohttp.ClientSession() as session:
                ui = _FilamanUi(session, servers, servers.filaman.create_api_key("admin"))
                await agent.call(**_setup(servers, "ours", change_watch=design))
                await agent.call(cmd="sync")
                await agent.call(cmd="watch")
                rng = random.Random(seed)
                result = {
                    "kinds": await _kinds(ui, servers, samples, rng),
                    "burst": await _burst_of_weighings(ui, servers, rng),
                    "workers_served": list(servers.filaman.bus.served),
                }
                if design == "pool" and idle_s:
                    result["idle"] = await _idle_load(servers, idle_s)
                designs[design] = result
        finally:
            await agent.close()
            await servers.stop()
    return {"spools": size, "workers": 4, **designs}


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
