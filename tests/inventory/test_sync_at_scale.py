"""Large inventories: work off the event loop, reused results, bounded writes.

No timings here (speed claims belong to ``script/bench``): the tests check that big
inventories are mapped and planned on the executor, that mapping reused between runs
still sees every change, and that the write workers keep concurrency bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import gc
from typing import Any
import warnings

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.inventory.sync_run import OFF_LOOP_MIN_SPOOLS, SyncRun
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .conftest import wait_until
from .populate import expected, linked, populate, spool_json, writes


@dataclass
class ExecutorJobs:
    """Counts the jobs the event loop hands to its executor."""

    count: int = 0


@pytest.fixture
async def executor(monkeypatch: pytest.MonkeyPatch) -> ExecutorJobs:
    # Home Assistant's test loop refuses a new default executor, so the loop's own
    # hand-over is counted instead; the work still runs on the real executor.
    loop = asyncio.get_running_loop()
    jobs = ExecutorJobs()
    hand_over = loop.run_in_executor

    def counting(executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        jobs.count += 1
        return hand_over(executor, func, *args)

    monkeypatch.setattr(loop, "run_in_executor", counting)
    return jobs


def sync_run(bambuddy: BambuddyClient, filaman: FilamanClient, concurrency: int = 4) -> SyncRun:
    return SyncRun(bambuddy, filaman, filaman_printer_id=1, write_concurrency=concurrency)


async def test_small_inventory_stays_on_the_event_loop(
    bambuddy: BambuddyClient,
    filaman: FilamanClient,
    filaman_sim: FilamanSimulator,
    executor: ExecutorJobs,
) -> None:
    populate(filaman_sim, count=20)
    result = await sync_run(bambuddy, filaman).run(reason="test", full=False)
    assert (result.created, result.complete) == (20, True)
    assert executor.count == 0


async def test_large_inventory_is_mapped_and_planned_off_the_event_loop(
    bambuddy: BambuddyClient,
    bambuddy_sim: BambuddySimulator,
    filaman: FilamanClient,
    filaman_sim: FilamanSimulator,
    executor: ExecutorJobs,
) -> None:
    inventory = populate(filaman_sim, count=OFF_LOOP_MIN_SPOOLS)
    run = sync_run(bambuddy, filaman, concurrency=8)

    result = await run.run(reason="test", full=False)

    assert (result.created, result.failed, result.complete) == (OFF_LOOP_MIN_SPOOLS, 0, True)
    assert sorted(linked(bambuddy_sim)) == inventory.active
    assert executor.count >= 2  # mapping and planning
    bambuddy_sim.request_log.clear()
    again = await run.run(reason="again", full=False)
    assert (again.unchanged, again.complete) == (OFF_LOOP_MIN_SPOOLS, True)
    assert writes(bambuddy_sim.request_log) == []


async def test_reused_mapping_still_sees_param_and_spool_edits(
    bambuddy: BambuddyClient,
    bambuddy_sim: BambuddySimulator,
    filaman: FilamanClient,
    filaman_sim: FilamanSimulator,
) -> None:
    inventory = populate(filaman_sim, count=10)
    run = sync_run(bambuddy, filaman)
    assert (await run.run(reason="first", full=False)).created == 10
    first_filament = run.filaman_spools[inventory.active[0]].filament_id

    # Only the export changed: the spools themselves read exactly as before.
    filaman_sim.set_printer_params(
        inventory.printer_id,
        filament_id=first_filament,
        params={"bambu_nozzle_temp_min": "195", "bambu_nozzle_temp_max": "235"},
    )
    params_edit = await run.run(reason="params", full=False)
    assert params_edit.updated > 0
    twins = linked(bambuddy_sim)
    for spool_id in inventory.active:
        desired = expected(filaman_sim, spool_id, inventory.printer_id).fields
        stored = spool_json(bambuddy_sim, twins[spool_id][0].id)
        for key in ("nozzle_temp_min", "nozzle_temp_max"):
            assert stored[key] == desired.get(key), (spool_id, key)
    assert any(
        spool_json(bambuddy_sim, twins[spool_id][0].id)["nozzle_temp_max"] == 235
        for spool_id in inventory.active
    )

    edited = inventory.active[-1]
    filaman_sim.edit_spool(edited, remaining_weight_g=42.0)
    spool_edit = await run.run(reason="spool", full=False)
    assert (spool_edit.updated, spool_edit.unchanged) == (1, 9)
    stored = spool_json(bambuddy_sim, twins[edited][0].id)
    assert stored["weight_used"] == stored["label_weight"] - 42.0


async def test_writes_run_in_a_bounded_pool(
    bambuddy_sim: BambuddySimulator, filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    in_flight = 0
    most = 0

    async def started(*_: Any) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)

    async def ended(*_: Any) -> None:
        nonlocal in_flight
        in_flight -= 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(ended)
    assert bambuddy_sim.url is not None
    async with aiohttp.ClientSession(trace_configs=[trace]) as traced:
        bambuddy = BambuddyClient(traced, bambuddy_sim.url, bambuddy_sim.create_api_key())
        populate(filaman_sim, count=30)
        bambuddy_sim.latency = 0.005
        result = await sync_run(bambuddy, filaman, concurrency=3).run(reason="test", full=False)

    assert (result.created, result.complete) == (30, True)
    assert most == 3
    assert in_flight == 0


async def test_cancelled_run_leaves_no_write_behind(
    bambuddy: BambuddyClient,
    bambuddy_sim: BambuddySimulator,
    filaman: FilamanClient,
    filaman_sim: FilamanSimulator,
) -> None:
    """Unload or shutdown cancels a writing run: queued writes are never even made."""
    populate(filaman_sim, count=12)
    bambuddy_sim.latency = 0.05
    posts = ("POST", "/api/v1/inventory/spools")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = asyncio.create_task(sync_run(bambuddy, filaman, 2).run(reason="t", full=False))
        await wait_until(lambda: bambuddy_sim.request_log.count(posts) > 0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        del task  # its cancellation traceback holds the run's frames
        await asyncio.sleep(0.01)  # let cancelled write tasks finish
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert bambuddy_sim.request_log.count(posts) < 12
