"""The actions (sync_now, full_resync, assign_spool, unassign_spool) and the sync buttons."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.filaman_bambuddy.const import DOMAIN

from .conftest import Servers, entity_id, printer_device, state_of, wait_for


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, service, data or {}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


async def slot_call(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    service: str,
    ams_id: int,
    tray_id: int,
    **data: Any,
) -> dict[str, Any]:
    device_id = printer_device(hass, entry).id
    return await call(
        hass, service, {"device_id": device_id, "ams_id": ams_id, "tray_id": tray_id} | data
    )


def set_printing(servers: Servers, state: str) -> None:
    printer = servers.bambuddy.printer(servers.printer_id)
    printer.job.state = state
    servers.bambuddy.publish_status(printer)


# --- sync_now / full_resync ------------------------------------------------------------------


async def test_sync_now_returns_the_counts(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    servers.filaman.add_spool(servers.filament_id)
    result = await call(hass, "sync_now")
    assert result["status"] == "success"
    assert result["created"] == 1
    assert result["unchanged"] == 3
    assert result["deleted"] == result["failed"] == 0
    assert result["linked"] == 4
    assert "service" in result["reason"]

    by_entry = await call(hass, "sync_now", {"config_entry_id": loaded_entry.entry_id})
    assert by_entry["unchanged"] == 4
    by_device = await call(hass, "sync_now", {"device_id": printer_device(hass, loaded_entry).id})
    assert by_device["created"] == 0


async def test_a_failed_sync_is_an_error_of_the_action_and_the_button(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """action-exceptions: a run that did not complete raises, translated; the caller's mistake
    is a validation error (HTTP 400, no ERROR in the log)."""
    servers.filaman.down = True
    with pytest.raises(HomeAssistantError) as failed:
        await call(hass, "sync_now")
    assert not isinstance(failed.value, ServiceValidationError)
    assert failed.value.translation_key == "sync_incomplete"
    assert "FilaMan" in failed.value.translation_placeholders["error"]
    with pytest.raises(HomeAssistantError) as pressed:
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": entity_id(hass, loaded_entry, "sync_now")},
            blocking=True,
        )
    assert pressed.value.translation_key == "sync_incomplete"
    servers.filaman.down = False

    assert await async_setup_component(hass, "api", {})
    client = await hass_client()
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        answer = await client.post(
            f"/api/services/{DOMAIN}/assign_spool",
            json={
                "filaman_spool_id": 999,
                "device_id": printer_device(hass, loaded_entry).id,
                "ams_id": 0,
                "tray_id": 0,
            },
        )
    assert answer.status == 400
    assert "999" in (await answer.json())["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_full_resync_refuses_while_printing_unless_forced(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    set_printing(servers, "RUNNING")
    await wait_for(lambda: state_of(hass, loaded_entry, "print_state").state == "running")
    with pytest.raises(ServiceValidationError) as refused:
        await call(hass, "full_resync")
    assert refused.value.translation_key == "printer_busy"
    assert refused.value.translation_placeholders == {"printer": "Printer 1"}
    assert len(servers.bambuddy.db.spools) == 3

    forced = await call(hass, "full_resync", {"force": True})
    assert forced["full_resync"] is True
    assert forced["status"] == "success"


async def test_full_resync_waits_until_bambuddy_booked_the_last_print(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """Deleting spools between print_complete and Bambuddy's usage booking would lose grams."""
    await slot_call(hass, loaded_entry, "assign_spool", 0, 0, filaman_spool_id=servers.spool_ids[0])
    servers.bambuddy.ws_usage_delay = 0.5
    task = servers.bambuddy.start_print(servers.printer_id, "Benchy", {(0, 0): 12.5})
    bridge = loaded_entry.runtime_data.bridge
    await wait_for(lambda: bridge.awaiting_usage)
    with pytest.raises(ServiceValidationError) as refused:
        await call(hass, "full_resync")
    assert refused.value.translation_key == "usage_not_booked"
    await task
    await wait_for(lambda: not bridge.awaiting_usage)
    assert (await call(hass, "full_resync"))["status"] == "success"


