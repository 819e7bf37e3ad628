"""Live state through Home Assistant: printer online/offline, WebSocket loss, reauth, AMS units."""

from __future__ import annotations

import logging

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import DOMAIN
from simulators.bambuddy.simulator import VERSIONS

from .conftest import Servers, entity_id, has_entity, printer_device, state_of, wait_for

LIVE_LOGGER = "custom_components.filaman_bambuddy.api.bambuddy_live"

# Live state and consumption against both Bambuddy releases (issue 21).
pytestmark = pytest.mark.parametrize("bambuddy_version", VERSIONS, indirect=True)


def _ams_device(hass: HomeAssistant, entry: MockConfigEntry, ams_id: int) -> dr.DeviceEntry | None:
    return dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{entry.unique_id}_ams_{ams_id}"), entry.entry_id
    )


async def test_printer_offline_and_back(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    servers.bambuddy.set_online(servers.printer_id, False)
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == STATE_OFF)
    await wait_for(lambda: state_of(hass, loaded_entry, "slot_0_0").state == STATE_UNAVAILABLE)
    assert state_of(hass, loaded_entry, "slot_255_0").state == STATE_UNAVAILABLE
    # A stale climate reading or print state of an unreachable printer would mislead.
    assert state_of(hass, loaded_entry, "ams_0_ams_humidity").state == STATE_UNAVAILABLE
    assert state_of(hass, loaded_entry, "print_state").state == STATE_UNAVAILABLE
    # Sync health does not depend on the printer.
    assert state_of(hass, loaded_entry, "last_sync_result").state == "success"

    servers.bambuddy.set_online(servers.printer_id, True)
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == STATE_ON)
    await wait_for(lambda: state_of(hass, loaded_entry, "slot_0_0").state == "PLA Basic")
    assert state_of(hass, loaded_entry, "print_state").state == "idle"


async def test_websocket_drop_makes_live_entities_unavailable_until_reconnect(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LIVE_LOGGER)
    servers.bambuddy.drop_websockets()
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == STATE_UNAVAILABLE)
    assert state_of(hass, loaded_entry, "slot_0_0").state == STATE_UNAVAILABLE
    assert state_of(hass, loaded_entry, "linked_spools").state == "3"

    # reconnect_interval is 1 s in the test entry.
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == STATE_ON, within=3)
    assert state_of(hass, loaded_entry, "slot_0_0").state == "PLA Basic"
    lost = [r for r in caplog.records if r.message.startswith("Lost connection to Bambuddy")]
    back = [r for r in caplog.records if "is back" in r.message]
    assert len(lost) == 1
    assert len(back) == 1
    assert lost[0].levelno == back[0].levelno == logging.INFO


