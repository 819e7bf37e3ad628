"""Bambu RFID spools with Bambuddy's default automation on (issue 11), through Home Assistant.

Bambuddy creates a spool from an RFID tray by itself, assigns it, and removes any other
assignment from that slot. These tests walk what a new user does on default settings, and what
an older install left behind, over loopback against the simulators.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.print_events import EVENT_PRINT_COMPLETE

from .conftest import Servers, printer_device, set_up_entry, settle, state_of, unload, wait_for
from .test_consumption import remaining

TAG = "A1B2C3D4E5F60708"
UUID = "0123456789ABCDEF0123456789ABCDEF"
SLOT = (0, 2)  # A3: the RFID tray


def load_rfid_spool(servers: Servers) -> None:
    """A Bambu PLA Basic with its RFID tag goes into A3 (Bambuddy reacts at once)."""
    servers.bambuddy.set_tray(
        servers.printer_id,
        *SLOT,
        tray_type="PLA",
        tray_sub_brands="PLA Basic",
        tray_color="00AE42FF",
        tray_info_idx="GFA00",
        tag_uid=TAG,
        tray_uuid=UUID,
        remain=90,
    )


def active_holders(servers: Servers) -> list[int]:
    """Active Bambuddy spools that carry the tray's tag."""
    return sorted(
        spool.id
        for spool in servers.bambuddy.db.spools.values()
        if spool.archived_at is None
        and (spool.fields.get("tray_uuid") == UUID or spool.fields.get("tag_uid") == TAG)
    )


def slot_spool(servers: Servers) -> int | None:
    assignment = servers.bambuddy.db.assignment_at(servers.printer_id, *SLOT)
    return assignment.spool_id if assignment else None


async def assign(hass: HomeAssistant, entry: MockConfigEntry, spool_id: int) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "assign_spool",
        {
            "filaman_spool_id": spool_id,
            "device_id": printer_device(hass, entry).id,
            "ams_id": SLOT[0],
            "tray_id": SLOT[1],
        },
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


async def print_on_slot(
    hass: HomeAssistant, servers: Servers, entry: MockConfigEntry, grams: float, name: str
) -> None:
    """A print on A3; returns once the processor handled Bambuddy's usage row."""
    await servers.bambuddy.run_print(servers.printer_id, name, grams={SLOT: grams}, duration=0.2)
    await wait_for(
        lambda: any(e.print_name == name for e in entry.runtime_data.consumption.entries())
    )
    await entry.runtime_data.consumption.wake("test")
    await entry.runtime_data.consumption.wait_idle()
    await hass.async_block_till_done()


def unlinked_issues(hass: HomeAssistant) -> list[ir.IssueEntry]:
    return [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith("unlinked_usage_")
    ]


def domain_issues(hass: HomeAssistant, prefix: str) -> list[ir.IssueEntry]:
    return [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith(prefix)
    ]


async def test_first_print_of_an_rfid_spool_lands_in_filaman_once(
    hass: HomeAssistant, servers: Servers
) -> None:
    """connect → auto-create → first sync → assign → print → grams in FilaMan, exactly once."""
    load_rfid_spool(servers)
    (auto,) = active_holders(servers)  # Bambuddy created its own spool and took the slot
    assert slot_spool(servers) == auto
    spool = servers.filaman.add_spool(servers.filament_id, rfid_uid="a1:b2:c3:d4:e5:f6:07:08")
    events = async_capture_events(hass, EVENT_PRINT_COMPLETE)

    entry = await set_up_entry(hass, servers)
    assert active_holders(servers) == [auto]  # adopted, not duplicated
    assert servers.bambuddy.db.spools[auto].fields["note"] == f"filaman:{spool}"

    response = await assign(hass, entry, spool)
    assert response["bambuddy_spool_id"] == auto
    servers.bambuddy.set_remain(servers.printer_id, *SLOT, 89)  # the next AMS report
    assert slot_spool(servers) == auto  # it sticks

    await print_on_slot(hass, servers, entry, 100.0, "Benchy")
    assert remaining(servers, spool) == 900.0
    assert len(servers.filaman.consumption_events(spool)) == 1
    assert active_holders(servers) == [auto]
    assert unlinked_issues(hass) == []
    await wait_for(lambda: events)
    assert events[-1].data["total_grams"] == 100.0
    assert events[-1].data["awaiting_link_grams"] == 0
    # Nothing more on later runs.
    await entry.runtime_data.hub.inventory.async_sync("again")
    await entry.runtime_data.consumption.wake("again")
    await entry.runtime_data.consumption.wait_idle()
    assert len(servers.filaman.consumption_events(spool)) == 1
    await unload(hass, entry)


