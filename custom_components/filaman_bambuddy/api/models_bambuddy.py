"""Typed views of Bambuddy 1.2.5.2 payloads (REST and WebSocket).

Parsing is lenient: unknown fields are ignored, missing optional fields read as
``None`` or the server's default, string numbers are coerced and naive datetimes
are UTC. A missing or malformed identity field raises :class:`ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
import re
from typing import Any, Self

from ._coerce import (
    JsonObject,
    bool_or,
    float_or,
    int_or,
    objects,
    opt_datetime,
    opt_float,
    opt_int,
    opt_str,
    required_int,
    to_bool,
    to_float,
    to_int,
)

EXTERNAL_AMS_ID = 255
"""Inventory unit address of the external spool holders (``vt_tray`` 254/255)."""
FIRST_EXTERNAL_TRAY_ID = 254
"""Reported ``vt_tray`` id (and global tray id) of the first external holder."""
FIRST_AMS_HT_ID = 128
"""AMS-HT units report ids 128-135 and hold a single tray."""
NO_TRAY_LOADED = 255
"""``tray_now`` value meaning nothing is loaded (single-extruder printers)."""

_LINK_NOTE = re.compile(r"filaman:([0-9]+)")


def link_note(filaman_spool_id: int) -> str:
    """The Bambuddy spool ``note`` that links it to a FilaMan spool."""
    return f"filaman:{filaman_spool_id}"


def global_tray_id(ams_id: int, tray_id: int) -> int:
    """Global tray id (``tray_now``, ``ams_mapping``) of an inventory slot address."""
    if ams_id == EXTERNAL_AMS_ID:
        return FIRST_EXTERNAL_TRAY_ID + tray_id
    if ams_id >= FIRST_AMS_HT_ID:
        return ams_id
    return ams_id * 4 + tray_id


def slot_from_global_tray_id(tray: int) -> tuple[int, int]:
    """Inventory slot address ``(ams_id, tray_id)`` of a global tray id.

    255 maps to the second external holder; on single-extruder printers it means
    "nothing loaded", so check that the slot exists (see
    :meth:`PrinterStatus.active_tray`).
    """
    if tray >= FIRST_EXTERNAL_TRAY_ID:
        return (EXTERNAL_AMS_ID, tray - FIRST_EXTERNAL_TRAY_ID)
    if tray >= FIRST_AMS_HT_ID:
        return (tray, 0)
    return (tray // 4, tray % 4)


def slot_label(ams_id: int, tray_id: int) -> str:
    """Bambuddy's slot label: unit letter + 1-based tray (``(0, 1)`` → ``"A2"``)."""
    if ams_id == EXTERNAL_AMS_ID:
        return "Ext" if tray_id == 0 else f"Ext{tray_id + 1}"
    if ams_id >= FIRST_AMS_HT_ID:
        return f"HT-{chr(ord('A') + ams_id - FIRST_AMS_HT_ID)}"
    return f"{chr(ord('A') + ams_id)}{tray_id + 1}"


@dataclass(frozen=True, slots=True)
class AuthStatus:
    """``GET /auth/status``: with auth disabled no key can be validated."""

    auth_enabled: bool
    requires_setup: bool

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            auth_enabled=bool_or(data, "auth_enabled", False),
            requires_setup=bool_or(data, "requires_setup", False),
        )


@dataclass(frozen=True, slots=True)
class Printer:
    """A printer managed by Bambuddy (``GET /printers/``)."""

    id: int
    name: str
    model: str | None
    serial_number: str | None
    is_active: bool = True
    nozzle_count: int | None = None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        printer_id = required_int(data, "id", "printer")
        return cls(
            id=printer_id,
            name=opt_str(data, "name") or f"Printer {printer_id}",
            model=opt_str(data, "model"),
            serial_number=opt_str(data, "serial_number"),
            is_active=bool_or(data, "is_active", True),
            nozzle_count=opt_int(data, "nozzle_count"),
        )


def _tag(value: Any) -> str | None:
    """RFID tag/UUID; empty and all-zero values mean "no tag"."""
    if not isinstance(value, str) or not value.strip("0 "):
        return None
    return value


