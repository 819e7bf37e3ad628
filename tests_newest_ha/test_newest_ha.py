"""The integration on the newest Home Assistant release, as a user meets it (issue 12).

One real `hass` for the module; the tests run in order and build on each other: the config flow
adds the entry, later tests sync, assign, print, restart, re-authenticate, read diagnostics and
finally remove the entry. The last test reads Home Assistant's log: any deprecation it reports
for this integration, or any error of it, fails the lane.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from demo.integration import ServerAccess, add_integration, wait_for_slots

from .lane import DOMAIN, USAGE_DELAY, Lane

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Every entity the entry must have, by platform and translation key (the unit suite pins their
# details; this lane pins that none went missing on the newest release).
EXPECTED_ENTITIES = {
    "binary_sensor": {"online", "sync_problem"},
    "button": {"sync_now", "full_resync"},
    "event": {"print_finished"},
    "select": {"slot_spool", "external_slot_spool"},
    "sensor": {
        "slot",
        "external_slot",
        "print_state",
        "current_job",
        "progress",
        "remaining_time",
        "ams_humidity",
        "ams_temperature",
        "last_sync",
        "linked_spools",
        "last_sync_result",
        "last_consumption",
        "pending_consumptions",
        "grams_not_in_filaman",
    },
}
RFID_TAG = "04A17C9B445566"  # the demo printer's Bambu RFID spool in A1
RFID_FILAMAN_UID = "04:A1:7C:9B:44:55:66"
PETG_SLOT = (0, 2)
CARD_PATH = "/filaman_bambuddy/filaman-bambuddy-ams-card.js"


async def filaman_spools(lane: Lane) -> list[dict[str, Any]]:
    return await lane.filaman.spools(lane.filaman_key)


async def petg_spool(lane: Lane) -> int:
    spools = await filaman_spools(lane)
    return next(
        int(s["id"])
        for s in spools
        if s["filament"]["material_type"] == "PETG"
        and s["filament"]["manufacturer_color_name"] == "Blue"  # PETG HF, as in slot A3
    )


async def device_id(lane: Lane) -> str:
    for entity in await lane.registry_entities():
        if entity.get("translation_key") == "online":
            return str(entity["device_id"])
    raise AssertionError("no printer device")


async def test_config_flow_from_the_first_form_to_the_entry(lane: Lane) -> None:
    printer = (await lane.bambuddy.printers())[0]
    entry = await add_integration(
        lane.api,
        ServerAccess(
            bambuddy_url=lane.bambuddy_url,
            bambuddy_api_key=lane.bambuddy_key,
            filaman_url=lane.filaman_url,
            filaman_api_key=lane.filaman_key,
            printer_name=str(printer["name"]),
        ),
    )
    assert entry["domain"] == DOMAIN
    assert entry["title"] == printer["name"]
    lane.entry_id = str(entry["entry_id"])
    await lane.wait_for(lane.entry_loaded, "the entry to load")
    await wait_for_slots(lane.api, lane.entry_id, 60)


async def test_every_platform_has_its_entities_with_states(lane: Lane) -> None:
    registered = await lane.registry_entities()
    found: dict[str, set[str]] = {}
    for entity in registered:
        found.setdefault(entity["entity_id"].split(".")[0], set()).add(entity["translation_key"])
    assert found == EXPECTED_ENTITIES
    states = await lane.api.states()
    for entity in registered:
        if entity.get("disabled_by"):
            continue  # full resync: disabled by default, so no state
        state = states.get(entity["entity_id"])
        assert state is not None, entity["entity_id"]
        if entity["translation_key"] in ("online", "slot", "external_slot", "sync_now"):
            assert state["state"] != "unavailable", state


async def test_sync_now_adopts_bambuddys_rfid_spool(lane: Lane) -> None:
    response = await lane.call("sync_now", {"config_entry_id": lane.entry_id})
    assert response["status"] == "success", response
    filaman_id = next(
        int(s["id"]) for s in await filaman_spools(lane) if s.get("rfid_uid") == RFID_FILAMAN_UID
    )
    state = await lane.bambuddy_state()
    holders = [
        spool
        for spool in state["spools"]
        if spool["archived_at"] is None and spool["tag_uid"] == RFID_TAG
    ]
    assert [(s["data_origin"], s["note"]) for s in holders] == [
        ("rfid_auto", f"filaman:{filaman_id}")
    ]
    linked = [s for s in state["spools"] if str(s["note"] or "").startswith("filaman:")]
    assert len(linked) == len(await filaman_spools(lane))


async def test_assign_spool_shows_in_the_slot_sensor(lane: Lane) -> None:
    spool = await petg_spool(lane)
    response = await lane.call(
        "assign_spool",
        {
            "filaman_spool_id": spool,
            "device_id": await device_id(lane),
            "ams_id": PETG_SLOT[0],
            "tray_id": PETG_SLOT[1],
        },
    )
    assert response["filaman_spool_id"] == spool

    async def shown() -> bool:
        for entity in await lane.registry_entities():
            if entity["unique_id"].endswith(f"_slot_{PETG_SLOT[0]}_{PETG_SLOT[1]}"):
                state = await lane.state(entity["entity_id"])
                return state is not None and state["attributes"].get("filaman_spool_id") == spool
        return False

    await lane.wait_for(shown, "the slot sensor to show the assigned spool")


async def test_a_print_is_debited_exactly_once(lane: Lane) -> None:
    spool = await petg_spool(lane)
    before = await lane.remaining(spool)
    await lane.bambuddy.run_print(1, "Lane Benchy", {PETG_SLOT: 10.0}, duration=1.0)

    async def debited() -> bool:
        return await lane.remaining(spool) == pytest.approx(before - 10.0)

    await lane.wait_for(debited, "the print's grams in FilaMan", within=60)
    await asyncio.sleep(3 + USAGE_DELAY)  # polls, wake-ups and syncs come and go: nothing more
    assert await lane.remaining(spool) == pytest.approx(before - 10.0)
    assert await lane.debited(spool) == pytest.approx(10.0)


async def test_an_unassigned_tray_is_caught_and_saved_through_its_repair(lane: Lane) -> None:
    """Issue 18 on the newest release: the repair appears while the print runs, its fix flow
    assigns the best match, and the print's grams land in FilaMan once."""
    tray = (1, 3)  # the demo's PETG Translucent, which nothing is assigned to
    await lane.bambuddy.run_print(1, "Lane Lamp", {tray: 6.0}, duration=6.0)  # starts it

    async def tray_issue() -> dict[str, Any] | None:
        issues = (await lane.api.ws_call({"type": "repairs/list_issues"}))["issues"]
        return next(
            (
                i
                for i in issues
                if i["domain"] == DOMAIN and i["translation_key"] == "unassigned_tray"
            ),
            None,
        )

    await lane.wait_for(tray_issue, "the unassigned-tray repair", within=5)
    issue = await tray_issue()
    assert issue is not None
    flow = await lane.api.post(
        "/api/repairs/issues/fix", {"handler": DOMAIN, "issue_id": issue["issue_id"]}
    )
    assert flow["step_id"] == "assign"
    best = int(flow["data_schema"][0]["default"])
    translucent = next(
        int(s["id"])
        for s in await filaman_spools(lane)
        if s["filament"]["manufacturer_color_name"] == "Translucent Blue"
    )
    assert best == translucent  # same material, same colour, not loaded elsewhere
    before = await lane.remaining(best)
    done = await lane.api.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", {"filaman_spool": str(best)}
    )
    assert done["type"] == "create_entry"
    assert (await lane.bambuddy.printers())[0]["state"] == "RUNNING"  # saved mid-print

    async def debited() -> bool:
        return await lane.remaining(best) == pytest.approx(before - 6.0)

    await lane.wait_for(debited, "the saved grams in FilaMan", within=60)
    assert await tray_issue() is None


