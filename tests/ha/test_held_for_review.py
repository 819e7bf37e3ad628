"""A booking FilaMan's figures rule out, through Home Assistant: held, shown, answered once."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.diagnostics import async_get_config_entry_diagnostics
from custom_components.filaman_bambuddy.print_events import EVENT_PRINT_COMPLETE

from .conftest import Servers, settle, state_of, unload, wait_for
from .test_consumption import assign, remaining

CALIBRATION = "Flow calibration"


def held_issues(hass: HomeAssistant) -> list[ir.IssueEntry]:
    return [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith("held_")
    ]


async def phantom_calibration(
    hass: HomeAssistant, servers: Servers, entry: MockConfigEntry
) -> None:
    """Bambuddy #3081: a failed flow calibration books 1 kg to each loaded spool."""
    await servers.bambuddy.run_print(
        servers.printer_id,
        CALIBRATION,
        grams={(0, 0): 1.0},
        status="failed",
        booked={(0, 0): 1000.0, (0, 1): 1000.0},
        has_3mf=False,
    )
    await wait_for(lambda: bool(held_issues(hass)))
    await entry.runtime_data.consumption.wait_idle()
    await hass.async_block_till_done()


async def open_fix(hass: HomeAssistant) -> tuple[Any, dict[str, Any]]:
    (issue,) = held_issues(hass)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return manager, await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})


@pytest.fixture
async def held(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> list[Any]:
    """Spools 1 and 2 in A1 and A2; the phantom calibration held; its print event captured."""
    assert await async_setup_component(hass, "repairs", {})
    first, second, _ = servers.spool_ids
    await assign(hass, loaded_entry, first, 0, 0)
    await assign(hass, loaded_entry, second, 0, 1)
    events = async_capture_events(hass, EVENT_PRINT_COMPLETE)
    with caplog.at_level(logging.WARNING):
        await phantom_calibration(hass, servers, loaded_entry)
    assert [r for r in caplog.records if "figures rule out" in r.getMessage()]
    return events


async def test_a_phantom_booking_is_held_shown_and_counted(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry, held: list[Any]
) -> None:
    first, second, _ = servers.spool_ids
    assert remaining(servers, first) == remaining(servers, second) == 1000.0
    (issue,) = held_issues(hass)
    assert issue.is_fixable
    assert issue.translation_key == "held_for_review"
    placeholders = issue.translation_placeholders or {}
    assert placeholders["grams"] == "2000"
    assert placeholders["job"] == CALIBRATION
    line = f"1. #{first} Bambu Lab PLA Basic Bambu Green: 1000 g (≤ 1000 g)"
    assert line in placeholders["bookings"]
    owed = state_of(hass, loaded_entry, "grams_not_in_filaman")
    assert float(owed.state) == 2000.0
    assert owed.attributes["held_for_review_grams"] == 2000.0
    await wait_for(lambda: len(held) == 1)
    assert held[0].data["held_for_review_grams"] == 2000.0
    assert [spool["held_for_review"] for spool in held[0].data["spools"]] == [True, True]
    diagnostics = await async_get_config_entry_diagnostics(hass, loaded_entry)
    states = {entry["state"] for entry in diagnostics["consumption"]["entries"]}
    assert "held_for_review" in states


async def test_discarding_deducts_nothing_and_clears_the_repair(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry, held: list[Any]
) -> None:
    manager, flow = await open_fix(hass)
    assert flow["type"] == "menu"
    assert flow["menu_options"] == ["debit_as_booked", "debit_other", "discard"]
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "discard"})
    assert flow["step_id"] == "discard"
    flow = await manager.async_configure(flow["flow_id"], {})
    assert flow["type"] == "create_entry"
    await hass.async_block_till_done()
    assert held_issues(hass) == []
    assert float(state_of(hass, loaded_entry, "grams_not_in_filaman").state) == 0.0
    assert all(not servers.filaman.consumption_events(spool) for spool in servers.spool_ids)


async def test_other_amounts_are_deducted_once_across_a_restart(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry, held: list[Any]
) -> None:
    first, second, _ = servers.spool_ids
    # Home Assistant restarts before the user answers: the hold and its repair come back.
    await unload(hass, loaded_entry)
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, loaded_entry)
    assert len(held_issues(hass)) == 1
    assert remaining(servers, first) == 1000.0

    manager, flow = await open_fix(hass)
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "debit_other"})
    assert flow["step_id"] == "debit_other"
    assert [str(key) for key in flow["data_schema"].schema] == ["grams_1", "grams_2"]
    flow = await manager.async_configure(flow["flow_id"], {"grams_1": 1.2, "grams_2": 0})
    assert flow["type"] == "create_entry"
    await wait_for(lambda: remaining(servers, first) == pytest.approx(998.8))
    assert remaining(servers, second) == 1000.0
    assert held_issues(hass) == []

    # Never twice: an old fix flow, another restart and more runs change nothing.
    await unload(hass, loaded_entry)
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, loaded_entry)
    await loaded_entry.runtime_data.consumption.wake("again")
    await loaded_entry.runtime_data.consumption.wait_idle()
    assert len(servers.filaman.consumption_events(first)) == 1
    assert remaining(servers, first) == pytest.approx(998.8)


async def test_debit_as_booked_takes_the_users_word(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry, held: list[Any]
) -> None:
    first, second, _ = servers.spool_ids
    manager, flow = await open_fix(hass)
    stale_manager, stale = await open_fix(hass)  # a second dialog left open
    flow = await manager.async_configure(flow["flow_id"], {"next_step_id": "debit_as_booked"})
    assert flow["type"] == "create_entry"
    await wait_for(lambda: remaining(servers, second) == 0.0)
    assert remaining(servers, first) == 0.0
    stale = await stale_manager.async_configure(stale["flow_id"], {"next_step_id": "discard"})
    assert stale["type"] == "abort"
    assert stale["reason"] == "already_answered"
    assert len(servers.filaman.consumption_events(first)) == 1
