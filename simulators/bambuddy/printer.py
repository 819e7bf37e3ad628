"""Printers, AMS units and trays, and the status snapshots Bambuddy builds from them.

Slot addressing follows API.md §5.2: the inventory address `(ams_id, tray_id)` is `(n, s)` for
AMS unit n, `(128..135, 0)` for an AMS-HT and `(255, 0)` / `(255, 1)` for the external holders
(whose status ids are 254 / 255).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import Any

EXTERNAL_AMS_ID = 255
AMS_HT_FIRST_ID = 128
EMPTY_TRAY_STATES = (9, 10)
LOADED_STATE = 11

# Generic Bambu preset ids and nozzle ranges used when a spool does not override them.
MATERIAL_PRESETS: dict[str, tuple[str, int, int]] = {
    "PLA": ("GFL99", 190, 230),
    "PETG": ("GFG99", 220, 260),
    "ABS": ("GFB99", 240, 270),
    "ASA": ("GFB98", 240, 270),
    "TPU": ("GFU99", 200, 250),
    "PA": ("GFN99", 260, 290),
    "PC": ("GFC99", 260, 280),
    "PVA": ("GFS99", 190, 210),
}
DEFAULT_PRESET = ("GFL99", 190, 230)

SERIAL_PREFIXES = {"X1C": "00M", "X1E": "03W", "P1S": "01P", "P1P": "01S", "A1": "039"}
SERIAL_PREFIXES |= {"A1 mini": "030", "H2D": "094", "H2S": "093", "P2S": "22E"}

PRINT_OPTIONS: dict[str, Any] = {
    "spaghetti_detector": False,
    "print_halt": False,
    "halt_print_sensitivity": "medium",
    "first_layer_inspector": True,
    "printing_monitor": False,
    "buildplate_marker_detector": True,
    "allow_skip_parts": False,
    "nozzle_clumping_detector": True,
    "nozzle_clumping_sensitivity": "medium",
    "pileup_detector": True,
    "pileup_sensitivity": "medium",
    "airprint_detector": True,
    "airprint_sensitivity": "medium",
    "auto_recovery_step_loss": True,
    "filament_tangle_detect": False,
}

# `printer_status` WebSocket payload: REST status minus these keys, plus `model` (API.md §9.3).
WS_OMITTED_KEYS = frozenset(
    {
        "id",
        "ipcam",
        "nozzles",
        "print_options",
        "sdcard",
        "store_to_sdcard",
        "timelapse",
        "firmware_version",
        "developer_mode",
        "airduct_mode",
        "ams_exists",
        "ams_mapping",
        "current_archive_id",
        "fila_switch",
        "last_ams_update",
        "mc_print_sub_stage",
        "stg",
        "supports_chamber_heater",
    }
)
# Key order of the captured WS snapshots (examples/ws_printer_status_*.json).
WS_KEY_ORDER = [
    "connected",
    "state",
    "current_print",
    "subtask_name",
    "gcode_file",
    "progress",
    "remaining_time",
    "layer_num",
    "total_layers",
    "temperatures",
    "hms_errors",
    "ams",
    "vt_tray",
    "ams_status_main",
    "ams_status_sub",
    "tray_now",
    "expected_tray",
    "previous_tray",
    "ams_extruder_map",
    "wifi_signal",
    "wired_network",
    "door_open",
    "ams_filament_backup",
    "stg_cur",
    "stg_cur_name",
    "printable_objects_count",
    "cooling_fan_speed",
    "big_fan1_speed",
    "big_fan2_speed",
    "heatbreak_fan_speed",
    "left_aux_fan_speed",
    "exhaust_fan_present",
    "chamber_light",
    "active_extruder",
    "speed_level",
    "nozzle_rack",
    "supports_drying",
    "supports_drying_while_printing",
    "drying_screen_only",
    "current_plate_id",
    "awaiting_plate_clear",
    "cover_url",
    "name",
    "model",
]


@dataclass
class Tray:
    """One filament slot as the printer reports it."""

    id: int
    tray_type: str | None = None
    tray_sub_brands: str | None = None
    tray_color: str | None = None
    tray_id_name: str | None = None
    tray_info_idx: str | None = None
    remain: int = 0
    k: float | None = None
    cali_idx: int | None = None
    tag_uid: str | None = None
    tray_uuid: str | None = None
    nozzle_temp_min: int | None = None
    nozzle_temp_max: int | None = None
    state: int = 9

    @property
    def loaded(self) -> bool:
        return bool(self.tray_type) and self.state not in EMPTY_TRAY_STATES

    def clear(self, *, external: bool) -> None:
        """Empty the slot. External holders report empty strings and zeros, AMS slots nulls."""
        blank = "" if external else None
        self.tray_type = self.tray_sub_brands = self.tray_id_name = self.tray_info_idx = blank
        self.tray_color = "00000000" if external else None
        self.remain = 0
        self.k = 0.02 if external else None
        self.cali_idx = -1 if external else None
        self.tag_uid = self.tray_uuid = None
        self.nozzle_temp_min = self.nozzle_temp_max = 0 if external else None
        self.state = 9

    def rest_json(self, *, external: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "tray_color": self.tray_color,
            "tray_type": self.tray_type,
            "tray_sub_brands": self.tray_sub_brands,
            "tray_id_name": self.tray_id_name,
            "tray_info_idx": self.tray_info_idx,
            "remain": self.remain,
            "k": self.k,
            "cali_idx": self.cali_idx,
            "tag_uid": self.tag_uid,
            "tray_uuid": self.tray_uuid,
            "nozzle_temp_min": self.nozzle_temp_min,
            "nozzle_temp_max": self.nozzle_temp_max,
            "drying_temp": None,
            "drying_time": None,
            "state": None if external else self.state,
            "exists": None if external else self.state not in EMPTY_TRAY_STATES,
        }

    def ws_json(self, *, external: bool) -> dict[str, Any]:
        body = self.rest_json(external=external)
        for key in ("nozzle_temp_min", "nozzle_temp_max"):
            body[key] = None if body[key] is None else str(body[key])
        if external:
            for key in ("drying_temp", "drying_time", "state", "exists"):
                del body[key]
        return body

    def raw_json(self, *, external: bool) -> dict[str, Any]:
        """The tray as the printer's MQTT push_status carries it (print_start.raw_data)."""
        if not external and not self.loaded:
            return {"id": str(self.id), "state": self.state, "exists": False}
        body: dict[str, Any] = {
            "id": str(self.id),
            "tag_uid": self.tag_uid or "0000000000000000",
            "tray_id_name": self.tray_id_name or "",
            "tray_info_idx": self.tray_info_idx or "",
            "tray_type": self.tray_type or "",
            "tray_sub_brands": self.tray_sub_brands or "",
            "tray_color": self.tray_color or "00000000",
            "tray_weight": "0" if external else "1000",
            "tray_diameter": "0.00" if external else "1.75",
            "tray_temp": "0" if external else "55",
            "tray_time": "0" if external else "8",
            "bed_temp_type": "0",
            "bed_temp": "0",
            "nozzle_temp_max": str(self.nozzle_temp_max or 0),
            "nozzle_temp_min": str(self.nozzle_temp_min or 0),
            "xcam_info": "0" * 24,
            "tray_uuid": self.tray_uuid or "0" * 32,
            "remain": self.remain,
            "k": self.k,
            "n": 1,
            "cali_idx": self.cali_idx,
        }
        if not external:
            body |= {"ctype": 0, "cols": [body["tray_color"]], "state": self.state, "exists": True}
        return body


