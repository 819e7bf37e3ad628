"""AMS units and slots as Home Assistant devices and entities that come and go with the hardware.

An AMS unit plugged in later gets its device and slot sensors on the next snapshot (dynamic
devices); one that is unplugged has them removed (stale devices), also one unplugged while Home
Assistant was stopped: the first snapshot after a start is held against what the registries kept.
Absence only counts while the printer is online: an offline printer reports no trays at all, and
its slots must come back unchanged when it returns.
"""

from __future__ import annotations

from collections.abc import Callable
import re
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo

from .api.models_bambuddy import EXTERNAL_AMS_ID, FIRST_AMS_HT_ID, AmsUnit, Tray
from .const import DOMAIN
from .coordinator import PrinterCoordinator, SlotAddress
from .data import FilamanBambuddyConfigEntry
from .entity import FilamanBambuddyEntity, printer_device_identifier, printer_unique_id
from .inventory.choices import spool_name
from .inventory.mapping import label_weight

type AddSlotsCallback = Callable[[list[Tray], list[AmsUnit]], None]


def ams_unit_name(ams_id: int) -> str:
    """Bambuddy's names: AMS A … D for AMS units, AMS HT 1 … for AMS-HT units."""
    if ams_id >= FIRST_AMS_HT_ID:
        return f"AMS HT {ams_id - FIRST_AMS_HT_ID + 1}"
    return f"AMS {chr(ord('A') + ams_id)}"


def slot_label(ams_id: int, tray_id: int) -> str:
    """The label the card shows: "A1".."D4", "HT1".., "Ext", "Ext 2" (the contract's form)."""
    if ams_id == EXTERNAL_AMS_ID:
        return "Ext" if tray_id == 0 else f"Ext {tray_id + 1}"
    if ams_id >= FIRST_AMS_HT_ID:
        return f"HT{ams_id - FIRST_AMS_HT_ID + 1}"
    return f"{chr(ord('A') + ams_id)}{tray_id + 1}"


def ams_unit_identifier(coordinator: PrinterCoordinator, ams_id: int) -> tuple[str, str]:
    """Device registry identifier of an AMS unit."""
    return (DOMAIN, f"{printer_unique_id(coordinator)}_ams_{ams_id}")


def ams_unit_device_info(coordinator: PrinterCoordinator, ams_id: int) -> DeviceInfo:
    """Device info of an AMS unit, under its printer."""
    printer = coordinator.config_entry.runtime_data.printer
    return DeviceInfo(
        identifiers={ams_unit_identifier(coordinator, ams_id)},
        name=f"{printer.name} {ams_unit_name(ams_id)}",
        manufacturer="Bambu Lab",
        model="AMS HT" if ams_id >= FIRST_AMS_HT_ID else "AMS",
        via_device_id=dr.async_get_device_id_by_identifier(
            coordinator.hass,
            printer_device_identifier(coordinator),
            config_entry_id=coordinator.config_entry.entry_id,
        ),
    )


