"""How one entry's pieces talk to each other once set up: events, wake-ups and timers.

The push paths (WebSocket events, FilaMan's change stream) do the work; the timers here are the
safety nets behind them, so a missed event costs at most one interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval

from .api.events import PrintCompleteEvent, SpoolUsageLoggedEvent, WsEvent
from .const import CONF_SYNC_INTERVAL, DEFAULT_SYNC_INTERVAL, DOMAIN
from .data import FilamanBambuddyConfigEntry, FilamanBambuddyData
from .print_events import PrintEventBridge

# Usage rows are polled this often besides WebSocket wake-ups (a missed event costs at most this).
CONSUMPTION_POLL_INTERVAL = timedelta(seconds=60)


def sync_interval(entry: FilamanBambuddyConfigEntry) -> timedelta:
    return timedelta(seconds=entry.options.get(CONF_SYNC_INTERVAL, DEFAULT_SYNC_INTERVAL))


def track_periodic_work(hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> None:
    """The usage poll behind the push path, and what follows an inventory sync.

    (The periodic sync is the inventory coordinator's own interval, started by the hub.)
    """
    data = entry.runtime_data

    async def poll_usage(_now: datetime) -> None:
        await async_wake_consumption(hass, entry, "poll")

    @callback
    def inventory_synced() -> None:
        data.coordinator.async_inventory_synced()
        result = data.hub.inventory.last_result
        if result is not None and result.complete and data.consumption.pending_count:
            # FilaMan answers again: debits owed since it was down need not wait for the poll.
            wake_consumption_soon(hass, entry, "filaman_reachable")

    entry.async_on_unload(
        async_track_time_interval(
            hass, poll_usage, CONSUMPTION_POLL_INTERVAL, name=f"{DOMAIN} usage poll"
        )
    )
    entry.async_on_unload(data.hub.inventory.async_add_listener(inventory_synced))


def wire_live_events(
    hass: HomeAssistant, entry: FilamanBambuddyConfigEntry, bridge: PrintEventBridge
) -> None:
    """Route WebSocket events and connection changes to this printer's consumers."""
    data = entry.runtime_data
    printer_id = data.coordinator.printer_id

    @callback
    def on_event(event: WsEvent) -> None:
        data.coordinator.async_handle_event(event)
        bridge.handle_ws_event(event)
        if event.printer_id != printer_id:
            return
        if isinstance(event, SpoolUsageLoggedEvent):
            wake_consumption_soon(hass, entry, "spool_usage_logged", event)
        elif isinstance(event, PrintCompleteEvent) and event.legacy_weights is not None:
            entry.async_create_background_task(
                hass,
                data.consumption.handle_legacy_print_complete(event, _slot_spools(data)),
                f"{DOMAIN} legacy print_complete",
            )

    @callback
    def on_connection(connected: bool) -> None:
        data.coordinator.async_set_live(connected)
        if connected:
            # Usage written while we were away is in Bambuddy's history; pick it up now.
            wake_consumption_soon(hass, entry, "reconnect")

    entry.async_on_unload(data.hub.live.add_listener(on_event))
    entry.async_on_unload(data.hub.live.add_connection_listener(on_connection))


@callback
def wake_consumption_soon(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    reason: str,
    event: SpoolUsageLoggedEvent | None = None,
) -> None:
    """Fire-and-forget :func:`async_wake_consumption` (cancelled with the entry)."""
    entry.async_create_background_task(
        hass, async_wake_consumption(hass, entry, reason, event), f"{DOMAIN} consumption wake"
    )


async def async_wake_consumption(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    reason: str,
    event: SpoolUsageLoggedEvent | None = None,
) -> None:
    """Let the processor run, then refresh the sensors: a run that only queued rows (FilaMan
    down) reports no debit, yet the pending count changed."""
    data = entry.runtime_data
    await data.consumption.wake(reason, event)
    await data.consumption.wait_idle()
    data.coordinator.async_update_listeners()


def _slot_spools(data: FilamanBambuddyData) -> dict[tuple[int, int], int]:
    """Bambuddy spool per slot, for the legacy print_complete path."""
    assignments = data.coordinator.data.assignments if data.coordinator.data else {}
    return {slot: assignment.spool_id for slot, assignment in assignments.items()}
