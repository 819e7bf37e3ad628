"""What one Bambuddy server shares between all the config entries (printers) that point at it.

Bambuddy has one WebSocket and one inventory per server, so the live session, the inventory
coordinator and the FilaMan change watcher exist once per server, not once per printer: two
printers on one server must never run two syncs at once or hold two sockets. The hub is created
by the first entry that loads and closed when the last one unloads.

Entries share a hub only when they also use the same keys and the same FilaMan: after a reauth
or reconfigure one entry may hold a new key while another still holds the revoked one, and the
updated entry must not keep talking through the old entry's clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
import hashlib
import logging

from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .api import AuthenticationError, BambuddyClient, FilamanClient
from .api.bambuddy_live import BambuddyLiveSession
from .api.events import WsEvent
from .const import DOMAIN
from .coordinator import InventoryCoordinator
from .inventory.watcher import FilamanChangeWatcher
from .validation import normalize_url

_LOGGER = logging.getLogger(__name__)

DATA_HUBS: HassKey[dict[str, BambuddyHub]] = HassKey(f"{DOMAIN}_hubs")

# A live session that dies of an unexpected error is restarted after this pause (seconds).
LIVE_RESTART_DELAY = 5.0


class BambuddyHub:
    """The live session, the inventory coordinator and the FilaMan watcher of one server."""

    def __init__(
        self,
        hass: HomeAssistant,
        key: str,
        share_id: str,
        bambuddy: BambuddyClient,
        filaman: FilamanClient,
        *,
        filaman_printer_id: int | None,
        reconnect_interval: float,
        sync_interval: timedelta,
    ) -> None:
        self.hass = hass
        self.key = key  # the server (names, the server device); holds no secret
        self.share_id = share_id  # which entries may share this hub
        self.bambuddy = bambuddy
        self.filaman = filaman
        self.live = BambuddyLiveSession(bambuddy, reconnect_interval=reconnect_interval)
        self.inventory = InventoryCoordinator(
            hass,
            bambuddy,
            filaman,
            name=f"{DOMAIN} inventory {key}",
            filaman_printer_id=filaman_printer_id,
            sync_interval=sync_interval,
        )
        self.watcher = FilamanChangeWatcher(filaman, self.inventory)
        self.entry_ids: set[str] = set()
        self._auth_failed_listeners: list[Callable[[], None]] = []
        self._live_task: asyncio.Task[None] | None = None
        self._closing = False
        self._remove_inventory_listener = self.live.add_listener(self._on_event)
        bambuddy.on_key_rejected(self._key_rejected)
        filaman.on_key_rejected(self._key_rejected)

    @callback
    def start(self) -> None:
        """Start the background work (idempotent)."""
        if self._live_task is None or self._live_task.done():
            self._live_task = self.hass.async_create_background_task(
                self._run_live(), f"{DOMAIN} live session {self.key}"
            )
        self.watcher.start()
        self.inventory.async_start_interval()
        self.inventory.async_sync_soon("startup")

    def add_auth_failed_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` when Bambuddy rejects the API key (it starts a reauth flow)."""
        self._auth_failed_listeners.append(listener)
        return lambda: self._auth_failed_listeners.remove(listener)

    @callback
    def _key_rejected(self) -> None:
        """A server answered 401 to one of our requests: ask the user for a new key."""
        for listener in list(self._auth_failed_listeners):
            listener()

    @callback
    def _on_event(self, event: WsEvent) -> None:
        # Someone edited Bambuddy's inventory: put FilaMan's picture back.
        if event.type == "inventory_changed":
            self.inventory.async_bambuddy_inventory_changed()
        elif event.type == "spool_auto_assigned":
            # Bambuddy matched, tagged or created a spool from an RFID tray by itself, with no
            # inventory_changed: adopt it now, before a print books grams to it unlinked.
            self.inventory.async_request_sync("spool_auto_assigned")

    async def _run_live(self) -> None:
        """Keep the live session running; it reconnects by itself, this only survives crashes."""
        while not self._closing:
            try:
                await self.live.run()
            except AuthenticationError:
                _LOGGER.warning("Bambuddy rejected the API key; please re-authenticate")
                self._key_rejected()
                return
            except Exception:
                _LOGGER.exception("Bambuddy live session stopped unexpectedly; restarting")
            if not self._closing:
                await asyncio.sleep(LIVE_RESTART_DELAY)

    async def async_close(self) -> None:
        """Stop everything this hub started; nothing is left running."""
        self._closing = True
        self._remove_inventory_listener()
        self.bambuddy.on_key_rejected(None)
        self.filaman.on_key_rejected(None)
        await self.watcher.stop()
        await self.inventory.async_shutdown()
        await self.live.close()
        if self._live_task is not None:
            self._live_task.cancel()
            await asyncio.gather(self._live_task, return_exceptions=True)
            self._live_task = None


def hub_key(bambuddy_url: str) -> str:
    """The Bambuddy server a hub talks to (normalised URL)."""
    return normalize_url(bambuddy_url)


def hub_share_id(
    bambuddy_url: str, bambuddy_api_key: str, filaman_url: str, filaman_api_key: str
) -> str:
    """Entries with equal ids share a hub: same servers, same keys (only a digest is kept)."""
    secret = "\n".join((bambuddy_api_key, normalize_url(filaman_url), filaman_api_key))
    digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
    return f"{hub_key(bambuddy_url)}#{digest}"


def async_get_hub(hass: HomeAssistant, share_id: str) -> BambuddyHub | None:
    """Return the running hub entries with this share id use, if any."""
    return hass.data.get(DATA_HUBS, {}).get(share_id)


def async_add_hub(hass: HomeAssistant, hub: BambuddyHub) -> None:
    """Remember a new hub."""
    hass.data.setdefault(DATA_HUBS, {})[hub.share_id] = hub


async def async_release_hub(hass: HomeAssistant, hub: BambuddyHub, entry_id: str) -> None:
    """Detach an entry; the last one out closes the hub. Calling it twice is harmless."""
    if entry_id not in hub.entry_ids:
        return
    hub.entry_ids.discard(entry_id)
    if hub.entry_ids:
        return
    hass.data.get(DATA_HUBS, {}).pop(hub.share_id, None)
    await hub.async_close()