@dataclass
class AmsUnit:
    """An AMS, AMS 2 Pro or AMS-HT unit."""

    id: int
    is_ams_ht: bool
    trays: list[Tray]
    humidity: int = 23
    temp: float = 26.1

    @property
    def serial_number(self) -> str:
        return f"00600A{self.id:09d}"

    def rest_json(self, *, ws: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "humidity": self.humidity,
            "temp": str(self.temp) if ws else self.temp,
            "is_ams_ht": self.is_ams_ht,
            "tray": [
                tray.ws_json(external=False) if ws else tray.rest_json(external=False)
                for tray in self.trays
            ],
            "serial_number": self.serial_number,
            "sw_ver": "00.00.06.49",
            "dry_time": 0,
            "dry_status": 0,
            "dry_sub_status": 0,
            "dry_sf_reason": [],
            "dry_target_temp": None,
            "dry_filament": self.trays[0].tray_type or "PLA",
            "module_type": "n3s" if self.is_ams_ht else "ams",
        }


@dataclass
class PrintJob:
    """What the printer reports about the current or last job."""

    state: str = "IDLE"
    current_print: str = ""
    subtask_name: str = ""
    gcode_file: str = ""
    progress: float = 0.0
    remaining_time: int = 0  # minutes, as in printer_status
    layer_num: int = 0
    total_layers: int = 0
    stg_cur: int = 255
    stg_cur_name: str | None = None
    current_plate_id: int | None = None
    cover_url: str | None = None
    awaiting_plate_clear: bool = False


