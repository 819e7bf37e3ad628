"""The inventory's safety rules against both simulators: mass-deletion guard, FilaMan id reuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
import logging

import aiohttp
from homeassistant.core import HomeAssistant
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.coordinator import InventoryCoordinator
from custom_components.filaman_bambuddy.inventory.plan import MASS_DELETE_MIN_LINKED
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .conftest import inventory_coordinator
from .populate import linked, populate, writes


@pytest.fixture
async def repointed(
    hass: HomeAssistant, session: aiohttp.ClientSession, bambuddy: BambuddyClient
) -> AsyncIterator[InventoryCoordinator]:
    """A coordinator for the same Bambuddy and a second, empty FilaMan (the user re-pointed it)."""
    sim = FilamanSimulator()
    await sim.start(host="127.0.0.1", port=0)
    fresh = FilamanClient(session, sim.url, sim.create_api_key(role="user"), request_timeout=2)
    coordinator = inventory_coordinator(hass, bambuddy, fresh)
    yield coordinator
    await coordinator.async_shutdown()
    await sim.stop()


async def test_empty_filaman_deletes_no_twin_until_full_resync(
    inventory: InventoryCoordinator,
    repointed: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    populate(filaman_sim, count=3, archived=0)
    await inventory.async_sync("initial")
    twins = {twins[0].id for twins in linked(bambuddy_sim).values()}
    bambuddy_sim.request_log.clear()
    with caplog.at_level(logging.WARNING):
        result = await repointed.async_sync("test")
        again = await repointed.async_sync("again")

    assert writes(bambuddy_sim.request_log) == []
    assert set(bambuddy_sim.db.spools) == twins
    assert (result.deleted, result.withheld_deletes, result.linked) == (0, 3, 3)
    assert result.status == "failed"
    assert not result.complete
    assert result.error is not None
    assert "FilaMan lists no active spools" in result.error
    assert result.as_dict()["withheld_deletes"] == 3
    assert again.error == result.error
    assert repointed.consecutive_failures == 2
    assert repointed.last_success is None
    warnings = [r for r in caplog.records if "withheld deletions" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not on every periodic run

    resync = await repointed.async_full_resync()

    assert (resync.deleted, resync.created, resync.withheld_deletes) == (3, 0, 0)
    assert resync.status == "success"
    assert bambuddy_sim.db.spools == {}


async def test_archiving_most_spools_needs_confirmation(
    inventory: InventoryCoordinator,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    stock = populate(filaman_sim, count=MASS_DELETE_MIN_LINKED, archived=0)
    await inventory.async_sync("initial")
    gone = stock.active[:11]
    for spool_id in gone:
        filaman_sim.archive_spool(spool_id)
    filaman_sim.edit_spool(stock.active[-1], remaining_weight_g=10.0)

    held = await inventory.async_sync("test")

    assert (held.deleted, held.withheld_deletes, held.updated) == (0, 11, 1)
    assert held.error is not None
    assert "would delete 11 of 20 linked Bambuddy spools" in held.error
    assert len(linked(bambuddy_sim)) == MASS_DELETE_MIN_LINKED

    confirmed = await inventory.async_sync("confirmed", allow_mass_delete=True)

    assert (confirmed.deleted, confirmed.withheld_deletes, confirmed.error) == (11, 0, None)
    assert sorted(linked(bambuddy_sim)) == stock.active[11:]
    after = await inventory.async_sync("after")
    assert (after.status, after.writes) == ("success", 0)


async def test_reused_filaman_id_gets_a_fresh_twin(
    inventory: InventoryCoordinator,
    bambuddy: BambuddyClient,
    filaman_sim: FilamanSimulator,
    bambuddy_sim: BambuddySimulator,
) -> None:
    populate(filaman_sim, count=3, archived=0)
    await inventory.async_sync("initial")
    (old,) = linked(bambuddy_sim)[2]
    printer_id = bambuddy_sim.add_printer("Workshop")
    await bambuddy.assign(old.id, printer_id, 0, 0)
    await bambuddy_sim.run_print(printer_id, grams={(0, 0): 12.5})
    assert [row.spool_id for row in bambuddy_sim.db.usage] == [old.id]
    # The twin was made a day ago; meanwhile (HA was off) spool 2 was deleted for good
    # and a new spool took over its free id.
    bambuddy_sim.db.spools[old.id].created_at -= timedelta(days=1)
    filament = filaman_sim.spool(2).filament_id
    filaman_sim.delete_spool_permanent(2)
    assert filaman_sim.add_spool(filament, remaining_weight_g=321.0) == 2

    result = await inventory.async_sync("test")

    assert (result.deleted, result.created, result.updated) == (1, 1, 0)
    assert (result.status, result.withheld_deletes) == ("success", 0)
    assert old.id not in bambuddy_sim.db.spools
    (new,) = linked(bambuddy_sim)[2]
    assert new.id != old.id
    assert new.remaining_weight == 321.0
    assert not bambuddy_sim.db.assignments  # the old spool's slot went with it
    assert all(row.spool_id != new.id for row in bambuddy_sim.db.usage)
    assert (await inventory.async_sync("again")).writes == 0