@dataclass(frozen=True, slots=True)
class Tray:
    """One AMS tray or external holder, with its inventory slot address.

    ``ams_id``/``tray_id`` is the address used by assignments and usage rows
    (AMS-HT: ``(unit, 0)``; external 254/255: ``(255, 0)``/``(255, 1)``); ``id`` is
    the id the printer reports (index within the unit, or 254/255 for external).
    """

    ams_id: int
    tray_id: int
    id: int
    tray_type: str | None = None
    tray_sub_brands: str | None = None
    tray_color: str | None = None
    tray_id_name: str | None = None
    tray_info_idx: str | None = None
    remain: int = -1
    k: float | None = None
    cali_idx: int | None = None
    tag_uid: str | None = None
    tray_uuid: str | None = None
    nozzle_temp_min: int | None = None
    nozzle_temp_max: int | None = None
    state: int | None = None
    exists: bool | None = None

    @property
    def global_tray_id(self) -> int:
        """The id the printer uses for this tray in ``tray_now`` and mappings."""
        return global_tray_id(self.ams_id, self.tray_id)

    @property
    def label(self) -> str:
        """UI label such as ``"A2"``."""
        return slot_label(self.ams_id, self.tray_id)

    @property
    def is_empty(self) -> bool:
        """No spool in the tray (state 9, ``exists`` false, or no filament type)."""
        if self.exists is False or self.state == 9:
            return True
        return not self.tray_type

    @classmethod
    def from_json(cls, data: JsonObject, *, unit_id: int | None) -> Self | None:
        """Parse a tray of AMS unit ``unit_id`` (``None`` = external ``vt_tray``).

        Returns ``None`` when the tray has no usable id.
        """
        reported = to_int(data.get("id"))
        if reported is None:
            return None
        if unit_id is None:
            ams_id = EXTERNAL_AMS_ID
            tray_id = max(reported - FIRST_EXTERNAL_TRAY_ID, 0)
        elif unit_id >= FIRST_AMS_HT_ID and unit_id != EXTERNAL_AMS_ID:
            ams_id, tray_id = unit_id, 0
        else:
            ams_id, tray_id = unit_id, reported
        return cls(
            ams_id=ams_id,
            tray_id=tray_id,
            id=reported,
            tray_type=opt_str(data, "tray_type"),
            tray_sub_brands=opt_str(data, "tray_sub_brands"),
            tray_color=opt_str(data, "tray_color"),
            tray_id_name=opt_str(data, "tray_id_name"),
            tray_info_idx=opt_str(data, "tray_info_idx"),
            remain=int_or(data, "remain", -1),
            k=opt_float(data, "k"),
            cali_idx=opt_int(data, "cali_idx"),
            tag_uid=_tag(data.get("tag_uid")),
            tray_uuid=_tag(data.get("tray_uuid")),
            nozzle_temp_min=opt_int(data, "nozzle_temp_min"),
            nozzle_temp_max=opt_int(data, "nozzle_temp_max"),
            state=opt_int(data, "state"),
            exists=to_bool(data.get("exists")),
        )


