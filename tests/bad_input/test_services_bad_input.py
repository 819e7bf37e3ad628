"""Actions called with bad input fail with translated validation errors and change nothing."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import DOMAIN
from tests.ha.conftest import Servers, loaded_entry, servers  # noqa: F401 - fixtures

PRINTER = "<printer>"  # replaced by the printer's device id


def printer_device(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, str(entry.unique_id)), entry.entry_id
    )
    assert device is not None
    return device.id


CASES: list[tuple[str, dict[str, Any]]] = [
    ("assign_spool", {}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": 0}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": "A", "tray_id": 0, "filaman_spool_id": 1}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": 9, "filaman_spool_id": 1}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": -1, "tray_id": 0, "filaman_spool_id": 1}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": 0, "filaman_spool_id": 0}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": 0, "filaman_spool_id": "x"}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": 3, "tray_id": 0, "filaman_spool_id": 1}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": 0, "filaman_spool_id": 99999}),
    ("assign_spool", {"device_id": "nope", "ams_id": 0, "tray_id": 0, "filaman_spool_id": 1}),
    ("assign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": 0, "filaman_spool_id": 1,
                      "extra": True}),
    ("unassign_spool", {"device_id": PRINTER}),
    ("unassign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": "top"}),
    ("unassign_spool", {"device_id": PRINTER, "ams_id": 7, "tray_id": 0}),
    ("unassign_spool", {"device_id": PRINTER, "ams_id": 0, "tray_id": 3}),
    ("unassign_spool", {"device_id": ["a", "b"], "ams_id": 0, "tray_id": 0}),
    ("sync_now", {"config_entry_id": "missing"}),
    ("sync_now", {"device_id": "missing"}),
    ("sync_now", {"config_entry_id": 5}),
    ("full_resync", {"force": "maybe"}),
    ("full_resync", {"config_entry_id": "missing", "force": True}),
]  # fmt: skip


@pytest.mark.parametrize(("service", "data"), CASES)
async def test_bad_action_input_is_a_translated_validation_error(
    hass: HomeAssistant,
    servers: Servers,  # noqa: F811
    loaded_entry: MockConfigEntry,  # noqa: F811
    service: str,
    data: dict[str, Any],
) -> None:
    device = printer_device(hass, loaded_entry)
    data = {key: device if value == PRINTER else value for key, value in data.items()}
    bambuddy_before = {s.id: dict(s.fields) for s in servers.bambuddy.db.spools.values()}
    assignments_before = dict(servers.bambuddy.db.assignments)
    with pytest.raises((ServiceValidationError, probatio.Invalid)) as caught:
        await hass.services.async_call(DOMAIN, service, data, blocking=True, return_response=True)
    error = caught.value
    if isinstance(error, HomeAssistantError):
        assert error.translation_domain in (DOMAIN, "homeassistant"), error
        assert error.translation_key, error
    assert str(error), "the user sees no message"
    assert {s.id: s.fields for s in servers.bambuddy.db.spools.values()} == bambuddy_before
    assert dict(servers.bambuddy.db.assignments) == assignments_before
