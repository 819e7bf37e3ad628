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
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any, Literal

from aiohttp import web

from . import automation, printing, slots
from .app import build_app
from .auth import HttpError
from .automation import SETTING_AUTO_ADD_RFID, PrintSession
from .demo import seed_demo
from .faults import Faults
from .inventory import create_spool
from .printer import (
    AMS_HT_FIRST_ID,
    DEFAULT_PRESET,
    EXTERNAL_AMS_ID,
    LOADED_STATE,
    MATERIAL_PRESETS,
    Printer,
    Tray,
    new_ams_unit,
    new_external_tray,
)
from .state import (
    SCOPE_FLAGS,
    ApiKey,
    Database,
    Spool,
    iso_seconds,
    new_api_key_value,
    utc_now,
)
from .ws import WsHub

LegacyWeights = Literal["float", "dict"]
DEFAULT_VERSION = "1.2.5.2"
VERSIONS = (DEFAULT_VERSION, "1.2.6")


class BambuddySimulator:
    """One simulated Bambuddy server. Control methods are synchronous unless they wait."""

    def __init__(
        self,
        auth_enabled: bool = True,
        ws_usage_delay: float = 8.0,
        assign_verify_delay: float = 0.2,
        *,
        version: str = DEFAULT_VERSION,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"simulated Bambuddy versions: {', '.join(VERSIONS)}")
        self.version = version
        """Which release's behaviour: 1.2.5.2 (as captured) or 1.2.6 (from its source):
        printer-scoped keys (#1727), owner-bound keys (#1894), a scope-filtered WebSocket
        closed with 4401, one usage row per filament (#3230), print_confirm_request, and
        the upgrade's weight repair (#2909)."""
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
        # Bambuddy's in-memory automation state (lost on restart, AUTOMATION.md §5, §6).
        self.usage_sessions: dict[int, PrintSession] = {}
        self.unknown_tag_seen: dict[tuple[int, int, int], tuple[str | None, str | None]] = {}
        # Bambuddy's INFO log lines of its automation (auto-unlink, usage tracker).
        self.automation_log: list[str] = []

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
        """Drop every connection and listen again on the same port; the database stays.

        Like a Bambuddy restart: print sessions and tag dedup are forgotten, and each printer's
        first report after connecting runs the AMS automation again.
        """
        await self._stop_listening()
        self.usage_sessions.clear()
        self.unknown_tag_seen.clear()
        await self.start(self._host, self._port)
        for printer in self.printers.values():
            printer.ams_hash = None
            automation.report(self, printer)

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

    def later(self, delay: float, action: Callable[[], None]) -> None:
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

    @property
    def newer_than_1_2_5(self) -> bool:
        return self.version != DEFAULT_VERSION

    def key_scope(self, key: ApiKey | None) -> frozenset[int] | None:
        """The printers ``key`` reaches (1.2.6); ``None``: all of them."""
        return key.printer_ids if key is not None and self.newer_than_1_2_5 else None

    def token_scope(self, token: str | None) -> frozenset[int] | None:
        value = self.db.ws_token_keys.get(token or "")
        return self.key_scope(self.db.api_keys.get(value) if value else None)

    def set_key_printers(self, key: str, printer_ids: Iterable[int] | None) -> None:
        """1.2.6: the admin changes which printers the key reaches (None: all)."""
        self.db.api_keys[key].printer_ids = None if printer_ids is None else frozenset(printer_ids)

    def deactivate_key_owner(self, key: str) -> None:
        """1.2.6 (#1894): the key's owner is deactivated, which disables the key."""
        self.db.api_keys[key].owner_active = False

    async def close_websockets(self, code: int = 4401) -> None:
        """1.2.6: scopes changed and their refresh failed: every socket is closed with 4401
        ("unauthorised"); a client mints a new token and reconnects."""
        await self.hub.close_all(code)

    def repair_weights(self) -> list[int]:
        """1.2.6's one-time upgrade repair (#2909): ``weight_used`` of every weighed spool is
        recomputed from its last scale weight; no usage row is written. Returns the spools."""
        repaired = []
        for spool in self.db.spools.values():
            scale = spool.fields.get("last_scale_weight")
            if scale is None:
                continue
            net = float(scale) - float(spool.fields.get("core_weight") or 0)
            spool.fields["weight_used"] = round(max(spool.label_weight - net, 0.0), 1)
            repaired.append(spool.id)
        return repaired

    def create_api_key(
        self,
        name: str = "ha",
        can_read_status: bool = True,
        can_manage_inventory: bool = True,
        can_control_printer: bool = False,
        *,
        key: str | None = None,
        expires_at: datetime | None = None,
        printer_ids: Iterable[int] | None = None,
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
            printer_ids=None if printer_ids is None else frozenset(printer_ids),
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
        automation.report(self, printer)
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
        automation.report(self, printer)
        return unit_id

    def remove_ams_unit(self, printer_id: int, ams_id: int) -> None:
        printer = self.printers[printer_id]
        printer.ams = [unit for unit in printer.ams if unit.id != ams_id]
        automation.report(self, printer)

    def reconnect_printer(self, printer_id: int) -> None:
        """A new MQTT client (`POST /printers/{id}/connect`): its first report runs it all."""
        printer = self.printers[printer_id]
        printer.ams_hash = None
        automation.report(self, printer)

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

        The report runs Bambuddy's own automation (automation.py) when the AMS state changed:
        auto-unlink, RFID match / link / auto-create and assign, remain% weight sync.
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
        automation.report(self, self.printers[printer_id])

    def set_remain(self, printer_id: int, ams_id: int, tray_id: int, remain: int) -> None:
        """The printer reports a new remain% for a loaded slot."""
        self._tray(printer_id, ams_id, tray_id).remain = remain
        automation.report(self, self.printers[printer_id])

    def clear_tray(self, printer_id: int, ams_id: int, tray_id: int) -> None:
        """Take the spool out; Bambuddy auto-unlinks an assignment made while it was loaded."""
        tray = self._tray(printer_id, ams_id, tray_id)
        tray.clear(external=ams_id == EXTERNAL_AMS_ID)
        automation.report(self, self.printers[printer_id])

    def report_status(self, printer_id: int) -> None:
        """A periodic push from the printer (runs the automation only if the AMS changed)."""
        automation.report(self, self.printers[printer_id])

    # --- Bambuddy's own inventory writes (no inventory_changed, AUTOMATION.md §6) -----

    def add_spool(self, **fields: Any) -> Spool:
        """Insert a spool as Bambuddy itself does (RFID auto-create): no event of its own."""
        return create_spool(self.db, fields)

    def configure_assigned_slot(
        self, printer: Printer, ams_id: int, tray_id: int, spool: Spool
    ) -> None:
        """The deferred configuration of a slot pre-assigned while empty (§3 row 5)."""
        slots.configure_slot(self, printer, ams_id, tray_id, spool, report_now=False)

    # --- inventory helpers used by the REST layer ------------------------------------

    def inventory_changed(self) -> None:
        self.broadcast({"type": "inventory_changed"})

    # --- settings -----------------------------------------------------------------------

    def set_spoolman_mode(self, on: bool) -> None:
        self.db.spoolman_enabled = on

    def set_setting(self, name: str, value: str | None) -> None:
        """Write (or, with None, remove) a row of Bambuddy's settings table."""
        if value is None:
            self.db.settings.pop(name, None)
        else:
            self.db.settings[name] = value

    @property
    def auto_add_unknown_rfid(self) -> bool:
        """On when the row is missing or reads "true" (an empty string is off here)."""
        value = self.db.settings.get(SETTING_AUTO_ADD_RFID)
        return value is None or value.lower() == "true"

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
            "auto_add_unknown_rfid": self.db.settings.get(SETTING_AUTO_ADD_RFID, "true").lower()
            in ("true", ""),
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
        mapped: bool = True,
        booked: dict[tuple[int, int], float | list[float]] | None = None,
        has_3mf: bool = True,
    ) -> None:
        """Run a whole print and return after the usage step (ws_usage_delay after the end).

        `grams` maps inventory slot addresses to consumed grams. `status` is the
        print_complete status ("completed", "failed", "aborted", "cancelled"). `slot_ids`
        fills `slot_id` of the usage event (3MF path), otherwise null (remain% path).
        `legacy_weights` simulates an old Bambuddy: weights go into print_complete.data
        ("float" total or "dict" {"ams-tray": g}) and no usage rows or usage event follow.
        `mapped=False`: a print started at the printer, with no AMS mapping in print_start
        (Bambuddy then sends no missing_spool_assignment). `booked`: what Bambuddy's tracker
        books instead of `grams` (its known over-booking bugs); `has_3mf=False`: the archive
        has no slicer estimate.
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
                mapped=mapped,
                booked=None if booked is None else dict(booked),
                has_3mf=has_3mf,
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
        mapped: bool = True,
        booked: dict[tuple[int, int], float | list[float]] | None = None,
        has_3mf: bool = True,
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
                mapped=mapped,
                booked=booked,
                has_3mf=has_3mf,
            )
        )