@dataclass(frozen=True, slots=True)
class AmsUnit:
    """One AMS unit (AMS, AMS Lite, AMS 2 Pro, AMS-HT)."""

    id: int
    humidity: int | None
    temp: float | None
    is_ams_ht: bool
    module_type: str | None
    trays: tuple[Tray, ...]
    serial_number: str | None = None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self | None:
        """Parse a unit; ``None`` when it has no usable id."""
        unit_id = to_int(data.get("id"))
        if unit_id is None:
            return None
        trays = (Tray.from_json(tray, unit_id=unit_id) for tray in objects(data.get("tray")))
        return cls(
            id=unit_id,
            humidity=opt_int(data, "humidity"),
            temp=opt_float(data, "temp"),
            is_ams_ht=bool_or(data, "is_ams_ht", unit_id >= FIRST_AMS_HT_ID),
            module_type=opt_str(data, "module_type"),
            trays=tuple(tray for tray in trays if tray is not None),
            serial_number=opt_str(data, "serial_number"),
        )


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """A full live snapshot of one printer (REST ``/printers/{id}/status`` or WS ``data``).

    ``remaining_time_min`` is in minutes. ``state`` is ``None`` when Bambuddy
    holds no live state and ``"unknown"`` before the first report.
    """

    printer_id: int
    name: str | None
    model: str | None
    connected: bool
    state: str | None
    progress: float | None
    remaining_time_min: int | None
    subtask_name: str | None
    gcode_file: str | None
    layer_num: int | None
    total_layers: int | None
    tray_now: int | None
    ams: tuple[AmsUnit, ...]
    vt_trays: tuple[Tray, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    current_print: str | None = None
    bed_temp: float | None = None
    bed_target_temp: float | None = None
    nozzle_temp: float | None = None
    nozzle_target_temp: float | None = None
    wifi_signal: int | None = None
    hms_error_count: int = 0
    awaiting_plate_clear: bool = False

    @classmethod
    def from_json(cls, data: JsonObject, *, printer_id: int | None = None) -> Self:
        """Parse a status; ``printer_id`` is given for WS frames (REST has ``id``)."""
        if printer_id is None:
            printer_id = required_int(data, "id", "printer status")
        temperatures = data.get("temperatures")
        temps: JsonObject = temperatures if isinstance(temperatures, Mapping) else {}
        units = (AmsUnit.from_json(unit) for unit in objects(data.get("ams")))
        vt_trays = (Tray.from_json(tray, unit_id=None) for tray in objects(data.get("vt_tray")))
        hms_errors = data.get("hms_errors")
        return cls(
            printer_id=printer_id,
            name=opt_str(data, "name"),
            model=opt_str(data, "model"),
            connected=bool_or(data, "connected", False),
            state=opt_str(data, "state"),
            progress=opt_float(data, "progress"),
            remaining_time_min=opt_int(data, "remaining_time"),
            subtask_name=opt_str(data, "subtask_name"),
            gcode_file=opt_str(data, "gcode_file"),
            layer_num=opt_int(data, "layer_num"),
            total_layers=opt_int(data, "total_layers"),
            tray_now=opt_int(data, "tray_now"),
            ams=tuple(unit for unit in units if unit is not None),
            vt_trays=tuple(tray for tray in vt_trays if tray is not None),
            raw=data,
            current_print=opt_str(data, "current_print"),
            bed_temp=to_float(temps.get("bed")),
            bed_target_temp=to_float(temps.get("bed_target")),
            nozzle_temp=to_float(temps.get("nozzle")),
            nozzle_target_temp=to_float(temps.get("nozzle_target")),
            wifi_signal=opt_int(data, "wifi_signal"),
            hms_error_count=len(hms_errors) if isinstance(hms_errors, list) else 0,
            awaiting_plate_clear=bool_or(data, "awaiting_plate_clear", False),
        )

    def slots(self) -> tuple[Tray, ...]:
        """Every AMS tray then every external holder, each with its slot address."""
        return tuple(tray for unit in self.ams for tray in unit.trays) + self.vt_trays

    def tray(self, ams_id: int, tray_id: int) -> Tray | None:
        """The tray at an inventory slot address, if the printer reports it."""
        for candidate in self.slots():
            if (candidate.ams_id, candidate.tray_id) == (ams_id, tray_id):
                return candidate
        return None

    def unit(self, ams_id: int) -> AmsUnit | None:
        """The AMS unit with this id."""
        return next((unit for unit in self.ams if unit.id == ams_id), None)

    @property
    def active_tray(self) -> Tray | None:
        """The tray feeding the extruder (from ``tray_now``), if it exists."""
        if self.tray_now is None:
            return None
        return self.tray(*slot_from_global_tray_id(self.tray_now))


@dataclass(frozen=True, slots=True)
class BambuddySpool:
    """A Bambuddy inventory spool. Remaining grams = ``label_weight - weight_used``."""

    id: int
    material: str
    subtype: str | None = None
    brand: str | None = None
    color_name: str | None = None
    rgba: str | None = None
    label_weight: int = 1000
    core_weight: int = 250
    weight_used: float = 0.0
    weight_locked: bool = False
    note: str | None = None
    tag_uid: str | None = None
    tray_uuid: str | None = None
    slicer_filament: str | None = None
    slicer_filament_name: str | None = None
    nozzle_temp_min: int | None = None
    nozzle_temp_max: int | None = None
    cost_per_kg: float | None = None
    archived_at: datetime | None = None
    extra_colors: str | None = None
    effect_type: str | None = None
    storage_location: str | None = None
    data_origin: str | None = None
    last_used: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def filaman_id(self) -> int | None:
        """FilaMan spool id when ``note`` is exactly ``filaman:<digits>``."""
        match = _LINK_NOTE.fullmatch(self.note or "")
        return int(match.group(1)) if match else None

    @property
    def remaining_weight(self) -> float:
        """Net grams left according to Bambuddy."""
        return self.label_weight - self.weight_used

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            id=required_int(data, "id", "spool"),
            material=opt_str(data, "material") or "",
            subtype=opt_str(data, "subtype"),
            brand=opt_str(data, "brand"),
            color_name=opt_str(data, "color_name"),
            rgba=opt_str(data, "rgba"),
            label_weight=int_or(data, "label_weight", 1000),
            core_weight=int_or(data, "core_weight", 250),
            weight_used=float_or(data, "weight_used", 0.0),
            weight_locked=bool_or(data, "weight_locked", False),
            note=opt_str(data, "note"),
            tag_uid=opt_str(data, "tag_uid"),
            tray_uuid=opt_str(data, "tray_uuid"),
            slicer_filament=opt_str(data, "slicer_filament"),
            slicer_filament_name=opt_str(data, "slicer_filament_name"),
            nozzle_temp_min=opt_int(data, "nozzle_temp_min"),
            nozzle_temp_max=opt_int(data, "nozzle_temp_max"),
            cost_per_kg=opt_float(data, "cost_per_kg"),
            archived_at=opt_datetime(data, "archived_at"),
            extra_colors=opt_str(data, "extra_colors"),
            effect_type=opt_str(data, "effect_type"),
            storage_location=opt_str(data, "storage_location"),
            data_origin=opt_str(data, "data_origin"),
            last_used=opt_datetime(data, "last_used"),
            created_at=opt_datetime(data, "created_at"),
            updated_at=opt_datetime(data, "updated_at"),
        )


