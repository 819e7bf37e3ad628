"""Consumption through Home Assistant: Bambuddy usage → FilaMan debits, exactly once, and events."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.filaman_bambuddy import print_events
from custom_components.filaman_bambuddy.api.events import WsEvent
from custom_components.filaman_bambuddy.const import (
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_URL,
    DOMAIN,
)
from custom_components.filaman_bambuddy.print_events import (
    EVENT_CONSUMPTION,
    EVENT_PRINT_COMPLETE,
)
from simulators.bambuddy.simulator import VERSIONS
from simulators.filaman import FilamanSimulator

from .conftest import Servers, printer_device, settle, state_of, unload, wait_for

GRAMS = {(0, 0): 12.5, (0, 1): 3.2}

# Live state and consumption against both Bambuddy releases (issue 21).
pytestmark = pytest.mark.parametrize("bambuddy_version", VERSIONS, indirect=True)


async def assign(
    hass: HomeAssistant, entry: MockConfigEntry, spool_id: int, ams_id: int, tray_id: int
) -> dict[str, Any]:
    """Assign a FilaMan spool to a slot through the action, as a user would."""
    response = await hass.services.async_call(
        DOMAIN,
        "assign_spool",
        {
            "filaman_spool_id": spool_id,
            "device_id": printer_device(hass, entry).id,
            "ams_id": ams_id,
            "tray_id": tray_id,
        },
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


def remaining(servers: Servers, spool_id: int) -> float | None:
    return servers.filaman.spool(spool_id).remaining_weight_g


def consumption_count(servers: Servers, spool_id: int) -> int:
    return len(servers.filaman.consumption_events(spool_id))


@pytest.fixture
async def assigned(hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry) -> None:
    """FilaMan spools 1 and 2 sit in slots A1 and A2."""
    first, second, _ = servers.spool_ids
    await assign(hass, loaded_entry, first, 0, 0)
    await assign(hass, loaded_entry, second, 0, 1)


def capture_frames(entry: MockConfigEntry) -> list[WsEvent]:
    """Every WebSocket event the entry's hub receives from now on."""
    frames: list[WsEvent] = []
    entry.async_on_unload(entry.runtime_data.hub.live.add_listener(frames.append))
    return frames


@pytest.mark.usefixtures("assigned")
async def test_print_debits_both_spools_once_and_tells_automations(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    first, second, _ = servers.spool_ids
    consumed = async_capture_events(hass, EVENT_CONSUMPTION)
    completed = async_capture_events(hass, EVENT_PRINT_COMPLETE)

    await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams=GRAMS)
    # run_print returns right after spool_usage_logged went out.
    await wait_for(lambda: remaining(servers, first) == pytest.approx(1000 - 12.5))
    await wait_for(lambda: remaining(servers, second) == pytest.approx(1000 - 3.2))
    await wait_for(lambda: len(completed) == 1)
    await hass.async_block_till_done()

    assert consumption_count(servers, first) == consumption_count(servers, second) == 1
    by_spool = {event.data["filaman_spool_id"]: event.data for event in consumed}
    assert set(by_spool) == {first, second}
    assert by_spool[first]["grams"] == pytest.approx(12.5)
    assert by_spool[first]["remaining_g"] == pytest.approx(987.5)
    assert by_spool[first]["printer_id"] == servers.printer_id
    assert by_spool[first]["job"] == "Benchy"
    assert isinstance(by_spool[first]["usage_id"], int)

    device_id = printer_device(hass, loaded_entry).id
    complete = completed[0].data
    assert complete["printer_id"] == servers.printer_id
    assert complete["printer_name"] == "Workshop X1C"
    assert complete["device_id"] == device_id
    assert complete["job"] == "Benchy"
    assert complete["status"] == "completed"
    spools = {spool["filaman_spool_id"]: spool for spool in complete["spools"]}
    assert set(spools) == {first, second}
    assert spools[second]["grams"] == pytest.approx(3.2)
    assert isinstance(spools[second]["bambuddy_spool_id"], int)

    event_state = state_of(hass, loaded_entry, "print_finished")
    assert event_state.attributes["event_type"] == "completed"
    assert event_state.attributes["job"] == "Benchy"
    assert len(event_state.attributes["spools"]) == 2
    assert state_of(hass, loaded_entry, "pending_consumptions").state == "0"
    last = state_of(hass, loaded_entry, "last_consumption")
    assert last.state not in ("unknown", "unavailable")
    assert last.attributes["filaman_spool_id"] in (first, second)
    # The slots show the spools' FilaMan side.
    slot = state_of(hass, loaded_entry, "slot_0_0")
    assert slot.attributes["filaman_spool_id"] == first
    assert isinstance(slot.attributes["bambuddy_spool_id"], int)


