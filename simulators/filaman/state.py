"""The simulated FilaMan database and the server's write rules (API.md §4-§7).

Pure and synchronous: no HTTP and no event publishing here; callers publish the SSE
event the real endpoint would publish after a successful write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import bad_request, not_found
from .models import (
    STATUS_ID_BY_KEY,
    Color,
    Filament,
    FilamentColor,
    JsonDict,
    Location,
    Manufacturer,
    Printer,
    PrinterParam,
    Spool,
    SpoolEvent,
)

AGGREGATION_WINDOW = timedelta(minutes=5)
DEFAULT_TARE_G = 250.0

# Fields PATCH /spools/{id} accepts (SpoolUpdate); anything else, e.g. remaining_weight_g,
# is silently ignored by pydantic.
SPOOL_UPDATE_FIELDS = frozenset(
    {
        "filament_id", "status_id", "lot_number", "rfid_uid", "external_id", "location_id",
        "purchase_date", "purchase_price", "initial_total_weight_g", "empty_spool_weight_g",
        "spool_outer_diameter_mm", "spool_width_mm", "spool_material", "low_weight_threshold_g",
        "custom_fields",
    }
)  # fmt: skip
_SPOOL_FIELDS = frozenset(f.name for f in dataclass_fields(Spool))

# Well-known names so colours created from a bare hex read nicely in the demo.
COLOR_NAMES: dict[str, str] = {
    "#00AE42": "Bambu Green", "#FFFFFF": "Jade White", "#000000": "Black",
    "#C12E1F": "Red", "#0A2989": "Blue", "#F4EE2A": "Yellow", "#FF6A13": "Orange",
    "#8E9089": "Gray", "#5E43B7": "Purple", "#F5547C": "Pink", "#A3D8E1": "Ice Blue",
    "#D1D3D5": "Silver", "#E4BD68": "Gold", "#4D3324": "Dark Brown",
}  # fmt: skip


def utcnow() -> datetime:
    return datetime.now(UTC)


def smallest_free_id(used: Iterable[int]) -> int:
    """FilaMan gap-fills ids of spools, filaments and manufacturers (src)."""
    taken = set(used)
    candidate = 1
    while candidate in taken:
        candidate += 1
    return candidate


def normalize_hex(hex_code: str) -> str:
    text = hex_code.strip().lstrip("#").upper()
    return f"#{text}"


class FilamanState:
    """Tables plus the business rules of the endpoints that write them."""

    def __init__(self) -> None:
        self.manufacturers: dict[int, Manufacturer] = {}
        self.colors: dict[int, Color] = {}
        self.filaments: dict[int, Filament] = {}
        self.locations: dict[int, Location] = {}
        self.spools: dict[int, Spool] = {}
        self.events: dict[int, SpoolEvent] = {}
        self.printers: dict[int, Printer] = {}
        # Keyed by (id, is_spool_param): the two param tables have separate id sequences.
        self.params: dict[tuple[int, bool], PrinterParam] = {}
        self._filament_color_ids = 0
        # Installed plugins (GET /admin/system/plugins), as a fresh 1.2.20 lists them
        # (examples/admin_plugins.json): the two import plugins every install ships.
        self.plugins: list[dict[str, Any]] = [
            _plugin(2, "filamentdb_import", "FilamentDB Import", plugin_type="import",
                    description="Import manufacturers, filaments and spool details from "
                    "FilamentDB", page_url="/admin/system/filamentdb-import"),
            _plugin(1, "spoolman_import", "Spoolman Import", plugin_type="import",
                    description="Import filaments, spools, manufacturers and locations from a "
                    "Spoolman instance", page_url="/admin/system/spoolman-import"),
        ]  # fmt: skip

    # --- lookups ---------------------------------------------------------------------------

    def get_spool(self, spool_id: int) -> Spool:
        return _existing(self.spools, spool_id, "Spool")

    def get_filament(self, filament_id: int) -> Filament:
        return _existing(self.filaments, filament_id, "Filament")

    def get_manufacturer(self, manufacturer_id: int) -> Manufacturer:
        return _existing(self.manufacturers, manufacturer_id, "Manufacturer")

    def get_printer(self, printer_id: int) -> Printer:
        return _existing(self.printers, printer_id, "Printer")

    def status_key(self, spool: Spool) -> str:
        for key, status_id in STATUS_ID_BY_KEY.items():
            if status_id == spool.status_id:
                return key
        return ""

    def spool_events(self, spool_id: int | None = None) -> list[SpoolEvent]:
        """Newest `event_at` first; ties newest id first (as the captured lists show)."""
        events = [e for e in self.events.values() if spool_id is None or e.spool_id == spool_id]
        return sorted(events, key=lambda e: (e.event_at, e.id), reverse=True)

    # --- catalogue -------------------------------------------------------------------------

    def add_manufacturer(
        self,
        name: str,
        url: str | None = None,
        empty_spool_weight_g: float | None = DEFAULT_TARE_G,
    ) -> Manufacturer:
        manufacturer = Manufacturer(
            smallest_free_id(self.manufacturers), name, url, empty_spool_weight_g
        )
        self.manufacturers[manufacturer.id] = manufacturer
        return manufacturer

    def ensure_color(self, hex_code: str, name: str | None = None) -> Color:
        hex_code = normalize_hex(hex_code)
        wanted_name = name or COLOR_NAMES.get(hex_code, hex_code)
        for color in self.colors.values():
            if color.hex_code == hex_code and color.name == wanted_name:
                return color
        color = Color(max(self.colors, default=0) + 1, wanted_name, hex_code)
        self.colors[color.id] = color
        return color

    def add_filament(
        self,
        manufacturer_id: int,
        material_type: str,
        material_subgroup: str | None = None,
        *,
        designation: str | None = None,
        color_hex: str | list[str] = "#00AE42",
        manufacturer_color_name: str | None = None,
        raw_material_weight_g: float | None = 1000.0,
        default_spool_weight_g: float | None = 250.0,
        price: float | None = None,
        density_g_cm3: float | None = None,
    ) -> Filament:
        self.get_manufacturer(manufacturer_id)
        hexes = [color_hex] if isinstance(color_hex, str) else list(color_hex)
        filament = Filament(
            id=smallest_free_id(self.filaments),
            manufacturer_id=manufacturer_id,
            designation=designation or " ".join(p for p in (material_type, material_subgroup) if p),
            material_type=material_type,
            material_subgroup=material_subgroup,
            manufacturer_color_name=manufacturer_color_name,
            raw_material_weight_g=raw_material_weight_g,
            default_spool_weight_g=default_spool_weight_g,
            price=price,
            density_g_cm3=density_g_cm3 if density_g_cm3 is not None else _density(material_type),
            color_mode="single" if len(hexes) <= 1 else "multi",
            multi_color_style=None if len(hexes) <= 1 else "striped",
        )
        for position, hex_code in enumerate(hexes, start=1):
            single_name = manufacturer_color_name if len(hexes) == 1 else None
            color = self.ensure_color(hex_code, single_name)
            self._filament_color_ids += 1
            filament.colors.append(FilamentColor(self._filament_color_ids, color.id, position))
        self.filaments[filament.id] = filament
        return filament

    def add_location(
        self, name: str, identifier: str | None = None, custom_fields: JsonDict | None = None
    ) -> Location:
        location = Location(max(self.locations, default=0) + 1, name, identifier, custom_fields)
        self.locations[location.id] = location
        return location

    # --- spool CRUD ------------------------------------------------------------------------

    def create_spool(self, data: Mapping[str, Any], *, created_at: datetime | None = None) -> Spool:
        """POST /spools: cascades tare and spool geometry from the filament (src)."""
        filament = self.filaments.get(int(data["filament_id"]))
        if filament is None:
            raise bad_request("Filament not found")
        status_id = data.get("status_id") or STATUS_ID_BY_KEY["new"]
        if status_id not in STATUS_ID_BY_KEY.values():
            raise bad_request("Status not found")
        values = {k: v for k, v in data.items() if k in _SPOOL_FIELDS and k != "id"}
        values["status_id"] = status_id
        if values.get("empty_spool_weight_g") is None:
            values["empty_spool_weight_g"] = (
                filament.default_spool_weight_g
                if filament.default_spool_weight_g is not None
                else DEFAULT_TARE_G
            )
        if values.get("spool_outer_diameter_mm") is None:
            values["spool_outer_diameter_mm"] = filament.spool_outer_diameter_mm or 200.0
        if values.get("spool_width_mm") is None:
            values["spool_width_mm"] = filament.spool_width_mm or 65.0
        if values.get("spool_material") is None:
            values["spool_material"] = filament.spool_material
        if (
            values.get("remaining_weight_g") is None
            and values.get("initial_total_weight_g") is not None
        ):
            values["remaining_weight_g"] = max(
                values["initial_total_weight_g"] - values["empty_spool_weight_g"], 0.0
            )
        if values.get("low_weight_threshold_g") is None:
            values["low_weight_threshold_g"] = 100
        if values.get("rfid_uid"):
            self._release_rfid(values["rfid_uid"], keep_spool_id=None)
        # Seconds precision, like the database default behind the captured created_at.
        stamp = (created_at or utcnow()).replace(microsecond=0)
        spool = Spool(id=smallest_free_id(self.spools), created_at=stamp, **values)
        self.spools[spool.id] = spool
        return spool

    def update_spool(self, spool_id: int, data: Mapping[str, Any], user_id: int | None) -> Spool:
        """PATCH /spools/{id}: a tare change shifts remaining by -delta and logs it (src)."""
        spool = self.get_spool(spool_id)
        update = {k: v for k, v in data.items() if k in SPOOL_UPDATE_FIELDS}
        new_rfid = update.get("rfid_uid")
        if new_rfid and new_rfid != spool.rfid_uid:
            self._release_rfid(new_rfid, keep_spool_id=spool.id)
        old_tara = spool.empty_spool_weight_g
        old_remaining = spool.remaining_weight_g
        for key, value in update.items():
            setattr(spool, key, value)
        new_tara = spool.empty_spool_weight_g
        if (
            "empty_spool_weight_g" in update
            and old_tara is not None
            and new_tara is not None
            and old_tara != new_tara
            and old_remaining is not None
        ):
            delta_tara = new_tara - old_tara
            new_remaining = old_remaining - delta_tara
            meta: JsonDict = {
                "adjustment_type": "tara_change",
                "old_tara_g": old_tara,
                "new_tara_g": new_tara,
                "old_remaining_g": old_remaining,
                "new_remaining_g": max(new_remaining, 0.0),
            }
            if new_remaining < 0:
                new_remaining = 0.0
                meta["clamped_to_zero"] = True
            spool.remaining_weight_g = new_remaining
            self._add_event(
                spool.id,
                "manual_adjust",
                utcnow(),
                user_id=user_id,
                source="ui",
                delta_weight_g=-delta_tara,
                meta=meta,
            )
        return spool

    def archive_spool(self, spool_id: int) -> Spool:
        spool = self.get_spool(spool_id)
        spool.status_id = STATUS_ID_BY_KEY["archived"]
        return spool

    def delete_spool_permanent(self, spool_id: int) -> None:
        """Deletes the spool with its events and params; the id becomes reusable."""
        self.get_spool(spool_id)
        del self.spools[spool_id]
        for event_id in [e.id for e in self.events.values() if e.spool_id == spool_id]:
            del self.events[event_id]
        for key in [k for k, p in self.params.items() if p.spool_id == spool_id]:
            del self.params[key]

    def _release_rfid(self, uid: str, keep_spool_id: int | None) -> None:
        """rfid_uid is unique: assigning it takes it away from every other spool."""
        for other in self.spools.values():
            if other.id != keep_spool_id and other.rfid_uid == uid:
                other.rfid_uid = None

    # --- weight events ---------------------------------------------------------------------

    def _add_event(
        self, spool_id: int, event_type: str, event_at: datetime, **values: Any
    ) -> SpoolEvent:
        # SQLite rowid semantics: max + 1, so ids of deleted newest rows come back.
        event = SpoolEvent(
            max(self.events, default=0) + 1, spool_id, event_type, event_at, **values
        )
        self.events[event.id] = event
        return event

    def _auto_opened(self, spool: Spool, event_at: datetime) -> None:
        if spool.status_id == STATUS_ID_BY_KEY["new"]:
            old_status_id = spool.status_id
            spool.status_id = STATUS_ID_BY_KEY["opened"]
            self._add_event(
                spool.id,
                "opened",
                event_at,
                source="system",
                from_status_id=old_status_id,
                to_status_id=spool.status_id,
                meta={"auto": True, "reason": "weight_changed"},
            )

    def _auto_empty(self, spool: Spool, trigger_event_id: int, event_at: datetime) -> None:
        empty_id = STATUS_ID_BY_KEY["empty"]
        if spool.status_id != empty_id:
            spool.status_id = empty_id
            # The server reads from_status_id after switching, so it equals to_status_id (src).
            self._add_event(
                spool.id,
                "empty",
                event_at,
                source="system",
                from_status_id=empty_id,
                to_status_id=empty_id,
                meta={"auto": True, "trigger_event_id": trigger_event_id},
            )

    def _tara(self, spool: Spool) -> float | None:
        if spool.empty_spool_weight_g is not None:
            return spool.empty_spool_weight_g
        filament = self.filaments.get(spool.filament_id)
        return filament.default_spool_weight_g if filament else None

    def _aggregatable_consumption(
        self, spool_id: int, source: str, event_at: datetime
    ) -> SpoolEvent | None:
        """Latest print_consumption of the same source with event_at >= new - 5 min.

        A later-dated event qualifies too: the server only bounds the window from below.
        """
        window_start = event_at - AGGREGATION_WINDOW
        candidates = [
            e
            for e in self.events.values()
            if e.spool_id == spool_id
            and e.event_type == "print_consumption"
            and e.source == source
            and e.event_at >= window_start
        ]
        return max(candidates, key=lambda e: (e.event_at, e.id), default=None)

    def record_consumption(
        self,
        spool_id: int,
        delta_weight_g: float,
        *,
        event_at: datetime | None = None,
        note: str | None = None,
        user_id: int | None = None,
        source: str = "ui",
    ) -> SpoolEvent:
        """POST /spools/{id}/consumptions (API.md §6.1, mirrors the server source)."""
        spool = self.get_spool(spool_id)
        event_at = event_at or utcnow()
        delta = -delta_weight_g if delta_weight_g > 0 else delta_weight_g
        existing = self._aggregatable_consumption(spool.id, source, event_at)
        if existing is not None:
            meta = dict(existing.meta or {})
            if "first_event_at" not in meta:
                meta["first_event_at"] = existing.event_at.isoformat()
            meta["aggregation_count"] = int(meta.get("aggregation_count", 1)) + 1
            existing.delta_weight_g = (existing.delta_weight_g or 0.0) + delta
            existing.event_at = event_at
            if spool.remaining_weight_g is not None:
                remaining = spool.remaining_weight_g + delta
                if remaining < 0:
                    remaining = 0.0
                    meta["clamped_to_zero"] = True
                spool.remaining_weight_g = remaining
                spool.last_used_at = event_at
                self._auto_opened(spool, event_at)
                # Unlike the plain path, a clamped aggregated consumption does set empty.
                if remaining == 0:
                    self._auto_empty(spool, existing.id, event_at)
            existing.meta = meta
            return existing

        if spool.remaining_weight_g is None:
            return self._add_event(
                spool.id,
                "print_consumption",
                event_at,
                user_id=user_id,
                source=source,
                delta_weight_g=delta,
                note=note,
            )
        remaining = spool.remaining_weight_g + delta
        clamped = remaining < 0
        event = self._add_event(
            spool.id,
            "print_consumption",
            event_at,
            user_id=user_id,
            source=source,
            delta_weight_g=delta,
            note=note,
            meta={"clamped_to_zero": True} if clamped else None,
        )
        spool.remaining_weight_g = 0.0 if clamped else remaining
        spool.last_used_at = event_at
        self._auto_opened(spool, event_at)
        if spool.remaining_weight_g == 0 and not clamped:
            self._auto_empty(spool, event.id, event_at)
        return event

    def _apply_remaining(
        self, spool: Spool, remaining: float, event: SpoolEvent, event_at: datetime
    ) -> None:
        clamped = remaining < 0
        if clamped:
            event.meta = {**(event.meta or {}), "clamped_to_zero": True}
            remaining = 0.0
        spool.remaining_weight_g = remaining
        self._auto_opened(spool, event_at)
        if remaining == 0 and not clamped:
            self._auto_empty(spool, event.id, event_at)

    def record_measurement(
        self,
        spool_id: int,
        measured_weight_g: float,
        *,
        event_at: datetime | None = None,
        note: str | None = None,
        user_id: int | None = None,
        source: str = "ui",
    ) -> SpoolEvent:
        """Gross weight from a scale: remaining = measured - tare (clamped at 0)."""
        spool = self.get_spool(spool_id)
        event_at = event_at or utcnow()
        tara = self._tara(spool)
        event = self._add_event(
            spool.id,
            "measurement",
            event_at,
            user_id=user_id,
            source=source,
            measured_weight_g=measured_weight_g,
            note=note,
            meta={"tara_missing": True} if tara is None else None,
        )
        if tara is not None:
            self._apply_remaining(spool, measured_weight_g - tara, event, event_at)
        return event

    def record_adjustment(
        self,
        spool_id: int,
        adjustment_type: str,
        *,
        delta_weight_g: float | None = None,
        measured_weight_g: float | None = None,
        event_at: datetime | None = None,
        note: str | None = None,
        user_id: int | None = None,
        source: str = "ui",
    ) -> SpoolEvent:
        """manual_adjust: relative adds the signed delta, absolute behaves like a measurement.

        A bad type or missing field is an unhandled ValueError on the server (HTTP 500).
        """
        spool = self.get_spool(spool_id)
        event_at = event_at or utcnow()
        meta: JsonDict = {"adjustment_type": adjustment_type}
        if adjustment_type == "relative":
            if delta_weight_g is None:
                raise ValueError("delta_weight_g required for relative adjustment")
            remaining = (
                None
                if spool.remaining_weight_g is None
                else spool.remaining_weight_g + delta_weight_g
            )
        elif adjustment_type == "absolute":
            if measured_weight_g is None:
                raise ValueError("measured_weight_g required for absolute adjustment")
            tara = self._tara(spool)
            if tara is None:
                meta["tara_missing"] = True
            remaining = None if tara is None else measured_weight_g - tara
        else:
            raise ValueError(f"Invalid adjustment_type: {adjustment_type}")
        event = self._add_event(
            spool.id,
            "manual_adjust",
            event_at,
            user_id=user_id,
            source=source,
            delta_weight_g=delta_weight_g,
            measured_weight_g=measured_weight_g,
            note=note,
            meta=meta,
        )
        if remaining is not None:
            self._apply_remaining(spool, remaining, event, event_at)
        return event

    def change_status(
        self,
        spool_id: int,
        status_key: str,
        *,
        event_at: datetime | None = None,
        note: str | None = None,
        meta: JsonDict | None = None,
        user_id: int | None = None,
    ) -> SpoolEvent:
        spool = self.get_spool(spool_id)
        if status_key not in STATUS_ID_BY_KEY:
            raise ValueError(f"Status not found: {status_key}")
        event = self._add_event(
            spool.id,
            status_key,
            event_at or utcnow(),
            user_id=user_id,
            source="ui",
            from_status_id=spool.status_id,
            to_status_id=STATUS_ID_BY_KEY[status_key],
            note=note,
            meta=meta,
        )
        spool.status_id = STATUS_ID_BY_KEY[status_key]
        return event

    def move_spool(
        self,
        spool_id: int,
        location_id: int | None,
        *,
        event_at: datetime | None = None,
        note: str | None = None,
        user_id: int | None = None,
    ) -> SpoolEvent:
        spool = self.get_spool(spool_id)
        event = self._add_event(
            spool.id,
            "move_location",
            event_at or utcnow(),
            user_id=user_id,
            source="ui",
            from_location_id=spool.location_id,
            to_location_id=location_id,
            note=note,
        )
        spool.location_id = location_id
        return event

    # --- printers and their params ---------------------------------------------------------

    def add_printer(
        self,
        name: str,
        driver_key: str | None = None,
        driver_config: JsonDict | None = None,
        driver_running: bool = False,
    ) -> Printer:
        printer = Printer(
            id=max(self.printers, default=0) + 1,
            name=name,
            driver_key=driver_key or "",
            driver_config=driver_config,
            driver_running=driver_running,
        )
        self.printers[printer.id] = printer
        return printer

    def set_printer_params(
        self,
        printer_id: int,
        params: Mapping[str, str | None],
        *,
        spool_id: int | None = None,
        filament_id: int | None = None,
    ) -> list[PrinterParam]:
        """Upsert params of one spool or filament for one printer, in request order."""
        if (spool_id is None) == (filament_id is None):
            raise ValueError("give exactly one of spool_id / filament_id")
        rows: list[PrinterParam] = []
        for key, value in params.items():
            row = next(
                (
                    p
                    for p in self.params.values()
                    if p.printer_id == printer_id
                    and p.param_key == key
                    and p.spool_id == spool_id
                    and p.filament_id == filament_id
                ),
                None,
            )
            if row is None:
                row = PrinterParam(
                    self._next_param_id(spool_level=spool_id is not None),
                    printer_id,
                    key,
                    value,
                    spool_id,
                    filament_id,
                )
                self.params[row.id, spool_id is not None] = row
            row.param_value = value
            rows.append(row)
        return rows

    def _next_param_id(self, *, spool_level: bool) -> int:
        """Spool and filament params live in separate tables with their own ids."""
        same_table = [row_id for row_id, is_spool in self.params if is_spool == spool_level]
        return max(same_table, default=0) + 1

    def delete_params(
        self,
        printer_id: int,
        *,
        spool_id: int | None = None,
        filament_id: int | None = None,
        param_key: str | None = None,
    ) -> None:
        for key, row in list(self.params.items()):
            if (
                row.printer_id == printer_id
                and row.spool_id == spool_id
                and row.filament_id == filament_id
                and (not param_key or row.param_key == param_key)
            ):
                del self.params[key]

    def spool_params(self, spool_id: int, printer_id: int | None) -> list[PrinterParam]:
        # The captured spool list comes back in (printer, key) index order.
        rows = [
            p
            for p in self.params.values()
            if p.spool_id == spool_id and (printer_id is None or p.printer_id == printer_id)
        ]
        return sorted(rows, key=lambda p: (p.printer_id, p.param_key))

    def filament_params(self, filament_id: int, printer_id: int | None) -> list[PrinterParam]:
        # The captured filament list comes back in insertion (id) order.
        rows = [
            p
            for p in self.params.values()
            if p.filament_id == filament_id and (printer_id is None or p.printer_id == printer_id)
        ]
        return sorted(rows, key=lambda p: p.id)


def _density(material_type: str) -> float:
    return {
        "PLA": 1.24, "PETG": 1.27, "ABS": 1.04, "ASA": 1.07, "TPU": 1.21, "PA": 1.14,
        "PC": 1.2, "PVA": 1.23,
    }.get(material_type.upper().split("-")[0], 1.24)  # fmt: skip


__all__ = ["FilamanState", "smallest_free_id", "utcnow"]


def _existing[T](table: dict[int, T], item_id: int, what: str) -> T:
    """The row with this id, or the server's 404 ("<what> not found")."""
    item = table.get(item_id)
    if item is None:
        raise not_found(what)
    return item


