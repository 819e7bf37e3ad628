"""Typed views of FilaMan 1.2.20 payloads.

Weights: ``initial_total_weight_g`` is gross (filament + empty spool),
``remaining_weight_g`` is net filament, ``empty_spool_weight_g`` is the tare.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from ._coerce import (
    JsonObject,
    as_object,
    bool_or,
    objects,
    opt_datetime,
    opt_float,
    opt_int,
    opt_str,
    required_int,
    to_int,
    to_str,
)
from .errors import ProtocolError


@dataclass(frozen=True, slots=True)
class Me:
    """``GET /me``: the principal behind the API key."""

    id: int
    email: str | None
    display_name: str | None
    is_superadmin: bool
    roles: tuple[str, ...]
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        """Whether the key holds ``permission`` (a superadmin holds all)."""
        return self.is_superadmin or permission in self.permissions

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        roles = data.get("roles")
        permissions = data.get("permissions")
        return cls(
            id=required_int(data, "id", "me"),
            email=opt_str(data, "email"),
            display_name=opt_str(data, "display_name"),
            is_superadmin=bool_or(data, "is_superadmin", False),
            roles=tuple(str(role) for role in roles) if isinstance(roles, list) else (),
            permissions=(
                frozenset(str(item) for item in permissions)
                if isinstance(permissions, list)
                else frozenset()
            ),
        )


@dataclass(frozen=True, slots=True)
class Manufacturer:
    id: int
    name: str

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(id=required_int(data, "id", "manufacturer"), name=opt_str(data, "name") or "")


def _color_hexes(colors: Any) -> tuple[str, ...]:
    """``colors[].color.hex_code`` ordered by ``position``, as given (``#RRGGBB``)."""
    ranked: list[tuple[int, int, str]] = []
    for index, entry in enumerate(objects(colors)):
        color = entry.get("color")
        hex_code = to_str(color.get("hex_code")) if isinstance(color, Mapping) else None
        if hex_code:
            position = to_int(entry.get("position"))
            ranked.append((index if position is None else position, index, hex_code))
    return tuple(hex_code for _, _, hex_code in sorted(ranked))


@dataclass(frozen=True, slots=True)
class Filament:
    """A filament type (nested as ``filament`` in every spool)."""

    id: int
    designation: str | None
    material_type: str | None
    material_subgroup: str | None
    manufacturer_color_name: str | None
    raw_material_weight_g: float | None
    default_spool_weight_g: float | None
    price: float | None
    manufacturer: Manufacturer | None
    color_hexes: tuple[str, ...]
    manufacturer_id: int | None = None
    diameter_mm: float | None = None
    finish_type: str | None = None
    color_mode: str | None = None
    multi_color_style: str | None = None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        manufacturer = data.get("manufacturer")
        return cls(
            id=required_int(data, "id", "filament"),
            designation=opt_str(data, "designation"),
            material_type=opt_str(data, "material_type"),
            material_subgroup=opt_str(data, "material_subgroup"),
            manufacturer_color_name=opt_str(data, "manufacturer_color_name"),
            raw_material_weight_g=opt_float(data, "raw_material_weight_g"),
            default_spool_weight_g=opt_float(data, "default_spool_weight_g"),
            price=opt_float(data, "price"),
            manufacturer=(
                Manufacturer.from_json(manufacturer) if isinstance(manufacturer, Mapping) else None
            ),
            color_hexes=_color_hexes(data.get("colors")),
            manufacturer_id=opt_int(data, "manufacturer_id"),
            diameter_mm=opt_float(data, "diameter_mm"),
            finish_type=opt_str(data, "finish_type"),
            color_mode=opt_str(data, "color_mode"),
            multi_color_style=opt_str(data, "multi_color_style"),
        )


@dataclass(frozen=True, slots=True)
class FilamanSpool:
    """A FilaMan spool. Ids are reused after a permanent delete: pair with ``created_at``."""

    id: int
    filament: Filament
    status_id: int | None
    rfid_uid: str | None
    initial_total_weight_g: float | None
    empty_spool_weight_g: float | None
    remaining_weight_g: float | None
    purchase_price: float | None
    created_at: datetime | None
    location_id: int | None
    lot_number: str | None = None
    external_id: str | None = None
    last_used_at: datetime | None = None
    low_weight_threshold_g: int | None = None
    custom_fields: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def filament_id(self) -> int:
        return self.filament.id

    @classmethod
    def from_json(
        cls, data: JsonObject, *, filaments: MutableMapping[int, Filament] | None = None
    ) -> Self:
        """``filaments`` (by id) lends its filament to a spool whose nested one is equal,
        and keeps the newest otherwise: hundreds of spools of one filament then share
        one object, not one copy each for the garbage collector to walk."""
        spool_id = required_int(data, "id", "spool")
        filament = Filament.from_json(as_object(data.get("filament"), f"spool {spool_id} filament"))
        if filaments is not None:
            shared = filaments.get(filament.id)
            if shared is not None and shared == filament:
                filament = shared
            else:
                filaments[filament.id] = filament
        custom_fields = data.get("custom_fields")
        return cls(
            id=spool_id,
            filament=filament,
            status_id=opt_int(data, "status_id"),
            rfid_uid=opt_str(data, "rfid_uid"),
            initial_total_weight_g=opt_float(data, "initial_total_weight_g"),
            empty_spool_weight_g=opt_float(data, "empty_spool_weight_g"),
            remaining_weight_g=opt_float(data, "remaining_weight_g"),
            purchase_price=opt_float(data, "purchase_price"),
            created_at=opt_datetime(data, "created_at"),
            location_id=opt_int(data, "location_id"),
            lot_number=opt_str(data, "lot_number"),
            external_id=opt_str(data, "external_id"),
            last_used_at=opt_datetime(data, "last_used_at"),
            low_weight_threshold_g=opt_int(data, "low_weight_threshold_g"),
            custom_fields=custom_fields if isinstance(custom_fields, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """A spool status; resolve by ``key`` (``new``, ``opened``, …, ``archived``)."""

    id: int
    key: str
    label: str | None

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            id=required_int(data, "id", "spool status"),
            key=opt_str(data, "key") or "",
            label=opt_str(data, "label"),
        )


@dataclass(frozen=True, slots=True)
class FilamanPrinter:
    """A FilaMan printer.

    ``driver_config`` holds the Bambuddy API key in clear text: it is left out of
    ``repr`` and must never be logged. It is empty in list responses.
    """

    id: int
    name: str
    is_active: bool
    driver_key: str | None
    driver_config: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    location_id: int | None = None

    @property
    def bambuddy_printer_id(self) -> int | None:
        """``driver_config.printer_id`` as an int, for the Bambuddy driver."""
        return to_int(self.driver_config.get("printer_id"))

    @property
    def bambuddy_url(self) -> str | None:
        """``driver_config.bambuddy_url`` as stored."""
        return to_str(self.driver_config.get("bambuddy_url"))

    @property
    def serial(self) -> str | None:
        """``driver_config.serial``: the printer the Bambu Lab driver talks to directly."""
        return to_str(self.driver_config.get("serial"))

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        printer_id = required_int(data, "id", "printer")
        driver_config = data.get("driver_config")
        return cls(
            id=printer_id,
            name=opt_str(data, "name") or f"Printer {printer_id}",
            is_active=bool_or(data, "is_active", False),
            driver_key=opt_str(data, "driver_key") or None,
            driver_config=driver_config if isinstance(driver_config, Mapping) else {},
            location_id=opt_int(data, "location_id"),
        )


@dataclass(frozen=True, slots=True)
class DriverHealth:
    """``GET /printers/{id}/driver/health``; ``running`` means FilaMan's driver is active."""

    running: bool
    connected: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def sync_enabled(self) -> bool | None:
        value = self.raw.get("sync_enabled")
        if value is None:
            return None
        return str(value).lower() in ("true", "enabled", "1")

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            running=bool_or(data, "running", False),
            connected=bool_or(data, "connected", False),
            raw=data,
        )


def param_dict(items: Any) -> dict[str, str]:
    """``[{"param_key", "param_value"}]`` → ``{key: value}`` (values stay strings)."""
    params: dict[str, str] = {}
    for item in objects(items):
        key = to_str(item.get("param_key"))
        value = to_str(item.get("param_value"))
        if key and value is not None:
            params[key] = value
    return params


def _params_by_id(value: Any) -> dict[int, dict[str, str]]:
    result: dict[int, dict[str, str]] = {}
    if isinstance(value, Mapping):
        for raw_id, items in value.items():
            object_id = to_int(raw_id)
            if object_id is not None:
                result[object_id] = param_dict(items)
    return result


@dataclass(frozen=True, slots=True)
class PrinterParams:
    """``GET /printers/{id}/params/export``: every param of one FilaMan printer.

    Spool-level values override filament-level ones (see :meth:`for_spool`).
    """

    printer_id: int
    printer_name: str | None
    driver_key: str | None
    filament_params: Mapping[int, Mapping[str, str]]
    spool_params: Mapping[int, Mapping[str, str]]

    def for_spool(self, spool_id: int, filament_id: int) -> dict[str, str]:
        """Effective params of a spool: filament level overlaid by spool level."""
        merged = dict(self.filament_params.get(filament_id, {}))
        merged.update(self.spool_params.get(spool_id, {}))
        return merged

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            printer_id=required_int(data, "printer_id", "params export"),
            printer_name=opt_str(data, "printer_name"),
            driver_key=opt_str(data, "driver_key"),
            filament_params=_params_by_id(data.get("filament_params")),
            spool_params=_params_by_id(data.get("spool_params")),
        )