@pytest.mark.usefixtures("assigned")
async def test_duplicate_frames_debit_nothing_and_announce_nothing(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(print_events, "USAGE_WAIT", 0.2)
    first, second, _ = servers.spool_ids
    frames = capture_frames(loaded_entry)
    completed = async_capture_events(hass, EVENT_PRINT_COMPLETE)
    consumed = async_capture_events(hass, EVENT_CONSUMPTION)
    await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams=GRAMS)
    await wait_for(lambda: len(completed) == 1)

    for frame in frames:
        if frame.type in ("print_complete", "spool_usage_logged"):
            servers.bambuddy.broadcast(dict(frame.raw))
    await wait_for(lambda: sum(f.type == "spool_usage_logged" for f in frames) == 2)
    await loaded_entry.runtime_data.consumption.wait_idle()
    await _pause(hass, 0.5)  # longer than USAGE_WAIT

    assert consumption_count(servers, first) == consumption_count(servers, second) == 1
    assert remaining(servers, first) == pytest.approx(987.5)
    assert len(consumed) == 2
    assert len(completed) == 1


@pytest.mark.usefixtures("assigned")
async def test_websocket_lost_during_completion_still_debits_once(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    first, second, _ = servers.spool_ids
    completed = async_capture_events(hass, EVENT_PRINT_COMPLETE)
    task = servers.bambuddy.start_print(servers.printer_id, "Benchy", grams=GRAMS, duration=0.2)
    await _pause(hass, 0.1)
    servers.bambuddy.drop_websockets()  # print_complete and spool_usage_logged are missed
    await task
    assert consumption_count(servers, first) == 0

    # The reconnect (1 s) wakes the processor, which reads the usage rows it missed.
    await wait_for(lambda: consumption_count(servers, second) == 1, within=3)
    await wait_for(lambda: len(completed) == 1)
    assert consumption_count(servers, first) == 1
    assert remaining(servers, first) == pytest.approx(987.5)
    assert completed[0].data["status"] == "completed"
    assert len(completed[0].data["spools"]) == 2


@pytest.mark.usefixtures("assigned")
async def test_filaman_down_for_the_whole_print_debits_once_when_back(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    first, second, _ = servers.spool_ids
    completed = async_capture_events(hass, EVENT_PRINT_COMPLETE)
    servers.filaman.down = True
    await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams=GRAMS)
    await wait_for(lambda: state_of(hass, loaded_entry, "pending_consumptions").state == "2")
    owed = state_of(hass, loaded_entry, "grams_not_in_filaman")
    assert float(owed.state) == pytest.approx(15.7)
    assert owed.attributes["queued_grams"] == pytest.approx(15.7)

    # Past the usage wait: the print has usage owed, so no empty announcement.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=95))
    await _pause(hass, 0.2)
    assert completed == []
    assert remaining(servers, first) == 1000

    servers.filaman.down = False
    # The usage poll (60 s) retries at the latest.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=190))
    await wait_for(lambda: len(completed) == 1)
    assert consumption_count(servers, first) == consumption_count(servers, second) == 1
    assert remaining(servers, second) == pytest.approx(996.8)
    assert len(completed[0].data["spools"]) == 2
    await wait_for(lambda: state_of(hass, loaded_entry, "pending_consumptions").state == "0")
    assert float(state_of(hass, loaded_entry, "grams_not_in_filaman").state) == 0.0


@pytest.mark.usefixtures("assigned")
async def test_restart_with_a_pending_queue_debits_once(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    first, second, _ = servers.spool_ids
    servers.filaman.down = True
    await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams=GRAMS)
    await wait_for(lambda: loaded_entry.runtime_data.consumption.pending_count == 2)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()

    # FilaMan is still down when Home Assistant starts again: the entry waits.
    assert not await hass.config_entries.async_setup(loaded_entry.entry_id)
    assert loaded_entry.state is ConfigEntryState.SETUP_RETRY
    servers.filaman.down = False
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED

    await wait_for(lambda: consumption_count(servers, second) == 1)
    await loaded_entry.runtime_data.consumption.wait_idle()
    assert consumption_count(servers, first) == 1
    assert remaining(servers, first) == pytest.approx(987.5)
    assert loaded_entry.runtime_data.consumption.pending_count == 0


async def test_print_without_assigned_slots_is_announced_after_the_wait(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(print_events, "USAGE_WAIT", 0.2)
    completed = async_capture_events(hass, EVENT_PRINT_COMPLETE)
    await servers.bambuddy.run_print(
        servers.printer_id, "Calibration", grams={(0, 0): 5.0}, status="failed"
    )
    await wait_for(lambda: len(completed) == 1)
    data = completed[0].data
    assert data["spools"] == []
    assert data["status"] == "failed"
    assert data["job"] == "Calibration"
    assert data["device_id"] == printer_device(hass, loaded_entry).id
    event_state = state_of(hass, loaded_entry, "print_finished")
    assert event_state.attributes["event_type"] == "failed"


async def test_legacy_bambuddy_weights_in_print_complete_are_debited(
    hass: HomeAssistant, servers: Servers
) -> None:
    """An old Bambuddy has no usage history: grams come in print_complete per slot."""
    servers.bambuddy.fail_next("GET", r"/inventory/usage", 404, count=1000)
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.hub.inventory.async_sync("test")
    first, second, _ = servers.spool_ids
    await assign(hass, entry, first, 0, 0)
    await assign(hass, entry, second, 0, 1)
    await wait_for(lambda: len(entry.runtime_data.coordinator.data.assignments) == 2)

    consumed = async_capture_events(hass, EVENT_CONSUMPTION)
    await servers.bambuddy.run_print(
        servers.printer_id, "Benchy", grams=GRAMS, legacy_weights="dict"
    )
    await wait_for(lambda: len(consumed) == 2)
    assert remaining(servers, first) == pytest.approx(987.5)
    assert remaining(servers, second) == pytest.approx(996.8)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def _pause(hass: HomeAssistant, seconds: float) -> None:
    """Let real time pass (the simulators and the processor run on it)."""
    await asyncio.sleep(seconds)
    await hass.async_block_till_done()


@pytest.mark.usefixtures("assigned")
async def test_reconfigure_to_another_filaman_sends_nothing_owed_by_spool_id(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """Grams owed to the old FilaMan's spools 1 and 2 never land on the new one's 1 and 2;
    they wait for the user, who links them to the right spool: debited there, once."""
    assert await async_setup_component(hass, "repairs", {})
    servers.filaman.down = True
    await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams=GRAMS)
    await wait_for(lambda: loaded_entry.runtime_data.consumption.pending_count == 2)

    other = FilamanSimulator()
    await other.start(host="127.0.0.1", port=0)
    try:
        filament = other.add_filament(other.add_manufacturer("Elegoo"), "PLA")
        same_ids = [other.add_spool(filament) for _ in range(3)]
        assert same_ids == servers.spool_ids  # the same numbers, other spools
        serial = servers.bambuddy.printer(servers.printer_id).serial_number
        hass.config_entries.async_update_entry(loaded_entry, unique_id=serial)
        flow = await loaded_entry.start_reconfigure_flow(hass)
        flow = await hass.config_entries.flow.async_configure(
            flow["flow_id"],
            {
                CONF_BAMBUDDY_URL: servers.bambuddy.url,
                CONF_FILAMAN_URL: other.url,
                CONF_FILAMAN_API_KEY: other.create_api_key(),
            },
        )
        assert flow.get("step_id") == "filaman_changed", flow
        assert flow["description_placeholders"]["grams"] == "15.7"
        flow = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": "filaman_replaced"}
        )
        assert flow["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert loaded_entry.state is ConfigEntryState.LOADED
        await settle(hass, loaded_entry)
        consumption = loaded_entry.runtime_data.consumption
        await consumption.wake("test")
        await consumption.wait_idle()

        assert all(not other.consumption_events(spool) for spool in same_ids)
        issues = [
            issue
            for (domain, issue_id), issue in ir.async_get(hass).issues.items()
            if domain == DOMAIN and issue_id.startswith("unlinked_usage_")
        ]
        assert {issue.translation_key for issue in issues} == {"unlinked_usage_other_filaman"}
        assert sorted(i.translation_placeholders["grams"] for i in issues) == ["12.5", "3.2"]
        assert state_of(hass, loaded_entry, "pending_consumptions").attributes[
            "awaiting_link_grams"
        ] == pytest.approx(15.7)

        # The user says A1's grams were the new FilaMan's spool 3: debited there, once.
        a1 = next(i for i in issues if i.translation_placeholders["slot"] == "A1")
        manager = repairs_flow_manager(hass)
        assert manager is not None
        fix = await manager.async_init(DOMAIN, data={"issue_id": a1.issue_id})
        fix = await manager.async_configure(fix["flow_id"], {"next_step_id": "link"})
        fix = await manager.async_configure(fix["flow_id"], {"filaman_spool": str(same_ids[2])})
        assert fix["type"] == "create_entry"
        await wait_for(lambda: other.spool(same_ids[2]).remaining_weight_g == 987.5)
        await consumption.wait_idle()
        assert len(other.consumption_events(same_ids[2])) == 1
        assert not other.consumption_events(same_ids[0])
        servers.filaman.down = False
        assert not servers.filaman.consumption_events(servers.spool_ids[0])
    finally:
        await unload(hass, loaded_entry)
        await other.stop()
