"""Bambuddy's database as the simulator keeps it: spools, assignments, usage rows, keys, tokens.

Everything here survives `BambuddySimulator.restart()`, like Bambuddy's SQLite file does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import secrets
from typing import Any

# Spool columns in the order of examples/spool_get.json, with Bambuddy's defaults (API.md §4.1).
SPOOL_DEFAULTS: dict[str, Any] = {
    "material": None,
    "subtype": None,
    "color_name": None,
    "rgba": None,
    "extra_colors": None,
    "effect_type": None,
    "brand": None,
    "label_weight": 1000,
    "core_weight": 250,
    "core_weight_catalog_id": None,
    "weight_used": 0.0,
    "weight_used_baseline": 0.0,
    "slicer_filament": None,
    "slicer_filament_name": None,
    "nozzle_temp_min": None,
    "nozzle_temp_max": None,
    "note": None,
    "tag_uid": None,
    "tray_uuid": None,
    "data_origin": None,
    "tag_type": None,
    "cost_per_kg": None,
    "weight_locked": False,
    "last_scale_weight": None,
    "last_weighed_at": None,
    "category": None,
    "low_stock_threshold_pct": None,
    "storage_location": None,
    "location_id": None,
}
# Columns a client can never write (set by the server).
SERVER_SPOOL_FIELDS = ("id", "added_full", "last_used", "encode_time", "archived_at")
# NOT NULL columns that Bambuddy does not validate: a PATCH with null hits the database (HTTP 500).
NOT_NULL_SPOOL_FIELDS = frozenset(
    {"material", "label_weight", "core_weight", "weight_used", "weight_locked"}
)

WS_TOKEN_LIFETIME = timedelta(minutes=60)


def utc_now() -> datetime:
    """Naive UTC, like Bambuddy's SQLite timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso_seconds(moment: datetime) -> str:
    """Second resolution: the form most Bambuddy datetimes take."""
    return moment.replace(microsecond=0).isoformat()


@dataclass
class Spool:
    """One row of Bambuddy's spool table; `fields` holds the writable columns."""

    id: int
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_used: datetime | None = None
    archived_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {name: self.fields.get(name) for name in SPOOL_DEFAULTS}
        body["weight_used"] = float(body["weight_used"])
        body["weight_used_baseline"] = float(body["weight_used_baseline"])
        body.update(
            {
                "id": self.id,
                "added_full": None,
                "last_used": self.last_used.isoformat() if self.last_used else None,
                "encode_time": None,
                "archived_at": iso_seconds(self.archived_at) if self.archived_at else None,
                "created_at": iso_seconds(self.created_at),
                "updated_at": iso_seconds(self.updated_at),
                "k_profiles": [],
            }
        )
        return body

    @property
    def material(self) -> str:
        return str(self.fields["material"])

    @property
    def label_weight(self) -> int:
        return int(self.fields["label_weight"])


@dataclass
class Assignment:
    """A spool bound to a printer slot (unique per slot, not per spool)."""

    id: int
    spool_id: int
    printer_id: int
    ams_id: int
    tray_id: int
    fingerprint_color: str
    fingerprint_type: str
    created_at: datetime


@dataclass
class PrintArchive:
    """An archived print (auto-archive is on by default): its 3MF estimate, all filaments."""

    id: int
    printer_id: int
    print_name: str
    filament_used_grams: float | None
    status: str
    started_at: datetime
    completed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """`ArchiveResponse`, with the fields a print from the simulator has."""
        return {
            "id": self.id,
            "printer_id": self.printer_id,
            "project_id": None,
            "project_name": None,
            "filename": f"{self.print_name}.3mf",
            "file_path": f"archive/{self.id}/{self.print_name}.3mf",
            "file_size": 123456,
            "content_hash": None,
            "thumbnail_path": None,
            "timelapse_path": None,
            "print_name": self.print_name,
            "print_time_seconds": 2520,
            "filament_used_grams": self.filament_used_grams,
            "filament_type": None,
            "filament_color": None,
            "layer_height": 0.2,
            "nozzle_diameter": 0.4,
            "bed_temperature": 55,
            "nozzle_temperature": 220,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "extra_data": None,
            "makerworld_url": None,
            "designer": None,
            "is_favorite": False,
            "tags": None,
            "notes": None,
            "cost": None,
            "photos": None,
            "failure_reason": None,
            "created_at": self.started_at.isoformat(),
        }


