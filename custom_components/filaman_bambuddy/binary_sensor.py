"""Binary sensors: is the printer online, and does inventory sync keep failing."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator
from .data import FilamanBambuddyConfigEntry
from .entity import FilamanBambuddyEntity

PARALLEL_UPDATES = 0

# Failed runs in a row before a sync problem is reported (one hiccup is not a problem).
SYNC_FAILURES_FOR_PROBLEM = 3


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the printer's binary sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities([OnlineSensor(coordinator), SyncProblemSensor(coordinator)])


class OnlineSensor(FilamanBambuddyEntity, BinarySensorEntity):
    """The printer is connected to Bambuddy (``printer_status.data.connected``)."""

    _attr_translation_key = "online"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY

    def __init__(self, coordinator: PrinterCoordinator) -> None:
        super().__init__(coordinator, "online")

    @property
    def is_on(self) -> bool | None:
        """Online as Bambuddy last reported it."""
        status = self.coordinator.data.status
        return None if status is None else status.connected


class SyncProblemSensor(FilamanBambuddyEntity, BinarySensorEntity):
    """Inventory sync has failed several times in a row."""

    _attr_translation_key = "sync_problem"
    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: PrinterCoordinator) -> None:
        super().__init__(coordinator, "sync_problem")

    @property
    def available(self) -> bool:
        """Sync health does not depend on the WebSocket."""
        return True

    @property
    def is_on(self) -> bool:
        """On after several failed runs in a row; off after the next successful one."""
        inventory = self.coordinator.hub.inventory
        return inventory.consecutive_failures >= SYNC_FAILURES_FOR_PROBLEM
