"""A print from a tray with no spool assigned (issue 18), through Home Assistant.

Bambuddy books grams only to assigned trays. These tests print from an unassigned tray of the
simulated Bambuddy and check that Home Assistant says so within a second, that one answer from
the user puts the grams into FilaMan exactly once (mid-print: an assignment; afterwards: grams
recorded by hand), and that nothing is debited twice across a restart.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.consumption.unassigned import CaseState
from custom_components.filaman_bambuddy.print_events import USAGE_WAIT
from custom_components.filaman_bambuddy.tray_watch import EVENT_UNASSIGNED_TRAY

from .conftest import Servers, entity_id, printer_device, set_up_entry, settle, unload, wait_for
from .test_consumption import remaining

SLOT = (0, 0)  # A1: green PLA, no spool assigned


def tray_issues(hass: HomeAssistant) -> list[ir.IssueEntry]:
    return [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith("tray_")
    ]


async def fix_flow(hass: HomeAssistant) -> tuple[Any, Any]:
    (issue,) = tray_issues(hass)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return manager, await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})


async def usage_step_passes(hass: HomeAssistant) -> None:
    """Bambuddy's usage step came and went without booking the tray."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=USAGE_WAIT + 1))
    await hass.async_block_till_done()


async def test_a_print_on_an_unassigned_tray_is_caught_and_saved_mid_print(
    hass: HomeAssistant, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up_entry(hass, servers)
    events = async_capture_events(hass, EVENT_UNASSIGNED_TRAY)
    loop = asyncio.get_running_loop()

    with caplog.at_level(logging.WARNING):
        started = loop.time()
        task = servers.bambuddy.start_print(
            servers.printer_id, "Benchy", {SLOT: 12.5}, duration=3.0
        )
        await wait_for(lambda: tray_issues(hass), within=1.0)
    assert loop.time() - started < 1.0
    (issue,) = tray_issues(hass)
    assert issue.translation_key == "unassigned_tray"
    assert issue.is_fixable
    assert issue.translation_placeholders == {
        "printer": "Printer 1",
        "slot": "A1",
        "job": "Benchy",
        "filament": "PLA #00AE42",
    }
    (event,) = events
    assert event.data == {
        "printer_id": servers.printer_id,
        "printer_name": "Workshop X1C",
        "device_id": printer_device(hass, entry).id,
        "slot": "A1",
        "ams_id": 0,
        "tray_id": 0,
        "material": "PLA",
        "color": "#00AE42",
        "job": "Benchy",
        "state": "printing",
    }
    warnings = [r for r in caplog.records if "has no spool assigned" in r.getMessage()]
    assert len(warnings) == 1

    # The repair lists FilaMan's spools, best match first, and assigns the chosen one.
    manager, flow = await fix_flow(hass)
    assert flow["type"] == "form"
    assert flow["step_id"] == "assign"
    chosen = servers.spool_ids[1]
    flow = await manager.async_configure(flow["flow_id"], {"filaman_spool": str(chosen)})
    assert flow["type"] == "create_entry"
    await wait_for(lambda: not tray_issues(hass))
    assert not task.done()  # saved while the print still ran

    await task
    await wait_for(lambda: remaining(servers, chosen) == 987.5)
    await entry.runtime_data.consumption.wait_idle()
    assert len(servers.filaman.consumption_events(chosen)) == 1
    assert len(events) == 1
    await unload(hass, entry)


async def test_grams_left_unrecorded_are_recorded_by_hand_once_across_a_restart(
    hass: HomeAssistant, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up_entry(hass, servers)
    events = async_capture_events(hass, EVENT_UNASSIGNED_TRAY)
    await servers.bambuddy.run_print(servers.printer_id, "Vase", {SLOT: 20.0}, duration=0.3)
    await wait_for(
        lambda: any(
            case.state is CaseState.ENDED
            for case in entry.runtime_data.consumption.tray_cases.cases.values()
        )
    )
    await settle(hass, entry)
    with caplog.at_level(logging.WARNING):
        await usage_step_passes(hass)
    (issue,) = tray_issues(hass)
    assert issue.translation_key == "unrecorded_tray"
    assert [r for r in caplog.records if "were not recorded by Bambuddy" in r.getMessage()]
    assert [event.data["state"] for event in events] == ["printing", "unrecorded"]

    # Home Assistant restarts before the user answers: the case and its repair come back.
    await unload(hass, entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    (issue,) = tray_issues(hass)
    case_id = next(iter(entry.runtime_data.consumption.tray_cases.cases))

    manager, flow = await fix_flow(hass)
    assert flow["type"] == "menu"
    assert flow["menu_options"] == ["record", "dismiss"]
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "record"})
    assert flow["step_id"] == "record"
    assert flow["description_placeholders"]["estimate"] == "20 g"  # Bambuddy's 3MF estimate
    schema = {str(key): key for key in flow["data_schema"].schema}
    assert schema["grams"].default() == 20.0
    target = servers.spool_ids[2]
    flow = await manager.async_configure(
        flow["flow_id"], {"filaman_spool": str(target), "grams": 19.5}
    )
    assert flow["type"] == "create_entry"
    await wait_for(lambda: remaining(servers, target) == 980.5)
    assert tray_issues(hass) == []

    # Never twice: the same case again, more runs and another restart add nothing.
    assert await entry.runtime_data.consumption.record_tray_by_hand(case_id, target, 19.5) is None
    await unload(hass, entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    await entry.runtime_data.consumption.wake("again")
    await entry.runtime_data.consumption.wait_idle()
    assert remaining(servers, target) == 980.5
    assert len(servers.filaman.consumption_events(target)) == 1
    assert tray_issues(hass) == []
    await unload(hass, entry)


async def test_an_unrecorded_tray_can_be_dismissed(hass: HomeAssistant, servers: Servers) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up_entry(hass, servers)
    await servers.bambuddy.run_print(servers.printer_id, "Test", {SLOT: 5.0}, duration=0.2)
    await settle(hass, entry)
    await usage_step_passes(hass)
    manager, flow = await fix_flow(hass)
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "dismiss"})
    assert flow["step_id"] == "dismiss"
    flow = await manager.async_configure(flow["flow_id"], {})
    assert flow["type"] == "create_entry"
    assert tray_issues(hass) == []
    assert entry.runtime_data.consumption.tray_cases.cases == {}
    assert all(remaining(servers, spool) == 1000.0 for spool in servers.spool_ids)
    await unload(hass, entry)


