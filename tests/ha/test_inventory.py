"""Inventory sync through Home Assistant: SSE hints, one hub per server, unloading."""

from __future__ import annotations

import asyncio
import gc
import itertools
from typing import Any
import warnings

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import CONF_BAMBUDDY_API_KEY, DOMAIN
from custom_components.filaman_bambuddy.hub import DATA_HUBS
from custom_components.filaman_bambuddy.inventory.result import SyncResult

from .conftest import Servers, printer_device, settle, state_of, wait_for


def twin_of(servers: Servers, filaman_spool_id: int) -> Any:
    return next(
        spool
        for spool in servers.bambuddy.db.spools.values()
        if spool.fields["note"] == f"filaman:{filaman_spool_id}"
    )


async def test_filaman_edit_reaches_bambuddy_without_waiting_for_the_interval(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    spool_id = servers.spool_ids[0]
    servers.filaman.edit_spool(spool_id, remaining_weight_g=640.0)  # publishes spools_changed
    await wait_for(lambda: twin_of(servers, spool_id).fields["weight_used"] == pytest.approx(360))

    new_spool = servers.filaman.add_spool(servers.filament_id)
    await wait_for(
        lambda: any(
            spool.fields["note"] == f"filaman:{new_spool}"
            for spool in servers.bambuddy.db.spools.values()
        )
    )
    await wait_for(lambda: state_of(hass, loaded_entry, "linked_spools").state == "4")


async def test_someone_editing_bambuddy_is_put_right(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    spool_id = servers.spool_ids[1]
    twin = twin_of(servers, spool_id)
    client = loaded_entry.runtime_data.hub.bambuddy
    # Another client's write: Bambuddy broadcasts inventory_changed.
    await client.patch_spool(twin.id, {"weight_used": 500.0, "weight_locked": False})
    await wait_for(lambda: twin_of(servers, spool_id).fields["weight_used"] == 0, within=4)


async def test_two_printers_on_one_server_share_one_hub(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    second_entry: MockConfigEntry,
) -> None:
    hub = loaded_entry.runtime_data.hub
    assert second_entry.runtime_data.hub is hub
    assert len(hass.data[DATA_HUBS]) == 1
    await wait_for(lambda: state_of(hass, second_entry, "online").state == "on")
    assert len(servers.bambuddy.hub.clients) == 1  # one WebSocket for both printers
    # One pool of FilaMan change streams for both printers (FilaMan's workers share them).
    assert servers.filaman.bus.stream_count == hub.watcher.stream_count

    results: list[SyncResult] = []

    def record() -> None:
        if hub.inventory.last_result is not None:
            results.append(hub.inventory.last_result)

    remove = hub.inventory.async_add_listener(record)
    servers.bambuddy.latency = 0.01
    requests = [
        hass.services.async_call(
            DOMAIN,
            "sync_now",
            {"config_entry_id": entry.entry_id},
            blocking=True,
            return_response=True,
        )
        for entry in (loaded_entry, second_entry, loaded_entry, second_entry)
    ]
    servers.filaman.edit_spool(servers.spool_ids[0], remaining_weight_g=900.0)
    await asyncio.gather(*requests)
    await wait_for(lambda: twin_of(servers, servers.spool_ids[0]).fields["weight_used"] == 100)
    remove()

    assert len(results) >= 2
    ordered = sorted(results, key=lambda result: result.started_at)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.finished_at <= later.started_at, "two syncs overlapped"


async def test_unloading_one_printer_keeps_the_other_working(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    second_entry: MockConfigEntry,
) -> None:
    hub = second_entry.runtime_data.hub
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert list(hass.data[DATA_HUBS].values()) == [hub]
    assert hub.live.running

    second_printer = second_entry.data["printer_id"]
    servers.bambuddy.set_online(second_printer, False)
    await wait_for(lambda: state_of(hass, second_entry, "online").state == "off")
    servers.filaman.edit_spool(servers.spool_ids[2], remaining_weight_g=750.0)
    await wait_for(lambda: twin_of(servers, servers.spool_ids[2]).fields["weight_used"] == 250)
    result = await hass.services.async_call(
        DOMAIN, "sync_now", {}, blocking=True, return_response=True
    )
    assert result is not None
    assert result["status"] == "success"

    assert await hass.config_entries.async_unload(second_entry.entry_id)
    await hass.async_block_till_done()
    assert not hass.data[DATA_HUBS]
    assert not hub.live.running
    assert not hub.watcher.running
    await wait_for(lambda: not servers.bambuddy.hub.clients)
    # FilaMan notices a closed stream only when it next writes to it (each worker its own).
    for worker in range(servers.filaman.bus.count):
        with servers.filaman.served_by(worker):
            servers.filaman.publish_event({"event": "spools_changed"})
    await wait_for(lambda: servers.filaman.bus.stream_count == 0)


async def test_entry_with_a_new_key_does_not_reuse_the_old_keys_hub(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    second_entry: MockConfigEntry,
) -> None:
    """Reauth gives one entry a new key; the other still holds the revoked one."""
    new_key = servers.bambuddy.create_api_key("rotated")
    servers.bambuddy.revoke_api_key(servers.bambuddy_key)
    hass.config_entries.async_update_entry(
        loaded_entry, data={**loaded_entry.data, CONF_BAMBUDDY_API_KEY: new_key}
    )
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert loaded_entry.runtime_data.hub is not second_entry.runtime_data.hub

    result = await hass.services.async_call(
        DOMAIN,
        "sync_now",
        {"device_id": printer_device(hass, loaded_entry).id},
        blocking=True,
        return_response=True,
    )
    assert result is not None
    assert result["status"] == "success"
    await wait_for(lambda: state_of(hass, loaded_entry, "online").state == "on")


async def test_our_own_writes_do_not_trigger_another_sync(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """Bambuddy answers each of our writes with inventory_changed: that is an echo."""
    runner = loaded_entry.runtime_data.hub.inventory
    await settle(hass, loaded_entry)
    runs = runner.run_count
    servers.filaman.edit_spool(servers.spool_ids[0], remaining_weight_g=610.0)
    await wait_for(lambda: twin_of(servers, servers.spool_ids[0]).fields["weight_used"] == 390)
    await asyncio.sleep(1.5)  # longer than the debounce of a Bambuddy-side change
    assert runner.run_count == runs + 1


async def test_unloading_during_a_writing_sync_leaves_no_coroutine_behind(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    for _ in range(8):
        servers.add_spool_quietly()
    servers.bambuddy.latency = 0.2
    runner = loaded_entry.runtime_data.hub.inventory
    log = servers.bambuddy.request_log
    created_before = log.count(("POST", "/api/v1/inventory/spools"))
    # Finalise earlier tests' garbage first: only what this unload leaves behind may warn here.
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner.async_request_sync("test")
        await wait_for(lambda: log.count(("POST", "/api/v1/inventory/spools")) > created_before)
        assert await hass.config_entries.async_unload(loaded_entry.entry_id)
        await hass.async_block_till_done()
        gc.collect()
    never_awaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []
