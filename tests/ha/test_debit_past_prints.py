"""The debit_past_prints action: prints Bambuddy logged before setup, debited once on request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.filaman_bambuddy.const import DOMAIN
from custom_components.filaman_bambuddy.consumption import (
    PastRefusal,
    processor as processor_module,
)
from custom_components.filaman_bambuddy.print_events import (
    EVENT_CONSUMPTION,
    EVENT_PRINT_COMPLETE,
)
from custom_components.filaman_bambuddy.services.past_prints import past_refusal
from simulators.bambuddy.state import UsageRow as BambuddyUsageRow

from .conftest import Servers, printer_device, set_up_entry, settle, unload, wait_for

COMPONENT = Path(__file__).parents[2] / "custom_components" / DOMAIN
OLD_PRINTS = (("Benchy", {(0, 0): 20.0}), ("Clip", {(0, 1): 7.5}))


def remaining(servers: Servers, spool_id: int) -> float | None:
    return servers.filaman.spool(spool_id).remaining_weight_g


def posts(servers: Servers) -> int:
    """Consumption POSTs FilaMan has seen (its events merge within 5 minutes)."""
    return sum(
        1
        for method, path in servers.filaman.request_log
        if method == "POST" and path.endswith("/consumptions")
    )


async def debit_past(
    hass: HomeAssistant, entry: MockConfigEntry, since: datetime | str
) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "debit_past_prints",
        {"device_id": printer_device(hass, entry).id, "since": since},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


def an_hour_ago() -> datetime:
    return dt_util.now() - timedelta(hours=1)


@pytest.fixture
async def fresh_entry(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """Two prints Bambuddy logged while the integration was not installed, then a new entry.

    The first entry linked FilaMan spools 1 and 2 into slots A1 and A2 and was removed (with
    its ledger); the prints ran after that; the new entry starts with no ledger.
    """
    first, second, _ = servers.spool_ids
    device_id = printer_device(hass, loaded_entry).id
    for spool, tray in ((first, 0), (second, 1)):
        await hass.services.async_call(
            DOMAIN,
            "assign_spool",
            {"filaman_spool_id": spool, "device_id": device_id, "ams_id": 0, "tray_id": tray},
            blocking=True,
        )
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    for name, grams in OLD_PRINTS:
        await servers.bambuddy.run_print(servers.printer_id, name, grams=grams)
    entry = await set_up_entry(hass, servers)
    yield entry
    await unload(hass, entry)


async def test_prints_before_setup_are_debited_once_on_request(
    hass: HomeAssistant, servers: Servers, fresh_entry: MockConfigEntry
) -> None:
    first, second, _ = servers.spool_ids
    processor = fresh_entry.runtime_data.consumption
    assert processor.anchor == 2  # the first start took nothing from the history
    assert posts(servers) == 0

    await servers.bambuddy.run_print(servers.printer_id, "After setup", grams={(0, 0): 5.0})
    await wait_for(lambda: remaining(servers, first) == pytest.approx(995.0))
    await processor.wait_idle()
    completed = async_capture_events(hass, EVENT_PRINT_COMPLETE)
    consumed = async_capture_events(hass, EVENT_CONSUMPTION)

    result = await debit_past(hass, fresh_entry, an_hour_ago())
    assert result == {
        "taken_in": 2,
        "grams": 27.5,
        "usage_ids": [1, 2],
        "debited": 2,
        "skipped": 0,
        "pending": 0,
    }
    assert remaining(servers, first) == pytest.approx(975.0)
    assert remaining(servers, second) == pytest.approx(992.5)
    assert posts(servers) == 3
    await hass.async_block_till_done()
    assert sorted(event.data["usage_id"] for event in consumed) == [1, 2]
    assert completed == []  # prints that ended long ago are not announced as ending now

    again = await debit_past(hass, fresh_entry, dt_util.now() - timedelta(days=29))
    assert again == {
        "taken_in": 0,
        "grams": 0,
        "usage_ids": [],
        "debited": 0,
        "skipped": 0,
        "pending": 0,
    }
    await processor.wait_idle()
    assert posts(servers) == 3
    assert remaining(servers, first) == pytest.approx(975.0)


async def test_since_after_the_old_prints_takes_nothing(
    hass: HomeAssistant, servers: Servers, fresh_entry: MockConfigEntry
) -> None:
    for usage in servers.bambuddy.db.usage:
        usage.created_at -= timedelta(days=3)
    result = await debit_past(hass, fresh_entry, (dt_util.now() - timedelta(days=2)).isoformat())
    assert result["taken_in"] == 0
    assert posts(servers) == 0


async def test_restart_between_requests_keeps_the_anchor(
    hass: HomeAssistant, servers: Servers, fresh_entry: MockConfigEntry
) -> None:
    first, second, _ = servers.spool_ids
    assert await hass.config_entries.async_unload(fresh_entry.entry_id)
    await hass.async_block_till_done()
    await servers.bambuddy.run_print(servers.printer_id, "While unloaded", grams={(0, 0): 1.0})
    assert await hass.config_entries.async_setup(fresh_entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, fresh_entry)
    await wait_for(lambda: remaining(servers, first) == pytest.approx(999.0))
    assert fresh_entry.runtime_data.consumption.anchor == 2

    assert (await debit_past(hass, fresh_entry, an_hour_ago()))["usage_ids"] == [1, 2]
    await hass.config_entries.async_reload(fresh_entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, fresh_entry)
    assert (await debit_past(hass, fresh_entry, an_hour_ago()))["taken_in"] == 0
    await fresh_entry.runtime_data.consumption.wait_idle()
    assert remaining(servers, first) == pytest.approx(979.0)
    assert remaining(servers, second) == pytest.approx(992.5)
    assert posts(servers) == 3


async def test_refused_while_another_writer_debits(
    hass: HomeAssistant, servers: Servers, fresh_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(fresh_entry.entry_id)
    servers.bambuddy.set_spoolman_mode(True)
    assert await hass.config_entries.async_setup(fresh_entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, fresh_entry)
    assert fresh_entry.runtime_data.consumption.blocked == "spoolman_mode"
    with pytest.raises(ServiceValidationError) as refused:
        await debit_past(hass, fresh_entry, an_hour_ago())
    assert refused.value.translation_key == "past_prints_blocked"
    assert refused.value.translation_placeholders == {"printer": "Printer 1"}
    assert posts(servers) == 0
    assert fresh_entry.runtime_data.consumption.entries() == []


async def test_bambuddy_unreachable_is_a_server_error(
    hass: HomeAssistant, servers: Servers, fresh_entry: MockConfigEntry
) -> None:
    servers.bambuddy.fail_next("GET", r"/inventory/usage$", status=500, count=100)
    with pytest.raises(HomeAssistantError) as failed:
        await debit_past(hass, fresh_entry, an_hour_ago())
    assert failed.value.translation_key == "server_error"
    servers.bambuddy.faults.rules.clear()
    assert (await debit_past(hass, fresh_entry, an_hour_ago()))["taken_in"] == 2


async def test_bad_since_is_refused_with_a_translated_error(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as future:
        await debit_past(hass, loaded_entry, dt_util.now() + timedelta(minutes=5))
    assert future.value.translation_key == "since_in_future"
    with pytest.raises(ServiceValidationError) as too_old:
        await debit_past(hass, loaded_entry, dt_util.now() - timedelta(days=31))
    assert too_old.value.translation_key == "since_too_old"
    assert too_old.value.translation_placeholders == {"days": "30"}
    with pytest.raises(probatio.Invalid):
        await debit_past(hass, loaded_entry, "last tuesday")
    with pytest.raises(probatio.Invalid):
        await hass.services.async_call(
            DOMAIN,
            "debit_past_prints",
            {"device_id": printer_device(hass, loaded_entry).id},
            blocking=True,
            return_response=True,
        )
    assert loaded_entry.runtime_data.consumption.entries() == []


async def test_unknown_device_or_unloaded_entry_is_refused(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as unknown:
        await hass.services.async_call(
            DOMAIN,
            "debit_past_prints",
            {"device_id": "no-such-device", "since": an_hour_ago()},
            blocking=True,
            return_response=True,
        )
    assert unknown.value.translation_key == "device_not_found"
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as not_loaded:
        await debit_past(hass, loaded_entry, an_hour_ago())
    assert not_loaded.value.translation_key == "entry_not_loaded"


@pytest.mark.parametrize("reason", list(PastRefusal))
def test_every_refusal_is_its_own_translated_validation_error(reason: PastRefusal) -> None:
    error = past_refusal(reason, "Workshop X1C")
    assert isinstance(error, ServiceValidationError)
    assert error.translation_domain == DOMAIN
    assert error.translation_placeholders == {"printer": "Workshop X1C"}
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    assert "{printer}" in strings["exceptions"][error.translation_key]["message"]
    others = {past_refusal(other, "x").translation_key for other in PastRefusal if other != reason}
    assert error.translation_key not in others


async def test_refused_when_bambuddy_keeps_no_usage_history(
    hass: HomeAssistant, servers: Servers
) -> None:
    servers.bambuddy.fail_next("GET", r"/inventory/usage$", status=404, count=10_000)
    entry = await set_up_entry(hass, servers)
    with pytest.raises(ServiceValidationError) as refused:
        await debit_past(hass, entry, an_hour_ago())
    assert refused.value.translation_key == "past_prints_unsupported"
    assert posts(servers) == 0
    await unload(hass, entry)


async def test_refused_when_the_history_since_is_more_than_one_page(
    hass: HomeAssistant,
    servers: Servers,
    loaded_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More rows since then than the largest page Bambuddy is asked for: none taken."""
    first = servers.spool_ids[0]
    device_id = printer_device(hass, loaded_entry).id
    await hass.services.async_call(
        DOMAIN,
        "assign_spool",
        {"filaman_spool_id": first, "device_id": device_id, "ams_id": 0, "tray_id": 0},
        blocking=True,
    )
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assignment = servers.bambuddy.db.assignment_at(servers.printer_id, 0, 0)
    assert assignment is not None
    twin = assignment.spool_id
    now = dt_util.utcnow().replace(microsecond=0)
    for n in range(150):  # a busy farm's month, logged before the integration was installed
        servers.bambuddy.db.usage.append(
            BambuddyUsageRow(
                id=servers.bambuddy.db.next_id("usage"), spool_id=twin,
                printer_id=servers.printer_id, print_name=f"Part {n}", weight_used=1.0,
                percent_used=0, status="completed", cost=None,
                created_at=now - timedelta(minutes=150 - n),
            )
        )  # fmt: skip
    monkeypatch.setattr(processor_module, "MAX_PAGE_LIMIT", processor_module.DEFAULT_PAGE_LIMIT)
    entry = await set_up_entry(hass, servers)
    with pytest.raises(ServiceValidationError) as refused:
        await debit_past(hass, entry, dt_util.now() - timedelta(hours=3))
    assert refused.value.translation_key == "past_prints_too_many"
    assert entry.runtime_data.consumption.entries() == []
    assert posts(servers) == 0
    # A since the page does reach back to is taken in.
    assert (await debit_past(hass, entry, dt_util.now() - timedelta(minutes=30, seconds=30)))[
        "taken_in"
    ] == 30
    await unload(hass, entry)
