"""Sensors: one per AMS slot, the print job, AMS climate, and the health of sync and consumption."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfMass,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .ams import AmsSlotTracker, SlotEntity, ams_unit_device_info
from .api.models_bambuddy import AmsUnit, PrinterStatus, Tray
from .coordinator import PrinterCoordinator
from .data import FilamanBambuddyConfigEntry
from .entity import FilamanBambuddyEntity

# Every sensor reads pushed state; none does I/O on update.
PARALLEL_UPDATES = 0

PRINT_STATES = ["idle", "prepare", "slicing", "running", "pause", "finish", "failed", "unknown"]
SYNC_RESULTS = ["success", "partial", "failed"]


@dataclass(frozen=True, kw_only=True)
class PrinterSensorDescription(SensorEntityDescription):
    """A printer sensor computed from the latest status snapshot."""

    value_fn: Callable[[PrinterStatus], Any]


def _print_state(status: PrinterStatus) -> str:
    state = (status.state or "unknown").lower()
    return state if state in PRINT_STATES else "unknown"


PRINTER_SENSORS: tuple[PrinterSensorDescription, ...] = (
    PrinterSensorDescription(
        key="print_state",
        translation_key="print_state",
        device_class=SensorDeviceClass.ENUM,
        options=PRINT_STATES,
        value_fn=_print_state,
    ),
    PrinterSensorDescription(
        key="current_job",
        translation_key="current_job",
        value_fn=lambda status: status.subtask_name or status.gcode_file,
    ),
    PrinterSensorDescription(
        key="progress",
        translation_key="progress",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: status.progress,
    ),
    PrinterSensorDescription(
        key="remaining_time",
        translation_key="remaining_time",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        value_fn=lambda status: status.remaining_time_min,
    ),
)


@dataclass(frozen=True, kw_only=True)
class AmsSensorDescription(SensorEntityDescription):
    """An AMS unit's climate reading."""

    value_fn: Callable[[AmsUnit], float | int | None]


AMS_SENSORS: tuple[AmsSensorDescription, ...] = (
    AmsSensorDescription(
        key="ams_humidity",
        translation_key="ams_humidity",
        device_class=SensorDeviceClass.HUMIDITY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda unit: unit.humidity,
    ),
    AmsSensorDescription(
        key="ams_temperature",
        translation_key="ams_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda unit: unit.temp,
    ),
)


@dataclass(frozen=True, kw_only=True)
class HealthSensorDescription(SensorEntityDescription):
    """Sync and consumption health, read from the entry's runtime data."""

    value_fn: Callable[[FilamanBambuddyConfigEntry], Any]
    attributes_fn: Callable[[FilamanBambuddyConfigEntry], dict[str, Any] | None] = lambda _: None


def _last_sync(entry: FilamanBambuddyConfigEntry) -> datetime | None:
    result = entry.runtime_data.hub.inventory.last_success
    return None if result is None else result.finished_at


def _last_sync_result(entry: FilamanBambuddyConfigEntry) -> str | None:
    result = entry.runtime_data.hub.inventory.last_result
    if result is None:
        return None
    if result.complete:
        return "success"
    return "partial" if result.error is None else "failed"


def _last_sync_attributes(entry: FilamanBambuddyConfigEntry) -> dict[str, Any] | None:
    result = entry.runtime_data.hub.inventory.last_result
    return None if result is None else dict(result.as_dict())


def _last_debit_attributes(entry: FilamanBambuddyConfigEntry) -> dict[str, Any] | None:
    debit = entry.runtime_data.consumption.last_debit
    if debit is None:
        return None
    return {
        "filaman_spool_id": debit.filaman_spool_id,
        "grams": debit.grams,
        "print_name": debit.print_name,
        "remaining_g": debit.remaining_after,
    }


def _pending_attributes(entry: FilamanBambuddyConfigEntry) -> dict[str, Any]:
    """Grams Bambuddy booked to unlinked spools: owed, waiting for a link (see Repairs)."""
    waiting = entry.runtime_data.consumption.awaiting_links()
    return {
        "awaiting_link_grams": round(sum(link.grams for link in waiting.values()), 2),
        "awaiting_link_bambuddy_spools": sorted(waiting),
    }


def _owed_attributes(entry: FilamanBambuddyConfigEntry) -> dict[str, Any]:
    """Where the grams not in FilaMan are: on their way, or waiting for the user (Repairs)."""
    owed = entry.runtime_data.consumption.owed_grams()
    return {
        "queued_grams": owed.queued,
        "awaiting_link_grams": owed.awaiting_link,
        "held_for_review_grams": owed.held_for_review,
    }


