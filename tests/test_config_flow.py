"""The config, reauth, reconfigure and options flows against the simulators over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
import json
import logging
from pathlib import Path
from typing import Any, NamedTuple
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.api.models_filaman import FilamanPrinter
from custom_components.filaman_bambuddy.const import (
    CONF_BAMBUDDY_API_KEY,
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_PRINTER_ID,
    CONF_FILAMAN_URL,
    CONF_FOLLOW_LOCATIONS,
    CONF_HOLD_ESTIMATE_FACTOR,
    CONF_HOLD_MARGIN,
    CONF_PRINTER_ID,
    CONF_RECONNECT_INTERVAL,
    CONF_SYNC_INTERVAL,
    DOMAIN,
)
from custom_components.filaman_bambuddy.consumption import EntryState, Ledger, LedgerEntry
from custom_components.filaman_bambuddy.consumption.ledger import HELD_FOR_OTHER_FILAMAN
from custom_components.filaman_bambuddy.consumption.unassigned import CaseState
from custom_components.filaman_bambuddy.validation import (
    InvalidUrlError,
    fallback_unique_id,
    is_bound_to,
    normalize_url,
    same_server,
)
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

COMPONENT = Path(__file__).parent.parent / "custom_components" / DOMAIN
FLOW_LOGGER = "custom_components.filaman_bambuddy.config_flow"
NO_PRINTER = "none"
CONSUMPTION = "spool_events:create_consumption"


# --- simulators ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_entry_setup() -> Iterator[None]:
    """Flow tests stop at the config entry: the integration itself is not started."""
    with (
        patch("custom_components.filaman_bambuddy.async_setup_entry", return_value=True),
        patch("custom_components.filaman_bambuddy.async_unload_entry", return_value=True),
    ):
        yield


async def _started(sim: BambuddySimulator) -> BambuddySimulator:
    await sim.start(host="127.0.0.1", port=0)
    return sim


@pytest.fixture
async def bambuddy(socket_enabled: None) -> AsyncIterator[BambuddySimulator]:
    """Bambuddy with auth on and two printers: 1 "Workshop X1C", 2 "Attic P1S"."""
    sim = await _started(BambuddySimulator(ws_usage_delay=0.05))
    sim.add_printer("Workshop X1C", model="X1C")
    sim.add_printer("Attic P1S", model="P1S")
    yield sim
    await sim.stop()


@pytest.fixture
def bambuddy_key(bambuddy: BambuddySimulator) -> str:
    return bambuddy.create_api_key()


@pytest.fixture
async def filaman(socket_enabled: None) -> AsyncIterator[FilamanSimulator]:
    sim = FilamanSimulator()
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


@pytest.fixture
def filaman_key(filaman: FilamanSimulator) -> str:
    return filaman.create_api_key("user")


class Servers(NamedTuple):
    """Both simulators, each with a key that passes every check."""

    bambuddy: BambuddySimulator
    bambuddy_key: str
    filaman: FilamanSimulator
    filaman_key: str


@pytest.fixture
def servers(
    bambuddy: BambuddySimulator, bambuddy_key: str, filaman: FilamanSimulator, filaman_key: str
) -> Servers:
    return Servers(bambuddy, bambuddy_key, filaman, filaman_key)


def url_of(sim: BambuddySimulator | FilamanSimulator) -> str:
    assert sim.url is not None
    return sim.url


def serial_of(sim: BambuddySimulator, printer_id: int) -> str:
    return sim.printer(printer_id).serial_number


# --- flow helpers -----------------------------------------------------------------------------


async def start_user_flow(hass: HomeAssistant) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def submit(
    hass: HomeAssistant, result: ConfigFlowResult, user_input: dict[str, Any]
) -> ConfigFlowResult:
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


async def to_filaman_step(
    hass: HomeAssistant, bambuddy: BambuddySimulator, key: str, printer_id: int = 1
) -> ConfigFlowResult:
    """Walk user → printer and stop at the first ``filaman`` form."""
    result = await start_user_flow(hass)
    result = await submit(
        hass, result, {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_BAMBUDDY_API_KEY: key}
    )
    assert result["step_id"] == "printer"
    result = await submit(hass, result, {CONF_PRINTER_ID: str(printer_id)})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "filaman"
    return result


def schema_of(result: ConfigFlowResult) -> dict[Any, Any]:
    schema = result["data_schema"]
    assert schema is not None
    fields: dict[Any, Any] = schema.schema
    return fields


def schema_keys(result: ConfigFlowResult) -> list[str]:
    return [str(key) for key in schema_of(result)]


def field_default(result: ConfigFlowResult, name: str) -> Any:
    key = next(key for key in schema_of(result) if str(key) == name)
    return key.default()


def select_options(result: ConfigFlowResult, name: str) -> list[tuple[str, str]]:
    selector = schema_of(result)[name]
    return [(option["value"], option["label"]) for option in selector.config["options"]]


def filaman_input(filaman: FilamanSimulator, key: str, **extra: Any) -> dict[str, Any]:
    return {CONF_FILAMAN_URL: url_of(filaman), CONF_FILAMAN_API_KEY: key, **extra}


def bind_filaman_printer(
    filaman: FilamanSimulator, name: str, bambuddy_url: str, printer_id: Any
) -> int:
    """A FilaMan printer driven by FilaMan's own Bambuddy plugin."""
    return filaman.add_printer(
        name,
        driver_key="bambuddy",
        driver_config={
            "bambuddy_url": bambuddy_url,
            "api_key": "bb_secret_of_the_plugin",
            "printer_id": printer_id,
            "sync_enabled": "enabled",
        },
    )