@dataclass(frozen=True, slots=True)
class ChangeMarks:
    """A fingerprint of FilaMan's shared database, cheap to read (two one-item pages).

    A new spool event (a weighing, an adjustment, a consumption, a status change or move) raises
    ``events``; one merged into an existing event (FilaMan's 5-minute aggregation) changes the
    newest event's time and grams; a new, archived, restored or deleted spool changes ``spools``
    or ``newest_spool``. A field edit leaves none of these: only a change stream tells of it.
    """

    events: int
    newest_event: tuple[int, str | None, float | None, int] | None
    spools: int
    newest_spool: int | None

    @classmethod
    def from_pages(cls, events_page: Any, spools_page: Any) -> Self:
        events = as_object(events_page, "/spools/all-events")
        spools = as_object(spools_page, "/spools")
        events_total, spools_total = to_int(events.get("total")), to_int(spools.get("total"))
        if events_total is None or spools_total is None:
            raise ProtocolError("FilaMan change marks: not paging envelopes")
        newest = next(iter(objects(events.get("items"))), None)
        event = None
        if newest is not None:
            parsed = SpoolEvent.from_json(newest)
            event = (
                parsed.id,
                parsed.event_at.isoformat() if parsed.event_at else None,
                parsed.delta_weight_g,
                parsed.aggregation_count,
            )
        first_spool = next(iter(objects(spools.get("items"))), None)
        return cls(
            events=events_total,
            newest_event=event,
            spools=spools_total,
            newest_spool=to_int(first_spool.get("id")) if first_spool is not None else None,
        )


