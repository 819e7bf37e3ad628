"""Assigning without Developer tools (issue 18): the slot select and the card's picker command."""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import ATTR_OPTION, DOMAIN as SELECT, SERVICE_SELECT_OPTION
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.filaman_bambuddy.select import MAX_OPTIONS, NONE_OPTION

from .conftest import Servers, entity_id, printer_device, state_of

A1, A2 = "slot_0_0_spool", "slot_0_1_spool"  # green PLA, orange PETG


async def choose(hass: HomeAssistant, entry: MockConfigEntry, key: str, option: str) -> None:
    await hass.services.async_call(
        SELECT,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id(hass, entry, key), ATTR_OPTION: option},
        blocking=True,
    )
    await hass.async_block_till_done()


def option_of(servers: Servers, spool_id: int) -> str:
    return f"#{spool_id} Bambu Lab PLA Basic Bambu Green"


async def test_a_slot_select_assigns_and_clears_the_slot(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    select = state_of(hass, loaded_entry, A1)
    assert select.state == NONE_OPTION
    spools = servers.spool_ids
    assert select.attributes["options"] == [NONE_OPTION, *(option_of(servers, s) for s in spools)]
    # Nothing in FilaMan is PETG: the PETG slot offers only "none".
    assert state_of(hass, loaded_entry, A2).attributes["options"] == [NONE_OPTION]

    await choose(hass, loaded_entry, A1, option_of(servers, spools[1]))
    assert state_of(hass, loaded_entry, A1).state == option_of(servers, spools[1])
    assignment = servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0)
    assert assignment is not None
    assert servers.bambuddy.db.spools[assignment.spool_id].fields["note"] == f"filaman:{spools[1]}"
    sensor = state_of(hass, loaded_entry, "slot_0_0")
    assert sensor.attributes["filaman_spool_id"] == spools[1]
    assert sensor.attributes["filaman_net_weight_g"] == 1000

    await choose(hass, loaded_entry, A1, NONE_OPTION)
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0) is None
    assert state_of(hass, loaded_entry, A1).state == NONE_OPTION
    await choose(hass, loaded_entry, A1, NONE_OPTION)  # nothing to clear: nothing happens


