"""Home Assistant with this integration set up against both simulators on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import (
    CONF_BAMBUDDY_API_KEY,
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_URL,
    CONF_PRINTER_ID,
    CONF_RECONNECT_INTERVAL,
    CONF_SYNC_INTERVAL,
    DOMAIN,
)
from simulators.bambuddy import BambuddySimulator
from simulators.bambuddy.simulator import DEFAULT_VERSION
from simulators.filaman import FilamanSimulator
from simulators.filaman.models import STATUS_ID_BY_KEY


@dataclass
class Servers:
    """The two simulated servers and what was seeded into them."""

    bambuddy: BambuddySimulator
    filaman: FilamanSimulator
    bambuddy_key: str
    filaman_key: str
    printer_id: int
    filament_id: int
    spool_ids: list[int]

    def entry(self, printer_id: int | None = None, **data: object) -> MockConfigEntry:
        """A config entry for a printer of the simulated Bambuddy."""
        printer_id = self.printer_id if printer_id is None else printer_id
        return MockConfigEntry(
            domain=DOMAIN,
            title=f"Printer {printer_id}",
            unique_id=f"SERIAL{printer_id}",
            data={
                CONF_BAMBUDDY_URL: self.bambuddy.url,
                CONF_BAMBUDDY_API_KEY: self.bambuddy_key,
                CONF_PRINTER_ID: printer_id,
                CONF_FILAMAN_URL: self.filaman.url,
                CONF_FILAMAN_API_KEY: self.filaman_key,
            }
            | data,
            options={CONF_SYNC_INTERVAL: 300, CONF_RECONNECT_INTERVAL: 1},
        )

    def add_spool_quietly(self) -> int:
        """A FilaMan spool created without the SSE hint (as if the stream missed it)."""
        spool = self.filaman.state.create_spool(
            {
                "filament_id": self.filament_id,
                "status_id": STATUS_ID_BY_KEY["new"],
                "initial_total_weight_g": 1250.0,
                "empty_spool_weight_g": 250.0,
            }
        )
        return spool.id


@pytest.fixture
def bambuddy_version(request: pytest.FixtureRequest) -> str:
    """The simulated Bambuddy release; a module runs on both with
    ``pytestmark = pytest.mark.parametrize("bambuddy_version", VERSIONS, indirect=True)``."""
    return str(getattr(request, "param", DEFAULT_VERSION))


@pytest.fixture
async def servers(socket_enabled: None, bambuddy_version: str) -> AsyncIterator[Servers]:
    """Bambuddy with one printer (one AMS, one external holder) and FilaMan with three spools."""
    bambuddy = BambuddySimulator(
        ws_usage_delay=0.05, assign_verify_delay=0.05, version=bambuddy_version
    )
    filaman = FilamanSimulator()
    await bambuddy.start(host="127.0.0.1", port=0)
    await filaman.start(host="127.0.0.1", port=0)
    printer_id = bambuddy.add_printer("Workshop X1C", ams_units=1, external=1)
    bambuddy.set_tray(
        printer_id, 0, 0, tray_type="PLA", tray_sub_brands="PLA Basic", tray_color="00AE42FF"
    )
    bambuddy.set_tray(
        printer_id, 0, 1, tray_type="PETG", tray_sub_brands="PETG HF", tray_color="FF6A13FF"
    )
    manufacturer = filaman.add_manufacturer("Bambu Lab")
    filament = filaman.add_filament(
        manufacturer,
        "PLA",
        "Basic",
        designation="PLA Basic",
        color_hex="#00AE42",
        manufacturer_color_name="Bambu Green",
    )
    spools = [filaman.add_spool(filament) for _ in range(3)]
    try:
        yield Servers(
            bambuddy=bambuddy,
            filaman=filaman,
            bambuddy_key=bambuddy.create_api_key(),
            filaman_key=filaman.create_api_key(),
            printer_id=printer_id,
            filament_id=filament,
            spool_ids=spools,
        )
    finally:
        await bambuddy.stop()
        await filaman.stop()


@pytest.fixture
async def loaded_entry(hass: HomeAssistant, servers: Servers) -> AsyncIterator[MockConfigEntry]:
    """The printer's entry, set up, with its first inventory sync done."""
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.hub.inventory.async_sync("test")
    await hass.async_block_till_done()
    yield entry
    await unload(hass, entry)


@pytest.fixture
async def second_entry(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """A second printer on the same Bambuddy server, set up next to the first."""
    printer_id = servers.bambuddy.add_printer("Garage P1S", model="P1S", ams_units=1)
    entry = servers.entry(printer_id)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    yield entry
    await unload(hass, entry)


async def set_up_entry(hass: HomeAssistant, servers: Servers) -> MockConfigEntry:
    """Set up the printer's entry as a test's own step (not a fixture), connected and idle."""
    entry = servers.entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settle(hass, entry)
    return entry


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload an entry a test left loaded (and still there)."""
    if hass.config_entries.async_get_entry(entry.entry_id) and entry.state.recoverable:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def settle(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Wait until the entry is connected and idle.

    ``async_fire_time_changed`` runs every due loop timer, also the timeouts of requests in
    flight; firing it while setup still talks to the simulators would break those requests.
    """
    data = entry.runtime_data
    await wait_for(
        lambda: (
            data.hub.live.connected
            and data.hub.inventory.last_result is not None
            and not data.hub.inventory.running
        )
    )
    await data.consumption.wait_idle()
    await hass.async_block_till_done()


async def wait_for(condition: Callable[[], object], within: float = 2.0) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (state spread over HA and the simulators)
            await asyncio.sleep(0.01)


def entity_id(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    """The entity id of ``<printer unique id>_<key>`` in ``entry``."""
    unique_id = f"{entry.unique_id}_{key}"
    registry = er.async_get(hass)
    for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
        if registered.unique_id == unique_id:
            return registered.entity_id
    raise AssertionError(f"no entity {unique_id}")


def has_entity(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> bool:
    """Whether ``<printer unique id>_<key>`` is registered for ``entry``."""
    unique_id = f"{entry.unique_id}_{key}"
    registry = er.async_get(hass)
    return any(
        registered.unique_id == unique_id
        for registered in er.async_entries_for_config_entry(registry, entry.entry_id)
    )


def state_of(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> State:
    """The current state of ``<printer unique id>_<key>``."""
    state = hass.states.get(entity_id(hass, entry, key))
    assert state is not None, key
    return state


def printer_device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry:
    """The printer device of ``entry``."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, str(entry.unique_id)), entry.entry_id
    )
    assert device is not None
    return device
