"""Spool create/update semantics of Bambuddy's inventory (API.md §4.2), quirks included."""

from __future__ import annotations

from typing import Any

from .printer import global_tray_id
from .state import NOT_NULL_SPOOL_FIELDS, SPOOL_DEFAULTS, Database, Spool, UsageRow, utc_now
from .validation import RGBA_PATTERN, FieldRule, validate_fields

_STR = FieldRule("str")
SPOOL_RULES: dict[str, FieldRule] = {
    "material": FieldRule("str", min_length=1, max_length=50),
    "subtype": _STR,
    "color_name": _STR,
    "rgba": FieldRule("str", pattern=RGBA_PATTERN),
    "extra_colors": _STR,
    "effect_type": _STR,
    "brand": _STR,
    "label_weight": FieldRule("int"),
    "core_weight": FieldRule("int"),
    "core_weight_catalog_id": FieldRule("int"),
    "weight_used": FieldRule("float"),
    "weight_used_baseline": FieldRule("float"),
    "slicer_filament": _STR,
    "slicer_filament_name": _STR,
    "nozzle_temp_min": FieldRule("int"),
    "nozzle_temp_max": FieldRule("int"),
    "note": _STR,
    "tag_uid": _STR,
    "tray_uuid": _STR,
    "data_origin": _STR,
    "tag_type": _STR,
    "cost_per_kg": FieldRule("float", ge=0.0),
    "weight_locked": FieldRule("bool"),
    "last_scale_weight": FieldRule("int"),
    "last_weighed_at": FieldRule("datetime"),
    "category": FieldRule("str", max_length=50),
    "low_stock_threshold_pct": FieldRule("int", ge=1.0, le=99.0),
    "storage_location": FieldRule("str", max_length=255),
    "location_id": FieldRule("int", gt=0.0),
}
# SpoolCreate declares these without `| None`: null is a 422 on create.
CREATE_NOT_NULL = frozenset(
    {"material", "label_weight", "core_weight", "weight_used", "weight_used_baseline"}
    | {"weight_locked"}
)
# SpoolUpdate has no such fields: PATCH ignores them like any unknown key.
NOT_PATCHABLE = frozenset({"weight_used_baseline", "last_scale_weight", "last_weighed_at"})


class DatabaseIntegrityError(Exception):
    """A NOT NULL column got null: Bambuddy answers with an unhandled HTTP 500."""


def create_spool(db: Database, body: dict[str, Any]) -> Spool:
    values = validate_fields(
        body,
        SPOOL_RULES,
        required=("material",),
        nullable=frozenset(SPOOL_RULES) - CREATE_NOT_NULL,
    )
    fields = dict(SPOOL_DEFAULTS) | values
    _link_location(db, fields, values)
    now = utc_now()
    spool = Spool(id=db.next_id("spool"), fields=fields, created_at=now, updated_at=now)
    db.spools[spool.id] = spool
    return spool


def patch_spool(db: Database, spool: Spool, body: dict[str, Any]) -> Spool:
    rules = {name: rule for name, rule in SPOOL_RULES.items() if name not in NOT_PATCHABLE}
    values = validate_fields(body, rules, nullable=frozenset(rules))
    nulled = sorted(
        name for name in NOT_NULL_SPOOL_FIELDS if name in values and values[name] is None
    )
    if nulled:
        raise DatabaseIntegrityError(f"NOT NULL constraint failed: spool.{nulled[0]}")
    if "weight_used" in values and "weight_locked" not in values:
        # Bambuddy treats a manual weight write as authoritative and locks the spool.
        values["weight_locked"] = True
    spool.fields.update(values)
    _link_location(db, spool.fields, values)
    spool.updated_at = utc_now()
    return spool


def _link_location(db: Database, fields: dict[str, Any], values: dict[str, Any]) -> None:
    """A storage_location text auto-links a Location row (API.md §4.1)."""
    name = values.get("storage_location")
    if name and "location_id" not in values:
        fields["location_id"] = db.location_id_for(name)


def sorted_spools(spools: list[Spool]) -> list[Spool]:
    """ORDER BY material, brand, color_name with SQLite's NULLs-first ascending order."""

    def key(spool: Spool) -> tuple[tuple[bool, str], ...]:
        return tuple(
            (spool.fields.get(name) is not None, str(spool.fields.get(name) or ""))
            for name in ("material", "brand", "color_name")
        )

    return sorted(spools, key=key)


def normalise_tag(value: str | None, *, last: int | None = None) -> str:
    """Tag matching: hex digits only, upper case, optionally the last `last` characters."""
    cleaned = "".join(char for char in (value or "") if char in "0123456789abcdefABCDEF").upper()
    return cleaned[-last:] if last else cleaned


def find_spool_by_tag(
    db: Database, tray_uuid: str, tag_uid: str, *, include_archived: bool
) -> Spool | None:
    """Bambuddy's tag lookup: tray_uuid first, then tag_uid, upper-cased comparison."""
    candidates = [
        spool
        for spool in sorted(db.spools.values(), key=lambda spool: spool.id)
        if include_archived or spool.archived_at is None
    ]
    for column, wanted in (("tray_uuid", tray_uuid), ("tag_uid", tag_uid)):
        if not wanted:
            continue
        for spool in candidates:
            if str(spool.fields.get(column) or "").upper() == wanted:
                return spool
    return None


def usage_newest_first(db: Database) -> list[UsageRow]:
    """ORDER BY created_at DESC only: rows of one print keep their insertion order."""
    return sorted(db.usage, key=lambda row: row.created_at, reverse=True)


def inventory_remain(db: Database, printer_id: int) -> dict[str, float]:
    """Remaining grams per global tray id for the printer's assigned slots."""
    remain: dict[str, float] = {}
    for assignment in sorted(db.assignments.values(), key=lambda a: a.id):
        spool = db.spools.get(assignment.spool_id)
        if assignment.printer_id == printer_id and spool is not None:
            grams = spool.label_weight - float(spool.fields["weight_used"])
            remain[str(global_tray_id(assignment.ams_id, assignment.tray_id))] = grams
    return remain