@dataclass(frozen=True, slots=True)
class FilamanLocation:
    """A place a spool can be (``GET /locations``); ``identifier`` is free text."""

    id: int
    name: str
    identifier: str | None
    custom_fields: Mapping[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        custom = data.get("custom_fields")
        return cls(
            id=required_int(data, "id", "location"),
            name=opt_str(data, "name") or "",
            identifier=opt_str(data, "identifier"),
            custom_fields=custom if isinstance(custom, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class SpoolEvent:
    """A spool event; a consumption's ``delta_weight_g`` is negative.

    A consumption merged into an earlier one (5-minute aggregation) returns that
    event's ``id`` with ``aggregation_count > 1``.
    """

    id: int
    spool_id: int
    event_type: str
    event_at: datetime | None
    delta_weight_g: float | None
    note: str | None
    meta: Mapping[str, Any] | None = field(compare=False)
    source: str | None = None

    @property
    def aggregation_count(self) -> int:
        count = to_int(self.meta.get("aggregation_count")) if self.meta else None
        return count if count is not None else 1

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        meta = data.get("meta")
        return cls(
            id=required_int(data, "id", "spool event"),
            spool_id=required_int(data, "spool_id", "spool event"),
            event_type=opt_str(data, "event_type") or "",
            event_at=opt_datetime(data, "event_at"),
            delta_weight_g=opt_float(data, "delta_weight_g"),
            note=opt_str(data, "note"),
            meta=meta if isinstance(meta, Mapping) else None,
            source=opt_str(data, "source"),
        )


SSE_CONNECTED = "connected"
"""Synthetic :class:`SseEvent` name yielded after every (re)connect: resync now."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One FilaMan change hint (``spools_changed``, ``printer_update``, …)."""

    event: str
    printer_id: int | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            event=opt_str(data, "event") or "",
            printer_id=opt_int(data, "printer_id"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class FilamanPlugin:
    """An installed FilaMan plugin (``GET /admin/system/plugins``, admins only)."""

    key: str
    name: str
    is_active: bool
    plugin_type: str | None
    driver_key: str | None
    tracks_consumption: bool
    """``capabilities.tracks_consumption``: it deducts prints from spools by itself."""
    requires_driver: str | None = None
    """``capabilities.requires_driver``: the printer driver whose printers it works for."""

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        capabilities = data.get("capabilities")
        abilities: Mapping[str, Any] = capabilities if isinstance(capabilities, Mapping) else {}
        key = opt_str(data, "plugin_key") or ""
        return cls(
            key=key,
            name=opt_str(data, "name") or key,
            is_active=data.get("is_active") is True,
            plugin_type=opt_str(data, "plugin_type"),
            driver_key=opt_str(data, "driver_key"),
            tracks_consumption=abilities.get("tracks_consumption") is True,
            requires_driver=to_str(abilities.get("requires_driver")),
        )
