"""Rows of the simulated FilaMan database (one dataclass per table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonDict = dict[str, Any]


@dataclass
class SpoolStatus:
    id: int
    key: str
    label: str
    description: str
    sort_order: int


# Seeded exactly as FilaMan seeds them (examples/spool_statuses.json).
SPOOL_STATUSES: tuple[SpoolStatus, ...] = (
    SpoolStatus(1, "new", "New", "New spool, not yet used", 1),
    SpoolStatus(2, "opened", "Opened", "Spool opened but not yet in use", 2),
    SpoolStatus(3, "drying", "Drying", "Currently drying in dryer", 3),
    SpoolStatus(4, "active", "Active", "Currently in use", 4),
    SpoolStatus(5, "empty", "Empty", "No filament remaining", 5),
    SpoolStatus(6, "archived", "Archived", "Archived, no longer in use", 6),
)
STATUS_ID_BY_KEY: dict[str, int] = {status.key: status.id for status in SPOOL_STATUSES}


@dataclass
class User:
    id: int
    email: str
    display_name: str | None
    role: str
    is_superadmin: bool = False
    language: str = "en"


@dataclass
class ApiKey:
    id: int
    user_id: int
    name: str
    secret: str
    created_at: datetime


@dataclass
class Manufacturer:
    id: int
    name: str
    url: str | None = None
    empty_spool_weight_g: float | None = None
    spool_outer_diameter_mm: float | None = None
    spool_width_mm: float | None = None
    spool_material: str | None = None
    custom_fields: JsonDict | None = None


@dataclass
class Color:
    id: int
    name: str
    hex_code: str
    custom_fields: JsonDict | None = None


@dataclass
class FilamentColor:
    """Link row between a filament and a colour, ordered by `position`."""

    id: int
    color_id: int
    position: int
    display_name_override: str | None = None


@dataclass
class Filament:
    id: int
    manufacturer_id: int
    designation: str
    material_type: str
    material_subgroup: str | None = None
    diameter_mm: float = 1.75
    manufacturer_color_name: str | None = None
    finish_type: str | None = None
    raw_material_weight_g: float | None = 1000.0
    default_spool_weight_g: float | None = 250.0
    spool_outer_diameter_mm: float | None = None
    spool_width_mm: float | None = None
    spool_material: str | None = None
    price: float | None = None
    shop_url: str | None = None
    density_g_cm3: float | None = None
    color_mode: str = "single"
    multi_color_style: str | None = None
    custom_fields: JsonDict | None = None
    colors: list[FilamentColor] = field(default_factory=list)


@dataclass
class Location:
    id: int
    name: str
    identifier: str | None = None
    custom_fields: JsonDict | None = None


@dataclass
class Spool:
    id: int
    filament_id: int
    status_id: int
    created_at: datetime
    lot_number: str | None = None
    rfid_uid: str | None = None
    external_id: str | None = None
    location_id: int | None = None
    purchase_date: datetime | None = None
    purchase_price: float | None = None
    stocked_in_at: datetime | None = None
    last_used_at: datetime | None = None
    initial_total_weight_g: float | None = None
    empty_spool_weight_g: float | None = None
    remaining_weight_g: float | None = None
    spool_outer_diameter_mm: float | None = None
    spool_width_mm: float | None = None
    spool_material: str | None = None
    low_weight_threshold_g: int = 100
    custom_fields: JsonDict | None = None


@dataclass
class SpoolEvent:
    id: int
    spool_id: int
    event_type: str
    event_at: datetime
    user_id: int | None = None
    device_id: int | None = None
    source: str | None = None
    delta_weight_g: float | None = None
    measured_weight_g: float | None = None
    from_status_id: int | None = None
    to_status_id: int | None = None
    from_location_id: int | None = None
    to_location_id: int | None = None
    note: str | None = None
    meta: JsonDict | None = None


@dataclass
class Printer:
    id: int
    name: str
    driver_key: str
    driver_config: JsonDict | None = None
    location_id: int | None = None
    is_active: bool = True
    custom_fields: JsonDict | None = None
    driver_running: bool = False
    slots: list[JsonDict] = field(default_factory=list)


@dataclass
class PrinterParam:
    """One printer param row; exactly one of spool_id / filament_id is set."""

    id: int
    printer_id: int
    param_key: str
    param_value: str | None
    spool_id: int | None = None
    filament_id: int | None = None
