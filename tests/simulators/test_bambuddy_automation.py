"""The Bambuddy simulator's own inventory automation, rule by rule (AUTOMATION.md §0-§6).

Every test names the section it pins. Defaults are the real ones: internal mode,
`auto_add_unknown_rfid` absent (= on).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from simulators.bambuddy import BambuddySimulator

from .bambuddy_client import API, create_spool, get_json, open_ws, send_json

TAG = "A1B2C3D4E5F60708"
UUID = "0123456789ABCDEF0123456789ABCDEF"
RFID_TRAY: dict[str, Any] = {
    "tray_type": "PLA",
    "tray_sub_brands": "PLA Basic",
    "tray_color": "FFFFFFFF",
    "tray_info_idx": "GFA00",
    "tag_uid": TAG,
    "tray_uuid": UUID,
    "remain": 80,
}


async def assignments(http: aiohttp.ClientSession) -> dict[tuple[int, int], int]:
    rows = await get_json(http, f"{API}/inventory/assignments")
    return {(row["ams_id"], row["tray_id"]): row["spool_id"] for row in rows}


async def spools(http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await get_json(
        http, f"{API}/inventory/spools?include_archived=true"
    )
    return sorted(result, key=lambda spool: spool["id"])


async def rest_assign(
    http: aiohttp.ClientSession, spool_id: int, printer_id: int, ams_id: int, tray_id: int
) -> None:
    body = {"spool_id": spool_id, "printer_id": printer_id, "ams_id": ams_id, "tray_id": tray_id}
    await send_json(http, "POST", f"{API}/inventory/assignments", body)


def plain_printer(sim: BambuddySimulator) -> int:
    """A printer whose A1 holds white PLA without a tag (80 % left)."""
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, tray_type="PLA", tray_color="FFFFFFFF", remain=80)
    return printer_id


async def booked(http: aiohttp.ClientSession) -> list[tuple[int, float]]:
    """(spool, grams) of every usage row, newest first: where the usage tracker booked prints."""
    rows = await get_json(http, f"{API}/inventory/usage")
    return [(row["spool_id"], row["weight_used"]) for row in rows]


# --- §1 auto-create ----------------------------------------------------------------------


async def test_auto_create_from_rfid_tray(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§1 create_spool_from_tray's fields; §6 spool_auto_assigned only (no inventory_changed)."""
    printer_id = sim.add_printer("P1S")
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    sim.set_tray(printer_id, 0, 0, **(RFID_TRAY | {"tag_uid": "a1b2-c3d4-e5f6-0708"}))
    frames = await ws.quiet(0.2)
    kinds = [frame["type"] for frame in frames]
    assert kinds == ["printer_status", "spool_auto_assigned"]
    (spool,) = await spools(http)
    assert frames[1] == {
        "type": "spool_auto_assigned",
        "printer_id": printer_id,
        "ams_id": 0,
        "tray_id": 0,
        "spool_id": spool["id"],
    }
    assert {key: spool[key] for key in ("material", "subtype", "brand", "rgba")} == {
        "material": "PLA",
        "subtype": "Basic",
        "brand": "Bambu Lab",
        "rgba": "FFFFFFFF",
    }
    assert (spool["label_weight"], spool["core_weight"], spool["weight_used"]) == (1000, 216, 200.0)
    assert (spool["tag_uid"], spool["tray_uuid"]) == (TAG, UUID)  # normalised
    assert (spool["data_origin"], spool["tag_type"]) == ("rfid_auto", "bambulab")
    assert (spool["slicer_filament"], spool["weight_locked"], spool["note"]) == (
        "GFA00",
        False,
        None,
    )
    assert await assignments(http) == {(0, 0): spool["id"]}


