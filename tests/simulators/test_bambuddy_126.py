"""The simulator's Bambuddy 1.2.6 behaviour, rule by rule, from that release's source.

1.2.5.2 (the default) is what the captured examples show; 1.2.6 adds printer-scoped keys
(#1727), owner-bound keys (#1894), a scope-filtered WebSocket closed with 4401 when scopes
change, one usage row per filament (#3230), ``print_confirm_request`` and the upgrade's weight
repair (#2909). Each test also pins that 1.2.5.2 behaves as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from simulators.bambuddy import BambuddySimulator

from .bambuddy_client import API, USAGE_DELAY, close_sockets, get_json, open_ws


@pytest.fixture
async def new(socket_enabled: None) -> AsyncIterator[BambuddySimulator]:
    simulator = BambuddySimulator(ws_usage_delay=USAGE_DELAY, version="1.2.6")
    await simulator.start()
    yield simulator
    await simulator.stop()


def session(sim: BambuddySimulator, key: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=sim.url, headers={"X-API-Key": key})


def test_only_known_versions() -> None:
    with pytest.raises(ValueError, match=r"1\.2\.5\.2, 1\.2\.6"):
        BambuddySimulator(version="2.0")


async def test_the_version_is_public(new: BambuddySimulator, sim: BambuddySimulator) -> None:
    async with aiohttp.ClientSession(base_url=new.url) as anon:
        assert (await get_json(anon, f"{API}/updates/version"))["version"] == "1.2.6"
    async with aiohttp.ClientSession(base_url=sim.url) as anon:
        assert (await get_json(anon, f"{API}/updates/version"))["version"] == "1.2.5.2"


async def test_a_scoped_key_sees_its_printers_only_and_the_rest_as_missing(
    new: BambuddySimulator,
) -> None:
    mine = new.add_printer("Mine")
    other = new.add_printer("Other")
    key = new.create_api_key(printer_ids=[mine])
    async with session(new, key) as http:
        assert [p["id"] for p in await get_json(http, f"{API}/printers/")] == [mine]
        await get_json(http, f"{API}/printers/{mine}/status")
        body = await get_json(http, f"{API}/printers/{other}", status=404)
        assert body == {"detail": "Printer not found"}  # not "forbidden": nothing confirmed
        await get_json(http, f"{API}/printers/{other}/status", status=404)
        keys = new.db.api_keys[key].to_json(with_key=False)
        assert keys["printer_ids"] == [mine]
    await new.run_print(other, "Theirs", grams={})
    new.set_key_printers(key, None)  # the admin widens it again
    async with session(new, key) as http:
        assert len(await get_json(http, f"{API}/printers/")) == 2
    await close_sockets()


async def test_usage_and_assignments_are_filtered_to_the_scope(new: BambuddySimulator) -> None:
    mine, other = new.add_printer("Mine"), new.add_printer("Other")
    for printer in (mine, other):
        new.set_tray(printer, 0, 0, tray_type="PLA")
    admin = new.create_api_key()
    async with session(new, admin) as http:
        for printer in (mine, other):
            async with http.post(f"{API}/inventory/spools", json={"material": "PLA"}) as made:
                spool = (await made.json())["id"]
            body = {"spool_id": spool, "printer_id": printer, "ams_id": 0, "tray_id": 0}
            async with http.post(f"{API}/inventory/assignments", json=body) as assigned:
                assert assigned.status == 200
    for printer in (mine, other):
        await new.run_print(printer, "Part", grams={(0, 0): 3.0})
    scoped = new.create_api_key(printer_ids=[mine])
    async with session(new, scoped) as http:
        rows = await get_json(http, f"{API}/inventory/usage")
        assert {row["printer_id"] for row in rows} == {mine}
        rows = await get_json(http, f"{API}/inventory/assignments")
        assert {row["printer_id"] for row in rows} == {mine}
        body = {"spool_id": 1, "printer_id": other, "ams_id": 0, "tray_id": 1}
        async with http.post(f"{API}/inventory/assignments", json=body) as refused:
            assert refused.status == 404
    await close_sockets()


async def test_a_deactivated_owner_disables_the_key(
    new: BambuddySimulator, sim: BambuddySimulator
) -> None:
    for server, status in ((new, 403), (sim, 200)):
        key = server.create_api_key()
        server.deactivate_key_owner(key)
        async with session(server, key) as http:
            body = await get_json(http, f"{API}/printers/", status=status)
        if status == 403:
            assert body == {"detail": "API key owner is deactivated"}
    await close_sockets()


async def test_the_websocket_hears_only_its_printers_and_closes_with_4401(
    new: BambuddySimulator,
) -> None:
    mine, other = new.add_printer("Mine"), new.add_printer("Other")
    key = new.create_api_key(printer_ids=[mine])
    async with session(new, key) as http:
        ws = await open_ws(http)
        first = await ws.next_of("printer_status")
        assert first["printer_id"] == mine
        new.broadcast({"type": "printer_status", "printer_id": other, "data": {}})
        new.broadcast({"type": "inventory_changed"})  # no printer: everyone hears it
        frames = await ws.quiet(0.2)
        assert [f["type"] for f in frames] == ["inventory_changed"]
        await new.close_websockets()
        message = await ws.socket.receive(timeout=2)
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == 4401
    await close_sockets()


@pytest.mark.parametrize("version", ["1.2.5.2", "1.2.6"])
async def test_two_filaments_from_one_spool(socket_enabled: None, version: str) -> None:
    """1.2.6 books one usage row per filament of a print (#3230); 1.2.5.2 one per spool."""
    sim = BambuddySimulator(ws_usage_delay=USAGE_DELAY, version=version)
    await sim.start()
    try:
        printer = sim.add_printer("P")
        sim.set_tray(printer, 0, 0, tray_type="PLA")
        key = sim.create_api_key()
        async with session(sim, key) as http:
            async with http.post(f"{API}/inventory/spools", json={"material": "PLA"}) as made:
                spool = (await made.json())["id"]
            body = {"spool_id": spool, "printer_id": printer, "ams_id": 0, "tray_id": 0}
            async with http.post(f"{API}/inventory/assignments", json=body):
                pass
            ws = await open_ws(http)
            await sim.run_print(printer, "Two colours", grams={(0, 0): 5.0},
                                booked={(0, 0): [3.0, 2.0]})  # fmt: skip
            logged = await ws.next_of("spool_usage_logged")
            rows = await get_json(http, f"{API}/inventory/usage")
        weights = sorted(row["weight_used"] for row in rows)
        if version == "1.2.6":
            assert weights == [2.0, 3.0]
            assert len(logged["usage"]) == 2
            assert any(frame["type"] == "print_confirm_request" for frame in ws.frames)
        else:
            assert weights == [5.0]
            assert not any(frame["type"] == "print_confirm_request" for frame in ws.frames)
    finally:
        await close_sockets()
        await sim.stop()


async def test_the_weight_repair_rewrites_weighed_spools_and_books_nothing(
    new: BambuddySimulator,
) -> None:
    key = new.create_api_key()
    async with session(new, key) as http:
        body = {"material": "PLA", "label_weight": 1000, "core_weight": 250, "weight_used": 100}
        async with http.post(f"{API}/inventory/spools", json=body) as made:
            weighed = (await made.json())["id"]
        async with http.post(f"{API}/inventory/spools", json=body) as made:
            untouched = (await made.json())["id"]
    new.db.spools[weighed].fields["last_scale_weight"] = 850.0  # 600 g net on the scale
    assert new.repair_weights() == [weighed]
    assert new.db.spools[weighed].fields["weight_used"] == 400.0
    assert new.db.spools[untouched].fields["weight_used"] == 100.0
    assert new.db.usage == []
    await close_sockets()
