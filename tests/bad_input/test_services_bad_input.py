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
from tests.ha.conftest import (  # noqa: F401 - fixtures
    Servers,
    bambuddy_version,
    loaded_entry,
    servers,
)

PRINTER = "<printer>"  # replaced by the printer's device id
SERVER = "<server>"  # the Bambuddy server's device: ours, but not a printer
AMS = "<ams>"  # an AMS unit's device: ours, but not a printer
SLOT = {"device_id": PRINTER, "ams_id": 0, "tray_id": 0}


def printer_device(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, str(entry.unique_id)), entry.entry_id
    )
    assert device is not None
    return device.id


def with_device_ids(
    hass: HomeAssistant, entry: MockConfigEntry, data: dict[str, Any]
) -> dict[str, Any]:
    devices = our_devices(hass, entry)
    return {key: devices.get(value, value) if isinstance(value, str) else value
            for key, value in data.items()}  # fmt: skip


def our_devices(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    """The placeholders' device ids: the printer, its Bambuddy server, its first AMS unit."""
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    ids = {identifier for device in devices for _, identifier in device.identifiers}
    printer = printer_device(hass, entry)
    server = next(d.id for d in devices if any(i.startswith("server_") for _, i in d.identifiers))
    ams = next(d.id for d in devices if any(i.endswith("_ams_0") for _, i in d.identifiers))
    assert len(ids) >= 3
    return {PRINTER: printer, SERVER: server, AMS: ams}


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


SCHEMA = "schema"  # refused by the action's schema, before any handler runs

# Inputs a lax schema or resolver would have turned into a valid call: each must fail for
# its own reason.
REASONED: list[tuple[str, dict[str, Any], str]] = [
    # Whole numbers are whole: truncating would quietly name another slot or spool.
    ("assign_spool", SLOT | {"ams_id": 0.99, "filaman_spool_id": 1}, SCHEMA),
    ("assign_spool", SLOT | {"tray_id": 3.9, "filaman_spool_id": 1}, SCHEMA),
    ("assign_spool", SLOT | {"filaman_spool_id": 1.5}, SCHEMA),
    ("assign_spool", SLOT | {"filaman_spool_id": True}, SCHEMA),
    ("assign_spool", SLOT | {"ams_id": True, "filaman_spool_id": 1}, SCHEMA),
    ("assign_spool", SLOT | {"filaman_spool_id": "1e3"}, SCHEMA),
    ("assign_spool", SLOT | {"filaman_spool_id": 1_000_001}, SCHEMA),  # services.yaml's max
    ("unassign_spool", SLOT | {"tray_id": 0.5}, SCHEMA),
    # An empty id never means "the only entry".
    ("sync_now", {"device_id": ""}, SCHEMA),
    ("sync_now", {"config_entry_id": ""}, SCHEMA),
    ("full_resync", {"config_entry_id": "  "}, "entry_not_found"),
    ("assign_spool", SLOT | {"device_id": "", "filaman_spool_id": 1}, SCHEMA),
    # The server and an AMS unit are our devices, but not printers.
    ("assign_spool", SLOT | {"device_id": SERVER, "filaman_spool_id": 1}, "device_not_printer"),
    ("assign_spool", SLOT | {"device_id": AMS, "filaman_spool_id": 1}, "device_not_printer"),
    ("unassign_spool", SLOT | {"device_id": AMS}, "device_not_printer"),
    ("debit_past_prints", {"device_id": SERVER, "since": "2026-12-01 00:00:00"},
     "device_not_printer"),
    # Off the calendar once in UTC: a clear refusal, not an OverflowError.
    ("debit_past_prints", {"device_id": PRINTER, "since": "0001-01-01 00:00:00"}, "since_too_old"),
    ("debit_past_prints", {"device_id": PRINTER, "since": "9999-12-31 23:59:59"},
     "since_in_future"),
    ("debit_past_prints", {"device_id": PRINTER, "since": "0001-01-01T00:00:00+14:00"},
     "since_too_old"),
]  # fmt: skip


@pytest.mark.parametrize(("service", "data"), CASES)
async def test_bad_action_input_is_a_translated_validation_error(
    hass: HomeAssistant,
    servers: Servers,  # noqa: F811
    loaded_entry: MockConfigEntry,  # noqa: F811
    service: str,
    data: dict[str, Any],
) -> None:
    data = with_device_ids(hass, loaded_entry, data)
    bambuddy_before = {s.id: dict(s.fields) for s in servers.bambuddy.db.spools.values()}
    assignments_before = dict(servers.bambuddy.db.assignments)
    filaman_events = len(servers.filaman.events())
    with pytest.raises((ServiceValidationError, probatio.Invalid)) as caught:
        await hass.services.async_call(DOMAIN, service, data, blocking=True, return_response=True)
    error = caught.value
    if isinstance(error, HomeAssistantError):
        assert error.translation_domain in (DOMAIN, "homeassistant"), error
        assert error.translation_key, error
    assert str(error), "the user sees no message"
    assert {s.id: s.fields for s in servers.bambuddy.db.spools.values()} == bambuddy_before
    assert dict(servers.bambuddy.db.assignments) == assignments_before
    assert len(servers.filaman.events()) == filaman_events


@pytest.mark.parametrize("case", REASONED)
async def test_plausible_bad_input_is_refused_for_its_reason(
    hass: HomeAssistant,
    servers: Servers,  # noqa: F811
    loaded_entry: MockConfigEntry,  # noqa: F811
    case: tuple[str, dict[str, Any], str],
) -> None:
    service, data, reason = case
    data = with_device_ids(hass, loaded_entry, data)
    assignments_before = dict(servers.bambuddy.db.assignments)
    filaman_events = len(servers.filaman.events())
    with pytest.raises((ServiceValidationError, probatio.Invalid)) as caught:
        await hass.services.async_call(DOMAIN, service, data, blocking=True, return_response=True)
    if reason == SCHEMA:
        assert isinstance(caught.value, probatio.Invalid), caught.value
    else:
        assert isinstance(caught.value, ServiceValidationError)
        assert caught.value.translation_key == reason
    assert dict(servers.bambuddy.db.assignments) == assignments_before
    assert len(servers.filaman.events()) == filaman_events


async def test_a_since_off_the_calendar_in_utc_is_too_old(
    hass: HomeAssistant,
    servers: Servers,  # noqa: F811
    loaded_entry: MockConfigEntry,  # noqa: F811
) -> None:
    """East of UTC, 0001-01-01 00:00 local is before year 1 in UTC: refused, not a crash."""
    await hass.config.async_set_time_zone("Asia/Tokyo")
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "debit_past_prints",
            {"device_id": printer_device(hass, loaded_entry), "since": "0001-01-01 00:00:00"},
            blocking=True,
            return_response=True,
        )
    assert refused.value.translation_key == "since_too_old"