async def test_a_print_without_mapping_is_caught_by_the_tray_in_use(
    hass: HomeAssistant, servers: Servers
) -> None:
    """Started at the printer: no mapping, no warning from Bambuddy; tray_now tells."""
    entry = await set_up_entry(hass, servers)
    task = servers.bambuddy.start_print(
        servers.printer_id, "Screen", {(0, 1): 4.0}, duration=1.0, mapped=False
    )
    await wait_for(lambda: tray_issues(hass), within=1.0)
    (issue,) = tray_issues(hass)
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["slot"] == "A2"
    assert issue.translation_placeholders["filament"] == "PETG #FF6A13"
    await task
    await unload(hass, entry)


async def test_the_issue_goes_away_when_the_slot_gets_a_spool_elsewhere(
    hass: HomeAssistant, servers: Servers
) -> None:
    """Assigned through the action (as in Bambuddy's UI or by RFID): the case closes itself."""
    entry = await set_up_entry(hass, servers)
    task = servers.bambuddy.start_print(servers.printer_id, "Two", {SLOT: 3.0}, duration=2.0)
    await wait_for(lambda: tray_issues(hass), within=1.0)
    await hass.services.async_call(
        DOMAIN,
        "assign_spool",
        {
            "filaman_spool_id": servers.spool_ids[0],
            "device_id": printer_device(hass, entry).id,
            "ams_id": SLOT[0],
            "tray_id": SLOT[1],
        },
        blocking=True,
    )
    await wait_for(lambda: not tray_issues(hass))
    await task
    await wait_for(lambda: remaining(servers, servers.spool_ids[0]) == 997.0)
    await unload(hass, entry)


async def test_the_issue_goes_away_when_the_slot_empties(
    hass: HomeAssistant, servers: Servers
) -> None:
    entry = await set_up_entry(hass, servers)
    task = servers.bambuddy.start_print(servers.printer_id, "Out", {SLOT: 3.0}, duration=2.0)
    await wait_for(lambda: tray_issues(hass), within=1.0)
    servers.bambuddy.clear_tray(servers.printer_id, *SLOT)
    await wait_for(lambda: not tray_issues(hass))
    assert entry.runtime_data.consumption.tray_cases.cases == {}
    await task
    await unload(hass, entry)


async def test_the_slot_select_saves_the_grams_mid_print(
    hass: HomeAssistant, servers: Servers
) -> None:
    """One answer from the select (as from the card): the grams land once, the issue goes."""
    entry = await set_up_entry(hass, servers)
    task = servers.bambuddy.start_print(servers.printer_id, "Clip", {SLOT: 8.0}, duration=2.0)
    await wait_for(lambda: tray_issues(hass), within=1.0)
    chosen = servers.spool_ids[2]
    select = entity_id(hass, entry, "slot_0_0_spool")
    option = next(
        option
        for option in hass.states.get(select).attributes["options"]  # type: ignore[union-attr]
        if option.startswith(f"#{chosen} ")
    )
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": option}, blocking=True
    )
    await wait_for(lambda: not tray_issues(hass))
    await task
    await wait_for(lambda: remaining(servers, chosen) == 992.0)
    await entry.runtime_data.consumption.wait_idle()
    assert len(servers.filaman.consumption_events(chosen)) == 1
    await unload(hass, entry)


