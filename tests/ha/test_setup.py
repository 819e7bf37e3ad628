"""Setting up an entry against the simulators, its entities, and a clean unload."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.filaman_bambuddy import hub as hub_module
from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.hub import DATA_HUBS

from .conftest import Servers, state_of, wait_for


async def test_setup_creates_devices_and_entities(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    assert loaded_entry.state is ConfigEntryState.LOADED
    entities = er.async_entries_for_config_entry(er.async_get(hass), loaded_entry.entry_id)
    keys = {entity.translation_key for entity in entities}
    assert {
        "online",
        "slot",
        "external_slot",
        "print_state",
        "sync_now",
        "full_resync",
        "print_finished",
        "ams_humidity",
        "last_sync",
    } <= keys
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), loaded_entry.entry_id)
    names = {device.name for device in devices}
    assert {"Bambuddy", "Workshop X1C", "Workshop X1C AMS A"} <= names

    slot = _state_of(hass, loaded_entry, "slot_0_0")
    assert slot.state == "PLA Basic"
    assert slot.attributes["color"] == "#00AE42"
    assert slot.attributes["material"] == "PLA"
    assert slot.attributes["slot_label"] == "A1"
    assert _state_of(hass, loaded_entry, "online").state == "on"
    assert _state_of(hass, loaded_entry, "slot_0_2").state == "empty"


async def test_first_sync_links_every_filaman_spool(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    notes = sorted(spool.fields["note"] for spool in servers.bambuddy.db.spools.values())
    assert notes == sorted(f"filaman:{spool_id}" for spool_id in servers.spool_ids)
    assert _state_of(hass, loaded_entry, "linked_spools").state == "3"
    assert _state_of(hass, loaded_entry, "last_sync_result").state == "success"


async def test_unload_leaves_nothing_behind(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    assert not hass.data.get(DATA_HUBS)
    assert _state_of(hass, loaded_entry, "online").state == "unavailable"


async def test_bambuddy_down_means_not_ready(hass: HomeAssistant, servers: Servers) -> None:
    servers.bambuddy.down = True
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_rejected_key_starts_reauth(hass: HomeAssistant, servers: Servers) -> None:
    entry = servers.entry(bambuddy_api_key="bb_" + "x" * 43)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_deleted_printer_is_a_setup_error(hass: HomeAssistant, servers: Servers) -> None:
    entry = servers.entry(printer_id=999)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR


def _state_of(hass: HomeAssistant, entry: MockConfigEntry, key: str):  # type: ignore[no-untyped-def]
    registry = er.async_get(hass)
    unique_id = f"{entry.unique_id}_{key}"
    entity_id = next(
        e.entity_id
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        if e.unique_id == unique_id
    )
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def test_failed_first_refresh_releases_the_hub(hass: HomeAssistant, servers: Servers) -> None:
    servers.bambuddy.fail_next("GET", r"/printers/1/status$", 500)
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not hass.data.get(DATA_HUBS)


async def test_key_rejected_on_the_first_status_read_starts_reauth(
    hass: HomeAssistant, servers: Servers
) -> None:
    servers.bambuddy.fail_next("GET", r"/printers/1/status$", 401)
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert not hass.data.get(DATA_HUBS)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_removing_the_entry_forgets_its_ledger(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    servers: Servers,
    loaded_entry: MockConfigEntry,
) -> None:
    key = f"{DOMAIN}.ledger.{loaded_entry.entry_id}"
    await loaded_entry.runtime_data.consumption.wait_idle()
    assert key in hass_storage
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_only_vanished_ams_units_can_be_deleted(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    servers: Servers,
    loaded_entry: MockConfigEntry,
) -> None:
    assert await async_setup_component(hass, "config", {})
    registry = dr.async_get(hass)
    devices = dr.async_entries_for_config_entry(registry, loaded_entry.entry_id)
    gone = registry.async_get_or_create(
        config_entry_id=loaded_entry.entry_id,
        identifiers={(DOMAIN, f"{loaded_entry.unique_id}_ams_3")},
        name="Workshop X1C AMS D",
    )
    client = await hass_ws_client(hass)

    async def remove(device_id: str) -> bool:
        await client.send_json_auto_id(
            {
                "type": "config/device_registry/remove_config_entry",
                "config_entry_id": loaded_entry.entry_id,
                "device_id": device_id,
            }
        )
        response = await client.receive_json()
        return bool(response["success"])

    for device in devices:  # server, printer and the AMS unit that is plugged in
        assert not await remove(device.id), device.name
    assert await remove(gone.id)
    assert registry.async_get(gone.id) is None


async def test_live_session_survives_an_unexpected_error(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(hub_module, "LIVE_RESTART_DELAY", 0.05)
    live = loaded_entry.runtime_data.hub.live
    await wait_for(lambda: live.connected)
    # No known input crashes the session any more, so inject a bug: the next event a
    # listener sees raises past the session's own handling, once.
    real_dispatch = live._dispatch
    crashed: list[bool] = []

    def dispatch_once_broken(event: Any) -> None:
        if not crashed:
            crashed.append(True)
            raise RuntimeError("injected bug")
        real_dispatch(event)

    monkeypatch.setattr(live, "_dispatch", dispatch_once_broken)
    servers.bambuddy.set_online(servers.printer_id, True)
    await wait_for(lambda: "stopped unexpectedly" in caplog.text)
    await wait_for(lambda: live.connected)
    servers.bambuddy.set_online(servers.printer_id, False)
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == "off")


async def test_home_assistant_stop_closes_the_hub_cleanly(
    hass: HomeAssistant, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """HA does not unload entries on shutdown: the hub must stop before the HTTP session."""
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    data = entry.runtime_data
    await wait_for(lambda: data.hub.live.connected)

    await hass.async_stop()
    errors = [
        record
        for record in caplog.records
        if record.name.startswith("custom_components") and record.levelno >= logging.WARNING
    ]
    assert errors == []
    assert not data.hub.live.running
    assert not data.hub.watcher.running
    assert not servers.bambuddy.hub.clients
    await data.consumption.wait_idle()  # returns at once: the worker is gone


async def test_unload_after_the_stop_event_is_quiet(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert not hass.data.get(DATA_HUBS)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert "Unable to remove" not in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
