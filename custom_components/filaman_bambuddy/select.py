"""One select per AMS slot: which FilaMan spool is in it, chosen without the card.

The options are the FilaMan spools that fit the slot (the RFID holder and the loaded material,
best first; every spool while the slot is empty), at most ``MAX_OPTIONS`` of them, plus the
spool assigned now and ``none``. Choosing one assigns it through the same path as the
``assign_spool`` action; ``none`` unassigns. An automation sets a slot's spool by its id, e.g.
from an NFC tag: ``option: "{{ state_attr(slot, 'options') | select('match', '#42 ') | first }}"``.

With thousands of spools the ranking is the expensive part, so each select keeps its options
until what they depend on changes: the tray, what is loaded where, or a fact of a FilaMan spool
that ranking reads (its name, material, colour, tag, or running empty; not every weighing).
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import SelectEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .ams import AmsSlotTracker, SlotEntity
from .api.models_bambuddy import AmsUnit, Tray
from .coordinator import PrinterCoordinator
from .data import FilamanBambuddyConfigEntry
from .inventory.choices import SpoolChoice, spool_name, spool_option
from .services.slots import (
    async_assign_filaman_spool,
    async_unassign_slot,
    loaded_spools,
    slot_choices,
    slot_tray,
)

PARALLEL_UPDATES = 1

NONE_OPTION = "none"
MAX_OPTIONS = 50


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """A spool select for every slot, added and removed with the slots."""
    coordinator = entry.runtime_data.coordinator

    @callback
    def add_slots(new_trays: list[Tray], _new_units: list[AmsUnit]) -> None:
        async_add_entities(SlotSpoolSelect(coordinator, tray) for tray in new_trays)

    AmsSlotTracker(hass, entry, add_slots).start()


def _spool_id(option: str) -> int | None:
    """The FilaMan spool id an option names (``"#42 …"``)."""
    head = option.removeprefix("#").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


class SlotSpoolSelect(SlotEntity, SelectEntity):
    """The FilaMan spool assigned to one slot."""

    def __init__(self, coordinator: PrinterCoordinator, tray: Tray) -> None:
        super().__init__(coordinator, tray)
        self._attr_unique_id = f"{self._attr_unique_id}_spool"
        self._attr_translation_key = f"{self._attr_translation_key}_spool"
        self._options_key: tuple[Any, ...] | None = None
        self._choices: list[SpoolChoice] = []

    def _assigned_filaman_id(self) -> int | None:
        assignment = self.coordinator.assignment(self.ams_id, self.tray_id)
        return assignment.spool.filaman_id if assignment and assignment.spool else None

    def _ranked(self) -> list[SpoolChoice]:
        """The fitting spools, ranked again only when something they depend on changed."""
        entry = self.coordinator.config_entry
        spools = self.coordinator.hub.inventory.spool_index
        key = (
            slot_tray(entry, self.ams_id, self.tray_id),
            spools.generation,
            tuple(sorted(loaded_spools(self.hass, entry, (self.ams_id, self.tray_id)).items())),
        )
        if key != self._options_key:
            self._options_key = key
            self._choices = slot_choices(
                self.hass, entry, self.ams_id, self.tray_id, spools, limit=MAX_OPTIONS
            )
        return self._choices

    @property
    def options(self) -> list[str]:
        """``none``, the fitting spools, and the assigned one wherever it ranks."""
        options = [NONE_OPTION, *(choice.option for choice in self._ranked())]
        current = self.current_option
        if current is not None and current not in options:
            options.append(current)
        return options

    @property
    def current_option(self) -> str | None:
        """The assigned spool; ``none`` for an empty assignment; unknown if not FilaMan's."""
        assignment = self.coordinator.assignment(self.ams_id, self.tray_id)
        if assignment is None:
            return NONE_OPTION
        filaman_id = self._assigned_filaman_id()
        spool = self.coordinator.filaman_spool(filaman_id)
        if spool is None:
            return None  # Bambuddy's own spool, or one FilaMan does not list (any more)
        return spool_option(spool.id, spool_name(spool))

    async def async_select_option(self, option: str) -> None:
        """Assign the chosen spool, or clear the slot for ``none``."""
        entry = self.coordinator.config_entry
        if option == NONE_OPTION:
            if self.coordinator.assignment(self.ams_id, self.tray_id) is not None:
                await async_unassign_slot(entry, self.ams_id, self.tray_id)
            return
        spool_id = _spool_id(option)
        assert spool_id is not None  # Home Assistant only passes listed options
        await async_assign_filaman_spool(entry, spool_id, self.ams_id, self.tray_id)