def make_entry(
    bambuddy: BambuddySimulator,
    bambuddy_key: str,
    filaman: FilamanSimulator,
    filaman_key: str,
    *,
    unique_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Workshop X1C",
        unique_id=unique_id or serial_of(bambuddy, 1),
        data={
            CONF_BAMBUDDY_URL: url_of(bambuddy),
            CONF_BAMBUDDY_API_KEY: bambuddy_key,
            CONF_PRINTER_ID: 1,
            CONF_FILAMAN_URL: url_of(filaman),
            CONF_FILAMAN_API_KEY: filaman_key,
            **(data or {}),
        },
        options={CONF_SYNC_INTERVAL: 300, CONF_RECONNECT_INTERVAL: 30},
    )


# --- user → printer → filaman -------------------------------------------------------------------


async def test_full_flow_preselects_the_bound_filaman_printer(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    filaman.add_printer("Prusa MK4")
    bind_filaman_printer(filaman, "Other server", "http://192.0.2.1:8000", 1)
    bind_filaman_printer(filaman, "Other printer", url_of(bambuddy), 2)
    # The plugin stored the URL with a trailing slash and the id as a string.
    bound = bind_filaman_printer(filaman, "X1C via plugin", url_of(bambuddy) + "/", "1")

    result = await start_user_flow(hass)
    assert schema_keys(result) == [CONF_BAMBUDDY_URL, CONF_BAMBUDDY_API_KEY]
    result = await submit(
        hass,
        result,
        {CONF_BAMBUDDY_URL: url_of(bambuddy) + "/api/v1/", CONF_BAMBUDDY_API_KEY: bambuddy_key},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "printer"
    assert result["description_placeholders"] == {"url": url_of(bambuddy)}
    # By name; the first is the default.
    assert select_options(result, CONF_PRINTER_ID) == [("2", "Attic P1S"), ("1", "Workshop X1C")]
    assert field_default(result, CONF_PRINTER_ID) == "2"

    result = await submit(hass, result, {CONF_PRINTER_ID: "1"})
    assert result["step_id"] == "filaman"
    assert result["description_placeholders"] == {"printer": "Workshop X1C"}
    assert schema_keys(result) == [CONF_FILAMAN_URL, CONF_FILAMAN_API_KEY]

    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "filaman"
    assert result["errors"] == {}
    assert schema_keys(result) == [CONF_FILAMAN_URL, CONF_FILAMAN_API_KEY, CONF_FILAMAN_PRINTER_ID]
    assert select_options(result, CONF_FILAMAN_PRINTER_ID) == [
        (NO_PRINTER, "—"),
        ("3", "Other printer"),
        ("2", "Other server"),
        ("1", "Prusa MK4"),
        (str(bound), "X1C via plugin"),
    ]
    assert field_default(result, CONF_FILAMAN_PRINTER_ID) == str(bound)

    # Submitting the same URL and key keeps the pre-selection.
    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Workshop X1C"
    assert result["data"] == {
        CONF_BAMBUDDY_URL: url_of(bambuddy),
        CONF_BAMBUDDY_API_KEY: bambuddy_key,
        CONF_PRINTER_ID: 1,
        CONF_FILAMAN_URL: url_of(filaman),
        CONF_FILAMAN_API_KEY: filaman_key,
        CONF_FILAMAN_PRINTER_ID: bound,
    }
    assert result["options"] == {CONF_SYNC_INTERVAL: 300, CONF_RECONNECT_INTERVAL: 30}
    assert result["result"].unique_id == serial_of(bambuddy, 1)


async def test_no_filaman_printer_chosen(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    filaman.add_printer("Prusa MK4")
    result = await to_filaman_step(hass, bambuddy, bambuddy_key, printer_id=2)
    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    assert field_default(result, CONF_FILAMAN_PRINTER_ID) == NO_PRINTER

    result = await submit(
        hass,
        result,
        filaman_input(filaman, filaman_key, **{CONF_FILAMAN_PRINTER_ID: NO_PRINTER}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Attic P1S"
    assert CONF_FILAMAN_PRINTER_ID not in result["data"]
    assert result["data"][CONF_PRINTER_ID] == 2


async def test_another_filaman_printer_can_be_chosen(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    prusa = filaman.add_printer("Prusa MK4")
    bind_filaman_printer(filaman, "X1C via plugin", url_of(bambuddy), 1)
    result = await to_filaman_step(hass, bambuddy, bambuddy_key)
    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    result = await submit(
        hass, result, filaman_input(filaman, filaman_key, **{CONF_FILAMAN_PRINTER_ID: str(prusa)})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_FILAMAN_PRINTER_ID] == prusa


async def test_filaman_without_printers_creates_the_entry_at_once(
    hass: HomeAssistant,
    bambuddy: BambuddySimulator,
    bambuddy_key: str,
    filaman: FilamanSimulator,
) -> None:
    superadmin_viewer = filaman.create_api_key("viewer", superadmin=True)
    result = await to_filaman_step(hass, bambuddy, bambuddy_key)
    result = await submit(hass, result, filaman_input(filaman, superadmin_viewer))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_FILAMAN_PRINTER_ID not in result["data"]
    assert result["data"][CONF_FILAMAN_API_KEY] == superadmin_viewer


async def test_a_bound_printer_deleted_while_reading_is_skipped(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    gone = bind_filaman_printer(filaman, "A deleted one", url_of(bambuddy), 1)
    bound = bind_filaman_printer(filaman, "B still there", url_of(bambuddy), 1)
    filaman.fail_next("GET", rf"/printers/{gone}$", 404)
    result = await to_filaman_step(hass, bambuddy, bambuddy_key)
    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    assert field_default(result, CONF_FILAMAN_PRINTER_ID) == str(bound)


async def test_changed_filaman_credentials_are_checked_again(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    filaman.add_printer("Prusa MK4")
    result = await to_filaman_step(hass, bambuddy, bambuddy_key)
    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    assert CONF_FILAMAN_PRINTER_ID in schema_keys(result)

    # A typo in the URL: checked again, the printer choice disappears until it passes.
    result = await submit(
        hass, result, {CONF_FILAMAN_URL: "filaman.local", CONF_FILAMAN_API_KEY: filaman_key}
    )
    assert result["errors"] == {CONF_FILAMAN_URL: "invalid_url"}
    assert schema_keys(result) == [CONF_FILAMAN_URL, CONF_FILAMAN_API_KEY]

    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    assert CONF_FILAMAN_PRINTER_ID in schema_keys(result)
    other_key = filaman.create_api_key("admin")
    result = await submit(
        hass, result, filaman_input(filaman, other_key, **{CONF_FILAMAN_PRINTER_ID: "1"})
    )
    # A new key is checked first; the choice made for the old one is not taken over.
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {}
    result = await submit(hass, result, filaman_input(filaman, other_key))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_FILAMAN_API_KEY] == other_key


# --- user step errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["bambuddy.local:8000", "ftp://192.0.2.1", "http://", "http://bad host", "http://h:99999"],
)
async def test_user_step_invalid_url(hass: HomeAssistant, url: str) -> None:
    result = await start_user_flow(hass)
    result = await submit(hass, result, {CONF_BAMBUDDY_URL: url, CONF_BAMBUDDY_API_KEY: "bb_x"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BAMBUDDY_URL: "invalid_url"}


async def test_user_step_errors_then_recovery(
    hass: HomeAssistant, bambuddy: BambuddySimulator, bambuddy_key: str
) -> None:
    """Each failure is shown on the form, and a corrected submit carries on."""
    url = url_of(bambuddy)
    result = await start_user_flow(hass)

    async def try_key(key: str) -> ConfigFlowResult:
        return await submit(hass, result, {CONF_BAMBUDDY_URL: url, CONF_BAMBUDDY_API_KEY: key})

    result = await try_key("bb_not_a_registered_key")
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "invalid_auth"}

    result = await submit(hass, result, {CONF_BAMBUDDY_URL: url})  # no key at all
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "invalid_auth"}

    # A control character (a bad paste) cannot go into a header: no key has one.
    result = await try_key(bambuddy_key[:8] + "\x07" + bambuddy_key[8:])
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "invalid_auth"}

    read_only = bambuddy.create_api_key("read-only", can_manage_inventory=False)
    result = await try_key(read_only)
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "missing_permission"}
    assert result["description_placeholders"] == {"permission": "can_manage_inventory"}

    write_only = bambuddy.create_api_key("write-only", can_read_status=False)
    result = await try_key(write_only)
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "missing_permission"}
    assert result["description_placeholders"] == {"permission": "can_read_status"}

    bambuddy.fail_next("GET", r"/auth/status$", 500)
    result = await try_key(bambuddy_key)
    assert result["errors"] == {CONF_BAMBUDDY_URL: "cannot_connect"}

    bambuddy.fail_next("GET", r"/printers/$", 503)
    result = await try_key(bambuddy_key)
    assert result["errors"] == {CONF_BAMBUDDY_URL: "cannot_connect"}

    bambuddy.down = True
    result = await try_key(bambuddy_key)
    assert result["errors"] == {CONF_BAMBUDDY_URL: "cannot_connect"}
    bambuddy.down = False

    result = await try_key(bambuddy_key)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "printer"
    assert not bambuddy.db.spools  # the write probe wrote nothing


async def test_user_step_cannot_connect_to_a_stopped_server(
    hass: HomeAssistant, bambuddy: BambuddySimulator, bambuddy_key: str
) -> None:
    url = url_of(bambuddy)
    await bambuddy.stop()
    result = await start_user_flow(hass)
    result = await submit(hass, result, {CONF_BAMBUDDY_URL: url, CONF_BAMBUDDY_API_KEY: "bb_x"})
    assert result["errors"] == {CONF_BAMBUDDY_URL: "cannot_connect"}


async def test_user_step_rejects_a_server_that_is_not_bambuddy(
    hass: HomeAssistant, filaman: FilamanSimulator
) -> None:
    result = await start_user_flow(hass)
    result = await submit(
        hass, result, {CONF_BAMBUDDY_URL: url_of(filaman), CONF_BAMBUDDY_API_KEY: "bb_x"}
    )
    assert result["errors"] == {CONF_BAMBUDDY_URL: "cannot_connect"}


async def test_user_step_unexpected_error(
    hass: HomeAssistant,
    bambuddy: BambuddySimulator,
    bambuddy_key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(self: BambuddyClient) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(BambuddyClient, "auth_status", broken)
    result = await start_user_flow(hass)
    with caplog.at_level(logging.ERROR, logger=FLOW_LOGGER):
        result = await submit(
            hass, result, {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_BAMBUDDY_API_KEY: bambuddy_key}
        )
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the server" in caplog.text
    assert bambuddy_key not in caplog.text


async def test_no_printers_aborts(hass: HomeAssistant, socket_enabled: None) -> None:
    sim = await _started(BambuddySimulator())
    try:
        key = sim.create_api_key()
        result = await start_user_flow(hass)
        result = await submit(
            hass, result, {CONF_BAMBUDDY_URL: url_of(sim), CONF_BAMBUDDY_API_KEY: key}
        )
    finally:
        await sim.stop()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_printers"


async def test_the_same_printer_cannot_be_added_twice(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    make_entry(bambuddy, bambuddy_key, filaman, filaman_key).add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await submit(
        hass, result, {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_BAMBUDDY_API_KEY: bambuddy_key}
    )
    result = await submit(hass, result, {CONF_PRINTER_ID: "1"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_printer_without_serial_number_gets_a_url_based_id(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    # Both reads of GET /printers/ (the key check and the listing) see a serial-less printer.
    bambuddy.fail_next("GET", r"/printers/$", 200, count=2, body=[{"id": 7, "name": "Old"}])
    result = await start_user_flow(hass)
    result = await submit(
        hass, result, {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_BAMBUDDY_API_KEY: bambuddy_key}
    )
    result = await submit(hass, result, {CONF_PRINTER_ID: "7"})
    result = await submit(hass, result, filaman_input(filaman, filaman_key))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == f"{url_of(bambuddy)}#7"


# --- Bambuddy with auth disabled ------------------------------------------------------------------


async def test_auth_disabled_warns_then_continues(
    hass: HomeAssistant, socket_enabled: None, filaman: FilamanSimulator, filaman_key: str
) -> None:
    sim = await _started(BambuddySimulator(auth_enabled=False))
    try:
        sim.add_printer("Open X1C")
        result = await start_user_flow(hass)
        result = await submit(hass, result, {CONF_BAMBUDDY_URL: url_of(sim)})
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "auth_disabled"
        assert result["description_placeholders"] == {"url": url_of(sim)}
        assert result["data_schema"] is None

        result = await submit(hass, result, {})
        assert result["step_id"] == "printer"
        result = await submit(hass, result, {CONF_PRINTER_ID: "1"})
        result = await submit(hass, result, filaman_input(filaman, filaman_key))
    finally:
        await sim.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BAMBUDDY_API_KEY] == ""
    # Nothing but the public probe and the listing was sent: no key could be proven.
    assert ("POST", "/api/v1/inventory/spools") not in sim.request_log


# --- filaman step errors ------------------------------------------------------------------------


async def test_filaman_step_errors_then_recovery(
    hass: HomeAssistant,
    servers: Servers,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    result = await to_filaman_step(hass, bambuddy, bambuddy_key)

    async def attempt(**user_input: Any) -> ConfigFlowResult:
        return await submit(hass, result, filaman_input(filaman, filaman_key) | user_input)

    result = await attempt(**{CONF_FILAMAN_URL: "not a url"})
    assert result["errors"] == {CONF_FILAMAN_URL: "invalid_url"}

    result = await attempt(**{CONF_FILAMAN_API_KEY: "uak.999.wrong"})
    assert result["errors"] == {CONF_FILAMAN_API_KEY: "invalid_auth"}

    result = await attempt(**{CONF_FILAMAN_API_KEY: filaman_key + "\x00"})
    assert result["errors"] == {CONF_FILAMAN_API_KEY: "invalid_auth"}

    result = await attempt(**{CONF_FILAMAN_API_KEY: filaman.create_api_key("viewer")})
    assert result["errors"] == {CONF_FILAMAN_API_KEY: "missing_permission"}
    assert result["description_placeholders"] == {
        "printer": "Workshop X1C",
        "permission": CONSUMPTION,
    }

    filaman.fail_next("GET", r"/printers$", 500)
    result = await attempt()
    assert result["errors"] == {CONF_FILAMAN_URL: "cannot_connect"}

    filaman.down = True
    result = await attempt()
    assert result["errors"] == {CONF_FILAMAN_URL: "cannot_connect"}
    filaman.down = False

    async def broken(self: FilamanClient) -> None:
        raise KeyError("boom")

    with monkeypatch.context() as patched:
        patched.setattr(FilamanClient, "me", broken)
        with caplog.at_level(logging.ERROR, logger=FLOW_LOGGER):
            result = await attempt()
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the server" in caplog.text

    result = await attempt()
    assert result["type"] is FlowResultType.CREATE_ENTRY


# --- reauth -------------------------------------------------------------------------------------


async def test_reauth_with_a_new_bambuddy_key(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key)
    entry.add_to_hass(hass)
    bambuddy.revoke_api_key(bambuddy_key)

    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"name": "Workshop X1C"}
    assert schema_keys(result) == [CONF_BAMBUDDY_API_KEY, CONF_FILAMAN_API_KEY]

    # Both fields empty: the stored (revoked) key is checked again and still fails.
    result = await submit(hass, result, {})
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "invalid_auth"}

    result = await submit(hass, result, {CONF_BAMBUDDY_API_KEY: "bb_not_a_registered_key"})
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "invalid_auth"}

    new_key = bambuddy.create_api_key("new")
    result = await submit(hass, result, {CONF_BAMBUDDY_API_KEY: new_key})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_BAMBUDDY_API_KEY] == new_key
    assert entry.data[CONF_FILAMAN_API_KEY] == filaman_key


async def test_reauth_with_a_new_filaman_key(
    hass: HomeAssistant,
    bambuddy: BambuddySimulator,
    bambuddy_key: str,
    filaman: FilamanSimulator,
) -> None:
    entry = make_entry(bambuddy, bambuddy_key, filaman, "uak.999.revoked")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)

    result = await submit(hass, result, {CONF_FILAMAN_API_KEY: ""})
    assert result["errors"] == {CONF_FILAMAN_API_KEY: "invalid_auth"}

    viewer = filaman.create_api_key("viewer")
    result = await submit(hass, result, {CONF_FILAMAN_API_KEY: viewer})
    assert result["errors"] == {CONF_FILAMAN_API_KEY: "missing_permission"}
    assert result["description_placeholders"] == {"name": "Workshop X1C", "permission": CONSUMPTION}

    bambuddy.down = True
    result = await submit(hass, result, {CONF_FILAMAN_API_KEY: viewer})
    assert result["errors"] == {"base": "cannot_connect"}
    bambuddy.down = False

    new_key = filaman.create_api_key("user")
    result = await submit(hass, result, {CONF_FILAMAN_API_KEY: new_key})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_FILAMAN_API_KEY] == new_key
    assert entry.data[CONF_BAMBUDDY_API_KEY] == bambuddy_key


# --- reconfigure ----------------------------------------------------------------------------------


@pytest.fixture
async def moved_bambuddy(socket_enabled: None) -> AsyncIterator[BambuddySimulator]:
    """The same Bambuddy database on a new address: printer 1 is the same X1C."""
    sim = await _started(BambuddySimulator())
    sim.add_printer("Workshop X1C", model="X1C")
    yield sim
    await sim.stop()


async def test_reconfigure_moves_both_servers(
    hass: HomeAssistant,
    servers: Servers,
    moved_bambuddy: BambuddySimulator,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(
        bambuddy, bambuddy_key, filaman, filaman_key, data={CONF_FILAMAN_PRINTER_ID: 42}
    )
    entry.add_to_hass(hass)
    new_filaman = FilamanSimulator()
    await new_filaman.start(host="127.0.0.1", port=0)
    try:
        bound = bind_filaman_printer(new_filaman, "X1C via plugin", url_of(moved_bambuddy), 1)
        new_filaman_key = new_filaman.create_api_key("user")
        new_bambuddy_key = moved_bambuddy.create_api_key()

        result = await entry.start_reconfigure_flow(hass)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "reconfigure"
        assert result["description_placeholders"] == {"name": "Workshop X1C"}
        suggested = {
            str(key): key.description["suggested_value"]
            for key in schema_of(result)
            if key.description
        }
        # URLs are offered again; keys never are.
        assert suggested == {
            CONF_BAMBUDDY_URL: url_of(bambuddy),
            CONF_FILAMAN_URL: url_of(filaman),
        }

        result = await submit(
            hass,
            result,
            {
                CONF_BAMBUDDY_URL: url_of(moved_bambuddy) + "/",
                CONF_BAMBUDDY_API_KEY: new_bambuddy_key,
                CONF_FILAMAN_URL: url_of(new_filaman),
                CONF_FILAMAN_API_KEY: new_filaman_key,
            },
        )
    finally:
        await new_filaman.stop()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        CONF_BAMBUDDY_URL: url_of(moved_bambuddy),
        CONF_BAMBUDDY_API_KEY: new_bambuddy_key,
        CONF_PRINTER_ID: 1,
        CONF_FILAMAN_URL: url_of(new_filaman),
        CONF_FILAMAN_API_KEY: new_filaman_key,
        # The old id meant a printer of the old FilaMan; the new one's binding is found.
        CONF_FILAMAN_PRINTER_ID: bound,
    }
    assert entry.unique_id == serial_of(bambuddy, 1)


async def test_reconfigure_keeps_empty_keys_and_the_filaman_printer(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(
        bambuddy, bambuddy_key, filaman, filaman_key, data={CONF_FILAMAN_PRINTER_ID: 42}
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(
        hass,
        result,
        {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_FILAMAN_URL: url_of(filaman) + "/"},
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_BAMBUDDY_API_KEY] == bambuddy_key
    assert entry.data[CONF_FILAMAN_API_KEY] == filaman_key
    assert entry.data[CONF_FILAMAN_URL] == url_of(filaman)
    assert entry.data[CONF_FILAMAN_PRINTER_ID] == 42


async def test_reconfigure_to_another_filaman_without_a_bound_printer(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    new_filaman = FilamanSimulator()
    await new_filaman.start(host="127.0.0.1", port=0)
    try:
        entry = make_entry(
            bambuddy,
            bambuddy_key,
            new_filaman,
            new_filaman.create_api_key(),
            data={CONF_FILAMAN_PRINTER_ID: 1},
        )
        entry.add_to_hass(hass)
        result = await entry.start_reconfigure_flow(hass)
        result = await submit(
            hass,
            result,
            {
                CONF_BAMBUDDY_URL: url_of(bambuddy),
                CONF_FILAMAN_URL: url_of(filaman),
                CONF_FILAMAN_API_KEY: filaman_key,
            },
        )
    finally:
        await new_filaman.stop()
    assert result["reason"] == "reconfigure_successful"
    assert CONF_FILAMAN_PRINTER_ID not in entry.data
    assert entry.data[CONF_FILAMAN_URL] == url_of(filaman)


def owed_ledger() -> dict[str, Any]:
    """A stored ledger owing the old FilaMan: 12.5 g queued for its spool 3 (Bambuddy spool
    7), 4 g recorded by hand for spool 5, and 30 g already debited."""
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ledger = Ledger(printer_id=1)
    common = {"event_at": at, "print_name": "Benchy", "print_status": "completed"}
    ledger.entries = {
        "u1": LedgerEntry(key="u1", seq=1, usage_id=1, bambuddy_spool_id=7, grams=30.0,
                          print_key="p0", state=EntryState.DONE, filaman_spool_id=3, **common),
        "u2": LedgerEntry(key="u2", seq=2, usage_id=2, bambuddy_spool_id=7, grams=12.5,
                          print_key="p1", filaman_spool_id=3, **common),
        "bambuddy:1:manual:0-2-20261201T110000": LedgerEntry(
            key="bambuddy:1:manual:0-2-20261201T110000", seq=3, usage_id=None,
            bambuddy_spool_id=None, grams=4.0, print_key="manual:0-2-20261201T110000",
            filaman_spool_id=5, slot=(0, 2), **common),
    }  # fmt: skip
    ledger.spool_map = {7: 3}
    return ledger.to_dict()


def store_ledger(hass_storage: dict[str, Any], entry: MockConfigEntry) -> str:
    key = f"{DOMAIN}.ledger.{entry.entry_id}"
    hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": owed_ledger()}
    return key


async def reconfigure_to(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bambuddy: BambuddySimulator,
    filaman: FilamanSimulator,
) -> ConfigFlowResult:
    result = await entry.start_reconfigure_flow(hass)
    return await submit(
        hass,
        result,
        {
            CONF_BAMBUDDY_URL: url_of(bambuddy),
            CONF_FILAMAN_URL: url_of(filaman),
            CONF_FILAMAN_API_KEY: filaman.create_api_key("user"),
        },
    )


async def test_reconfigure_to_another_filaman_holds_what_is_owed(
    hass: HomeAssistant, servers: Servers, hass_storage: dict[str, Any]
) -> None:
    """Spool 3 of the old FilaMan is not spool 3 of the new one: nothing owed is sent by id."""
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    new_filaman = FilamanSimulator()
    await new_filaman.start(host="127.0.0.1", port=0)
    try:
        entry = make_entry(bambuddy, bambuddy_key, new_filaman, filaman_key)
        entry.add_to_hass(hass)
        key = store_ledger(hass_storage, entry)
        result = await reconfigure_to(hass, entry, bambuddy, filaman)
        assert result["type"] is FlowResultType.MENU
        assert result["step_id"] == "filaman_changed"
        assert result["menu_options"] == ["filaman_moved", "filaman_replaced"]
        assert result["description_placeholders"] == {
            "grams": "16.5",
            "old_url": url_of(new_filaman),
            "new_url": url_of(filaman),
        }
        result = await submit(hass, result, {"next_step_id": "filaman_replaced"})
    finally:
        await new_filaman.stop()
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_FILAMAN_URL] == url_of(filaman)
    ledger = Ledger.from_dict(hass_storage[key]["data"], 1)
    held = ledger.entries["u2"]
    assert held.state is EntryState.AWAITING_LINK
    assert held.reason == HELD_FOR_OTHER_FILAMAN
    assert held.filaman_spool_id is None
    assert ledger.entries["u1"].state is EntryState.DONE  # what landed stays landed
    # The by-hand record is undone: its tray asks the user again.
    assert "bambuddy:1:manual:0-2-20261201T110000" not in ledger.entries
    assert ledger.tray_cases["0-2-20261201T110000"].state is CaseState.UNRECORDED
    assert ledger.spool_map == {}
    assert ledger.awaiting_links(relinkable_only=True) == {}


@pytest.fixture
async def other_filaman(socket_enabled: None) -> AsyncIterator[FilamanSimulator]:
    """A FilaMan on another address (for the flow, whether it is the same one is the user's
    answer)."""
    sim = FilamanSimulator()
    await sim.start(host="127.0.0.1", port=0)
    yield sim
    await sim.stop()


async def test_reconfigure_to_the_same_filaman_at_a_new_address_keeps_what_is_owed(
    hass: HomeAssistant,
    servers: Servers,
    other_filaman: FilamanSimulator,
    hass_storage: dict[str, Any],
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key)
    entry.add_to_hass(hass)
    key = store_ledger(hass_storage, entry)
    stored = json.dumps(hass_storage[key]["data"], sort_keys=True)
    result = await reconfigure_to(hass, entry, bambuddy, other_filaman)
    assert result["step_id"] == "filaman_changed"
    result = await submit(hass, result, {"next_step_id": "filaman_moved"})
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_FILAMAN_URL] == url_of(other_filaman)
    assert json.dumps(hass_storage[key]["data"], sort_keys=True) == stored


@pytest.mark.parametrize("stored", ["nothing", "settled"])
async def test_reconfigure_asks_nothing_when_nothing_is_owed(
    hass: HomeAssistant,
    servers: Servers,
    other_filaman: FilamanSimulator,
    hass_storage: dict[str, Any],
    stored: str,
) -> None:
    """No ledger yet (never started), or one whose grams all landed or were dropped."""
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key)
    entry.add_to_hass(hass)
    if stored == "settled":
        key = store_ledger(hass_storage, entry)
        settled = Ledger.from_dict(hass_storage[key]["data"], 1)
        for owed in settled.owed():
            owed.state = EntryState.SKIPPED
        hass_storage[key]["data"] = settled.to_dict()
    result = await reconfigure_to(hass, entry, bambuddy, other_filaman)
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_FILAMAN_URL] == url_of(other_filaman)