async def test_auto_create_runs_on_the_first_report_after_connect(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§0: the first report of a new MQTT client always runs the callback (Bambuddy start)."""
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    (spool,) = await spools(http)
    await send_json(http, "DELETE", f"{API}/inventory/spools/{spool['id']}")
    sim.report_status(printer_id)  # the same data again: nothing runs
    assert await spools(http) == []
    await sim.restart()
    (again,) = await spools(http)
    assert again["id"] != spool["id"]
    assert again["tray_uuid"] == UUID
    assert await assignments(http) == {(0, 0): again["id"]}


async def test_auto_add_setting_off_sends_unknown_tag_once(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§1 setting: "false" and "" are off; §6 unknown_tag, deduped per slot and tags."""
    for value in ("false", ""):
        sim.set_setting("auto_add_unknown_rfid", value)
        assert not sim.auto_add_unknown_rfid
    printer_id = sim.add_printer("P1S")
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    unknown = await ws.next_of("unknown_tag")
    assert unknown == {
        "type": "unknown_tag",
        "printer_id": printer_id,
        "ams_id": 0,
        "tray_id": 0,
        "tag_uid": TAG,
        "tray_uuid": UUID,
        "tray_type": "PLA",
        "tray_color": "FFFFFFFF",
        "tray_sub_brands": "PLA Basic",
        "tray_count": 4,
    }
    sim.set_remain(printer_id, 0, 0, 79)  # the callback runs again; the dedup holds
    assert [f["type"] for f in await ws.quiet(0.1)] == ["printer_status"]
    assert await spools(http) == []
    sim.set_setting("auto_add_unknown_rfid", None)
    assert sim.auto_add_unknown_rfid


async def test_non_bambu_tag_is_announced_not_created(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§0 table: a valid non-Bambu tag (no uuid, no preset) only gets unknown_tag."""
    printer_id = sim.add_printer("P1S")
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    tray = sim.printer(printer_id).tray_at(0, 1)
    assert tray is not None
    tray.tray_type, tray.tray_color, tray.state = "PLA", "FFFFFFFF", 11
    tray.tag_uid, tray.tray_info_idx = TAG, None  # a third-party tag, no preset
    sim.report_status(printer_id)
    assert (await ws.next_of("unknown_tag"))["tray_uuid"] is None
    assert await spools(http) == []


# --- §2 matching -------------------------------------------------------------------------


async def test_match_prefers_tray_uuid_then_lowest_id_and_skips_archived(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§2: tray_uuid before tag_uid; two holders → lowest id; archived spools never match."""
    by_uid = await create_spool(http, tag_uid=TAG)
    by_uuid = await create_spool(http, tray_uuid=UUID.lower())
    twin = await create_spool(http, tray_uuid=UUID)  # REST accepts duplicate tags (§1)
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    assert await assignments(http) == {(0, 0): by_uuid["id"]}
    assert by_uid["id"] < by_uuid["id"] < twin["id"]
    # Archived holders are invisible: a new rfid_auto spool is created beside them.
    for spool in (by_uid, by_uuid, twin):
        await send_json(http, "POST", f"{API}/inventory/spools/{spool['id']}/archive")
    sim.clear_tray(printer_id, 0, 0)
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    created = (await spools(http))[-1]
    assert created["data_origin"] == "rfid_auto"
    assert await assignments(http) == {(0, 0): created["id"]}


async def test_fuzzy_tag_uid_match(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    """§2 step 3: a stored uid that ends with the tray's last 8 characters matches."""
    spool = await create_spool(http, tag_uid="FFFF" + TAG[-8:])
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, **(RFID_TRAY | {"tray_uuid": None, "tag_uid": TAG[-8:]}))
    assert await assignments(http) == {(0, 0): spool["id"]}


async def test_untagged_lookalike_gets_the_tag(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§1 find_matching_untagged_spool + link_tag_to_inventory_spool (oldest, Bambu brand)."""
    other_brand = await create_spool(http, rgba="FFFFFFFF", brand="Polymaker", subtype="Basic")
    blank_brand = await create_spool(http, rgba="FFFFFFFF", brand="", subtype="Basic")
    match = await create_spool(
        http, rgba="ffffffff", brand="Bambu Lab", subtype="Basic", weight_used=123.0
    )
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    assert await assignments(http) == {(0, 0): match["id"]}
    linked = next(s for s in await spools(http) if s["id"] == match["id"])
    assert (linked["tag_uid"], linked["tray_uuid"], linked["data_origin"]) == (
        TAG,
        UUID,
        "rfid_linked",
    )
    assert (linked["weight_used"], linked["brand"]) == (123.0, "Bambu Lab")  # nothing else
    for untouched in (other_brand, blank_brand):
        spool = next(s for s in await spools(http) if s["id"] == untouched["id"])
        assert spool["tag_uid"] is None


# --- §3 auto-unlink ----------------------------------------------------------------------


async def test_rest_assignment_on_rfid_tray_is_undone_at_next_report(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§3 row 4, then §1 in the same callback: changed, then auto_assigned for the slot."""
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    (auto,) = await spools(http)
    mine = await create_spool(http, rgba="FFFFFFFF", note="filaman:7")
    await rest_assign(http, mine["id"], printer_id, 0, 0)
    assert await assignments(http) == {(0, 0): mine["id"]}  # sticks until the AMS changes
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    sim.set_remain(printer_id, 0, 0, 79)
    frames = await ws.quiet(0.2)
    kinds = [(f["type"], f.get("spool_id")) for f in frames if "verified" not in f["type"]]
    assert kinds == [
        ("printer_status", None),
        ("spool_assignment_changed", None),
        ("spool_auto_assigned", auto["id"]),
    ]
    assert await assignments(http) == {(0, 0): auto["id"]}
    assert any("different Bambu Lab spool detected" in line for line in sim.automation_log)


async def test_spool_carrying_the_tag_keeps_the_slot(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§3 row 3: the assigned spool holds the tray's uuid (or uid): kept on every report."""
    printer_id = sim.add_printer("P1S")
    spool = await create_spool(http, rgba="FFFFFFFF", tag_uid=TAG.lower())
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    assert await assignments(http) == {(0, 0): spool["id"]}
    for remain in (70, 60, 50):
        sim.set_remain(printer_id, 0, 0, remain)
    assert await assignments(http) == {(0, 0): spool["id"]}


async def test_fingerprint_rules_for_plain_trays(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§3 rows 6-8, and §0: a colour-only change runs nothing."""
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, tray_type="PLA", tray_color="FFFFFFFF")
    petg = await create_spool(http, material="PETG", rgba="FF0000FF")
    await rest_assign(http, petg["id"], printer_id, 0, 0)
    # The printer took the spool's settings: the tray matches the spool (row 6 kept it).
    assert await assignments(http) == {(0, 0): petg["id"]}
    tray = sim.printer(printer_id).tray_at(0, 0)
    assert tray is not None
    tray.tray_color = "0000FFFF"
    sim.report_status(printer_id)  # colour is not hashed: the callback does not run
    assert await assignments(http) == {(0, 0): petg["id"]}
    sim.set_remain(printer_id, 0, 0, 90)  # now it runs: neither fingerprint nor spool match
    assert await assignments(http) == {}
    assert any("fingerprint mismatch (cur=" in line for line in sim.automation_log)


async def test_emptied_slot_unlinks_but_preassigned_empty_slot_survives(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§3: a removed spool hits row 7; a slot assigned while empty keeps it (row 8, then 5)."""
    printer_id = sim.add_printer("P1S")
    spool = await create_spool(http, rgba="FFFFFFFF")
    await rest_assign(http, spool["id"], printer_id, 0, 3)  # empty slot: fingerprint ""/""
    sim.set_remain(printer_id, 0, 3, 0)
    assert await assignments(http) == {(0, 3): spool["id"]}
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    sim.set_tray(printer_id, 0, 3, tray_type="PETG", tray_color="123456FF")
    assert (await ws.next_of("spool_assignment_verified"))["tray_id"] == 3  # row 5 replay
    sim.clear_tray(printer_id, 0, 3)
    assert await assignments(http) == {}


# --- §4 remain% weight sync --------------------------------------------------------------


async def test_remain_sync_only_raises_and_skips_locked_spools(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, tray_type="PLA", tray_color="FFFFFFFF", remain=90)
    sim.set_tray(printer_id, 0, 1, tray_type="PLA", tray_color="FFFFFFFF", remain=90)
    free = await create_spool(http, rgba="FFFFFFFF", weight_used=50.0)
    locked = await create_spool(http, rgba="FFFFFFFF", weight_used=50.0, weight_locked=True)
    await rest_assign(http, free["id"], printer_id, 0, 0)
    await rest_assign(http, locked["id"], printer_id, 0, 1)
    sim.set_remain(printer_id, 0, 0, 80)
    sim.set_remain(printer_id, 0, 1, 80)
    by_id = {s["id"]: s for s in await spools(http)}
    assert by_id[free["id"]]["weight_used"] == 200.0
    assert by_id[locked["id"]]["weight_used"] == 50.0
    sim.set_remain(printer_id, 0, 0, 95)  # would lower it: never
    assert {s["id"]: s for s in await spools(http)}[free["id"]]["weight_used"] == 200.0


# --- §5 the usage tracker ----------------------------------------------------------------


async def test_usage_goes_to_a_spool_assigned_during_the_print(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§5: a live assignment created after the start wins; the log says so."""
    printer_id = sim.add_printer("P1S")
    sim.set_tray(printer_id, 0, 0, **RFID_TRAY)
    (auto,) = await spools(http)
    mine = await create_spool(http, rgba="FFFFFFFF", note="filaman:7")
    await asyncio.sleep(1.05)  # created_at has second resolution
    task = sim.start_print(printer_id, "Cube", {(0, 0): 100.0}, duration=2.4)
    await asyncio.sleep(1.2)
    await rest_assign(http, mine["id"], printer_id, 0, 0)  # REST upsert keeps created_at
    await task
    assert await booked(http) == [(auto["id"], 100.0)]


async def test_rfid_reassignment_mid_print_books_to_the_new_spool(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§3 row 4 + §1 during the print, then §5: all the slot's grams go to the new spool."""
    printer_id = plain_printer(sim)
    # Not a Bambu brand, so the untagged look-alike rule (§1) cannot take the tag onto it.
    mine = await create_spool(http, rgba="FFFFFFFF", brand="Polymaker", note="filaman:7")
    await rest_assign(http, mine["id"], printer_id, 0, 0)
    await asyncio.sleep(1.05)
    task = sim.start_print(printer_id, "Cube", {(0, 0): 100.0}, duration=2.4)
    await asyncio.sleep(1.2)
    tray = sim.printer(printer_id).tray_at(0, 0)
    assert tray is not None
    tray.tag_uid, tray.tray_uuid = TAG, UUID  # the firmware read the tag late
    await task
    created = (await spools(http))[-1]
    assert created["data_origin"] == "rfid_auto"
    assert [spool for spool, _grams in await booked(http)] == [created["id"]]
    assert any("snapshot spool" in line for line in sim.automation_log)


async def test_unlinked_mid_print_books_to_the_snapshot_spool(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = plain_printer(sim)
    mine = await create_spool(http, rgba="FFFFFFFF")
    await rest_assign(http, mine["id"], printer_id, 0, 0)
    task = sim.start_print(printer_id, "Cube", {(0, 0): 40.0}, duration=0.4)
    await asyncio.sleep(0.15)
    await send_json(http, "DELETE", f"{API}/inventory/assignments/{printer_id}/0/0")
    await task
    assert await booked(http) == [(mine["id"], 40.0)]


async def test_restart_mid_print_books_to_the_live_assignment(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§5: no session after a restart; the live assignment at the end is charged."""
    printer_id = plain_printer(sim)
    first = await create_spool(http, rgba="FFFFFFFF")
    second = await create_spool(http, rgba="FFFFFFFF")
    await rest_assign(http, first["id"], printer_id, 0, 0)
    task = sim.start_print(printer_id, "Cube", {(0, 0): 30.0}, duration=0.4)
    await asyncio.sleep(0.15)
    await sim.restart()
    assert sim.usage_sessions == {}
    await rest_assign(http, second["id"], printer_id, 0, 0)
    await task
    assert [spool for spool, _grams in await booked(http)] == [second["id"]]


async def test_print_start_names_the_unassigned_trays_it_uses(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """§6 missing_spool_assignment: sent right after print_start for the trays of the print's
    mapping that have no spool, with the live tray's raw profile and colour."""
    printer_id = plain_printer(sim)
    sim.set_tray(
        printer_id, 0, 1, tray_type="PETG", tray_sub_brands="PETG HF", tray_color="FF0000FF"
    )
    mine = await create_spool(http, rgba="FFFFFFFF")
    await rest_assign(http, mine["id"], printer_id, 0, 0)
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    await sim.run_print(printer_id, "Two colours", {(0, 0): 5.0, (0, 1): 3.0})
    start = await ws.next_of("print_start")
    assert start["data"]["ams_mapping"] == [0, 1]
    missing = await ws.next_of("missing_spool_assignment")
    assert missing == {
        "type": "missing_spool_assignment",
        "printer_id": printer_id,
        "printer_name": "P1S",
        "missing_slots": [{"slot": "A2", "profile": "PETG HF", "color": "FF0000FF"}],
    }


async def test_missing_assignment_labels_external_and_ams_ht_trays_as_bambuddy_does(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """`_slot_label_from_global_tray`: "Ext-L"/"Ext-R" for the holders, "HT-A" for AMS-HT."""
    printer_id = plain_printer(sim)
    ht = sim.add_ams_unit(printer_id, is_ams_ht=True)
    sim.set_tray(printer_id, ht, 0, tray_type="PLA", tray_color="00FF00FF")
    sim.set_tray(printer_id, 255, 0, tray_type="PLA", tray_color="0000FFFF")
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    await sim.run_print(printer_id, "Holders", {(255, 0): 2.0, (ht, 0): 3.0})
    missing = await ws.next_of("missing_spool_assignment")
    assert [slot["slot"] for slot in missing["missing_slots"]] == ["HT-A", "Ext-L"]


async def test_a_print_without_mapping_warns_about_nothing(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """A print started at the printer carries no ams_mapping: Bambuddy sends no warning."""
    printer_id = plain_printer(sim)
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    await sim.run_print(printer_id, "From the screen", {(0, 0): 5.0}, mapped=False)
    start = await ws.next_of("print_start")
    assert start["data"]["ams_mapping"] is None
    await ws.next_of("print_complete")
    assert "missing_spool_assignment" not in [kind for _moment, kind in sim.hub.timeline]
