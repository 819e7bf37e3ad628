"""Base entity: device info and availability shared by every platform."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import PrinterCoordinator


def printer_device_identifier(coordinator: PrinterCoordinator) -> tuple[str, str]:
    """The device registry identifier of the printer device."""
    return (DOMAIN, printer_unique_id(coordinator))


def printer_unique_id(coordinator: PrinterCoordinator) -> str:
    """Stable id of the printer: the entry's unique id (the printer's serial number)."""
    entry = coordinator.config_entry
    return entry.unique_id or entry.entry_id


def server_device_identifier(coordinator: PrinterCoordinator) -> tuple[str, str]:
    """The device registry identifier of the Bambuddy server device."""
    return (DOMAIN, f"server_{coordinator.hub.key}")


class FilamanBambuddyEntity(CoordinatorEntity[PrinterCoordinator]):
    """An entity on the printer device, unavailable while the live link is down."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: PrinterCoordinator, key: str) -> None:
        super().__init__(coordinator)
        self._attr_unique_id = f"{printer_unique_id(coordinator)}_{key}"
        # The printer device itself is registered at setup (under the server device).
        self._attr_device_info = DeviceInfo(identifiers={printer_device_identifier(coordinator)})

    async def async_added_to_hass(self) -> None:
        """Also follow the server's inventory coordinator (sync health)."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.hub.inventory.async_add_listener(self.async_write_ha_state)
        )

    @property
    def available(self) -> bool:
        """Live entities need the WebSocket: without it their state would be stale."""
        return self.live

    @property
    def live(self) -> bool:
        """The WebSocket is up and the coordinator holds a snapshot."""
        data = self.coordinator.data
        return self.coordinator.last_update_success and data is not None and data.live

    @property
    def printer_reachable(self) -> bool:
        """Live and the printer connected to Bambuddy: only then is its state current."""
        data = self.coordinator.data
        return self.live and data.status is not None and data.status.connected