async def test_reconfigure_errors_then_success(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    good = {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_FILAMAN_URL: url_of(filaman)}

    result = await submit(hass, result, good | {CONF_BAMBUDDY_URL: "bambuddy"})
    assert result["errors"] == {CONF_BAMBUDDY_URL: "invalid_url"}
    # The form keeps what was typed.
    suggested = {
        str(key): key.description["suggested_value"] for key in schema_of(result) if key.description
    }
    assert suggested[CONF_BAMBUDDY_URL] == "bambuddy"

    result = await submit(hass, result, good | {CONF_BAMBUDDY_API_KEY: "bb_wrong"})
    assert result["errors"] == {CONF_BAMBUDDY_API_KEY: "invalid_auth"}

    bambuddy.fail_next("GET", r"/printers/1$", 500)
    result = await submit(hass, result, good)
    assert result["errors"] == {CONF_BAMBUDDY_URL: "cannot_connect"}

    filaman.down = True
    result = await submit(hass, result, good)
    assert result["errors"] == {CONF_FILAMAN_URL: "cannot_connect"}
    filaman.down = False

    result = await submit(hass, result, good | {CONF_FILAMAN_API_KEY: "uak.1.wrong"})
    assert result["errors"] == {CONF_FILAMAN_API_KEY: "invalid_auth"}

    result = await submit(hass, result, good)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_to_another_printer_aborts(
    hass: HomeAssistant,
    servers: Servers,
    socket_enabled: None,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key)
    entry.add_to_hass(hass)
    other = await _started(BambuddySimulator())
    try:
        other.add_printer("Someone else's P1S", model="P1S")  # id 1, other serial
        result = await entry.start_reconfigure_flow(hass)
        result = await submit(
            hass,
            result,
            {
                CONF_BAMBUDDY_URL: url_of(other),
                CONF_BAMBUDDY_API_KEY: other.create_api_key(),
                CONF_FILAMAN_URL: url_of(filaman),
            },
        )
    finally:
        await other.stop()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_printer"
    assert entry.data[CONF_BAMBUDDY_URL] == url_of(bambuddy)


async def test_reconfigure_to_a_server_without_the_printer_aborts(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key, data={CONF_PRINTER_ID: 9})
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(
        hass, result, {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_FILAMAN_URL: url_of(filaman)}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_printer"


async def test_reconfigure_entry_with_a_url_based_id(
    hass: HomeAssistant,
    servers: Servers,
    moved_bambuddy: BambuddySimulator,
) -> None:
    """Set up before the printer reported a serial: the printer id is all there is to compare."""
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    fallback = fallback_unique_id(url_of(bambuddy), 1)
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key, unique_id=fallback)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(
        hass,
        result,
        {
            CONF_BAMBUDDY_URL: url_of(moved_bambuddy),
            CONF_BAMBUDDY_API_KEY: moved_bambuddy.create_api_key(),
            CONF_FILAMAN_URL: url_of(filaman),
        },
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.unique_id == fallback  # devices stay attached to the old id
    assert entry.data[CONF_BAMBUDDY_URL] == url_of(moved_bambuddy)


async def test_reconfigure_printer_without_serial_number(
    hass: HomeAssistant,
    servers: Servers,
) -> None:
    bambuddy, bambuddy_key, filaman, filaman_key = servers
    entry = make_entry(bambuddy, bambuddy_key, filaman, filaman_key)
    entry.add_to_hass(hass)
    bambuddy.fail_next("GET", r"/printers/1$", 200, body={"id": 1, "name": "Workshop X1C"})
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(
        hass, result, {CONF_BAMBUDDY_URL: url_of(bambuddy), CONF_FILAMAN_URL: url_of(filaman)}
    )
    assert result["reason"] == "reconfigure_successful"


# --- options --------------------------------------------------------------------------------------


async def test_options_flow(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Workshop X1C",
        unique_id="01S00A000000001",
        data={},
        options={CONF_SYNC_INTERVAL: 300, CONF_RECONNECT_INTERVAL: 30},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    schema = schema_of(result)
    sync_selector = schema[CONF_SYNC_INTERVAL]
    assert sync_selector.config["min"] == 60
    assert sync_selector.config["max"] == 86400
    assert sync_selector.config["unit_of_measurement"] == "s"
    assert sync_selector.config["mode"] == "box"
    reconnect_selector = schema[CONF_RECONNECT_INTERVAL]
    assert (reconnect_selector.config["min"], reconnect_selector.config["max"]) == (5, 300)

    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_SYNC_INTERVAL: 59, CONF_RECONNECT_INTERVAL: 30}
        )
    assert schema[CONF_FOLLOW_LOCATIONS].config == {}  # a switch
    margin, factor = schema[CONF_HOLD_MARGIN], schema[CONF_HOLD_ESTIMATE_FACTOR]
    assert (margin.config["min"], margin.config["max"], margin.config["unit_of_measurement"]) == (
        0, 1000, "g"
    )  # fmt: skip
    assert (factor.config["min"], factor.config["max"]) == (1.5, 20)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_SYNC_INTERVAL: 600.0,
            CONF_RECONNECT_INTERVAL: 10,
            CONF_FOLLOW_LOCATIONS: False,
            CONF_HOLD_MARGIN: 100,
            CONF_HOLD_ESTIMATE_FACTOR: 5,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_SYNC_INTERVAL: 600,
        CONF_RECONNECT_INTERVAL: 10,
        CONF_FOLLOW_LOCATIONS: False,
        CONF_HOLD_MARGIN: 100.0,
        CONF_HOLD_ESTIMATE_FACTOR: 5.0,
    }
    assert isinstance(entry.options[CONF_SYNC_INTERVAL], int)


