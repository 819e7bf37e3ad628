"""Response bodies with exactly the keys and value types of the captured examples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .models import (
    SPOOL_STATUSES,
    STATUS_ID_BY_KEY,
    Color,
    Filament,
    JsonDict,
    Location,
    Manufacturer,
    Printer,
    PrinterParam,
    Spool,
    SpoolEvent,
    User,
)
from .state import FilamanState

ARCHIVED = STATUS_ID_BY_KEY["archived"]


def iso(value: datetime | None) -> str | None:
    """Pydantic v2 style: aware UTC with `Z`, microseconds only when non-zero."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def page(items: list[JsonDict], page_no: int, page_size: int, total: int) -> JsonDict:
    return {"items": items, "page": page_no, "page_size": page_size, "total": total}


def paginate(rows: list[Any], page_no: int, page_size: int) -> tuple[list[Any], int]:
    start = (page_no - 1) * page_size
    return rows[start : start + page_size], len(rows)


def statuses() -> list[JsonDict]:
    return [
        {
            "id": s.id,
            "key": s.key,
            "label": s.label,
            "description": s.description,
            "sort_order": s.sort_order,
        }
        for s in SPOOL_STATUSES
    ]


def manufacturer_summary(manufacturer: Manufacturer) -> JsonDict:
    return {
        "id": manufacturer.id,
        "name": manufacturer.name,
        "url": manufacturer.url,
        "logo_file": None,
        "label_logo_file": None,
        "empty_spool_weight_g": manufacturer.empty_spool_weight_g,
        "spool_outer_diameter_mm": manufacturer.spool_outer_diameter_mm,
        "spool_width_mm": manufacturer.spool_width_mm,
        "spool_material": manufacturer.spool_material,
        "custom_fields": manufacturer.custom_fields,
        "logo_url": None,
        "label_logo_url": None,
    }


def manufacturer(state: FilamanState, row: Manufacturer) -> JsonDict:
    """ManufacturerResponse with the aggregates of GET /manufacturers."""
    filaments = [f for f in state.filaments.values() if f.manufacturer_id == row.id]
    filament_ids = {f.id for f in filaments}
    spools = [s for s in state.spools.values() if s.filament_id in filament_ids]
    available = [s for s in spools if s.status_id != ARCHIVED]
    body = manufacturer_summary(row)
    body.pop("logo_url")
    body.pop("label_logo_url")
    body.update(
        {
            "filament_count": len(filaments),
            "spool_count": len(available),
            "archived_spool_count": len(spools) - len(available),
            "total_price_available": float(sum(s.purchase_price or 0.0 for s in available)),
            "total_price_all": float(sum(s.purchase_price or 0.0 for s in spools)),
            "materials": sorted({f.material_type for f in filaments}),
            "logo_url": None,
            "label_logo_url": None,
        }
    )
    return body


def color(row: Color, usage_count: int = 0) -> JsonDict:
    return {
        "id": row.id,
        "name": row.name,
        "hex_code": row.hex_code,
        "custom_fields": row.custom_fields,
        "usage_count": usage_count,
    }


def color_usage(state: FilamanState, color_id: int) -> int:
    return sum(
        1 for f in state.filaments.values() for link in f.colors if link.color_id == color_id
    )


def filament(state: FilamanState, row: Filament, *, nested: bool = False) -> JsonDict:
    """FilamentDetailResponse; `spool_count` is 0 when nested in a spool (as captured)."""
    spool_count = (
        0
        if nested
        else sum(
            1 for s in state.spools.values() if s.filament_id == row.id and s.status_id != ARCHIVED
        )
    )
    maker = state.manufacturers.get(row.manufacturer_id)
    return {
        "id": row.id,
        "manufacturer_id": row.manufacturer_id,
        "designation": row.designation,
        "material_type": row.material_type,
        "material_subgroup": row.material_subgroup,
        "diameter_mm": row.diameter_mm,
        "manufacturer_color_name": row.manufacturer_color_name,
        "finish_type": row.finish_type,
        "raw_material_weight_g": row.raw_material_weight_g,
        "default_spool_weight_g": row.default_spool_weight_g,
        "spool_outer_diameter_mm": row.spool_outer_diameter_mm,
        "spool_width_mm": row.spool_width_mm,
        "spool_material": row.spool_material,
        "price": row.price,
        "shop_url": row.shop_url,
        "density_g_cm3": row.density_g_cm3,
        "color_mode": row.color_mode,
        "multi_color_style": row.multi_color_style,
        "custom_fields": row.custom_fields,
        "manufacturer": manufacturer_summary(maker) if maker else None,
        "spool_count": spool_count,
        "colors": [
            {
                "id": link.id,
                "color_id": link.color_id,
                "position": link.position,
                "display_name_override": link.display_name_override,
                "color": color(state.colors[link.color_id]),
            }
            for link in sorted(row.colors, key=lambda link: link.position)
        ],
    }