@dataclass
class UsageRow:
    """One row of Bambuddy's consumption ledger (API.md §7)."""

    id: int
    spool_id: int
    printer_id: int | None
    print_name: str | None
    weight_used: float
    percent_used: int
    status: str
    cost: float | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "spool_id": self.spool_id,
            "printer_id": self.printer_id,
            "print_name": self.print_name,
            "weight_used": self.weight_used,
            "percent_used": self.percent_used,
            "status": self.status,
            "cost": self.cost,
            "created_at": iso_seconds(self.created_at),
        }


SCOPE_FLAGS = (
    "can_queue",
    "can_control_printer",
    "can_read_status",
    "can_manage_library",
    "can_manage_inventory",
    "can_manage_maintenance",
    "can_manage_archives",
    "can_manage_projects",
    "can_access_cloud",
    "can_update_energy_cost",
)


@dataclass
class ApiKey:
    """An API key; the value is only ever shown in the create response."""

    id: int
    name: str
    key: str
    scopes: dict[str, bool]
    created_at: datetime
    user_id: int | None = None
    enabled: bool = True
    expires_at: datetime | None = None
    last_used: datetime | None = None
    printer_ids: frozenset[int] | None = None
    """1.2.6 (#1727): the printers the key reaches; ``None`` = all of them."""
    owner_active: bool = True
    """1.2.6 (#1894): a key carries its owner's rights; a deactivated owner disables it."""

    def is_valid(self) -> bool:
        return self.enabled and (self.expires_at is None or self.expires_at > utc_now())

    def to_json(self, *, with_key: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "key_prefix": self.key[:8] + "...",
            "user_id": self.user_id,
            **{flag: self.scopes[flag] for flag in SCOPE_FLAGS},
            "printer_ids": sorted(self.printer_ids) if self.printer_ids is not None else None,
            "enabled": self.enabled,
            "last_used": self.last_used.isoformat() if self.last_used else None,
            "created_at": iso_seconds(self.created_at),
            "expires_at": iso_seconds(self.expires_at) if self.expires_at else None,
        }
        if with_key:
            body["key"] = self.key
        return body


def new_api_key_value() -> str:
    """`bb_` + 43 URL-safe characters, like Bambuddy's keys."""
    return "bb_" + secrets.token_urlsafe(32)


@dataclass
class Database:
    """All persistent state; a restart keeps this object."""

    spools: dict[int, Spool] = field(default_factory=dict)
    assignments: dict[int, Assignment] = field(default_factory=dict)
    usage: list[UsageRow] = field(default_factory=list)
    archives: list[PrintArchive] = field(default_factory=list)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    ws_tokens: dict[str, datetime] = field(default_factory=dict)
    ws_token_keys: dict[str, str | None] = field(default_factory=dict)
    locations: dict[str, int] = field(default_factory=dict)
    spoolman_enabled: bool = False
    # The `settings` table: absent rows mean the schema default (AUTOMATION.md §1).
    settings: dict[str, str] = field(default_factory=dict)
    _next_ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, table: str) -> int:
        value = self._next_ids.get(table, 0) + 1
        self._next_ids[table] = value
        return value

    def assignment_at(self, printer_id: int, ams_id: int, tray_id: int) -> Assignment | None:
        for assignment in self.assignments.values():
            if (assignment.printer_id, assignment.ams_id, assignment.tray_id) == (
                printer_id,
                ams_id,
                tray_id,
            ):
                return assignment
        return None

    def mint_ws_token(self, key: str | None = None) -> str:
        """A token; ``key``: the API key that minted it (1.2.6 stamps its printer scope)."""
        token = secrets.token_urlsafe(24)  # 32 URL-safe characters
        self.ws_tokens[token] = utc_now() + WS_TOKEN_LIFETIME
        self.ws_token_keys[token] = key
        return token

    def ws_token_valid(self, token: str | None) -> bool:
        expires = self.ws_tokens.get(token or "")
        return expires is not None and expires > utc_now()

    def location_id_for(self, name: str) -> int:
        """Bambuddy links a storage_location text to a Location row, creating it if needed."""
        if name not in self.locations:
            self.locations[name] = self.next_id("location")
        return self.locations[name]
