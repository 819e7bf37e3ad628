"""Big listings: decoded off the event loop, and not parsed again while unchanged.

No timings here (speed claims belong to ``script/bench``): the tests check where the
work happens (a recording default executor) and that reused models are exactly the
ones an unchanged answer would give, while any change is seen. Reuse is what keeps a
re-read from filling Python's oldest garbage-collector generation (see the bench).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import json
from typing import Any

import pytest

from custom_components.filaman_bambuddy.api._http import (
    OFF_LOOP_MIN_BYTES,
    decode_json,
    json_array_items,
)
from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.errors import ProtocolError
from custom_components.filaman_bambuddy.api.filaman import PAGE_SIZE, FilamanClient
from custom_components.filaman_bambuddy.api.models_bambuddy import BambuddySpool
from simulators.bambuddy import BambuddySimulator
from simulators.bambuddy.inventory import create_spool, patch_spool
from simulators.filaman import FilamanSimulator


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


def add_bambuddy_spools(sim: BambuddySimulator, count: int) -> None:
    for index in range(count):
        create_spool(sim.db, {"material": "PLA", "note": f"filaman:{index + 1}"})


def filament(sim: FilamanSimulator) -> int:
    return sim.add_filament(sim.add_manufacturer("Bambu Lab"), "PLA", "Basic", color_hex="#00AE42")


async def test_large_listing_is_decoded_and_parsed_off_the_event_loop(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator, executor: ExecutorJobs
) -> None:
    add_bambuddy_spools(bambuddy_sim, 3)
    assert len(await bambuddy.spools()) == 3
    assert executor.count == 0  # small answers stay on the fast path

    # Every listed spool is far more than 500 bytes of JSON.
    count = OFF_LOOP_MIN_BYTES // 500
    add_bambuddy_spools(bambuddy_sim, count - 3)
    spools = await bambuddy.spools()

    assert executor.count == 1
    assert [spool.id for spool in spools] == sorted(bambuddy_sim.db.spools)
    assert spools[-1].filaman_id == count - 3


async def test_unchanged_bambuddy_listing_returns_the_same_models(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    add_bambuddy_spools(bambuddy_sim, 3)
    first = await bambuddy.spools()
    again = await bambuddy.spools()
    assert again == first
    assert all(new is old for new, old in zip(again, first, strict=True))
    first.clear()  # callers get their own list
    assert len(await bambuddy.spools()) == 3

    await bambuddy.patch_spool(again[1].id, {"weight_used": 12.5, "weight_locked": True})
    changed = await bambuddy.spools()
    assert changed[1].weight_used == 12.5
    assert changed[0] == again[0]
    # The other flag is a different request with its own memory.
    assert len(await bambuddy.spools(include_archived=False)) == 3


@contextmanager
def parsed_spools() -> Iterator[list[int]]:
    """The ids of the Bambuddy spools parsed from JSON meanwhile."""
    parsed: list[int] = []
    from_json = BambuddySpool.from_json

    def counting(data: Any) -> BambuddySpool:
        parsed.append(data["id"])
        return from_json(data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BambuddySpool, "from_json", counting)
        yield parsed


async def test_a_changed_bambuddy_listing_keeps_the_models_of_unchanged_spools(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    add_bambuddy_spools(bambuddy_sim, 3)
    first = await bambuddy.spools()
    # Changed behind the client's back (as Bambuddy's usage tracker does).
    patch_spool(bambuddy_sim.db, bambuddy_sim.db.spools[first[1].id], {"weight_used": 7.5})

    with parsed_spools() as parsed:
        again = await bambuddy.spools()

    assert parsed == [first[1].id]  # items with the same text as last time are not parsed
    assert again[0] is first[0]
    assert again[2] is first[2]
    assert again[1] is not first[1]
    assert again[1].weight_used == 7.5


async def test_answers_to_writes_are_the_models_the_next_listing_returns(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    created = [await bambuddy.create_spool({"material": "PLA"}) for _ in range(3)]
    # The re-read after a first sync that created every twin parses nothing again.
    with parsed_spools() as parsed:
        listed = await bambuddy.spools()
    assert parsed == []
    assert all(new is old for new, old in zip(listed, created, strict=True))

    patched = await bambuddy.patch_spool(created[0].id, {"note": "filaman:9"})
    archived = await bambuddy.archive_spool(created[1].id)
    await bambuddy.delete_spool(created[2].id)
    listed = await bambuddy.spools()
    assert listed == [patched, archived]
    assert listed[0] is patched
    assert listed[1] is archived

    restored = await bambuddy.restore_spool(created[1].id)
    assert restored != archived
    relisted = await bambuddy.spools()
    assert relisted[0] is patched  # its text did not change: not parsed again
    assert relisted[1] is restored
    assert await bambuddy.spools(include_archived=False) == [patched, restored]


async def test_an_answer_is_reused_when_the_listing_spells_it_differently(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    created = await bambuddy.create_spool({"material": "PLA"})
    item = bambuddy_sim.db.spools[created.id].to_json()
    reordered = dict(reversed(item.items()))  # the same spool, other JSON text
    bambuddy_sim.fail_next("GET", r"/inventory/spools$", 200, body=[reordered])
    with parsed_spools() as parsed:
        listed = await bambuddy.spools()
    assert parsed == [created.id]
    assert listed[0] is created


async def test_a_malformed_bambuddy_listing_changes_no_remembered_model(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    add_bambuddy_spools(bambuddy_sim, 2)
    first = await bambuddy.spools()
    bambuddy_sim.fail_next("GET", r"/inventory/spools$", 200, body=[{"material": "PLA"}])
    with pytest.raises(ProtocolError, match="spool"):
        await bambuddy.spools()
    assert all(new is old for new, old in zip(await bambuddy.spools(), first, strict=True))


async def test_spools_of_one_filament_share_its_model(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament_id = filament(filaman_sim)
    other = filaman_sim.add_filament(filaman_sim.add_manufacturer("Polymaker"), "PETG")
    ids = [filaman_sim.add_spool(filament_id) for _ in range(PAGE_SIZE + 2)]
    odd = filaman_sim.add_spool(other)

    spools = {spool.id: spool for spool in await filaman.spools()}

    shared = spools[ids[0]].filament
    assert all(spools[spool_id].filament is shared for spool_id in ids)  # across pages too
    assert spools[odd].filament.id == other
    assert (await filaman.spool(ids[3])).filament is shared

    # An edited filament is read anew, and its new version is shared from then on.
    filaman_sim.state.filaments[filament_id].price = 31.5
    spools = {spool.id: spool for spool in await filaman.spools()}
    assert spools[ids[0]].filament.price == 31.5
    assert all(spools[spool_id].filament is spools[ids[0]].filament for spool_id in ids)
    assert spools[odd].filament.price is None


async def test_unchanged_filaman_pages_are_not_parsed_again(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament_id = filament(filaman_sim)
    ids = [filaman_sim.add_spool(filament_id) for _ in range(PAGE_SIZE * 2 + 5)]
    first = {spool.id: spool for spool in await filaman.spools()}
    edited = ids[PAGE_SIZE + 7]  # on page 2
    filaman_sim.edit_spool(edited, remaining_weight_g=321.0)

    again = {spool.id: spool for spool in await filaman.spools()}

    assert list(again) == ids
    assert again[edited].remaining_weight_g == 321.0
    page_two = set(ids[PAGE_SIZE : PAGE_SIZE * 2])
    for spool_id in ids:
        if spool_id in page_two:
            assert again[spool_id] is not first[spool_id]
        else:
            assert again[spool_id] is first[spool_id]
    assert {spool.id for spool in await filaman.spools(include_archived=True)} == set(ids)


async def test_unchanged_params_export_is_the_same_object(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament_id = filament(filaman_sim)
    printer_id = filaman_sim.add_printer("X1C", driver_key="bambuddy")
    params = {"bambu_nozzle_temp_min": "190"}
    filaman_sim.set_printer_params(printer_id, filament_id=filament_id, params=params)
    first = await filaman.params_export(printer_id)
    assert await filaman.params_export(printer_id) is first

    params = {"bambu_nozzle_temp_min": "200"}
    filaman_sim.set_printer_params(printer_id, filament_id=filament_id, params=params)
    changed = await filaman.params_export(printer_id)
    assert changed.filament_params[filament_id] == params


def envelope(items: list[Any], total: int) -> dict[str, Any]:
    return {"items": items, "page": 1, "page_size": PAGE_SIZE, "total": total}


async def test_malformed_spool_fails_only_a_complete_listing(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament_id = filament(filaman_sim)
    ids = [filaman_sim.add_spool(filament_id) for _ in range(PAGE_SIZE + 1)]
    broken = {**filaman_sim.spool_json(ids[0]), "filament": None}
    first_page = [broken] + [filaman_sim.spool_json(spool_id) for spool_id in ids[1:PAGE_SIZE]]
    # A page with a malformed spool, from a listing that changed while it was read:
    # read again, as when the listing was parsed only at its end.
    filaman_sim.fail_next("GET", r"/spools$", 200, body=envelope(first_page, PAGE_SIZE + 4))
    assert [spool.id for spool in await filaman.spools()] == ids

    # The same page in a complete listing fails it.
    filaman_sim.fail_next("GET", r"/spools$", 200, body=envelope(first_page, PAGE_SIZE + 1))
    with pytest.raises(ProtocolError, match=f"spool {ids[0]} filament"):
        await filaman.spools()


def test_a_body_nested_past_the_recursion_limit_is_a_protocol_error() -> None:
    # json.loads raises RecursionError there, which must not escape the ApiError tree.
    with pytest.raises(ProtocolError):
        decode_json("[" * 100_000, "GET /x")


@pytest.mark.parametrize(
    "text",
    ["[]", " \n[ \t]\r\n", '[1, "two", {"three": [3, {"x": null}]}, [], 4.5e1, true]', "[[1],[2]]"],
)
def test_array_items_are_decoded_as_the_whole_body_would_be(text: str) -> None:
    items = list(json_array_items(text, "GET /x"))
    assert [item for item, _ in items] == json.loads(text)
    assert all(json.loads(source) == item for item, source in items)  # each its own text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"items": []}', "expected a JSON array, got dict"),
        ("7", "expected a JSON array, got int"),
        ("nope", "not JSON"),
        ("[1,]", "not JSON"),
        ("[1 2]", "not JSON"),
        ("[1", "not JSON"),
        ("[", "not JSON"),
        ("[1] []", "not JSON"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_a_malformed_array_body_is_a_protocol_error(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        list(json_array_items(text, "GET /x", 200))