def _plugin(
    plugin_id: int,
    key: str,
    name: str,
    *,
    plugin_type: str,
    description: str,
    page_url: str | None,
    driver_key: str | None = None,
    capabilities: dict[str, Any] | None = None,
    version: str = "1.0.0",
    author: str = "FilaMan",
) -> dict[str, Any]:
    """One row of GET /admin/system/plugins (``PluginResponse``)."""
    return {
        "id": plugin_id,
        "plugin_key": key,
        "name": name,
        "version": version,
        "description": description,
        "author": author,
        "homepage": None,
        "license": None,
        "plugin_type": plugin_type,
        "driver_key": driver_key,
        "page_url": page_url,
        "config_schema": None,
        "capabilities": capabilities,
        "is_active": True,
        "installed_at": "2026-11-24T11:38:04Z",
        "installed_by": None,
    }


def plugin_row(
    plugins: list[dict[str, Any]],
    key: str,
    name: str,
    plugin_type: str,
    *,
    driver_key: str | None = None,
    capabilities: dict[str, Any] | None = None,
    author: str = "FilaMan",
) -> dict[str, Any]:
    """A newly installed plugin's row (the next id, newest first as the server lists them)."""
    plugin_id = max((int(p["id"]) for p in plugins), default=0) + 1
    return _plugin(
        plugin_id, key, name, plugin_type=plugin_type, description=name, page_url=None,
        driver_key=driver_key, capabilities=capabilities, author=author,
    )  # fmt: skip