async def test_the_repair_says_what_went_wrong_and_changes_nothing(
    hass: HomeAssistant, servers: Servers
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up_entry(hass, servers)
    task = servers.bambuddy.start_print(servers.printer_id, "Err", {SLOT: 3.0}, duration=2.0)
    await wait_for(lambda: tray_issues(hass), within=1.0)
    manager, flow = await fix_flow(hass)
    # A spool archived in FilaMan meanwhile: the form comes back with Bambuddy untouched.
    servers.filaman.archive_spool(servers.spool_ids[0])
    flow = await manager.async_configure(
        flow["flow_id"], {"filaman_spool": str(servers.spool_ids[0])}
    )
    assert flow["type"] == "form"
    assert flow["errors"] == {"base": "assign_failed"}
    assert "archived" in flow["description_placeholders"]["error"]
    assert servers.bambuddy.db.assignment_at(servers.printer_id, *SLOT) is None
    # FilaMan unreachable before any listing was read: nothing to choose from. (Emptying the
    # last listing stands in for a Home Assistant that started while FilaMan was down.)
    servers.filaman.down = True
    entry.runtime_data.hub.inventory.filaman_spools.clear()  # type: ignore[attr-defined]
    _manager, flow2 = await fix_flow(hass)
    assert (flow2["type"], flow2["reason"]) == ("abort", "cannot_connect")
    servers.filaman.down = False
    await task
    await settle(hass, entry)
    # Just ended: Bambuddy is booking; then the case is answered elsewhere and closes.
    _manager, flow3 = await fix_flow(hass)
    assert (flow3["type"], flow3["reason"]) == ("abort", "print_just_ended")
    await usage_step_passes(hass)
    manager, menu = await fix_flow(hass)
    case_id = next(iter(entry.runtime_data.consumption.tray_cases.cases))
    await entry.runtime_data.consumption.dismiss_tray_case(case_id)
    flow4 = await manager.async_configure(menu["flow_id"], {"next_step_id": "record"})
    assert (flow4["type"], flow4["reason"]) == ("abort", "case_closed")
    await unload(hass, entry)


async def test_recording_for_a_spool_filaman_lost_meanwhile(
    hass: HomeAssistant, servers: Servers
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up_entry(hass, servers)
    await servers.bambuddy.run_print(servers.printer_id, "Lost", {SLOT: 4.0}, duration=0.2)
    await settle(hass, entry)
    await usage_step_passes(hass)
    manager, flow = await fix_flow(hass)
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "record"})
    gone = servers.spool_ids[1]
    servers.filaman.delete_spool_permanent(gone)
    flow = await manager.async_configure(
        flow["flow_id"], {"filaman_spool": str(gone), "grams": 4.0}
    )
    assert flow["errors"] == {"filaman_spool": "unknown_spool"}
    servers.filaman.fail_next("GET", r"/spools/\d+$", 503)
    flow = await manager.async_configure(
        flow["flow_id"], {"filaman_spool": str(servers.spool_ids[0]), "grams": 4.0}
    )
    assert flow["errors"] == {"base": "cannot_connect"}
    assert len(tray_issues(hass)) == 1  # still there, nothing recorded
    assert all(remaining(servers, s) == 1000.0 for s in (servers.spool_ids[0],))
    await unload(hass, entry)


async def test_grams_recorded_by_hand_that_filaman_refuses_go_back_to_the_tray(
    hass: HomeAssistant, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """The chosen spool is deleted in FilaMan before the debit lands: the tray's repair comes
    back (no Bambuddy spool could hold the grams), and the second answer is debited once."""
    assert await async_setup_component(hass, "repairs", {})
    entry = await set_up_entry(hass, servers)
    await servers.bambuddy.run_print(servers.printer_id, "Vase", {SLOT: 20.0}, duration=0.3)
    await wait_for(lambda: bool(entry.runtime_data.consumption.tray_cases.cases))
    await wait_for(
        lambda: all(
            case.state is CaseState.ENDED
            for case in entry.runtime_data.consumption.tray_cases.cases.values()
        )
    )
    await settle(hass, entry)
    await usage_step_passes(hass)
    gone, kept = servers.spool_ids[1], servers.spool_ids[2]
    servers.filaman.fail_next("POST", rf"/spools/{gone}/consumptions$", status=404)
    manager, flow = await fix_flow(hass)
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "record"})
    with caplog.at_level(logging.WARNING):
        flow = await manager.async_configure(
            flow["flow_id"], {"filaman_spool": str(gone), "grams": 18.0}
        )
    # The user stays in the dialog, told to choose again; the tray's repair stays.
    assert flow["type"] == "form"
    assert flow["errors"] == {"filaman_spool": "spool_refused"}
    assert [r for r in caplog.records if "recorded by hand for tray" in r.getMessage()]
    (issue,) = tray_issues(hass)
    assert issue.translation_key == "unrecorded_tray"
    assert entry.runtime_data.consumption.owed_grams().total == 0  # nothing hidden in a queue

    flow = await manager.async_configure(
        flow["flow_id"], {"filaman_spool": str(kept), "grams": 18.0}
    )
    assert flow["type"] == "create_entry"
    await wait_for(lambda: remaining(servers, kept) == 982.0)
    assert tray_issues(hass) == []
    assert remaining(servers, gone) == 1000.0
    await unload(hass, entry)
