"""Bambuddy 1.2.6 through Home Assistant: what its source says it does, met rule by rule."""

from __future__ import annotations

import logging

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import CONF_BAMBUDDY_API_KEY, DOMAIN

from .conftest import Servers, set_up_entry, settle, unload, wait_for
from .test_consumption import assign, consumption_count, remaining

pytestmark = pytest.mark.parametrize("bambuddy_version", ["1.2.6"], indirect=True)


def scope_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"printer_out_of_scope_{entry.entry_id}")


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[object]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]


async def test_a_printer_outside_the_keys_scope_is_a_repair_not_a_removed_printer(
    hass: HomeAssistant, servers: Servers
) -> None:
    other = servers.bambuddy.add_printer("Garage P1S", model="P1S")
    key = servers.bambuddy.create_api_key(printer_ids=[other])  # works, for another printer
    entry = servers.entry(**{CONF_BAMBUDDY_API_KEY: key})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY  # tried again, never given up
    issue = scope_issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "printer_out_of_scope"
    assert reauth_flows(hass, entry) == []

    # The admin gives the key this printer again: the entry comes back, the repair goes.
    servers.bambuddy.set_key_printers(key, [other, servers.printer_id])
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert scope_issue(hass, entry) is None
    await unload(hass, entry)


async def test_losing_the_printer_from_the_keys_scope_while_running_is_said(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    coordinator = loaded_entry.runtime_data.coordinator
    servers.bambuddy.set_key_printers(servers.bambuddy_key, [])
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    assert scope_issue(hass, loaded_entry) is not None
    servers.bambuddy.set_key_printers(servers.bambuddy_key, None)
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    assert scope_issue(hass, loaded_entry) is None


async def test_a_deactivated_key_owner_starts_reauth(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    servers.bambuddy.deactivate_key_owner(servers.bambuddy_key)
    await loaded_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert reauth_flows(hass, loaded_entry)


async def test_a_websocket_closed_with_4401_reconnects_with_a_new_token_not_a_reauth(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    live = loaded_entry.runtime_data.hub.live
    tokens, reconnects = len(servers.bambuddy.db.ws_tokens), live.reconnect_count
    await servers.bambuddy.close_websockets(4401)
    await wait_for(lambda: live.reconnect_count == reconnects + 1 and live.connected, within=10)
    assert len(servers.bambuddy.db.ws_tokens) == tokens + 1  # minted anew, not the old one
    assert reauth_flows(hass, loaded_entry) == []
    assert loaded_entry.state is ConfigEntryState.LOADED


async def test_two_filaments_of_one_spool_are_two_debits_each_once(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """#3230: two usage rows for one spool of one print; and the new print_confirm_request
    event, sent with every print, is ignored quietly."""
    first = servers.spool_ids[0]
    await assign(hass, loaded_entry, first, 0, 0)
    with caplog.at_level(logging.INFO, logger="custom_components.filaman_bambuddy"):
        await servers.bambuddy.run_print(
            servers.printer_id, "Two colours", grams={(0, 0): 5.0}, booked={(0, 0): [3.0, 2.0]}
        )
        await wait_for(lambda: remaining(servers, first) == 995.0)
        await loaded_entry.runtime_data.consumption.wait_idle()
    rows = [e for e in loaded_entry.runtime_data.consumption.entries() if e.usage_id]
    assert sorted(entry.grams for entry in rows) == [2.0, 3.0]
    assert consumption_count(servers, first) == 1  # FilaMan merged them into one event
    assert not [r for r in caplog.records if "print_confirm_request" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_the_upgrades_weight_repair_is_put_right_by_the_next_sync(
    hass: HomeAssistant, servers: Servers
) -> None:
    """#2909 rewrites weight_used of weighed spools: FilaMan's truth wins at the next sync,
    and it is never read as consumption."""
    entry = await set_up_entry(hass, servers)
    twins = {s.id: s for s in servers.bambuddy.db.spools.values() if s.archived_at is None}
    before = {spool_id: spool.fields["weight_used"] for spool_id, spool in twins.items()}
    for spool in twins.values():
        spool.fields["last_scale_weight"] = 700.0
    assert sorted(servers.bambuddy.repair_weights()) == sorted(twins)
    assert {s: twins[s].fields["weight_used"] for s in twins} != before
    result = await entry.runtime_data.hub.inventory.async_sync("after the upgrade")
    assert result.updated == len(twins)
    assert {s: twins[s].fields["weight_used"] for s in twins} == before
    await settle(hass, entry)
    assert all(consumption_count(servers, spool) == 0 for spool in servers.spool_ids)
    assert all(remaining(servers, spool) == 1000.0 for spool in servers.spool_ids)
    await unload(hass, entry)
