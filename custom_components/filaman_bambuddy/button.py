"""Buttons: Sync now and Full resync on the printer device."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator
from .data import FilamanBambuddyConfigEntry
from .entity import FilamanBambuddyEntity
from .services.sync import async_full_resync, async_sync

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class SyncButtonDescription(ButtonEntityDescription):
    """A button that runs one kind of sync on the entry's Bambuddy server."""

    press_fn: Callable[[PrinterCoordinator], Awaitable[Any]]


BUTTONS: tuple[SyncButtonDescription, ...] = (
    SyncButtonDescription(
        key="sync_now",
        translation_key="sync_now",
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda coordinator: async_sync(coordinator.config_entry, "button"),
    ),
    SyncButtonDescription(
        key="full_resync",
        translation_key="full_resync",
        entity_category=EntityCategory.CONFIG,
        # Deletes every Bambuddy spool before re-creating them: not for an accidental tap.
        entity_registry_enabled_default=False,
        press_fn=lambda coordinator: async_full_resync(
            coordinator.hass, coordinator.config_entry, force=False
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sync buttons."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(SyncButton(coordinator, description) for description in BUTTONS)


class SyncButton(FilamanBambuddyEntity, ButtonEntity):
    """Runs a sync when pressed; works while the WebSocket is down."""

    entity_description: SyncButtonDescription

    def __init__(self, coordinator: PrinterCoordinator, description: SyncButtonDescription) -> None:
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Sync talks REST only."""
        return True

    async def async_press(self) -> None:
        """Run the sync and wait for it: an incomplete run raises, so the UI says so."""
        await self.entity_description.press_fn(self.coordinator)
