"""FilaMan knows where each spool is (issue 18): location-following through Home Assistant."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import (
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_PRINTER_ID,
    CONF_FOLLOW_LOCATIONS,
    DOMAIN,
)

from .conftest import Servers, printer_device, settle, unload, wait_for

WITHIN = 5.0  # a pass waits a second for a burst of changes to end


async def set_up(
    hass: HomeAssistant, servers: Servers, *, role: str = "admin", **data: object
) -> MockConfigEntry:
    entry = servers.entry(**{CONF_FILAMAN_API_KEY: servers.filaman.create_api_key(role), **data})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    return entry


async def assign(
    hass: HomeAssistant, entry: MockConfigEntry, spool_id: int, slot: tuple[int, int]
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "assign_spool",
        {
            "filaman_spool_id": spool_id,
            "device_id": printer_device(hass, entry).id,
            "ams_id": slot[0],
            "tray_id": slot[1],
        },
        blocking=True,
    )


def location_named(servers: Servers, name: str) -> int | None:
    return next(
        (loc.id for loc in servers.filaman.state.locations.values() if loc.name == name), None
    )


def moves(servers: Servers, spool_id: int) -> list[tuple[int | None, int | None]]:
    return [
        (event.from_location_id, event.to_location_id)
        for event in reversed(servers.filaman.events(spool_id))
        if event.event_type == "move_location"
    ]


async def test_a_spool_follows_its_slot_and_goes_back(
    hass: HomeAssistant, servers: Servers
) -> None:
    shelf = servers.filaman.add_location("Shelf A")
    spool = servers.spool_ids[0]
    servers.filaman.edit_spool(spool, location_id=shelf)
    entry = await set_up(hass, servers)
    await assign(hass, entry, spool, (0, 0))
    await wait_for(lambda: location_named(servers, "Workshop X1C - AMS A1") is not None, WITHIN)
    slot_location = location_named(servers, "Workshop X1C - AMS A1")
    location = servers.filaman.state.locations[slot_location or 0]
    assert location.identifier == f"bambuddy_b{servers.printer_id}_0_0"
    assert location.custom_fields == {"managed_by": "home_assistant"}
    await wait_for(lambda: servers.filaman.spool(spool).location_id == slot_location, WITHIN)
    (event,) = [e for e in servers.filaman.events(spool) if e.event_type == "move_location"]
    assert event.note == "Home Assistant: loaded into Workshop X1C AMS A1"

    # Unassigned (in Bambuddy, the card, the select: all the same): back on the shelf.
    await hass.services.async_call(
        DOMAIN,
        "unassign_spool",
        {"device_id": printer_device(hass, entry).id, "ams_id": 0, "tray_id": 0},
        blocking=True,
    )
    await wait_for(lambda: servers.filaman.spool(spool).location_id == shelf, WITHIN)
    assert moves(servers, spool) == [(shelf, slot_location), (slot_location, shelf)]
    await unload(hass, entry)


async def test_a_move_in_filaman_assigns_in_bambuddy_once(
    hass: HomeAssistant, servers: Servers
) -> None:
    """The plugin's own locations (its FilaMan printer's id) are reused, and nothing loops."""
    plugin_printer = servers.filaman.add_printer("X1C in FilaMan")
    a2 = servers.filaman.add_location("X1C in FilaMan - AMS A2", f"bambuddy_{plugin_printer}_0_1")
    first, second = servers.spool_ids[:2]
    entry = await set_up(hass, servers, **{CONF_FILAMAN_PRINTER_ID: plugin_printer})
    await assign(hass, entry, first, (0, 1))
    await wait_for(lambda: servers.filaman.spool(first).location_id == a2, WITHIN)

    servers.filaman.move_spool(second, a2)  # the user, in FilaMan's UI
    await wait_for(
        lambda: (
            (assignment := servers.bambuddy.db.assignment_at(servers.printer_id, 0, 1)) is not None
            and servers.bambuddy.db.spools[assignment.spool_id].fields["note"]
            == f"filaman:{second}"
        ),
        WITHIN,
    )
    await wait_for(lambda: servers.filaman.spool(first).location_id is None, WITHIN)
    assert servers.filaman.spool(second).location_id == a2
    # Settled: more syncs change nothing (no move, no assignment ping-pong).
    posts = servers.bambuddy.request_log.count(("POST", "/api/v1/inventory/assignments"))
    await entry.runtime_data.hub.inventory.async_sync("test")
    await entry.runtime_data.hub.inventory.async_sync("test")
    await hass.async_block_till_done()
    assert servers.bambuddy.request_log.count(("POST", "/api/v1/inventory/assignments")) == posts
    assert len(moves(servers, second)) == 1
    assert len(moves(servers, first)) == 2
    assert servers.filaman.state.locations.keys() == {a2}  # no second location for A2
    await unload(hass, entry)


async def test_a_key_that_may_not_create_locations_gets_a_repair(
    hass: HomeAssistant, servers: Servers
) -> None:
    entry = await set_up(hass, servers, role="user")
    await assign(hass, entry, servers.spool_ids[0], (0, 0))
    issue_id = f"location_permission_{entry.entry_id}"
    await wait_for(lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id), WITHIN)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "printer": "Printer 1",
        "permission": "locations:create",
        "owner": f"b{servers.printer_id}",
    }
    assert servers.filaman.state.locations == {}
    # Nothing else breaks: the spool is assigned all the same.
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0) is not None

    # The user creates the location by hand: the spool moves in, the issue goes.
    made = servers.filaman.add_location("A1", f"bambuddy_b{servers.printer_id}_0_0")
    await entry.runtime_data.hub.inventory.async_sync("test")
    await wait_for(lambda: servers.filaman.spool(servers.spool_ids[0]).location_id == made, WITHIN)
    await wait_for(lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None, WITHIN)
    await unload(hass, entry)


async def test_following_can_be_turned_off(hass: HomeAssistant, servers: Servers) -> None:
    entry = servers.entry(**{CONF_FILAMAN_API_KEY: servers.filaman.create_api_key("admin")})
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_FOLLOW_LOCATIONS: False}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    await assign(hass, entry, servers.spool_ids[0], (0, 0))
    await entry.runtime_data.hub.inventory.async_sync("test")
    await hass.async_block_till_done()
    assert servers.filaman.state.locations == {}
    assert servers.filaman.spool(servers.spool_ids[0]).location_id is None
    await unload(hass, entry)