HEALTH_SENSORS: tuple[HealthSensorDescription, ...] = (
    HealthSensorDescription(
        # The number the user's trust rests on: 0 means every booked gram is in FilaMan.
        key="grams_not_in_filaman",
        translation_key="grams_not_in_filaman",
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.GRAMS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda entry: entry.runtime_data.consumption.owed_grams().total,
        attributes_fn=_owed_attributes,
    ),
    HealthSensorDescription(
        key="last_sync",
        translation_key="last_sync",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_last_sync,
    ),
    HealthSensorDescription(
        key="linked_spools",
        translation_key="linked_spools",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda entry: entry.runtime_data.hub.inventory.linked_count,
    ),
    HealthSensorDescription(
        key="last_sync_result",
        translation_key="last_sync_result",
        device_class=SensorDeviceClass.ENUM,
        options=SYNC_RESULTS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_last_sync_result,
        attributes_fn=_last_sync_attributes,
    ),
    HealthSensorDescription(
        key="last_consumption",
        translation_key="last_consumption",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda entry: (
            debit.at if (debit := entry.runtime_data.consumption.last_debit) else None
        ),
        attributes_fn=_last_debit_attributes,
    ),
    HealthSensorDescription(
        key="pending_consumptions",
        translation_key="pending_consumptions",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda entry: entry.runtime_data.consumption.pending_count,
        attributes_fn=_pending_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the printer's sensors now and slot/AMS sensors whenever units appear."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        [PrinterSensor(coordinator, description) for description in PRINTER_SENSORS]
        + [HealthSensor(coordinator, description) for description in HEALTH_SENSORS]
    )

    @callback
    def add_slots(new_trays: list[Tray], new_units: list[AmsUnit]) -> None:
        entities: list[SensorEntity] = [SlotSensor(coordinator, tray) for tray in new_trays]
        entities += [
            AmsSensor(coordinator, unit.id, description)
            for unit in new_units
            for description in AMS_SENSORS
        ]
        async_add_entities(entities)

    AmsSlotTracker(hass, entry, add_slots).start()


class PrinterSensor(FilamanBambuddyEntity, SensorEntity):
    """Print state and job progress."""

    entity_description: PrinterSensorDescription

    def __init__(
        self, coordinator: PrinterCoordinator, description: PrinterSensorDescription
    ) -> None:
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """An unreachable printer's last job state would be stale."""
        return self.printer_reachable

    @property
    def native_value(self) -> Any:
        """The value from the latest snapshot."""
        status = self.coordinator.data.status
        return None if status is None else self.entity_description.value_fn(status)


class HealthSensor(FilamanBambuddyEntity, SensorEntity):
    """Sync and consumption health; available even while the live link is down."""

    entity_description: HealthSensorDescription

    def __init__(
        self, coordinator: PrinterCoordinator, description: HealthSensorDescription
    ) -> None:
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Sync and ledger state do not depend on the WebSocket."""
        return True

    @property
    def native_value(self) -> Any:
        """The current value."""
        return self.entity_description.value_fn(self.coordinator.config_entry)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details of the last sync or debit."""
        return self.entity_description.attributes_fn(self.coordinator.config_entry)


class AmsSensor(FilamanBambuddyEntity, SensorEntity):
    """Humidity or temperature of one AMS unit."""

    entity_description: AmsSensorDescription

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        ams_id: int,
        description: AmsSensorDescription,
    ) -> None:
        super().__init__(coordinator, f"ams_{ams_id}_{description.key}")
        self.entity_description = description
        self._ams_id = ams_id
        self._attr_device_info = ams_unit_device_info(coordinator, ams_id)

    def _unit(self) -> AmsUnit | None:
        status = self.coordinator.data.status
        return None if status is None else status.unit(self._ams_id)

    @property
    def available(self) -> bool:
        """Only while the printer is reachable and reports this unit."""
        return self.printer_reachable and self._unit() is not None

    @property
    def native_value(self) -> float | int | None:
        """The unit's reading."""
        unit = self._unit()
        return None if unit is None else self.entity_description.value_fn(unit)


class SlotSensor(SlotEntity, SensorEntity):
    """What is loaded in one AMS slot or external holder."""

    @property
    def native_value(self) -> str | None:
        """The loaded filament, e.g. "PLA Basic", or "empty"."""
        tray = self.current_tray()
        if tray is None:
            return None
        if tray.is_empty:
            return "empty"
        return tray.tray_sub_brands or tray.tray_type

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Colour, material, printer remain % and the linked FilaMan spool."""
        return self.slot_attributes()