async def test_options_flow_defaults_for_an_entry_without_options(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Workshop X1C", data={})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert entry.options == {
        CONF_SYNC_INTERVAL: 300,
        CONF_RECONNECT_INTERVAL: 30,
        CONF_FOLLOW_LOCATIONS: True,
        CONF_HOLD_MARGIN: 50.0,
        CONF_HOLD_ESTIMATE_FACTOR: 3.0,
    }


# --- validation helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTP://Bambuddy.LOCAL:80/", "http://bambuddy.local"),
        (" https://b.local:443/api/v1/ ", "https://b.local"),
        ("http://192.0.2.1:8000/sub/path/?x=1#top", "http://192.0.2.1:8000/sub/path"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_normalize_url(text: str, expected: str) -> None:
    assert normalize_url(text) == expected


def test_same_server() -> None:
    assert same_server("http://h:8000/", "HTTP://H:8000")
    assert not same_server("http://h:8000", "http://h:8001")
    assert not same_server("http://h:8000", "https://h:8000")
    assert not same_server("not a url", "http://h")
    with pytest.raises(InvalidUrlError):
        fallback_unique_id("h:8000", 1)


def test_is_bound_to_needs_driver_url_and_id() -> None:
    def printer(driver_key: str, **config: Any) -> FilamanPrinter:
        return FilamanPrinter(
            id=1, name="P", is_active=True, driver_key=driver_key, driver_config=config
        )

    url = "http://192.0.2.1:8000"
    assert is_bound_to(printer("bambuddy", bambuddy_url=url + "/", printer_id="3"), url, 3)
    assert not is_bound_to(printer("bambuddy", bambuddy_url=url, printer_id=4), url, 3)
    assert not is_bound_to(printer("bambuddy", printer_id=3), url, 3)
    assert not is_bound_to(printer("other", bambuddy_url=url, printer_id=3), url, 3)
    assert not is_bound_to(printer("bambuddy", bambuddy_url="garbage", printer_id=3), url, 3)


# --- texts ----------------------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COMPONENT / name).read_text(encoding="utf-8"))
    return data


def _shape(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _shape(value) for key, value in node.items()}
    return None


def test_flow_texts_cover_every_step_field_error_and_abort() -> None:
    strings = _load("strings.json")
    config = strings["config"]
    steps = config["step"]
    fields = {
        "user": {CONF_BAMBUDDY_URL, CONF_BAMBUDDY_API_KEY},
        "auth_disabled": set(),
        "printer": {CONF_PRINTER_ID},
        "filaman": {CONF_FILAMAN_URL, CONF_FILAMAN_API_KEY, CONF_FILAMAN_PRINTER_ID},
        "reauth_confirm": {CONF_BAMBUDDY_API_KEY, CONF_FILAMAN_API_KEY},
        "reconfigure": {
            CONF_BAMBUDDY_URL,
            CONF_BAMBUDDY_API_KEY,
            CONF_FILAMAN_URL,
            CONF_FILAMAN_API_KEY,
        },
        "filaman_changed": set(),  # a menu
    }
    assert set(steps) == set(fields)
    assert set(steps["filaman_changed"]["menu_options"]) == {"filaman_moved", "filaman_replaced"}
    for step, names in fields.items():
        assert steps[step]["title"]
        assert steps[step]["description"]
        assert set(steps[step].get("data", {})) == names
        assert set(steps[step].get("data_description", {})) == names
    assert set(config["error"]) == {
        "invalid_url",
        "cannot_connect",
        "invalid_auth",
        "missing_permission",
        "unknown",
    }
    assert "{permission}" in config["error"]["missing_permission"]
    assert set(config["abort"]) >= {
        "already_configured",
        "no_printers",
        "reauth_successful",
        "reconfigure_successful",
        "wrong_printer",
    }
    init = strings["options"]["step"]["init"]
    assert (
        set(init["data"])
        == set(init["data_description"])
        == {
            CONF_SYNC_INTERVAL,
            CONF_RECONNECT_INTERVAL,
            CONF_FOLLOW_LOCATIONS,
            CONF_HOLD_MARGIN,
            CONF_HOLD_ESTIMATE_FACTOR,
        }
    )


def test_translations_match_strings() -> None:
    strings = _load("strings.json")
    english = _load("translations/en.json")
    german = _load("translations/de.json")
    for section in ("config", "options"):
        assert english[section] == strings[section]
        assert _shape(german[section]) == _shape(strings[section])
    assert german["config"]["error"]["missing_permission"].count("{permission}") == 1
