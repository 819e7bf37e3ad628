"""Setting up an entry against the simulators, its entities, and a clean unload."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.hub import DATA_HUBS

from .conftest import Servers


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