async def test_rfid_spool_loaded_while_running_is_adopted_before_it_prints(
    hass: HomeAssistant, servers: Servers
) -> None:
    """spool_auto_assigned triggers a sync: no user action, the print is debited."""
    spool = servers.filaman.add_spool(servers.filament_id, rfid_uid=TAG)
    entry = await set_up_entry(hass, servers)
    load_rfid_spool(servers)
    (auto,) = active_holders(servers)
    await wait_for(
        lambda: servers.bambuddy.db.spools[auto].fields["note"] == f"filaman:{spool}", within=3
    )
    await print_on_slot(hass, servers, entry, 40.0, "Clip")
    assert remaining(servers, spool) == 960.0
    await unload(hass, entry)


async def test_existing_duplicate_install_is_healed(hass: HomeAssistant, servers: Servers) -> None:
    """An older version created a twin next to Bambuddy's RFID spool; the sync merges them."""
    load_rfid_spool(servers)
    (auto,) = active_holders(servers)
    spool = servers.filaman.add_spool(servers.filament_id, rfid_uid=TAG)
    twin = servers.bambuddy.add_spool(material="PLA", tag_uid=TAG, note=f"filaman:{spool}").id
    assert active_holders(servers) == [auto, twin]

    entry = await set_up_entry(hass, servers)
    assert active_holders(servers) == [auto]  # the slot's spool kept, linked
    assert servers.bambuddy.db.spools[auto].fields["note"] == f"filaman:{spool}"
    assert servers.bambuddy.db.spools[twin].archived_at is not None  # archived, not deleted
    assert entry.runtime_data.hub.inventory.last_result is not None

    await print_on_slot(hass, servers, entry, 25.0, "Hook")
    assert remaining(servers, spool) == 975.0
    assert len(servers.filaman.consumption_events(spool)) == 1
    await unload(hass, entry)