async def test_restart_in_the_middle_of_a_print_debits_once(lane: Lane) -> None:
    spool = await petg_spool(lane)
    before = await lane.remaining(spool)
    rows_before = len((await lane.bambuddy_state())["usage"])
    printing = asyncio.create_task(
        lane.bambuddy.run_print(1, "Lane Restart", {PETG_SLOT: 7.5}, duration=4.0)
    )
    await asyncio.sleep(1.0)
    await lane.stop_hass()
    await printing

    async def usage_logged() -> bool:
        return len((await lane.bambuddy_state())["usage"]) > rows_before

    await lane.wait_for(usage_logged, "Bambuddy to book the print while HA is down")
    await lane.start_hass()

    async def debited() -> bool:
        return await lane.remaining(spool) == pytest.approx(before - 7.5)

    await lane.wait_for(debited, "the grams in FilaMan after the restart", within=90)
    await asyncio.sleep(3 + USAGE_DELAY)
    assert await lane.remaining(spool) == pytest.approx(before - 7.5)
    assert await lane.debited(spool) == pytest.approx(17.5)


async def test_reauth_after_the_bambuddy_key_changes(lane: Lane) -> None:
    old_key = lane.bambuddy_key
    new_key = await lane.bambuddy.create_api_key()
    lane.secrets.add(new_key)
    async with lane.session.post(
        f"{lane.bambuddy_url}/_sim/api-keys/revoke", json={"key": old_key}
    ) as response:
        assert response.status == 200
    async with lane.session.post(f"{lane.bambuddy_url}/_sim/ws/drop") as response:
        assert response.status == 200

    flows: list[dict[str, Any]] = []

    async def reauth_started() -> bool:
        progress = await lane.api.ws_call({"type": "config_entries/flow/progress"})
        flows[:] = [
            flow
            for flow in progress
            if flow["handler"] == DOMAIN and flow["context"].get("source") == "reauth"
        ]
        return bool(flows)

    await lane.wait_for(reauth_started, "Home Assistant to ask for a new key", within=60)
    result = await lane.api.post(
        f"/api/config/config_entries/flow/{flows[0]['flow_id']}", {"bambuddy_api_key": new_key}
    )
    assert (result["type"], result["reason"]) == ("abort", "reauth_successful")
    lane.bambuddy_key = new_key
    await lane.wait_for(lane.entry_loaded, "the entry to reload with the new key")
    online = await lane.entity_id("online")

    async def live() -> bool:
        state = await lane.state(online)
        return state is not None and state["state"] == "on"

    await lane.wait_for(live, "the printer to be online again")


