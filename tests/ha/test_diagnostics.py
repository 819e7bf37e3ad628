"""Config entry diagnostics: useful for a report, and never a key, token, serial or tag."""

from __future__ import annotations

import json
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from .conftest import Servers, wait_for

REDACTED = "**REDACTED**"


def shape(value: Any) -> Any:
    """The structure of the diagnostics without the values that change from run to run."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value == REDACTED:
        return REDACTED
    return type(value).__name__


async def test_diagnostics_hold_no_secrets(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    servers.bambuddy.set_tray(
        servers.printer_id,
        0,
        2,
        tray_type="PLA",
        tag_uid="A1B2C3D4E5F60708",
        tray_uuid="0123456789ABCDEF0123456789ABCDEF",
    )
    servers.filaman.add_printer(
        "Plugin printer",
        driver_key="bambuddy",
        driver_config={
            "bambuddy_url": servers.bambuddy.url,
            "printer_id": 99,
            "api_key": "bb_plugin_secret_key_value",
        },
    )
    await wait_for(
        lambda: (
            loaded_entry.runtime_data.coordinator.data.status is not None
            and loaded_entry.runtime_data.coordinator.data.status.tray(0, 2) is not None
            and loaded_entry.runtime_data.coordinator.data.status.tray(0, 2).tag_uid is not None
        )  # type: ignore[union-attr]
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    text = json.dumps(diagnostics)

    printer = servers.bambuddy.printer(servers.printer_id)
    secrets = {
        servers.bambuddy_key,
        servers.filaman_key,
        servers.filaman_key.rsplit(".", 1)[-1],  # the secret part of uak.<id>.<secret>
        *servers.bambuddy.db.ws_tokens,
        printer.serial_number,
        *(unit.serial_number for unit in printer.ams),
        str(loaded_entry.unique_id),
        "A1B2C3D4E5F60708",
        "0123456789ABCDEF0123456789ABCDEF",
        "bb_plugin_secret_key_value",
    }
    leaked = sorted(secret for secret in secrets if secret and secret in text)
    assert leaked == []
    assert "driver_config" not in text

    # What a maintainer needs is there.
    assert diagnostics["entry"]["data"]["bambuddy_api_key"] == REDACTED  # type: ignore[index]
    assert diagnostics["entry"]["data"]["filaman_api_key"] == REDACTED  # type: ignore[index]
    assert diagnostics["live"]["connected"] is True  # type: ignore[index]
    assert diagnostics["inventory_sync"]["status"] == "success"  # type: ignore[index]
    assert diagnostics["printer"]["name"] == "Workshop X1C"  # type: ignore[index]
    assert diagnostics["consumption"]["pending_count"] == 0  # type: ignore[index]
    # Bambuddy's raw snapshot is passed through as it is (secrets redacted, checked above).
    assert shape({**diagnostics, "printer_status": "raw"}) == snapshot
