"""Diagnostics: what a maintainer needs to understand a report, with every secret redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_BAMBUDDY_API_KEY, CONF_FILAMAN_API_KEY
from .data import FilamanBambuddyConfigEntry

# Keys are never needed to debug; serials and RFID tags identify a person's hardware.
TO_REDACT = {
    CONF_BAMBUDDY_API_KEY,
    CONF_FILAMAN_API_KEY,
    "api_key",
    "token",
    "access_code",
    "serial_number",
    "sn",
    "tag_uid",
    "tray_uuid",
    "unique_id",
    "driver_config",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: FilamanBambuddyConfigEntry
) -> dict[str, Any]:
    """Config, connection state, the last snapshot, sync result and the ledger."""
    data = entry.runtime_data
    coordinator_data = data.coordinator.data
    status = coordinator_data.status if coordinator_data is not None else None
    last_sync = data.hub.inventory.last_result
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "printer": asdict(data.printer),
            "live": data.hub.live.snapshot(),
            "printer_status": dict(status.raw) if status is not None else None,
            "assignments": {
                f"{ams_id}/{tray_id}": {
                    "bambuddy_spool_id": assignment.spool_id,
                    "configured": assignment.configured,
                    "pending_config": assignment.pending_config,
                }
                for (ams_id, tray_id), assignment in (
                    coordinator_data.assignments.items() if coordinator_data else ()
                )
            },
            "inventory_sync": last_sync.as_dict() if last_sync is not None else None,
            "consumption": data.consumption.snapshot(),
            "spool_locations": data.locations.snapshot(),
        },
        TO_REDACT,
    )
