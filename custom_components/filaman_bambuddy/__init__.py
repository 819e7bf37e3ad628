"""The FilaMan ⇄ Bambuddy integration: one config entry per Bambuddy printer.

Setup wires four pieces together and keeps none of the logic itself:
- the per-server hub (live WebSocket, inventory coordinator, FilaMan change watcher),
- the printer coordinator that entities read,
- the consumption processor that debits FilaMan exactly once per Bambuddy usage row,
- conflict checks that raise repair issues (Spoolman mode, FilaMan's own plugin).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
import logging
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType

from .api import ApiError, AuthenticationError, BambuddyClient, FilamanClient, NotFoundError
from .card import async_register_card, async_register_picker, async_unregister_card
from .const import (
    CONF_BAMBUDDY_API_KEY,
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_PRINTER_ID,
    CONF_FILAMAN_URL,
    CONF_HOLD_ESTIMATE_FACTOR,
    CONF_HOLD_MARGIN,
    CONF_PRINTER_ID,
    CONF_RECONNECT_INTERVAL,
    DEFAULT_RECONNECT_INTERVAL,
    DOMAIN,
)
from .consumption.ledger import WriterRecord
from .consumption.models import AwaitingLink, DebitRecord, HeldPrint
from .consumption.plausibility import DEFAULT_ESTIMATE_FACTOR, DEFAULT_REMAINING_MARGIN_G, Limits
from .consumption.processor import ConsumptionProcessor
from .coordinator import PrinterCoordinator
from .data import FilamanBambuddyConfigEntry, FilamanBambuddyData
from .entity import printer_device_identifier, server_device_identifier
from .hub import (
    BambuddyHub,
    async_add_hub,
    async_get_hub,
    async_release_hub,
    hub_key,
    hub_share_id,
)
from .ledger_store import HaLedgerStore, async_remove_ledger
from .print_events import PrintEventBridge
from .repairs import (
    ConflictMonitor,
    OutageMonitor,
    async_delete_entry_issues,
    async_set_out_of_scope_issue,
    async_sync_held_issues,
    async_sync_tag_conflict_issues,
    async_sync_unlinked_usage_issues,
    async_sync_writer_issues,
)
from .services import async_setup_services
from .spool_locations import SpoolLocations, async_remove_locations_store
from .tray_watch import TrayWatch
from .wiring import sync_interval, track_periodic_work, wire_live_events

_LOGGER = logging.getLogger(__name__)

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.SELECT,
    Platform.SENSOR,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the dashboard card once for all entries."""
    async_setup_services(hass)
    async_register_picker(hass)
    await async_register_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> bool:
    """Set up one Bambuddy printer joined to FilaMan."""
    session = async_get_clientsession(hass)
    bambuddy = BambuddyClient(
        session, entry.data[CONF_BAMBUDDY_URL], entry.data[CONF_BAMBUDDY_API_KEY]
    )
    filaman = FilamanClient(session, entry.data[CONF_FILAMAN_URL], entry.data[CONF_FILAMAN_API_KEY])
    printer_id: int = entry.data[CONF_PRINTER_ID]
    try:
        printer = await bambuddy.printer(printer_id)
        await filaman.me()
    except AuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="auth_failed"
        ) from err
    except NotFoundError as err:
        if await bambuddy.keys_are_printer_scoped():
            # Bambuddy 1.2.6+ answers "not found" for a printer outside the key's scope too:
            # say so, and keep trying (a widened scope brings the entry back by itself).
            async_set_out_of_scope_issue(hass, entry, True)
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="printer_out_of_scope",
                translation_placeholders={"printer_id": str(printer_id)},
            ) from err
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="printer_not_found",
            translation_placeholders={"printer_id": str(printer_id)},
        ) from err
    except ApiError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        ) from err

    async_set_out_of_scope_issue(hass, entry, False)
    # Safe to repeat: brings the card resource back if the last entry was deleted and a new
    # one added without a restart (async_setup does not run again then).
    await async_register_card(hass)
    hub = _acquire_hub(hass, entry, bambuddy, filaman)
    coordinator = PrinterCoordinator(hass, entry, hub, printer_id)

    def usage_pending(job: str | None) -> bool:
        return any(
            not ledger_entry.announced and job in (None, ledger_entry.print_name)
            for ledger_entry in consumption.entries()
        )

    bridge = PrintEventBridge(
        hass,
        entry.entry_id,
        printer_id,
        printer.name,
        device_identifier=(DOMAIN, entry.unique_id or entry.entry_id),
        usage_pending=usage_pending,
    )

    @callback
    def on_debit(debit: DebitRecord) -> None:
        bridge.handle_debit(debit)
        coordinator.async_update_listeners()  # the last-debit and pending sensors changed

    unlinked_issues: set[str] = set()

    @callback
    def on_awaiting(waiting: Mapping[int, AwaitingLink]) -> None:
        async_sync_unlinked_usage_issues(hass, entry, waiting, unlinked_issues)
        coordinator.async_update_listeners()  # the pending sensor shows the held grams

    held_issues: set[str] = set()
    writer_issues: set[str] = set()

    @callback
    def on_writers(writers: Mapping[str, WriterRecord]) -> None:
        async_sync_writer_issues(hass, entry, writers, writer_issues)
        coordinator.async_update_listeners()

    @callback
    def on_held(held: Mapping[str, HeldPrint]) -> None:
        async_sync_held_issues(hass, entry, held, held_issues)
        coordinator.async_update_listeners()  # the grams-not-in-FilaMan sensor counts them

    consumption = ConsumptionProcessor(
        hub.bambuddy,
        hub.filaman,
        printer_id,
        HaLedgerStore(hass, entry.entry_id),
        on_debit=on_debit,
        on_print=bridge.handle_print_usage,
        on_awaiting=on_awaiting,
        # A by-hand record FilaMan did not take: its tray's repair is shown again.
        on_case_reopened=lambda _case: entry.runtime_data.tray_watch.refresh(),
        on_held=on_held,
        on_writers=on_writers,
        limits=Limits(
            remaining_margin_g=float(
                entry.options.get(CONF_HOLD_MARGIN, DEFAULT_REMAINING_MARGIN_G)
            ),
            estimate_factor=float(
                entry.options.get(CONF_HOLD_ESTIMATE_FACTOR, DEFAULT_ESTIMATE_FACTOR)
            ),
        ),
    )
    entry.runtime_data = FilamanBambuddyData(
        hub=hub,
        coordinator=coordinator,
        consumption=consumption,
        printer=printer,
        bridge=bridge,
        tray_watch=TrayWatch(hass, entry),
        locations=SpoolLocations(hass, entry),
    )
    try:
        await coordinator.async_config_entry_first_refresh()
        await consumption.start()
    except BaseException:
        await consumption.close()
        await async_release_hub(hass, hub, entry.entry_id)
        raise

    async def stop(_event: Event | None = None) -> None:
        bridge.async_stop()
        await consumption.close()
        await async_release_hub(hass, hub, entry.entry_id)

    entry.async_on_unload(stop)
    # HA does not unload entries when it stops; it closes the HTTP session. Stop first, so
    # no sync or debit dies half-way with a closed-session error. (Not listen_once: its
    # remover fails once the event has fired.)
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, stop))

    _register_devices(hass, entry)
    wire_live_events(hass, entry, bridge)
    entry.runtime_data.tray_watch.start()
    track_periodic_work(hass, entry)
    entry.async_on_unload(hub.add_auth_failed_listener(lambda: entry.async_start_reauth(hass)))

    conflicts = ConflictMonitor(hass, entry)
    await conflicts.async_check()

    async def check_conflicts(_now: datetime) -> None:
        await conflicts.async_check()

    entry.async_on_unload(
        async_track_time_interval(
            hass, check_conflicts, sync_interval(entry), name=f"{DOMAIN} conflicts"
        )
    )
    outage = OutageMonitor(hass, entry)
    entry.async_on_unload(outage.async_stop)
    entry.async_on_unload(hub.live.add_connection_listener(outage.handle_connection))
    if not hub.live.connected:
        # The grace period also runs for a server that was never reached since setup.
        outage.handle_connection(False)

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.runtime_data.locations.start()
    hub.start()
    return True