@dataclass
class Printer:
    """A printer managed by Bambuddy, with its live state."""

    id: int
    name: str
    model: str
    created_at: str
    ams: list[AmsUnit] = field(default_factory=list)
    vt_tray: list[Tray] = field(default_factory=list)
    connected: bool = True
    job: PrintJob = field(default_factory=PrintJob)
    tray_now: int = 255
    bed: float = 23.0
    bed_target: float = 0.0
    nozzle: float = 24.0
    nozzle_target: float = 0.0
    # The MQTT client's last merged-AMS hash; None until the first report after a connect.
    ams_hash: str | None = None

    @property
    def serial_number(self) -> str:
        return f"{SERIAL_PREFIXES.get(self.model, '00M')}00A{self.id:09d}"

    def unit(self, ams_id: int) -> AmsUnit | None:
        return next((unit for unit in self.ams if unit.id == ams_id), None)

    def tray_at(self, ams_id: int, tray_id: int) -> Tray | None:
        """The tray at an inventory address, or None when the slot does not exist."""
        if ams_id == EXTERNAL_AMS_ID:
            return self.vt_tray[tray_id] if 0 <= tray_id < len(self.vt_tray) else None
        unit = self.unit(ams_id)
        if unit is None or not 0 <= tray_id < len(unit.trays):
            return None
        return unit.trays[tray_id]

    def info_json(self) -> dict[str, Any]:
        """`GET /printers/{id}` as a key sees it (examples/printer_get_apikey.json)."""
        return {
            "name": self.name,
            "serial_number": self.serial_number,
            "ip_address": f"192.168.1.{100 + self.id}",
            "model": self.model,
            "location": None,
            "auto_archive": True,
            "external_camera_url": None,
            "external_camera_type": None,
            "external_camera_enabled": False,
            "external_camera_snapshot_url": None,
            "camera_rotation": 0,
            "id": self.id,
            "is_active": True,
            "nozzle_count": 2 if self.model == "H2D" else 1,
            "supports_nozzle_flow_type": True,
            "print_hours_offset": 0.0,
            "plate_detection_enabled": False,
            "plate_detection_roi": None,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }

    def status_json(self, *, ws: bool = False) -> dict[str, Any]:
        """The REST status object (examples/printer_status.json) or the WS snapshot data."""
        job = self.job
        rest: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "connected": self.connected,
            "state": job.state,
            "current_print": job.current_print,
            "subtask_name": job.subtask_name,
            "gcode_file": job.gcode_file,
            "progress": float(job.progress),
            "remaining_time": job.remaining_time,
            "layer_num": job.layer_num,
            "total_layers": job.total_layers,
            "temperatures": {
                "bed": self.bed,
                "bed_target": self.bed_target,
                "nozzle": self.nozzle,
                "nozzle_target": self.nozzle_target,
                "nozzle_heating": False,
            },
            "cover_url": job.cover_url,
            "hms_errors": [],
            "ams": [unit.rest_json(ws=ws) for unit in self.ams],
            "ams_exists": bool(self.ams),
            "vt_tray": [
                tray.ws_json(external=True) if ws else tray.rest_json(external=True)
                for tray in self.vt_tray
            ],
            "sdcard": True,
            "store_to_sdcard": False,
            "timelapse": False,
            "ipcam": True,
            "wifi_signal": -45,
            "wired_network": False,
            "door_open": False,
            "nozzles": [
                {"nozzle_type": "hardened_steel", "nozzle_diameter": "0.4"},
                {"nozzle_type": "", "nozzle_diameter": ""},
            ],
            "nozzle_rack": [],
            "print_options": dict(PRINT_OPTIONS),
            "stg_cur": job.stg_cur,
            "stg_cur_name": job.stg_cur_name,
            "stg": [],
            "airduct_mode": 0,
            "speed_level": 2,
            "chamber_light": True,
            "active_extruder": 0,
            "ams_mapping": [],
            "ams_extruder_map": {str(unit.id): 0 for unit in self.ams},
            "fila_switch": None,
            "tray_now": self.tray_now,
            "expected_tray": None,
            "previous_tray": None,
            "ams_status_main": 0,
            "ams_status_sub": 0,
            "mc_print_sub_stage": 0,
            "last_ams_update": time.time(),
            "printable_objects_count": 0,
            "cooling_fan_speed": 0,
            "big_fan1_speed": 0,
            "big_fan2_speed": 0,
            "heatbreak_fan_speed": 0,
            "left_aux_fan_speed": None,
            "exhaust_fan_present": False,
            "firmware_version": "01.08.00.00",
            "developer_mode": True,
            "ams_filament_backup": None,
            "awaiting_plate_clear": job.awaiting_plate_clear,
            "supports_drying": False,
            "supports_drying_while_printing": False,
            "drying_screen_only": True,
            "supports_chamber_heater": False,
            "current_archive_id": None,
            "current_plate_id": job.current_plate_id,
        }
        if not ws:
            return rest
        rest["model"] = self.model
        return {key: rest[key] for key in WS_KEY_ORDER}

    def raw_push_status(self) -> dict[str, Any]:
        """An MQTT push_status frame as it arrives at print start (print_start.data.raw_data)."""
        job = self.job
        return {
            "command": "push_status",
            "msg": 0,
            "sequence_id": "4",
            "gcode_state": job.state,
            "gcode_file": job.gcode_file,
            "subtask_name": job.subtask_name,
            "subtask_id": "1795520508",
            "task_id": "1795520508",
            "job_id": "0",
            "mc_percent": int(job.progress),
            "mc_remaining_time": job.remaining_time,
            "mc_print_stage": "1",
            "mc_print_sub_stage": 0,
            "layer_num": job.layer_num,
            "total_layer_num": job.total_layers,
            "print_type": "local",
            "print_error": 0,
            "nozzle_temper": self.nozzle,
            "nozzle_target_temper": self.nozzle_target,
            "bed_temper": self.bed,
            "bed_target_temper": self.bed_target,
            "chamber_temper": 25.0,
            "cooling_fan_speed": "0",
            "big_fan1_speed": "0",
            "big_fan2_speed": "0",
            "heatbreak_fan_speed": "0",
            "spd_lvl": 2,
            "spd_mag": 100,
            "stg": [],
            "stg_cur": job.stg_cur,
            "wifi_signal": "-45dBm",
            "nozzle_diameter": "0.4",
            "nozzle_type": "hardened_steel",
            "fun": "0",
            "hms": [],
            "home_flag": 0,
            "sdcard": True,
            "ams": [
                {
                    "id": str(unit.id),
                    "humidity": "4",
                    "humidity_raw": str(unit.humidity),
                    "temp": str(unit.temp),
                    "info": "1001",
                    "tray": [tray.raw_json(external=False) for tray in unit.trays],
                    "dry_status": 0,
                    "dry_sub_status": 0,
                    "sw_ver": "00.00.06.49",
                    "sn": unit.serial_number,
                    "module_type": "n3s" if unit.is_ams_ht else "ams",
                }
                for unit in self.ams
            ],
            "vt_tray": [
                tray.raw_json(external=True) | {"id": str(tray.id)} for tray in self.vt_tray
            ],
            "ams_extruder_map": {str(unit.id): 0 for unit in self.ams},
        }