async def test_diagnostics_hold_no_secret(lane: Lane) -> None:
    status, text = await lane.ha_request("GET", f"/api/diagnostics/config_entry/{lane.entry_id}")
    assert status == 200, text
    assert DOMAIN in text
    for secret in lane.secrets:
        assert secret not in text
    assert "bb_" not in text  # no Bambuddy key of any age


async def test_the_cards_lovelace_resource_is_registered(lane: Lane) -> None:
    resources = await lane.api.ws_call({"type": "lovelace/resources"})
    assert any(CARD_PATH in str(item.get("url")) for item in resources), resources
    async with lane.session.get(f"{lane.ha_url}{CARD_PATH}") as response:
        assert response.status == 200
        assert "customElements.define" in await response.text()


async def test_unload_and_remove_leave_nothing_behind(lane: Lane) -> None:
    status, text = await lane.ha_request(
        "DELETE", f"/api/config/config_entries/entry/{lane.entry_id}"
    )
    assert status == 200, text
    assert await lane.entry() is None
    assert await lane.registry_entities() == []
    states = await lane.api.states()
    assert not [entity_id for entity_id in states if DOMAIN in entity_id]
    resources = await lane.api.ws_call({"type": "lovelace/resources"})
    assert not any(CARD_PATH in str(item.get("url")) for item in resources)

    async def disconnected() -> bool:
        # FilaMan notices a closed event stream only when it writes to it (no keep-alives).
        async with lane.session.post(f"{lane.filaman_url}/_sim/events", json={"event": "probe"}):
            pass
        bambuddy = await lane.bambuddy_state()
        async with lane.session.get(f"{lane.filaman_url}/_sim/state") as response:
            filaman = await response.json()
        return bambuddy["websocket_clients"] == 0 and filaman["sse_subscribers"] == 0

    await lane.wait_for(disconnected, "the WebSocket and the event stream to close")


async def test_the_log_has_no_deprecation_or_error_of_the_integration(lane: Lane) -> None:
    assert lane.log_problems() == []