@dataclass(frozen=True, slots=True)
class Assignment:
    """A spool bound to a printer slot.

    ``configured``/``pending_config`` are meaningful only in the response of
    ``POST /inventory/assignments``; the list always says ``false``.
    """

    id: int
    spool_id: int
    printer_id: int
    ams_id: int
    tray_id: int
    configured: bool
    pending_config: bool
    spool: BambuddySpool | None
    printer_name: str | None = None
    fingerprint_color: str | None = None
    fingerprint_type: str | None = None
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        spool = data.get("spool")
        return cls(
            id=required_int(data, "id", "assignment"),
            spool_id=required_int(data, "spool_id", "assignment"),
            printer_id=required_int(data, "printer_id", "assignment"),
            ams_id=required_int(data, "ams_id", "assignment"),
            tray_id=required_int(data, "tray_id", "assignment"),
            configured=bool_or(data, "configured", False),
            pending_config=bool_or(data, "pending_config", False),
            spool=BambuddySpool.from_json(spool) if isinstance(spool, Mapping) else None,
            printer_name=opt_str(data, "printer_name"),
            fingerprint_color=opt_str(data, "fingerprint_color"),
            fingerprint_type=opt_str(data, "fingerprint_type"),
            created_at=opt_datetime(data, "created_at"),
        )


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One row of Bambuddy's consumption ledger; ``id`` increases monotonically."""

    id: int
    spool_id: int
    printer_id: int | None
    print_name: str | None
    weight_used: float
    percent_used: int | None
    status: str | None
    cost: float | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            id=required_int(data, "id", "usage row"),
            spool_id=required_int(data, "spool_id", "usage row"),
            printer_id=opt_int(data, "printer_id"),
            print_name=opt_str(data, "print_name"),
            weight_used=float_or(data, "weight_used", 0.0),
            percent_used=opt_int(data, "percent_used"),
            status=opt_str(data, "status"),
            cost=opt_float(data, "cost"),
            created_at=opt_datetime(data, "created_at"),
        )


@dataclass(frozen=True, slots=True)
class PrintArchive:
    """A print Bambuddy archived (auto-archive is on by default), with its slicer estimate."""

    id: int
    printer_id: int | None
    print_name: str | None
    status: str | None
    filament_used_grams: float | None
    """The 3MF's estimate for the whole print, all filaments together."""
    started_at: datetime | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            id=required_int(data, "id", "archive"),
            printer_id=opt_int(data, "printer_id"),
            print_name=opt_str(data, "print_name"),
            status=opt_str(data, "status"),
            filament_used_grams=opt_float(data, "filament_used_grams"),
            started_at=opt_datetime(data, "started_at"),
            created_at=opt_datetime(data, "created_at"),
        )


def _stored_flag(value: Any) -> bool:
    # /settings/spoolman stores booleans as strings: "false" must read as False.
    return str(value).lower() == "true"


@dataclass(frozen=True, slots=True)
class BambuddySettings:
    """``GET /settings/spoolman``: whether Bambuddy reports usage to Spoolman itself."""

    spoolman_enabled: bool
    spoolman_url: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            spoolman_enabled=_stored_flag(data.get("spoolman_enabled")),
            spoolman_url=opt_str(data, "spoolman_url") or None,
            raw=data,
        )
