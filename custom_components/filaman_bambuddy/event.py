"""Event entity: a print on this printer finished (completed, failed, aborted or cancelled)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator
from .data import FilamanBambuddyConfigEntry
from .entity import FilamanBambuddyEntity
from .print_events import PRINT_STATUSES, print_finished_signal

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the print-finished event entity."""
    async_add_entities([PrintFinishedEvent(entry.runtime_data.coordinator)])


class PrintFinishedEvent(FilamanBambuddyEntity, EventEntity):
    """Fires once per finished print, with the job name and the grams debited."""

    _attr_translation_key = "print_finished"

    def __init__(self, coordinator: PrinterCoordinator) -> None:
        super().__init__(coordinator, "print_finished")
        self._attr_event_types = list(PRINT_STATUSES)

    @property
    def available(self) -> bool:
        """Events keep their last value; the entity itself does not go stale."""
        return True

    async def async_added_to_hass(self) -> None:
        """Subscribe to this entry's print-finished signal."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                print_finished_signal(self.coordinator.config_entry.entry_id),
                self._handle_print_finished,
            )
        )

    @callback
    def _handle_print_finished(self, status: str, attributes: dict[str, Any]) -> None:
        self._trigger_event(status, attributes)
        self.async_write_ha_state()