async def test_unlinked_usage_repair_survives_restart_and_debits_once(
    hass: HomeAssistant, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """No FilaMan spool carries the tag: the grams are held, a repair links them, once."""
    assert await async_setup_component(hass, "repairs", {})
    load_rfid_spool(servers)
    (auto,) = active_holders(servers)
    target = servers.spool_ids[2]
    entry = await set_up_entry(hass, servers)
    events = async_capture_events(hass, EVENT_PRINT_COMPLETE)

    with caplog.at_level(logging.WARNING):
        await print_on_slot(hass, servers, entry, 30.0, "Vase")
        await print_on_slot(hass, servers, entry, 12.0, "Gear")
    warnings = [r for r in caplog.records if "not linked to a FilaMan spool" in r.getMessage()]
    assert len(warnings) == 1  # once, not per print
    (issue,) = unlinked_issues(hass)
    assert issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["grams"] == "42"
    assert issue.translation_placeholders["prints"] == "Vase, Gear"
    assert issue.translation_placeholders["slot"] == "A3"
    pending = state_of(hass, entry, "pending_consumptions")
    assert pending.attributes["awaiting_link_grams"] == 42.0
    assert pending.attributes["awaiting_link_bambuddy_spools"] == [auto]
    # Nothing is queued, yet 42 g are not in FilaMan: the sensor the user watches says so.
    assert pending.state == "0"
    owed = state_of(hass, entry, "grams_not_in_filaman")
    assert float(owed.state) == 42.0
    assert owed.attributes["unit_of_measurement"] == "g"
    assert owed.attributes["queued_grams"] == 0.0
    assert owed.attributes["awaiting_link_grams"] == 42.0
    await wait_for(lambda: len(events) == 2)
    assert events[0].data["awaiting_link_grams"] == 30.0
    assert events[0].data["spools"][0]["awaiting_link"] is True

    # Home Assistant restarts in between: the ledger and the issue come back.
    await unload(hass, entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    (issue,) = unlinked_issues(hass)

    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    assert flow["type"] == "menu"
    assert flow["menu_options"] == ["link", "dismiss"]
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "link"})
    assert flow["type"] == "form"
    assert flow["step_id"] == "link"
    flow = await manager.async_configure(flow["flow_id"], {"filaman_spool": str(target)})
    assert flow["type"] == "create_entry"
    await wait_for(lambda: remaining(servers, target) == 958.0)
    await entry.runtime_data.consumption.wait_idle()
    await hass.async_block_till_done()
    assert unlinked_issues(hass) == []
    assert servers.bambuddy.db.spools[auto].fields["note"] == f"filaman:{target}"
    assert float(state_of(hass, entry, "grams_not_in_filaman").state) == 0.0

    # Never twice: more runs and another restart add nothing.
    await unload(hass, entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    await entry.runtime_data.consumption.wake("again")
    await entry.runtime_data.consumption.wait_idle()
    assert remaining(servers, target) == 958.0
    assert len(servers.filaman.consumption_events(target)) == 1  # one merged FilaMan event
    await unload(hass, entry)


async def test_repair_preselects_the_rfid_match_and_can_dismiss(
    hass: HomeAssistant, servers: Servers
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    load_rfid_spool(servers)
    entry = await set_up_entry(hass, servers)
    await print_on_slot(hass, servers, entry, 8.0, "Tag")
    # The user records the tag in FilaMan afterwards, with another material: a conflict, so
    # the sync does not link it, but the repair form proposes that spool.
    other = servers.filaman.add_filament(
        servers.filaman.add_manufacturer("Other"), "PETG", color_hex="#00AE42"
    )
    tagged = servers.filaman.add_spool(other, rfid_uid=TAG)
    await entry.runtime_data.hub.inventory.async_sync("test")
    await hass.async_block_till_done()
    (conflict,) = domain_issues(hass, "rfid_conflict_")
    assert conflict.translation_key == "rfid_material_mismatch"
    (issue,) = unlinked_issues(hass)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    form = await manager.async_configure(flow["flow_id"], {"next_step_id": "link"})
    (field,) = form["data_schema"].schema
    assert field.default() == str(tagged)
    manager.async_abort(form["flow_id"])

    flow = await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "dismiss"})
    flow = await manager.async_configure(flow["flow_id"], {})
    assert flow["type"] == "create_entry"
    await hass.async_block_till_done()
    assert unlinked_issues(hass) == []
    assert servers.filaman.consumption_events(tagged) == []
    await unload(hass, entry)


async def test_assigning_another_spool_to_an_rfid_slot_says_why_not(
    hass: HomeAssistant, servers: Servers
) -> None:
    load_rfid_spool(servers)
    (auto,) = active_holders(servers)
    entry = await set_up_entry(hass, servers)
    plain = servers.spool_ids[0]
    with pytest.raises(HomeAssistantError) as raised:
        await assign(hass, entry, plain)
    assert raised.value.translation_key == "rfid_slot_taken"
    assert raised.value.translation_placeholders == {
        "slot": "A3",
        "holder": str(auto),
        "tag": UUID,
        "spool": str(plain),
    }
    assert slot_spool(servers) == auto  # nothing changed