async def test_rejected_websocket_handshake_starts_reauth(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    servers.bambuddy.revoke_api_key(servers.bambuddy_key)
    servers.bambuddy.expire_ws_tokens()  # the cached token is refused with HTTP 403
    servers.bambuddy.drop_websockets()

    def reauth_flows() -> list[str]:
        return [
            flow["context"]["entry_id"]
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["source"] == "reauth"
        ]

    await wait_for(reauth_flows, within=3)
    assert reauth_flows() == [loaded_entry.entry_id]
    assert state_of(hass, loaded_entry, "online").state == STATE_UNAVAILABLE


@pytest.mark.parametrize("server", ["bambuddy", "filaman"])
async def test_a_key_rejected_by_any_request_starts_reauth_at_once(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry, server: str
) -> None:
    """A revoked key is noticed by the next sync, not only at the next WebSocket token."""
    if server == "bambuddy":
        servers.bambuddy.revoke_api_key(servers.bambuddy_key)
    else:
        servers.filaman.revoke_api_key(servers.filaman_key)
    await loaded_entry.runtime_data.hub.inventory.async_sync("test")
    await hass.async_block_till_done()
    flows = [
        flow["context"]["entry_id"]
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == "reauth"
    ]
    assert flows == [loaded_entry.entry_id]


async def test_ams_unit_plugged_in_and_out(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    ams_id = servers.bambuddy.add_ams_unit(servers.printer_id)
    await wait_for(lambda: has_entity(hass, loaded_entry, f"slot_{ams_id}_3"))
    device = _ams_device(hass, loaded_entry, ams_id)
    assert device is not None
    assert device.name == "Workshop X1C AMS B"
    assert device.via_device_id == printer_device(hass, loaded_entry).id
    await wait_for(lambda: state_of(hass, loaded_entry, f"slot_{ams_id}_0").state == "empty")
    slot = state_of(hass, loaded_entry, f"slot_{ams_id}_1")
    assert slot.attributes["slot_label"] == "B2"
    assert slot.name == "Workshop X1C AMS B Slot 2"
    assert has_entity(hass, loaded_entry, f"ams_{ams_id}_ams_humidity")

    servers.bambuddy.remove_ams_unit(servers.printer_id, ams_id)
    await wait_for(lambda: not has_entity(hass, loaded_entry, f"slot_{ams_id}_0"))
    assert not has_entity(hass, loaded_entry, f"ams_{ams_id}_ams_temperature")
    assert _ams_device(hass, loaded_entry, ams_id) is None
    assert hass.states.get("sensor.workshop_x1c_ams_b_slot_1") is None
    # Unit A is untouched.
    assert state_of(hass, loaded_entry, "slot_0_0").state == "PLA Basic"
    assert _ams_device(hass, loaded_entry, 0) is not None


async def test_units_are_kept_while_the_printer_is_offline(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """An unreachable printer reports no AMS at all: that is no reason to delete its slots."""
    printer = servers.bambuddy.printer(servers.printer_id)
    units = printer.ams
    slot_entity = entity_id(hass, loaded_entry, "slot_0_0")
    printer.ams = []
    servers.bambuddy.set_online(servers.printer_id, False)
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == STATE_OFF)
    assert has_entity(hass, loaded_entry, "slot_0_0")
    assert _ams_device(hass, loaded_entry, 0) is not None
    assert state_of(hass, loaded_entry, "slot_0_0").state == STATE_UNAVAILABLE

    printer.ams = units
    servers.bambuddy.set_online(servers.printer_id, True)
    await wait_for(lambda: state_of(hass, loaded_entry, "slot_0_0").state == "PLA Basic")
    assert entity_id(hass, loaded_entry, "slot_0_0") == slot_entity


async def test_unit_removed_while_offline_goes_when_the_printer_is_back(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    ams_id = servers.bambuddy.add_ams_unit(servers.printer_id)
    await wait_for(lambda: has_entity(hass, loaded_entry, f"slot_{ams_id}_0"))
    servers.bambuddy.set_online(servers.printer_id, False)
    servers.bambuddy.remove_ams_unit(servers.printer_id, ams_id)
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == STATE_OFF)
    assert has_entity(hass, loaded_entry, f"slot_{ams_id}_0")

    servers.bambuddy.set_online(servers.printer_id, True)
    await wait_for(lambda: not has_entity(hass, loaded_entry, f"slot_{ams_id}_0"))
    assert _ams_device(hass, loaded_entry, ams_id) is None


async def test_unit_removed_while_home_assistant_was_stopped_goes_with_the_first_report(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """stale-devices after downtime: the registries kept unit B, the printer no longer has it."""
    ams_id = servers.bambuddy.add_ams_unit(servers.printer_id)
    await wait_for(lambda: has_entity(hass, loaded_entry, f"slot_{ams_id}_0"))
    assert has_entity(hass, loaded_entry, f"slot_{ams_id}_0_spool")
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    servers.bambuddy.remove_ams_unit(servers.printer_id, ams_id)  # while Home Assistant is off

    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: not has_entity(hass, loaded_entry, f"slot_{ams_id}_0"))
    assert not has_entity(hass, loaded_entry, f"slot_{ams_id}_0_spool")
    assert not has_entity(hass, loaded_entry, f"ams_{ams_id}_ams_humidity")
    assert _ams_device(hass, loaded_entry, ams_id) is None
    await wait_for(lambda: state_of(hass, loaded_entry, "slot_0_0").state == "PLA Basic")


async def test_ams_ht_and_two_external_holders(hass: HomeAssistant, servers: Servers) -> None:
    printer_id = servers.bambuddy.add_printer(
        "Studio H2D", model="H2D", ams_units=0, ams_ht=1, external=2
    )
    servers.bambuddy.set_tray(printer_id, 255, 1, tray_type="TPU", tray_color="000000FF")
    entry = servers.entry(printer_id)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: state_of(hass, entry, "slot_128_0").state == "empty")

    device = _ams_device(hass, entry, 128)
    assert device is not None
    assert (device.name, device.model) == ("Studio H2D AMS HT 1", "AMS HT")
    assert state_of(hass, entry, "slot_128_0").attributes["slot_label"] == "HT1"
    second = state_of(hass, entry, "slot_255_1")
    assert second.state == "TPU"
    assert second.name == "Studio H2D External spool 2"
    assert second.attributes["slot_label"] == "Ext 2"
    assert second.attributes["color"] == "#000000"
    assert state_of(hass, entry, "slot_255_0").attributes["slot_label"] == "Ext"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_one_odd_frame_does_not_drop_the_live_session(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    live = loaded_entry.runtime_data.hub.live
    await wait_for(lambda: live.connected)
    connections: list[bool] = []
    loaded_entry.async_on_unload(live.add_connection_listener(connections.append))
    servers.bambuddy.inject_ws_frame("[" * 100_000)
    servers.bambuddy.set_online(servers.printer_id, False)
    await wait_for(
        lambda: state_of(hass, loaded_entry, "online").state in (STATE_OFF, "unavailable")
    )
    assert connections == []