async def test_a_slot_select_shows_what_bambuddy_assigned_itself(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """A spool no FilaMan spool is linked to: the select cannot name it (unknown)."""
    own = servers.bambuddy.add_spool(material="PLA", rgba="00AE42FF")
    # Assigned in Bambuddy's UI (the same REST call its UI makes).
    await loaded_entry.runtime_data.hub.bambuddy.assign(own.id, servers.printer_id, 0, 0)
    await loaded_entry.runtime_data.coordinator.async_refresh_assignments()
    await hass.async_block_till_done()
    assert state_of(hass, loaded_entry, A1).state == "unknown"


async def test_options_are_capped_and_ranked_once_per_change(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    for _ in range(MAX_OPTIONS + 5):
        servers.add_spool_quietly()
    await loaded_entry.runtime_data.hub.inventory.async_sync("test")
    await hass.async_block_till_done()
    select = state_of(hass, loaded_entry, A1)
    assert len(select.attributes["options"]) == MAX_OPTIONS + 1  # none + the best fits
    entity = hass.data["entity_components"][SELECT].get_entity(entity_id(hass, loaded_entry, A1))
    ranked = entity._ranked()
    assert entity._ranked() is ranked  # nothing changed: not ranked again


async def test_picker_command_searches_and_ranks(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    petg = servers.filaman.add_filament(
        servers.filaman.add_manufacturer("Polymaker"),
        "PETG",
        designation="PolyLite PETG",
        color_hex="#FF6A13",
        manufacturer_color_name="Orange",
    )
    orange = servers.filaman.add_spool(petg)
    await loaded_entry.runtime_data.hub.inventory.async_sync("test")
    client = await hass_ws_client(hass)
    device = printer_device(hass, loaded_entry).id

    async def ask(**fields: object) -> Any:
        await client.send_json_auto_id(
            {"type": "filaman_bambuddy/slot_spools", "device_id": device, **fields}
        )
        reply = await client.receive_json()
        assert reply["success"], reply
        return reply["result"]

    # The PETG slot: the PETG spool first, the rest after it.
    result = await ask(ams_id=0, tray_id=1)
    spools = result["spools"]
    assert isinstance(spools, list)
    assert [s["id"] for s in spools] == [orange, *servers.spool_ids]
    assert spools[0]["material_match"] is True
    assert result["total"] == 4
    assert result["assigned"] is False
    assert result["assigned_filaman_spool_id"] is None

    # Search by name, material, colour or id; a page of them.
    assert [s["id"] for s in (await ask(ams_id=0, tray_id=0, query="orange"))["spools"]] == [orange]
    assert (await ask(ams_id=0, tray_id=0, query="pla green"))["total"] == 3
    assert [s["id"] for s in (await ask(ams_id=0, tray_id=0, query=f"#{orange}"))["spools"]] == [
        orange
    ]
    assert len((await ask(ams_id=0, tray_id=0, limit=2))["spools"]) == 2

    # An assigned slot says which spool it holds; one loaded elsewhere says where.
    await hass.services.async_call(
        "filaman_bambuddy",
        "assign_spool",
        {"filaman_spool_id": orange, "device_id": device, "ams_id": 0, "tray_id": 1},
        blocking=True,
    )
    assert (await ask(ams_id=0, tray_id=1))["assigned_filaman_spool_id"] == orange
    spools = (await ask(ams_id=0, tray_id=0, query="orange"))["spools"]
    assert spools == [
        {
            "id": orange,
            "name": "Polymaker PolyLite PETG Orange",
            "material": "PETG",
            "color": "#FF6A13",
            "remaining_g": 1000.0,
            "loaded_in": "Workshop X1C A2",
            "rfid_match": False,
            "material_match": False,
        }
    ]

    # Bad input: a clear error, nothing changed.
    await client.send_json_auto_id(
        {"type": "filaman_bambuddy/slot_spools", "device_id": "nope", "ams_id": 0, "tray_id": 0}
    )
    reply = await client.receive_json()
    assert not reply["success"]
    assert reply["error"]["code"] == "not_available"
    await client.send_json_auto_id(
        {"type": "filaman_bambuddy/slot_spools", "device_id": device, "ams_id": 0, "tray_id": 9}
    )
    assert (await client.receive_json())["error"]["code"] == "invalid_format"


async def test_picker_refusals_are_caller_errors(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """What the card shows when the slot refuses: a translated validation error, no ERROR log."""
    servers.filaman.archive_spool(servers.spool_ids[0])
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            "filaman_bambuddy",
            "assign_spool",
            {
                "filaman_spool_id": servers.spool_ids[0],
                "device_id": printer_device(hass, loaded_entry).id,
                "ams_id": 0,
                "tray_id": 0,
            },
            blocking=True,
        )
    assert raised.value.translation_key == "spool_archived"
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0) is None


async def test_the_card_assigns_and_clears_through_its_own_command(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refusal is the card's to show, with its translated reason: no ERROR in the log."""
    client = await hass_ws_client(hass)
    device = printer_device(hass, loaded_entry).id
    first = servers.spool_ids[0]

    async def set_spool(spool_id: int | None, **fields: object) -> Any:
        await client.send_json_auto_id(
            {"type": "filaman_bambuddy/set_slot_spool", "device_id": device, "ams_id": 0,
             "tray_id": 0, "filaman_spool_id": spool_id, **fields}
        )  # fmt: skip
        return await client.receive_json()

    reply = await set_spool(first)
    assert reply["success"], reply
    assert reply["result"]["filaman_spool_id"] == first
    assignment = servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0)
    assert assignment is not None

    servers.filaman.archive_spool(servers.spool_ids[1])
    caplog.clear()
    reply = await set_spool(servers.spool_ids[1])
    assert not reply["success"]
    assert reply["error"]["code"] == "service_validation_error"
    assert reply["error"]["translation_key"] == "spool_archived"
    assert reply["error"]["message"]
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0) == assignment

    reply = await set_spool(None)
    assert reply["success"], reply
    assert reply["result"]["unassigned"] is True
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0) is None

    # Bad input: a clear error, nothing changed.
    assert (await set_spool(first, device_id="nope"))["error"]["code"] == (
        "service_validation_error"
    )
    assert (await set_spool(0))["error"]["code"] == "invalid_format"
    assert (await set_spool(True))["error"]["code"] == "invalid_format"
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0) is None
