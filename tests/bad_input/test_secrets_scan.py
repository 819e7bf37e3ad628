"""A full run at DEBUG level, errors included: no API key or WebSocket token in any log line of
ours or Home Assistant's, nor in the diagnostics. (The simulators' own access log shows the
token in the WebSocket URL, as a real server's would; it is not ours and is left out.)"""

from __future__ import annotations

import asyncio
import json
import logging

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.diagnostics import async_get_config_entry_diagnostics
from tests.ha.conftest import Servers, bambuddy_version, servers  # noqa: F401 - fixtures

NOT_OURS = ("aiohttp.access", "simulators")


async def test_no_secret_in_logs_or_diagnostics(
    hass: HomeAssistant,
    servers: Servers,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    data = entry.runtime_data
    await data.hub.inventory.async_sync("secrets scan")
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, str(entry.unique_id)), entry.entry_id
    )
    assert device is not None
    await hass.services.async_call(
        DOMAIN,
        "assign_spool",
        {
            "device_id": device.id,
            "ams_id": 0,
            "tray_id": 0,
            "filaman_spool_id": servers.spool_ids[0],
        },
        blocking=True,
        return_response=True,
    )
    await servers.bambuddy.run_print(servers.printer_id, "Secret Benchy", grams={(0, 0): 4.2})
    async with asyncio.timeout(10):
        while not servers.filaman.consumption_events(servers.spool_ids[0]):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    # Error paths: refused keys, failing servers, dropped sockets, expired tokens.
    servers.bambuddy.fail_next("*", r"/inventory", 401, count=2)
    servers.filaman.fail_next("*", r"/spools", 500, count=2)
    await data.hub.inventory.async_sync("secrets scan errors")
    servers.bambuddy.expire_ws_tokens()
    servers.bambuddy.drop_websockets()
    servers.filaman.drop_sse()
    await asyncio.sleep(1.5)  # reconnect_interval is 1 s in these entries
    await hass.async_block_till_done()
    diagnostics = json.dumps(await async_get_config_entry_diagnostics(hass, entry), default=str)
    rejected = servers.entry(bambuddy_api_key="bb_" + "R" * 43, filaman_api_key="uak.9." + "Q" * 43)
    rejected.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(rejected.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    secrets = {
        servers.bambuddy_key,
        servers.filaman_key,
        "R" * 43,
        "Q" * 43,
        *servers.bambuddy.db.ws_tokens,
    }
    assert len(secrets) >= 5, "no WebSocket token was minted"
    ours = [record for record in caplog.records if not record.name.startswith(NOT_OURS)]
    assert len(ours) > 50, "the run logged too little to prove anything"
    for record in ours:
        text = record.getMessage() + (record.exc_text or "") + str(record.args)
        leaked = [secret[:6] for secret in secrets if secret in text]
        assert not leaked, f"{record.name}: {record.getMessage()[:200]}"
    for secret in secrets:
        assert secret not in diagnostics