class AmsSlotTracker:
    """Adds entities for new slots and units, removes those of units that are gone."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FilamanBambuddyConfigEntry,
        add_slots: AddSlotsCallback,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._coordinator = entry.runtime_data.coordinator
        self._add_slots = add_slots
        self._slots: set[SlotAddress] = set()
        self._units: set[int] = set()
        self._first_report = True

    @callback
    def start(self) -> None:
        """Add what the printer has now and follow every snapshot."""
        self._update()
        self._entry.async_on_unload(self._coordinator.async_add_listener(self._update))

    @callback
    def _update(self) -> None:
        data = self._coordinator.data
        status = data.status if data is not None else None
        if status is None or not status.connected:
            return
        trays = {(tray.ams_id, tray.tray_id): tray for tray in status.slots()}
        units = {unit.id: unit for unit in status.ams}
        new_trays = [tray for address, tray in trays.items() if address not in self._slots]
        new_units = [unit for unit_id, unit in units.items() if unit_id not in self._units]
        gone_slots = self._slots - trays.keys()
        gone_units = self._units - units.keys()
        if self._first_report:
            # What the registries kept from before this start and the printer no longer has.
            self._first_report = False
            kept_slots, kept_units = self._registered()
            gone_slots |= kept_slots - trays.keys()
            gone_units |= kept_units - units.keys()
        self._slots = set(trays)
        self._units = set(units)
        if new_trays or new_units:
            self._add_slots(new_trays, new_units)
        if gone_slots or gone_units:
            self._remove(gone_slots, gone_units)

    def _registered(self) -> tuple[set[SlotAddress], set[int]]:
        """Slots with an entity and AMS units with a device in the registries, for this entry."""
        base = printer_unique_id(self._coordinator)
        slot_id = re.compile(rf"^{re.escape(base)}_slot_(\d+)_(\d+)(?:_spool)?$")
        slots: set[SlotAddress] = set()
        for entity in er.async_entries_for_config_entry(
            er.async_get(self._hass), self._entry.entry_id
        ):
            if match := slot_id.match(entity.unique_id):
                slots.add((int(match[1]), int(match[2])))
        unit_id = re.compile(rf"^{re.escape(base)}_ams_(\d+)$")
        units: set[int] = set()
        for device in dr.async_entries_for_config_entry(
            dr.async_get(self._hass), self._entry.entry_id
        ):
            for domain, identifier in device.identifiers:
                if domain == DOMAIN and (match := unit_id.match(identifier)):
                    units.add(int(match[1]))
        return slots, units

    def _remove(self, slots: set[SlotAddress], units: set[int]) -> None:
        entity_registry = er.async_get(self._hass)
        base = printer_unique_id(self._coordinator)
        stale_ids = {f"{base}_slot_{ams_id}_{tray_id}" for ams_id, tray_id in slots}
        stale_ids |= {f"{unique_id}_spool" for unique_id in stale_ids}  # the slot's select
        stale_prefixes = tuple(f"{base}_ams_{ams_id}_" for ams_id in units)
        for entity in er.async_entries_for_config_entry(entity_registry, self._entry.entry_id):
            if entity.unique_id in stale_ids or entity.unique_id.startswith(stale_prefixes):
                entity_registry.async_remove(entity.entity_id)
        device_registry = dr.async_get(self._hass)
        for ams_id in units:
            identifier = ams_unit_identifier(self._coordinator, ams_id)
            device = device_registry.async_get_device_by_identifier(
                identifier, self._entry.entry_id
            )
            if device is not None:
                device_registry.async_update_device(
                    device.id, remove_config_entry_id=self._entry.entry_id
                )


def _hex_colour(rgba: str | None) -> str | None:
    if not rgba or len(rgba) < 6:
        return None
    return f"#{rgba[:6].upper()}"


class SlotEntity(FilamanBambuddyEntity):
    """What every per-slot entity knows: its address, its tray, and the spool linked to it."""

    def __init__(self, coordinator: PrinterCoordinator, tray: Tray) -> None:
        super().__init__(coordinator, f"slot_{tray.ams_id}_{tray.tray_id}")
        self.ams_id = tray.ams_id
        self.tray_id = tray.tray_id
        if tray.ams_id == EXTERNAL_AMS_ID:
            self._attr_translation_key = "external_slot"
            self._attr_translation_placeholders = {"slot": str(tray.tray_id + 1)}
        else:
            self._attr_translation_key = "slot"
            self._attr_translation_placeholders = {"slot": str(tray.tray_id + 1)}
            self._attr_device_info = ams_unit_device_info(coordinator, tray.ams_id)

    def current_tray(self) -> Tray | None:
        """The tray in the latest snapshot, if the printer reports it."""
        data = self.coordinator.data
        if data is None or data.status is None:
            return None
        return data.status.tray(self.ams_id, self.tray_id)

    @property
    def available(self) -> bool:
        """Unavailable while the printer is offline (it reports no trays then)."""
        return self.printer_reachable and self.current_tray() is not None

    def slot_attributes(self) -> dict[str, Any]:
        """The attributes the AMS card and automations read (exact keys are a contract)."""
        tray = self.current_tray()
        status = self.coordinator.data.status if self.coordinator.data else None
        active = status.active_tray if status is not None else None
        assignment = self.coordinator.assignment(self.ams_id, self.tray_id)
        bambuddy_spool = assignment.spool if assignment is not None else None
        filaman_id = bambuddy_spool.filaman_id if bambuddy_spool is not None else None
        filaman_spool = self.coordinator.filaman_spool(filaman_id)
        return {
            "ams_id": self.ams_id,
            "tray_id": self.tray_id,
            "slot_label": slot_label(self.ams_id, self.tray_id),
            "color": _hex_colour(tray.tray_color) if tray is not None else None,
            "material": tray.tray_type if tray is not None else None,
            "remain": tray.remain if tray is not None and tray.remain >= 0 else None,
            "active": active is not None
            and (active.ams_id, active.tray_id) == (self.ams_id, self.tray_id),
            "empty": tray.is_empty if tray is not None else True,
            "filaman_spool_id": filaman_id,
            "filaman_spool_name": spool_name(filaman_spool) if filaman_spool else None,
            "filaman_remaining_g": (
                filaman_spool.remaining_weight_g if filaman_spool is not None else None
            ),
            # What the card's bar measures the grams left against: the spool's net weight.
            "filaman_net_weight_g": (
                label_weight(filaman_spool) if filaman_spool is not None else None
            ),
            "bambuddy_spool_id": assignment.spool_id if assignment is not None else None,
            "tag_uid": tray.tag_uid if tray is not None else None,
            "tray_uuid": tray.tray_uuid if tray is not None else None,
        }