def global_tray_id(ams_id: int, tray_id: int) -> int:
    """Global tray id (tray_now, ams_mapping, inventory-remain keys) of an inventory address."""
    if ams_id == EXTERNAL_AMS_ID:
        return 254 + tray_id
    if ams_id >= AMS_HT_FIRST_ID:
        return ams_id
    return ams_id * 4 + tray_id


def slot_label(ams_id: int, tray_id: int) -> str:
    """UI slot label: unit letter + tray_id+1 (`(0, 1)` → `"A2"`)."""
    if ams_id == EXTERNAL_AMS_ID:
        return "Ext" if tray_id == 0 else "Ext-R"
    if ams_id >= AMS_HT_FIRST_ID:
        return f"HT-{chr(ord('A') + ams_id - AMS_HT_FIRST_ID)}"
    return f"{chr(ord('A') + ams_id)}{tray_id + 1}"


def new_ams_unit(unit_id: int, *, is_ams_ht: bool) -> AmsUnit:
    trays = [Tray(id=index) for index in range(1 if is_ams_ht else 4)]
    return AmsUnit(id=unit_id, is_ams_ht=is_ams_ht, trays=trays)


def new_external_tray(status_id: int) -> Tray:
    tray = Tray(id=status_id)
    tray.clear(external=True)
    return tray