async def test_sync_now_can_confirm_withheld_deletions(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """A FilaMan that suddenly has no active spools looks like a mistake: deletions wait."""
    for spool_id in servers.spool_ids:
        servers.filaman.archive_spool(spool_id)
    with pytest.raises(ServiceValidationError) as withheld:
        await call(hass, "sync_now")
    assert withheld.value.translation_key == "deletions_withheld"
    assert withheld.value.translation_placeholders == {"count": "3"}
    assert len(servers.bambuddy.db.spools) == 3
    last = loaded_entry.runtime_data.hub.inventory.last_result
    assert last is not None
    assert last.withheld_deletes == 3

    confirmed = await call(hass, "sync_now", {"allow_deletions": True})
    assert confirmed["deleted"] == 3
    assert not servers.bambuddy.db.spools


async def test_full_resync_replaces_hand_made_bambuddy_spools(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    hand_made = await loaded_entry.runtime_data.hub.bambuddy.create_spool(
        {"material": "PETG", "note": "bought at the fair"}
    )
    assert (await call(hass, "sync_now"))["deleted"] == 0  # unlinked spools are left alone
    assert hand_made.id in servers.bambuddy.db.spools

    result = await call(hass, "full_resync")
    assert result["full_resync"] is True
    assert result["deleted"] == 4
    assert result["created"] == 3
    assert hand_made.id not in servers.bambuddy.db.spools
    notes = sorted(spool.fields["note"] for spool in servers.bambuddy.db.spools.values())
    assert notes == sorted(f"filaman:{spool_id}" for spool_id in servers.spool_ids)


# --- assign / unassign -----------------------------------------------------------------------


async def test_assign_and_unassign_round_trip(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    spool_id = servers.spool_ids[0]
    assigned = await slot_call(hass, loaded_entry, "assign_spool", 0, 1, filaman_spool_id=spool_id)
    twin = next(
        spool.id
        for spool in servers.bambuddy.db.spools.values()
        if spool.fields["note"] == f"filaman:{spool_id}"
    )
    assert assigned == {
        "filaman_spool_id": spool_id,
        "bambuddy_spool_id": twin,
        "ams_id": 0,
        "tray_id": 1,
        "configured": True,
        "pending_config": False,
    }
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 1) is not None
    slot = state_of(hass, loaded_entry, "slot_0_1")
    assert slot.attributes["filaman_spool_id"] == spool_id
    assert slot.attributes["bambuddy_spool_id"] == twin
    assert slot.attributes["filaman_spool_name"] == "Bambu Lab PLA Basic Bambu Green"
    assert slot.attributes["filaman_remaining_g"] == 1000
    # Bambuddy configured the slot from the spool: PLA in Bambu Green.
    await wait_for(lambda: state_of(hass, loaded_entry, "slot_0_1").attributes["material"] == "PLA")

    unassigned = await slot_call(hass, loaded_entry, "unassign_spool", 0, 1)
    assert unassigned == {"ams_id": 0, "tray_id": 1, "unassigned": True}
    assert servers.bambuddy.db.assignment_at(servers.printer_id, 0, 1) is None
    slot = state_of(hass, loaded_entry, "slot_0_1")
    assert slot.attributes["filaman_spool_id"] is None
    assert slot.attributes["bambuddy_spool_id"] is None


async def test_assign_to_an_empty_slot_is_pending(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    response = await slot_call(
        hass, loaded_entry, "assign_spool", 0, 3, filaman_spool_id=servers.spool_ids[1]
    )
    assert response["configured"] is False
    assert response["pending_config"] is True


async def test_assign_while_the_printer_is_offline_is_pending(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    servers.bambuddy.set_online(servers.printer_id, False)
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == "off")
    response = await slot_call(
        hass, loaded_entry, "assign_spool", 0, 0, filaman_spool_id=servers.spool_ids[1]
    )
    assert response["pending_config"] is True
    assert response["configured"] is False


async def test_assign_to_a_printer_bambuddy_has_not_reached_yet(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """After a Bambuddy restart an unreachable printer reports no slots at all."""
    printer = servers.bambuddy.printer(servers.printer_id)
    printer.ams = []
    printer.vt_tray = []
    servers.bambuddy.set_online(servers.printer_id, False)
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == "off")
    for ams_id, tray_id in ((1, 2), (128, 0), (255, 1)):
        response = await slot_call(
            hass, loaded_entry, "assign_spool", ams_id, tray_id, filaman_spool_id=1
        )
        assert response["pending_config"] is True
    with pytest.raises(ServiceValidationError) as refused:
        await slot_call(
            hass, loaded_entry, "assign_spool", 128, 1, filaman_spool_id=servers.spool_ids[1]
        )
    assert refused.value.translation_key == "unknown_slot"


async def test_assign_creates_the_bambuddy_twin_of_a_new_filaman_spool(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    spool_id = servers.add_spool_quietly()  # unknown to Bambuddy until the next sync
    response = await slot_call(hass, loaded_entry, "assign_spool", 0, 0, filaman_spool_id=spool_id)
    assert response["configured"] is True
    twin = servers.bambuddy.db.spools[response["bambuddy_spool_id"]]
    assert twin.fields["note"] == f"filaman:{spool_id}"


@pytest.mark.parametrize(
    ("spool", "ams_id", "tray_id", "key"),
    [
        (999, 0, 0, "unknown_spool"),
        (1, 1, 0, "unknown_slot"),
        (1, 255, 1, "unknown_slot"),
    ],
)
async def test_assign_validation_errors(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    *,
    spool: int,
    ams_id: int,
    tray_id: int,
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as refused:
        await slot_call(hass, loaded_entry, "assign_spool", ams_id, tray_id, filaman_spool_id=spool)
    assert refused.value.translation_domain == DOMAIN
    assert refused.value.translation_key == key


async def test_archived_spool_cannot_be_assigned(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    servers.filaman.archive_spool(servers.spool_ids[2])
    with pytest.raises(ServiceValidationError) as refused:
        await slot_call(
            hass, loaded_entry, "assign_spool", 0, 0, filaman_spool_id=servers.spool_ids[2]
        )
    assert refused.value.translation_key == "spool_archived"
    assert refused.value.translation_placeholders == {"spool": str(servers.spool_ids[2])}


async def test_spool_that_cannot_be_synced(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    spool_id = servers.add_spool_quietly()
    servers.bambuddy.fail_next("POST", r"/inventory/spools$", 500, count=10)
    with pytest.raises(HomeAssistantError) as failed:
        await slot_call(hass, loaded_entry, "assign_spool", 0, 0, filaman_spool_id=spool_id)
    assert failed.value.translation_key == "spool_not_synced"


async def test_bambuddy_refusing_or_failing_the_assignment(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    spool_id = servers.spool_ids[0]
    servers.bambuddy.fail_next(
        "POST", r"/inventory/assignments", 400, body={"detail": "Cannot assign an archived spool"}
    )
    with pytest.raises(ServiceValidationError) as refused:
        await slot_call(hass, loaded_entry, "assign_spool", 0, 0, filaman_spool_id=spool_id)
    assert refused.value.translation_key == "assignment_rejected"
    assert refused.value.translation_placeholders == {"error": "Cannot assign an archived spool"}

    servers.bambuddy.fail_next("POST", r"/inventory/assignments", 500)
    with pytest.raises(HomeAssistantError) as failed:
        await slot_call(hass, loaded_entry, "assign_spool", 0, 0, filaman_spool_id=spool_id)
    assert failed.value.translation_key == "server_error"
    assert not isinstance(failed.value, ServiceValidationError)


async def test_unassign_errors(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as refused:
        await slot_call(hass, loaded_entry, "unassign_spool", 0, 2)
    assert refused.value.translation_key == "no_assignment"

    await slot_call(hass, loaded_entry, "assign_spool", 0, 2, filaman_spool_id=1)
    servers.bambuddy.fail_next("DELETE", r"/inventory/assignments/", 503)
    with pytest.raises(HomeAssistantError) as failed:
        await slot_call(hass, loaded_entry, "unassign_spool", 0, 2)
    assert failed.value.translation_key == "server_error"


# --- target resolution -----------------------------------------------------------------------


async def test_two_printers_need_a_target(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    second_entry: MockConfigEntry,
) -> None:
    with pytest.raises(ServiceValidationError) as refused:
        await call(hass, "sync_now")
    assert refused.value.translation_key == "target_required"
    result = await call(hass, "sync_now", {"device_id": printer_device(hass, second_entry).id})
    assert result["status"] == "success"


async def test_unknown_targets(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("sync_now", {"config_entry_id": "nope"}, "entry_not_found"),
        ("sync_now", {"device_id": "nope"}, "device_not_found"),
        ("full_resync", {"device_id": "nope"}, "device_not_found"),
        ("unassign_spool", {"device_id": "nope", "ams_id": 0, "tray_id": 0}, "device_not_found"),
    ]
    other = MockConfigEntry(domain="other_integration")
    other.add_to_hass(hass)
    foreign = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other_integration", "x")}
    )
    cases += [
        ("sync_now", {"device_id": foreign.id}, "device_not_found"),
        ("sync_now", {"config_entry_id": other.entry_id}, "entry_not_found"),
    ]
    for service, data, key in cases:
        with pytest.raises(ServiceValidationError) as refused:
            await call(hass, service, data)
        assert refused.value.translation_key == key, (service, data)


async def test_unloaded_entry_is_refused(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    device_id = printer_device(hass, loaded_entry).id
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    for data in ({"config_entry_id": loaded_entry.entry_id}, {"device_id": device_id}):
        with pytest.raises(ServiceValidationError) as refused:
            await call(hass, "sync_now", data)
        assert refused.value.translation_key == "entry_not_loaded"
        assert refused.value.translation_placeholders == {"target": "Printer 1"}
    with pytest.raises(ServiceValidationError) as refused:
        await call(hass, "sync_now")
    assert refused.value.translation_key == "target_required"


# --- buttons ---------------------------------------------------------------------------------


async def test_sync_now_button_runs_a_sync(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    runner = loaded_entry.runtime_data.hub.inventory
    runs = runner.run_count
    spool_id = servers.add_spool_quietly()
    await hass.services.async_call(
        BUTTON_DOMAIN,
        SERVICE_PRESS,
        {ATTR_ENTITY_ID: entity_id(hass, loaded_entry, "sync_now")},
        blocking=True,
    )
    assert runner.run_count == runs + 1
    assert any(
        spool.fields["note"] == f"filaman:{spool_id}"
        for spool in servers.bambuddy.db.spools.values()
    )
    assert state_of(hass, loaded_entry, "linked_spools").state == "4"


async def test_full_resync_button_is_disabled_by_default_and_guarded(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    registry = er.async_get(hass)
    button = entity_id(hass, loaded_entry, "full_resync")
    assert registry.async_get(button).disabled_by is er.RegistryEntryDisabler.INTEGRATION  # type: ignore[union-attr]
    assert hass.states.get(button) is None

    registry.async_update_entity(button, disabled_by=None)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == "on")

    set_printing(servers, "PAUSE")
    await wait_for(lambda: state_of(hass, loaded_entry, "print_state").state == "pause")
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: button}, blocking=True
        )
    set_printing(servers, "IDLE")
    await wait_for(lambda: state_of(hass, loaded_entry, "print_state").state == "idle")
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: button}, blocking=True
    )
    assert loaded_entry.runtime_data.hub.inventory.last_result.full_resync  # type: ignore[union-attr]
