"""BambuddySimulator: a Bambuddy 1.2.5.2 stand-in with in-process controls for tests.

Typical use::

    sim = BambuddySimulator(ws_usage_delay=0.05)
    url = await sim.start()
    key = sim.create_api_key()
    printer_id = sim.add_printer("Workshop X1C")
    sim.set_tray(printer_id, 0, 0, tray_type="PLA", tray_sub_brands="PLA Basic",
                 tray_color="FFFFFFFF")
    ...
    await sim.run_print(printer_id, grams={(0, 0): 12.5})  # returns after the usage step
    await sim.stop()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, Literal

from aiohttp import web

from . import printing
from .app import build_app
from .auth import HttpError
from .demo import seed_demo
from .faults import Faults
from .inventory import normalise_tag
from .printer import (
    AMS_HT_FIRST_ID,
    DEFAULT_PRESET,
    EXTERNAL_AMS_ID,
    LOADED_STATE,
    MATERIAL_PRESETS,
    Printer,
    Tray,
    global_tray_id,
    new_ams_unit,
    new_external_tray,
    slot_label,
)
from .state import (
    SCOPE_FLAGS,
    ApiKey,
    Assignment,
    Database,
    Spool,
    UsageRow,
    iso_seconds,
    new_api_key_value,
    utc_now,
)
from .ws import WsHub

LegacyWeights = Literal["float", "dict"]


class BambuddySimulator:
    """One simulated Bambuddy server. Control methods are synchronous unless they wait."""

    def __init__(
        self,
        auth_enabled: bool = True,
        ws_usage_delay: float = 8.0,
        assign_verify_delay: float = 0.2,
    ) -> None:
        self.auth_enabled = auth_enabled
        # Seconds between print_complete and the usage step (≈ 8 s on a real server).
        self.ws_usage_delay = ws_usage_delay
        # Seconds between an assignment and its spool_assignment_verified read-back.
        self.assign_verify_delay = assign_verify_delay
        self.db = Database()
        self.printers: dict[int, Printer] = {}
        self.hub = WsHub()
        self.faults = Faults()
        self.request_log: list[tuple[str, str]] = []
        self.url: str | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (port 0 = any free port) and return the base URL."""
        runner = web.AppRunner(build_app(self), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, shutdown_timeout=1.0, reuse_address=True)
        await site.start()
        self._runner = runner
        self._host = host
        self._port = runner.addresses[0][1]
        self.url = f"http://{host}:{self._port}"
        return self.url

    async def _stop_listening(self) -> None:
        self.hub.drop_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        """Drop every connection and listen again on the same port; the database stays."""
        await self._stop_listening()
        await self.start(self._host, self._port)

    async def stop(self) -> None:
        """Close everything, including background event tasks and running prints."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._stop_listening()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            action()

        self._spawn(run())

    # --- faults -------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        return self.faults.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.faults.latency = seconds

    @property
    def down(self) -> bool:
        return self.faults.down

    @down.setter
    def down(self, value: bool) -> None:
        self.faults.down = value
        if value:
            self.hub.drop_all()

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        count: int = 1,
        body: object | None = None,
    ) -> None:
        """Answer the next `count` matching API requests with `status` (method "*" = any)."""
        self.faults.add(method, path_regex, status, count, body)

    # --- auth ---------------------------------------------------------------------------

    def create_api_key(
        self,
        name: str = "ha",
        can_read_status: bool = True,
        can_manage_inventory: bool = True,
        can_control_printer: bool = False,
        *,
        key: str | None = None,
        expires_at: datetime | None = None,
    ) -> str:
        """Register a key (a fresh `bb_…` value unless `key` is given) and return its value."""
        scopes = dict.fromkeys(SCOPE_FLAGS, False) | {
            "can_read_status": can_read_status,
            "can_manage_inventory": can_manage_inventory,
            "can_control_printer": can_control_printer,
        }
        value = key or new_api_key_value()
        self.db.api_keys[value] = ApiKey(
            id=self.db.next_id("api_key"),
            name=name,
            key=value,
            scopes=scopes,
            created_at=utc_now(),
            user_id=1,
            expires_at=expires_at,
        )
        return value

    def revoke_api_key(self, key: str) -> None:
        """Disable a key (Bambuddy keeps the row with enabled=false)."""
        self.db.api_keys[key].enabled = False

    def expire_ws_tokens(self) -> None:
        """Make every minted WebSocket token expire now."""
        for token in self.db.ws_tokens:
            self.db.ws_tokens[token] = utc_now()

    # --- printers -----------------------------------------------------------------------

    def seed_demo(self) -> int:
        """Add the demo printer "Workshop X1C" (see demo.py); returns its id."""
        return seed_demo(self)

    def add_printer(
        self,
        name: str,
        model: str = "X1C",
        ams_units: int = 1,
        ams_ht: int = 0,
        external: int = 1,
    ) -> int:
        """Add a connected, idle printer with empty slots; returns its id."""
        printer = Printer(
            id=max(self.printers, default=0) + 1,
            name=name,
            model=model,
            created_at=iso_seconds(utc_now()),
        )
        printer.ams = [new_ams_unit(index, is_ams_ht=False) for index in range(ams_units)]
        printer.ams += [
            new_ams_unit(AMS_HT_FIRST_ID + index, is_ams_ht=True) for index in range(ams_ht)
        ]
        printer.vt_tray = [new_external_tray(254 + index) for index in range(external)]
        self.printers[printer.id] = printer
        self.publish_status(printer)
        return printer.id

    def printer(self, printer_id: int) -> Printer:
        return self.printers[printer_id]

    def printer_or_404(self, printer_id: int) -> Printer:
        printer = self.printers.get(printer_id)
        if printer is None:
            raise HttpError(404, "Printer not found")
        return printer

    def set_online(self, printer_id: int, online: bool) -> None:
        printer = self.printers[printer_id]
        printer.connected = online
        self.publish_status(printer)

    def add_ams_unit(self, printer_id: int, is_ams_ht: bool = False) -> int:
        """Plug in an AMS (ids 0-3) or AMS-HT (ids 128-135); returns the unit id."""
        printer = self.printers[printer_id]
        candidates = range(AMS_HT_FIRST_ID, AMS_HT_FIRST_ID + 8) if is_ams_ht else range(4)
        unit_id = next(index for index in candidates if printer.unit(index) is None)
        printer.ams.append(new_ams_unit(unit_id, is_ams_ht=is_ams_ht))
        printer.ams.sort(key=lambda unit: unit.id)
        self.publish_status(printer)
        return unit_id

    def remove_ams_unit(self, printer_id: int, ams_id: int) -> None:
        printer = self.printers[printer_id]
        printer.ams = [unit for unit in printer.ams if unit.id != ams_id]
        self.publish_status(printer)

    def _tray(self, printer_id: int, ams_id: int, tray_id: int) -> Tray:
        tray = self.printers[printer_id].tray_at(ams_id, tray_id)
        if tray is None:
            raise KeyError(f"printer {printer_id} has no slot ({ams_id}, {tray_id})")
        return tray

    def set_tray(
        self,
        printer_id: int,
        ams_id: int,
        tray_id: int,
        *,
        tray_type: str,
        tray_sub_brands: str = "",
        tray_color: str = "FFFFFFFF",
        remain: int = 100,
        tag_uid: str | None = None,
        tray_uuid: str | None = None,
        tray_info_idx: str | None = None,
        tray_id_name: str = "",
        nozzle_temp_min: int | None = None,
        nozzle_temp_max: int | None = None,
        state: int = LOADED_STATE,
    ) -> None:
        """Load a spool into a slot (inventory address) as the printer would report it.

        Reproduces what Bambuddy does on that AMS report: a pending assignment gets
        configured, a Bambu RFID tag that matches an inventory spool is auto-assigned and a
        non-RFID spool that no longer matches its assignment is auto-unlinked.
        """
        tray = self._tray(printer_id, ams_id, tray_id)
        preset, low, high = MATERIAL_PRESETS.get(tray_type.upper(), DEFAULT_PRESET)
        tray.tray_type = tray_type
        tray.tray_sub_brands = tray_sub_brands
        tray.tray_color = tray_color
        tray.tray_id_name = tray_id_name
        tray.tray_info_idx = tray_info_idx or preset
        tray.remain = remain
        tray.k = 0.02
        tray.cali_idx = -1
        tray.tag_uid = tag_uid
        tray.tray_uuid = tray_uuid
        tray.nozzle_temp_min = nozzle_temp_min if nozzle_temp_min is not None else low
        tray.nozzle_temp_max = nozzle_temp_max if nozzle_temp_max is not None else high
        tray.state = state
        printer = self.printers[printer_id]
        self.publish_status(printer)
        self._after_tray_report(printer, ams_id, tray_id, tray)

    def clear_tray(self, printer_id: int, ams_id: int, tray_id: int) -> None:
        """Take the spool out; an assignment on a slot that was loaded is auto-unlinked."""
        tray = self._tray(printer_id, ams_id, tray_id)
        was_loaded = tray.loaded
        tray.clear(external=ams_id == EXTERNAL_AMS_ID)
        self.publish_status(self.printers[printer_id])
        if was_loaded and self.db.assignment_at(printer_id, ams_id, tray_id):
            self.unassign(printer_id, ams_id, tray_id)

    def _after_tray_report(self, printer: Printer, ams_id: int, tray_id: int, tray: Tray) -> None:
        if self.db.spoolman_enabled or not tray.loaded:
            return
        assignment = self.db.assignment_at(printer.id, ams_id, tray_id)
        if tray.tray_uuid:
            spool = self.find_spool_by_tag(
                normalise_tag(tray.tray_uuid), normalise_tag(tray.tag_uid, last=16), False
            )
            if spool is not None and (assignment is None or assignment.spool_id != spool.id):
                self._upsert_assignment(spool, printer.id, ams_id, tray_id, tray)
                self.broadcast(
                    {
                        "type": "spool_auto_assigned",
                        "printer_id": printer.id,
                        "ams_id": ams_id,
                        "tray_id": tray_id,
                        "spool_id": spool.id,
                    }
                )
            return
        if assignment is None:
            return
        spool = self.db.spools.get(assignment.spool_id)
        if not assignment.fingerprint_type and spool is not None:
            # Pre-assigned empty slot: the configuration goes out now that a spool is in.
            assignment.fingerprint_type = tray.tray_type or ""
            assignment.fingerprint_color = tray.tray_color or ""
            if printer.connected:
                self._configure_slot(printer, ams_id, tray_id, spool)
            return
        fingerprint_matches = (assignment.fingerprint_type, assignment.fingerprint_color) == (
            tray.tray_type,
            tray.tray_color,
        )
        spool_matches = spool is not None and (spool.material, spool.fields["rgba"]) == (
            tray.tray_type,
            tray.tray_color,
        )
        if not fingerprint_matches and not spool_matches:
            self.unassign(printer.id, ams_id, tray_id)

    # --- inventory helpers used by the REST layer ------------------------------------

    def inventory_changed(self) -> None:
        self.broadcast({"type": "inventory_changed"})

    def find_spool_by_tag(
        self, tray_uuid: str, tag_uid: str, include_archived: bool
    ) -> Spool | None:
        """Bambuddy's tag lookup: tray_uuid first, then tag_uid, upper-cased comparison."""
        candidates = [
            spool
            for spool in sorted(self.db.spools.values(), key=lambda spool: spool.id)
            if include_archived or spool.archived_at is None
        ]
        for column, wanted in (("tray_uuid", tray_uuid), ("tag_uid", tag_uid)):
            if not wanted:
                continue
            for spool in candidates:
                if str(spool.fields.get(column) or "").upper() == wanted:
                    return spool
        return None

    def usage_newest_first(self) -> list[UsageRow]:
        """ORDER BY created_at DESC only: rows of one print keep their insertion order."""
        return sorted(
            self.db.usage, key=lambda row: row.created_at.replace(microsecond=0), reverse=True
        )

    def inventory_remain(self, printer_id: int) -> dict[str, float]:
        remain: dict[str, float] = {}
        for assignment in sorted(self.db.assignments.values(), key=lambda a: a.id):
            spool = self.db.spools.get(assignment.spool_id)
            if assignment.printer_id == printer_id and spool is not None:
                grams = spool.label_weight - float(spool.fields["weight_used"])
                remain[str(global_tray_id(assignment.ams_id, assignment.tray_id))] = grams
        return remain

    def assignment_json(
        self, assignment: Assignment, *, configured: bool, pending_config: bool
    ) -> dict[str, Any]:
        printer = self.printers.get(assignment.printer_id)
        spool = self.db.spools.get(assignment.spool_id)
        return {
            "id": assignment.id,
            "spool_id": assignment.spool_id,
            "printer_id": assignment.printer_id,
            "printer_name": printer.name if printer else None,
            "ams_id": assignment.ams_id,
            "tray_id": assignment.tray_id,
            "fingerprint_color": assignment.fingerprint_color,
            "fingerprint_type": assignment.fingerprint_type,
            "created_at": iso_seconds(assignment.created_at),
            "spool": spool.to_json() if spool else None,
            "configured": configured,
            "pending_config": pending_config,
            "ams_label": None,
        }

    def _upsert_assignment(
        self, spool: Spool, printer_id: int, ams_id: int, tray_id: int, tray: Tray | None
    ) -> Assignment:
        loaded = tray is not None and tray.loaded
        fingerprint_color = (tray.tray_color or "") if tray is not None and loaded else ""
        fingerprint_type = (tray.tray_type or "") if tray is not None and loaded else ""
        assignment = self.db.assignment_at(printer_id, ams_id, tray_id)
        if assignment is None:
            assignment = Assignment(
                id=self.db.next_id("assignment"),
                spool_id=spool.id,
                printer_id=printer_id,
                ams_id=ams_id,
                tray_id=tray_id,
                fingerprint_color=fingerprint_color,
                fingerprint_type=fingerprint_type,
                created_at=utc_now(),
            )
            self.db.assignments[assignment.id] = assignment
        else:
            assignment.spool_id = spool.id
            assignment.fingerprint_color = fingerprint_color
            assignment.fingerprint_type = fingerprint_type
        return assignment

    def assign_spool(
        self, spool: Spool, printer_id: int, ams_id: int, tray_id: int
    ) -> dict[str, Any]:
        """POST /inventory/assignments after validation (API.md §6 steps 1-4)."""
        printer = self.printers.get(printer_id)
        tray = printer.tray_at(ams_id, tray_id) if printer else None
        assignment = self._upsert_assignment(spool, printer_id, ams_id, tray_id, tray)
        pending = printer is None or not printer.connected or tray is None or not tray.loaded
        self.broadcast(
            {
                "type": "spool_assignment_changed",
                "printer_id": printer_id,
                "ams_id": ams_id,
                "tray_id": tray_id,
            }
        )
        if printer is not None and not pending:
            self._configure_slot(printer, ams_id, tray_id, spool)
        return self.assignment_json(assignment, configured=not pending, pending_config=pending)

    def _configure_slot(self, printer: Printer, ams_id: int, tray_id: int, spool: Spool) -> None:
        """The MQTT ams_filament_setting as the printer applies it, then the read-back."""
        tray = printer.tray_at(ams_id, tray_id)
        if tray is None:
            return
        fields = spool.fields
        preset, low, high = MATERIAL_PRESETS.get(spool.material.upper(), DEFAULT_PRESET)
        tray.tray_info_idx = fields["slicer_filament"] or preset
        tray.tray_type = spool.material
        tray.tray_sub_brands = " ".join(
            part for part in (fields["brand"], spool.material, fields["subtype"]) if part
        )
        tray.tray_color = fields["rgba"] or "FFFFFFFF"
        tray.nozzle_temp_min = fields["nozzle_temp_min"] or low
        tray.nozzle_temp_max = fields["nozzle_temp_max"] or high
        self.publish_status(printer)
        event = {
            "type": "spool_assignment_verified",
            "printer_id": printer.id,
            "printer_name": printer.name,
            "ams_id": ams_id,
            "tray_id": tray_id,
            "slot": slot_label(ams_id, tray_id),
            "verified": True,
            "kprofile_applied": True,
            "saw_tray": False,
        }
        self._later(self.assign_verify_delay, lambda: self.broadcast(event))

    def unassign(self, printer_id: int, ams_id: int, tray_id: int) -> bool:
        """Delete the slot's assignment row (no MQTT: the slot keeps its settings)."""
        assignment = self.db.assignment_at(printer_id, ams_id, tray_id)
        if assignment is None:
            return False
        del self.db.assignments[assignment.id]
        self.broadcast(
            {
                "type": "spool_assignment_changed",
                "printer_id": printer_id,
                "ams_id": ams_id,
                "tray_id": tray_id,
            }
        )
        return True

    # --- settings -----------------------------------------------------------------------

    def set_spoolman_mode(self, on: bool) -> None:
        self.db.spoolman_enabled = on

    def app_settings(self) -> dict[str, Any]:
        """A subset of AppSettings (openapi) with the Spoolman fields the integration reads."""
        return {
            "auto_archive": True,
            "save_thumbnails": True,
            "default_filament_cost": 25.0,
            "currency": "USD",
            "spoolman_enabled": self.db.spoolman_enabled,
            "spoolman_url": "http://filaman.local:8000/spoolman"
            if self.db.spoolman_enabled
            else "",
            "spoolman_sync_mode": "auto",
            "spoolman_disable_weight_sync": False,
            "spoolman_report_partial_usage": True,
            "auto_add_unknown_rfid": True,
            "disable_filament_warnings": False,
            "prefer_lowest_filament": False,
            "language": "en",
            "date_format": "system",
            "time_format": "system",
            "mqtt_password": "",
            "ha_enabled": False,
            "ha_url": "",
            "ha_token": "",
            "low_stock_threshold": 20.0,
        }

    # --- WebSocket ----------------------------------------------------------------------

    def status_frame(self, printer_id: int) -> dict[str, Any] | None:
        printer = self.printers.get(printer_id)
        if printer is None:
            return None
        return {
            "type": "printer_status",
            "printer_id": printer.id,
            "data": printer.status_json(ws=True),
        }

    def all_status_frames(self) -> list[dict[str, Any]]:
        return [frame for pid in sorted(self.printers) if (frame := self.status_frame(pid))]

    def publish_status(self, printer: Printer) -> None:
        frame = self.status_frame(printer.id)
        if frame is not None:
            self.hub.publish(frame)

    def broadcast(self, event: dict[str, Any]) -> None:
        """Send an event to every connected WebSocket client."""
        self.hub.publish(event)

    def inject_ws_frame(self, raw: str) -> None:
        """Send raw text (valid JSON or not) to every client."""
        self.hub.publish_raw(raw)

    def drop_websockets(self) -> None:
        """Abort every socket without a close frame (network loss, server crash)."""
        self.hub.drop_all()

    # --- printing -----------------------------------------------------------------------

    async def run_print(
        self,
        printer_id: int,
        name: str = "Benchy",
        grams: dict[tuple[int, int], float] | None = None,
        status: str = "completed",
        duration: float = 0.0,
        *,
        slot_ids: dict[tuple[int, int], int] | None = None,
        legacy_weights: LegacyWeights | None = None,
    ) -> None:
        """Run a whole print and return after the usage step (ws_usage_delay after the end).

        `grams` maps inventory slot addresses to consumed grams. `status` is the
        print_complete status ("completed", "failed", "aborted", "cancelled"). `slot_ids`
        fills `slot_id` of the usage event (3MF path), otherwise null (remain% path).
        `legacy_weights` simulates an old Bambuddy: weights go into print_complete.data
        ("float" total or "dict" {"ams-tray": g}) and no usage rows or usage event follow.
        """
        await printing.run_print(
            self,
            self.printers[printer_id],
            printing.PrintRequest(
                name=name,
                grams=dict(grams or {}),
                status=status,
                duration=duration,
                slot_ids=dict(slot_ids or {}),
                legacy_weights=legacy_weights,
            ),
        )

    def start_print(
        self,
        printer_id: int,
        name: str = "Benchy",
        grams: dict[tuple[int, int], float] | None = None,
        status: str = "completed",
        duration: float = 0.0,
        *,
        slot_ids: dict[tuple[int, int], int] | None = None,
        legacy_weights: LegacyWeights | None = None,
    ) -> asyncio.Task[None]:
        """Non-blocking run_print; await the returned task to wait for the usage step."""
        return self._spawn(
            self.run_print(
                printer_id,
                name,
                grams,
                status,
                duration,
                slot_ids=slot_ids,
                legacy_weights=legacy_weights,
            )
        )

    def log_usage(
        self,
        printer: Printer,
        print_name: str,
        grams: dict[tuple[int, int], float],
        status: str,
        slot_ids: dict[tuple[int, int], int],
    ) -> None:
        """Bambuddy's usage tracker at print end (API.md §10): rows, spool update, one event."""
        if self.db.spoolman_enabled:
            return
        now = utc_now()
        usage: list[dict[str, Any]] = []
        for (ams_id, tray_id), consumed in grams.items():
            assignment = self.db.assignment_at(printer.id, ams_id, tray_id)
            spool = self.db.spools.get(assignment.spool_id) if assignment else None
            if spool is None or consumed <= 0:
                continue
            fields = spool.fields
            fields["weight_used"] = float(fields["weight_used"]) + consumed
            spool.last_used = spool.updated_at = now
            label = spool.label_weight
            percent = round(consumed / label * 100) if label else 0
            cost_per_kg = fields["cost_per_kg"]
            cost = round(cost_per_kg * consumed / 1000, 2) if cost_per_kg is not None else None
            self.db.usage.append(
                UsageRow(
                    id=self.db.next_id("usage"),
                    spool_id=spool.id,
                    printer_id=printer.id,
                    print_name=print_name,
                    weight_used=round(consumed, 1),
                    percent_used=percent,
                    status=status,
                    cost=cost,
                    created_at=now.replace(microsecond=0),
                )
            )
            rgba = fields["rgba"]
            usage.append(
                {
                    "spool_id": spool.id,
                    "weight_used": round(consumed, 1),
                    "percent_used": percent,
                    "ams_id": ams_id,
                    "tray_id": tray_id,
                    "material": spool.material,
                    "cost": cost,
                    "slot_id": slot_ids.get((ams_id, tray_id)),
                    "color": f"#{rgba[:6].upper()}" if rgba else None,
                }
            )
        if usage:
            self.broadcast({"type": "spool_usage_logged", "printer_id": printer.id, "usage": usage})