async def test_assignment_bambuddy_undoes_is_shown_and_logged_once(
    hass: HomeAssistant, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain slot takes our spool; then an RFID spool is loaded and Bambuddy swaps it."""
    entry = await set_up_entry(hass, servers)
    plain = servers.spool_ids[0]
    servers.bambuddy.set_tray(
        servers.printer_id, *SLOT, tray_type="PLA", tray_color="00AE42FF", remain=80
    )
    await assign(hass, entry, plain)
    slot_entity = state_of(hass, entry, f"slot_{SLOT[0]}_{SLOT[1]}")
    assert slot_entity.attributes["filaman_spool_id"] == plain
    with caplog.at_level(logging.WARNING):
        tray = servers.bambuddy.printer(servers.printer_id).tray_at(*SLOT)
        assert tray is not None
        tray.tag_uid, tray.tray_uuid = TAG, UUID
        servers.bambuddy.set_remain(servers.printer_id, *SLOT, 79)
        (auto,) = active_holders(servers)
        await wait_for(
            lambda: (
                state_of(hass, entry, f"slot_{SLOT[0]}_{SLOT[1]}").attributes["bambuddy_spool_id"]
                == auto
            )
        )
        servers.bambuddy.set_remain(servers.printer_id, *SLOT, 78)
        await hass.async_block_till_done()
    undone = [r for r in caplog.records if "Bambuddy undid the assignment" in r.getMessage()]
    assert len(undone) == 1
    assert f"FilaMan spool {plain}" in undone[0].getMessage()
    await unload(hass, entry)


async def start_fix_flow(hass: HomeAssistant) -> tuple[Any, Any]:
    """The repairs flow manager and the first step of the (only) unlinked-usage fix flow."""
    (issue,) = unlinked_issues(hass)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return manager, await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})


async def held_grams(hass: HomeAssistant, servers: Servers) -> MockConfigEntry:
    """The RFID spool (unlinked) printed 8 g: held, with its repair issue."""
    assert await async_setup_component(hass, "repairs", {})
    load_rfid_spool(servers)
    entry = await set_up_entry(hass, servers)
    await print_on_slot(hass, servers, entry, 8.0, "Held")
    return entry


async def test_fix_flow_says_what_went_wrong_and_changes_nothing(
    hass: HomeAssistant, servers: Servers
) -> None:
    entry = await held_grams(hass, servers)
    manager, flow = await start_fix_flow(hass)
    flow_id = flow["flow_id"]
    form = await manager.async_configure(flow_id, {"next_step_id": "link"})
    gone = servers.spool_ids[0]
    servers.filaman.state.spools.pop(gone)  # deleted in FilaMan while the form was open
    form = await manager.async_configure(flow_id, {"filaman_spool": str(gone)})
    assert form["errors"] == {"filaman_spool": "unknown_spool"}
    servers.filaman.down = True
    form = await manager.async_configure(flow_id, {"filaman_spool": str(servers.spool_ids[1])})
    assert form["type"] == "abort"
    assert form["reason"] == "cannot_connect"
    servers.filaman.down = False
    assert entry.runtime_data.consumption.awaiting_link_grams == 8.0
    assert len(unlinked_issues(hass)) == 1
    await unload(hass, entry)
    _manager, flow = await start_fix_flow(hass)
    assert (flow["type"], flow["reason"]) == ("abort", "entry_not_loaded")


async def test_fix_flow_links_a_spool_bambuddy_deleted_since(
    hass: HomeAssistant, servers: Servers
) -> None:
    entry = await held_grams(hass, servers)
    (auto,) = active_holders(servers)
    del servers.bambuddy.db.spools[auto]
    for assignment in list(servers.bambuddy.db.assignments.values()):
        if assignment.spool_id == auto:
            del servers.bambuddy.db.assignments[assignment.id]
    manager, flow = await start_fix_flow(hass)
    form = await manager.async_configure(flow["flow_id"], {"next_step_id": "link"})
    (field,) = form["data_schema"].schema
    assert not callable(field.default)  # no spool to compare with, so nothing preselected
    target = servers.spool_ids[1]
    done = await manager.async_configure(flow["flow_id"], {"filaman_spool": str(target)})
    assert done["type"] == "create_entry"
    await wait_for(lambda: remaining(servers, target) == 992.0)
    await unload(hass, entry)


async def test_removing_the_entry_removes_its_issues(hass: HomeAssistant, servers: Servers) -> None:
    entry = await held_grams(hass, servers)
    assert len(unlinked_issues(hass)) == 1
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert unlinked_issues(hass) == []


async def test_no_filaman_spools_to_link_to(hass: HomeAssistant, servers: Servers) -> None:
    entry = await held_grams(hass, servers)
    for spool_id in servers.spool_ids:
        servers.filaman.archive_spool(spool_id)
    manager, flow = await start_fix_flow(hass)
    form = await manager.async_configure(flow["flow_id"], {"next_step_id": "link"})
    assert (form["type"], form["reason"]) == ("abort", "no_filaman_spools")
    await unload(hass, entry)