def spool(state: FilamanState, row: Spool) -> JsonDict:
    filament_row = state.filaments.get(row.filament_id)
    return {
        "id": row.id,
        "filament_id": row.filament_id,
        "status_id": row.status_id,
        "lot_number": row.lot_number,
        "rfid_uid": row.rfid_uid,
        "external_id": row.external_id,
        "location_id": row.location_id,
        "purchase_date": iso(row.purchase_date),
        "purchase_price": _float(row.purchase_price),
        "stocked_in_at": iso(row.stocked_in_at),
        "last_used_at": iso(row.last_used_at),
        "initial_total_weight_g": _float(row.initial_total_weight_g),
        "empty_spool_weight_g": _float(row.empty_spool_weight_g),
        "remaining_weight_g": _float(row.remaining_weight_g),
        "spool_outer_diameter_mm": _float(row.spool_outer_diameter_mm),
        "spool_width_mm": _float(row.spool_width_mm),
        "spool_material": row.spool_material,
        "low_weight_threshold_g": row.low_weight_threshold_g,
        "created_at": iso(row.created_at),
        "custom_fields": row.custom_fields,
        "filament": filament(state, filament_row, nested=True) if filament_row else None,
    }


def event(row: SpoolEvent) -> JsonDict:
    return {
        "id": row.id,
        "spool_id": row.spool_id,
        "event_type": row.event_type,
        "event_at": iso(row.event_at),
        "user_id": row.user_id,
        "device_id": row.device_id,
        "source": row.source,
        "delta_weight_g": _float(row.delta_weight_g),
        "measured_weight_g": _float(row.measured_weight_g),
        "from_status_id": row.from_status_id,
        "to_status_id": row.to_status_id,
        "from_location_id": row.from_location_id,
        "to_location_id": row.to_location_id,
        "note": row.note,
        "meta": row.meta,
    }


def location(state: FilamanState, row: Location) -> JsonDict:
    return {
        "id": row.id,
        "name": row.name,
        "identifier": row.identifier,
        "custom_fields": row.custom_fields,
        "spool_count": sum(
            1 for s in state.spools.values() if s.location_id == row.id and s.status_id != ARCHIVED
        ),
    }


def printer(row: Printer) -> JsonDict:
    return {
        "id": row.id,
        "name": row.name,
        "location_id": row.location_id,
        "is_active": row.is_active,
        "driver_key": row.driver_key,
        "custom_fields": row.custom_fields,
    }


def printer_detail(row: Printer) -> JsonDict:
    return {**printer(row), "driver_config": row.driver_config, "slots": printer_slots(row)}


def printer_slots(row: Printer) -> list[JsonDict]:
    """Slots exist only while a FilaMan driver reports them."""
    return [dict(slot) for slot in row.slots] if row.driver_running else []


def driver_health(row: Printer) -> JsonDict:
    if not row.driver_running:
        return {"running": False, "connected": False}
    config = row.driver_config or {}
    return {
        "running": True,
        "driver_key": row.driver_key,
        "connected": True,
        "sync_enabled": config.get("sync_enabled", "enabled") == "enabled",
        "bambuddy_printer_id": config.get("printer_id"),
        "last_sync_count": 0,
        "last_sync_error": None,
        "spoolman_enabled": False,
        "slots": len(row.slots),
        "ams_units": 1,
        "sync_actions": [],
    }


def spool_param(row: PrinterParam) -> JsonDict:
    return {
        "param_key": row.param_key,
        "param_value": row.param_value,
        "id": row.id,
        "spool_id": row.spool_id,
        "printer_id": row.printer_id,
    }


def filament_param(row: PrinterParam) -> JsonDict:
    return {
        "param_key": row.param_key,
        "param_value": row.param_value,
        "id": row.id,
        "filament_id": row.filament_id,
        "printer_id": row.printer_id,
    }


def params_export(state: FilamanState, row: Printer) -> JsonDict:
    filament_params: dict[str, list[JsonDict]] = {}
    spool_params: dict[str, list[JsonDict]] = {}
    for param in sorted(state.params.values(), key=lambda p: p.id):
        if param.printer_id != row.id:
            continue
        item = {"param_key": param.param_key, "param_value": param.param_value}
        if param.spool_id is not None:
            spool_params.setdefault(str(param.spool_id), []).append(item)
        elif param.filament_id is not None:
            filament_params.setdefault(str(param.filament_id), []).append(item)
    return {
        "printer_id": row.id,
        "printer_name": row.name,
        "driver_key": row.driver_key,
        "filament_params": filament_params,
        "spool_params": spool_params,
    }


def me(user: User, permissions: tuple[str, ...]) -> JsonDict:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "language": user.language,
        "is_superadmin": user.is_superadmin,
        "roles": [user.role],
        "permissions": list(permissions),
    }


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
