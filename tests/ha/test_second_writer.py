"""Another tool deducting the same prints, through Home Assistant: named before it doubles."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import CONF_FILAMAN_API_KEY, DOMAIN

from .conftest import Servers, settle, state_of, unload, wait_for
from .test_consumption import assign, consumption_count, remaining


def writer_issues(hass: HomeAssistant) -> list[ir.IssueEntry]:
    return [
        issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith("second_writer_")
    ]


async def answer(hass: HomeAssistant, choice: str) -> dict[str, Any]:
    (issue,) = writer_issues(hass)
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    assert flow["type"] == "menu"
    assert flow["menu_options"] == ["we_write", "they_write"]
    result: dict[str, Any] = await manager.async_configure(
        flow["flow_id"], {"next_step_id": choice}
    )
    return result


async def test_a_tracker_that_booked_the_print_first_is_named_before_anything_doubles(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    """Bambu Usage Tracking books the print at its end; our debit finds its event and stops."""
    assert await async_setup_component(hass, "repairs", {})
    first = servers.spool_ids[0]
    await assign(hass, loaded_entry, first, 0, 0)
    servers.filaman.record_consumption(first, 12.5, source="bambu_usage", note="Benchy")
    await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams={(0, 0): 12.5})
    await wait_for(lambda: bool(writer_issues(hass)))
    (issue,) = writer_issues(hass)
    assert issue.translation_key == "second_writer"
    placeholders = issue.translation_placeholders or {}
    assert placeholders["tool"] == "Bambu Usage Tracking"
    assert f"spool #{first}: 12.5 g" in placeholders["seen"]
    assert consumption_count(servers, first) == 1  # the tracker's only
    assert float(state_of(hass, loaded_entry, "grams_not_in_filaman").state) == 12.5

    # The user turned the tracker off for this printer: ours is deducted, once.
    result = await answer(hass, "we_write")
    assert result["type"] == "create_entry"
    await wait_for(lambda: remaining(servers, first) == 975.0)
    await hass.async_block_till_done()
    assert writer_issues(hass) == []
    # The old evidence is no news: the next print is deducted as usual.
    await servers.bambuddy.run_print(servers.printer_id, "Clip", grams={(0, 0): 5.0})
    await wait_for(lambda: remaining(servers, first) == 970.0)
    assert writer_issues(hass) == []


async def test_letting_the_tracker_write_stops_this_printers_debits(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    first = servers.spool_ids[0]
    await assign(hass, loaded_entry, first, 0, 0)
    servers.filaman.record_consumption(first, 12.5, source="bambu_usage")
    await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams={(0, 0): 12.5})
    await wait_for(lambda: bool(writer_issues(hass)))
    assert (await answer(hass, "they_write"))["type"] == "create_entry"
    await hass.async_block_till_done()
    await servers.bambuddy.run_print(servers.printer_id, "Clip", grams={(0, 0): 5.0})
    await settle(hass, loaded_entry)
    assert remaining(servers, first) == 987.5  # the tracker's 12.5 g only
    assert writer_issues(hass) == []
    assert float(state_of(hass, loaded_entry, "grams_not_in_filaman").state) == 0.0


@pytest.mark.parametrize("role", ["admin", "user"])
async def test_an_installed_tracker_of_this_printer_is_named_at_setup(
    hass: HomeAssistant, servers: Servers, role: str
) -> None:
    """With an admin key the installation itself is seen, before the first print; a user key
    cannot list plugins, so only a tracker's consumptions can name it."""
    assert await async_setup_component(hass, "repairs", {})
    serial = servers.bambuddy.printer(servers.printer_id).serial_number
    servers.filaman.install_plugin(
        "bambu_usage", "Bambu Usage Tracking",
        capabilities={"tracks_consumption": True, "requires_driver": "bambulab"},
    )  # fmt: skip
    servers.filaman.add_printer(
        "X1C (Bambu Lab)", driver_key="bambulab",
        driver_config={"serial": serial, "host": "192.0.2.7", "access_code": "12345678"},
        driver_running=True,
    )  # fmt: skip
    entry = servers.entry(**{CONF_FILAMAN_API_KEY: servers.filaman.create_api_key(role)})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    if role == "user":
        assert writer_issues(hass) == []
    else:
        (issue,) = writer_issues(hass)
        placeholders = issue.translation_placeholders or {}
        assert placeholders["tool"] == "Bambu Usage Tracking"
        assert "X1C (Bambu Lab)" in placeholders["seen"]
        assert "12345678" not in str(placeholders)  # the printer's access code stays secret
        first = servers.spool_ids[0]
        await assign(hass, entry, first, 0, 0)
        await servers.bambuddy.run_print(servers.printer_id, "Benchy", grams={(0, 0): 12.5})
        await settle(hass, entry)
        assert remaining(servers, first) == 1000.0  # held until the user decides
    await unload(hass, entry)
