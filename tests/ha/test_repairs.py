"""Repair issues: Spoolman mode, FilaMan's own plugin, auth disabled, a long outage."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.repairs import OUTAGE_GRACE_SECONDS

from .conftest import Servers, printer_device, set_up_entry, wait_for

SYNC_INTERVAL = 300  # the test entries' option: conflicts are re-checked this often


def issue(hass: HomeAssistant, kind: str, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry.entry_id}")


def recheck(hass: HomeAssistant) -> None:
    """Start the periodic conflict check (it runs in the background)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=SYNC_INTERVAL + 1))


async def test_spoolman_mode_blocks_consumption_until_turned_off(
    hass: HomeAssistant, servers: Servers
) -> None:
    servers.bambuddy.set_spoolman_mode(True)
    entry = await set_up_entry(hass, servers)
    found = issue(hass, "spoolman_mode", entry)
    assert found is not None
    assert found.severity is ir.IssueSeverity.ERROR
    assert found.translation_key == "spoolman_mode"
    assert found.translation_placeholders == {
        "printer": "Printer 1",
        "bambuddy_url": servers.bambuddy.url,
    }
    assert entry.runtime_data.consumption.blocked == "spoolman_mode"

    servers.bambuddy.set_spoolman_mode(False)
    recheck(hass)
    await wait_for(lambda: issue(hass, "spoolman_mode", entry) is None)
    assert entry.runtime_data.consumption.blocked is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_filaman_plugin_for_this_printer_blocks_debits(
    hass: HomeAssistant, servers: Servers
) -> None:
    plugin_printer = servers.filaman.add_printer(
        "X1C via FilaMan",
        driver_key="bambuddy",
        driver_config={
            "bambuddy_url": f"{servers.bambuddy.url}/",
            "printer_id": servers.printer_id,
            "api_key": servers.bambuddy_key,
        },
        driver_running=True,
    )
    entry = await set_up_entry(hass, servers)
    found = issue(hass, "filaman_plugin_active", entry)
    assert found is not None
    assert found.severity is ir.IssueSeverity.ERROR
    assert entry.runtime_data.consumption.blocked == "filaman_plugin_active"

    # A print while the plugin runs is the plugin's to debit: skipped here, also later.
    await entry.runtime_data.hub.inventory.async_sync("test")
    spool_id = servers.spool_ids[0]
    await hass.services.async_call(
        DOMAIN,
        "assign_spool",
        {
            "filaman_spool_id": spool_id,
            "device_id": printer_device(hass, entry).id,
            "ams_id": 0,
            "tray_id": 0,
        },
        blocking=True,
        return_response=True,
    )
    await servers.bambuddy.run_print(servers.printer_id, "Doubled", grams={(0, 0): 10.0})
    processor = entry.runtime_data.consumption
    await wait_for(lambda: any(e.print_name == "Doubled" for e in processor.entries()))
    await processor.wait_idle()
    assert servers.filaman.consumption_events(spool_id) == []

    servers.filaman.set_printer_driver(plugin_printer, running=False)
    recheck(hass)
    await wait_for(lambda: issue(hass, "filaman_plugin_active", entry) is None)
    assert processor.blocked is None
    await processor.wait_idle()
    assert servers.filaman.consumption_events(spool_id) == []

    await servers.bambuddy.run_print(servers.printer_id, "Single", grams={(0, 0): 4.0})
    await wait_for(lambda: len(servers.filaman.consumption_events(spool_id)) == 1)
    assert servers.filaman.spool(spool_id).remaining_weight_g == 996.0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_plugin_for_another_printer_or_stopped_is_no_conflict(
    hass: HomeAssistant, servers: Servers
) -> None:
    config = {"bambuddy_url": servers.bambuddy.url, "api_key": servers.bambuddy_key}
    servers.filaman.add_printer(
        "Other",
        driver_key="bambuddy",
        driver_config=config | {"printer_id": 7},
        driver_running=True,
    )
    servers.filaman.add_printer(
        "Stopped",
        driver_key="bambuddy",
        driver_config=config | {"printer_id": servers.printer_id},
        driver_running=False,
    )
    entry = await set_up_entry(hass, servers)
    assert issue(hass, "filaman_plugin_active", entry) is None
    assert entry.runtime_data.consumption.blocked is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_auth_disabled_is_a_warning(hass: HomeAssistant, servers: Servers) -> None:
    servers.bambuddy.auth_enabled = False
    entry = await set_up_entry(hass, servers)
    found = issue(hass, "bambuddy_auth_disabled", entry)
    assert found is not None
    assert found.severity is ir.IssueSeverity.WARNING
    assert entry.runtime_data.consumption.blocked is None

    servers.bambuddy.auth_enabled = True
    recheck(hass)
    await wait_for(lambda: issue(hass, "bambuddy_auth_disabled", entry) is None)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_failing_check_keeps_the_known_issues(
    hass: HomeAssistant, servers: Servers
) -> None:
    servers.bambuddy.set_spoolman_mode(True)
    entry = await set_up_entry(hass, servers)
    servers.bambuddy.set_spoolman_mode(False)
    servers.bambuddy.fail_next("GET", r"/settings/spoolman", 500)
    recheck(hass)
    await wait_for(lambda: not servers.bambuddy.faults.rules)  # the check got its 500
    await asyncio.sleep(0.1)
    assert issue(hass, "spoolman_mode", entry) is not None
    assert entry.runtime_data.consumption.blocked == "spoolman_mode"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_long_outage_raises_an_issue_cleared_on_reconnect(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    live = loaded_entry.runtime_data.hub.live
    await wait_for(lambda: live.connected)
    servers.bambuddy.down = True
    await wait_for(lambda: not live.connected)

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=OUTAGE_GRACE_SECONDS - 60))
    await hass.async_block_till_done()
    assert issue(hass, "bambuddy_unreachable", loaded_entry) is None

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=OUTAGE_GRACE_SECONDS + 1))
    await hass.async_block_till_done()
    found = issue(hass, "bambuddy_unreachable", loaded_entry)
    assert found is not None
    assert found.translation_placeholders == {
        "printer": "Printer 1",
        "bambuddy_url": servers.bambuddy.url,
    }

    servers.bambuddy.down = False
    await wait_for(lambda: live.connected, within=4)
    assert issue(hass, "bambuddy_unreachable", loaded_entry) is None


async def test_server_unreachable_since_setup_also_raises_the_issue(
    hass: HomeAssistant, servers: Servers
) -> None:
    """REST works but the WebSocket never connects (e.g. a proxy without upgrade)."""
    servers.bambuddy.fail_next("GET", r"/api/v1/ws", 502, count=100_000)
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=OUTAGE_GRACE_SECONDS + 1))
    await hass.async_block_till_done()
    assert issue(hass, "bambuddy_unreachable", entry) is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