def _acquire_hub(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    bambuddy: BambuddyClient,
    filaman: FilamanClient,
) -> BambuddyHub:
    """Share one hub per Bambuddy server between its printers."""
    share_id = hub_share_id(
        entry.data[CONF_BAMBUDDY_URL],
        entry.data[CONF_BAMBUDDY_API_KEY],
        entry.data[CONF_FILAMAN_URL],
        entry.data[CONF_FILAMAN_API_KEY],
    )
    hub = async_get_hub(hass, share_id)
    if hub is None:
        hub = BambuddyHub(
            hass,
            hub_key(entry.data[CONF_BAMBUDDY_URL]),
            share_id,
            bambuddy,
            filaman,
            filaman_printer_id=entry.data.get(CONF_FILAMAN_PRINTER_ID),
            reconnect_interval=entry.options.get(
                CONF_RECONNECT_INTERVAL, DEFAULT_RECONNECT_INTERVAL
            ),
            sync_interval=sync_interval(entry),
        )
        async_add_hub(hass, hub)
        conflict_issues: set[str] = set()

        @callback
        def tag_conflicts() -> None:
            if (result := hub.inventory.last_result) is not None:
                async_sync_tag_conflict_issues(hass, hub, result, conflict_issues)

        # For the hub's life (it also keeps the coordinator's interval timer running).
        hub.inventory.async_add_listener(tag_conflicts)
    hub.entry_ids.add(entry.entry_id)
    return hub


def _register_devices(hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> None:
    """The Bambuddy server is a device; the printer hangs under it, AMS units under the printer."""
    data = entry.runtime_data
    registry = dr.async_get(hass)
    server = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={server_device_identifier(data.coordinator)},
        name="Bambuddy",
        manufacturer="Bambuddy",
        model="Bambuddy server",
        configuration_url=entry.data[CONF_BAMBUDDY_URL],
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={printer_device_identifier(data.coordinator)},
        name=data.printer.name,
        manufacturer="Bambu Lab",
        model=data.printer.model,
        serial_number=data.printer.serial_number,
        via_device_id=server.id,
    )


async def async_unload_entry(hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> bool:
    """Unload platforms; the on_unload callbacks stop everything the entry started."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> None:
    """Forget the entry's ledger and its issues; drop the card resource with the last entry."""
    await async_remove_ledger(hass, entry.entry_id)
    await async_remove_locations_store(hass, entry.entry_id)
    async_delete_entry_issues(hass, entry.entry_id)
    if not hass.config_entries.async_entries(DOMAIN):
        await async_unregister_card(hass)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: FilamanBambuddyConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let users delete AMS unit devices the printer no longer reports."""
    status = (
        entry.runtime_data.coordinator.data.status if entry.runtime_data.coordinator.data else None
    )
    present: set[str] = set()
    if status is not None:
        base = entry.unique_id or entry.entry_id
        present = {f"{base}_ams_{unit.id}" for unit in status.ams} | {base}
    identifiers: set[Any] = {
        identifier for domain, identifier in device.identifiers if domain == DOMAIN
    }
    return not (identifiers & present) and not any(i.startswith("server_") for i in identifiers)
