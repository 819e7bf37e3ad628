"""The REST routes of Bambuddy 1.2.5.2 that the integration uses (API.md §1-§8).

Trailing slashes are exact: only the registered form exists, the other falls through to the
404 `{"detail":"Not found"}` of the web-UI catch-all (see app.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import slots
from .auth import READ, WRITE, HttpError, require
from .inventory import (
    create_spool,
    find_spool_by_tag,
    inventory_remain,
    normalise_tag,
    patch_spool,
    sorted_spools,
    usage_newest_first,
)
from .state import SCOPE_FLAGS, ApiKey, Spool, new_api_key_value, utc_now
from .validation import (
    FieldRule,
    json_object_body,
    path_int,
    query_bool,
    query_int,
    validate_fields,
)

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

VERSION = "1.2.5.2"
API = "/api/v1"
API_KEY_SCOPE_DEFAULTS = dict.fromkeys(SCOPE_FLAGS, True) | {
    "can_control_printer": False,
    "can_access_cloud": False,
    "can_update_energy_cost": False,
}
ASSIGNMENT_RULES = {
    name: FieldRule("int") for name in ("spool_id", "printer_id", "ams_id", "tray_id")
}


def _json(body: Any) -> web.Response:
    return web.json_response(body)


class RestApi:
    """Route handlers bound to one simulator."""

    def __init__(self, sim: BambuddySimulator) -> None:
        self.sim = sim
        self.db = sim.db

    def routes(self) -> list[web.RouteDef]:
        spool = f"{API}/inventory/spools/{{spool_id}}"
        return [
            web.get("/health", self.health),
            web.get(f"{API}/auth/status", self.auth_status),
            web.get(f"{API}/updates/version", self.version),
            web.post(f"{API}/auth/ws-token", self.ws_token),
            web.get(f"{API}/api-keys/", self.list_api_keys),
            web.post(f"{API}/api-keys/", self.create_api_key),
            web.get(f"{API}/printers/", self.list_printers),
            web.get(f"{API}/printers/{{printer_id}}", self.get_printer),
            web.get(f"{API}/printers/{{printer_id}}/status", self.printer_status),
            web.get(f"{API}/printers/{{printer_id}}/inventory-remain", self.inventory_remain),
            web.get(f"{API}/inventory/spools", self.list_spools),
            web.post(f"{API}/inventory/spools", self.create_spool),
            web.get(f"{API}/inventory/spools/by-tag", self.spool_by_tag),
            web.get(spool, self.get_spool),
            web.patch(spool, self.patch_spool),
            web.delete(spool, self.delete_spool),
            web.post(f"{spool}/archive", self.archive_spool),
            web.post(f"{spool}/restore", self.restore_spool),
            web.get(f"{spool}/usage", self.spool_usage),
            web.delete(f"{spool}/usage", self.clear_spool_usage),
            web.get(f"{API}/inventory/usage", self.all_usage),
            web.get(f"{API}/inventory/assignments", self.list_assignments),
            web.post(f"{API}/inventory/assignments", self.create_assignment),
            web.delete(
                f"{API}/inventory/assignments/{{printer_id}}/{{ams_id}}/{{tray_id}}",
                self.delete_assignment,
            ),
            web.get(f"{API}/archives/", self.list_archives),
            web.get(f"{API}/settings/", self.settings),
            web.get(f"{API}/settings", self.settings),
            web.get(f"{API}/settings/spoolman", self.spoolman_settings),
        ]

    # --- public -------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return _json({"status": "healthy"})

    async def auth_status(self, request: web.Request) -> web.Response:
        return _json({"auth_enabled": self.sim.auth_enabled, "requires_setup": False})

    async def version(self, request: web.Request) -> web.Response:
        return _json({"version": self.sim.version, "repo": "maziggy/bambuddy"})

    def _in_scope(self, key: ApiKey | None, printer_id: int) -> None:
        """1.2.6 (#1727): a printer outside the key's scope is "not found", never forbidden."""
        scope = self.sim.key_scope(key)
        if scope is not None and printer_id not in scope:
            raise HttpError(404, "Printer not found")

    def _scoped(self, key: ApiKey | None, printer_id: int | None) -> bool:
        scope = self.sim.key_scope(key)
        return scope is None or printer_id is None or printer_id in scope

    # --- auth ---------------------------------------------------------------------------

    async def ws_token(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, READ)
        return _json({"token": self.db.mint_ws_token(key.key if key is not None else None)})

    def _admin_only(self, request: web.Request) -> None:
        """Key management needs an admin JWT, or no auth at all (API.md §2)."""
        if self.sim.auth_enabled:
            require(self.sim, request, None)
            raise HttpError(403, "API keys cannot be used for administrative operations")

    async def list_api_keys(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        keys = sorted(self.db.api_keys.values(), key=lambda key: key.id)
        return _json([key.to_json(with_key=False) for key in keys])

    async def create_api_key(self, request: web.Request) -> web.Response:
        self._admin_only(request)
        rules = {flag: FieldRule("bool") for flag in SCOPE_FLAGS} | {"name": FieldRule("str")}
        values = validate_fields(await json_object_body(request), rules, required=("name",))
        scopes = {
            flag: bool(values.get(flag, API_KEY_SCOPE_DEFAULTS[flag])) for flag in SCOPE_FLAGS
        }
        key = ApiKey(
            id=self.db.next_id("api_key"),
            name=values["name"],
            key=new_api_key_value(),
            scopes=scopes,
            created_at=utc_now(),
        )
        self.db.api_keys[key.key] = key
        return _json(key.to_json(with_key=True))

    # --- printers -----------------------------------------------------------------------

    async def list_printers(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, READ)
        printers = sorted(self.sim.printers.values(), key=lambda printer: printer.name)
        return _json([p.info_json() for p in printers if self._scoped(key, p.id)])

    async def get_printer(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, READ)
        self._in_scope(key, path_int(request, "printer_id"))
        return _json(self.sim.printer_or_404(path_int(request, "printer_id")).info_json())

    async def printer_status(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, READ)
        self._in_scope(key, path_int(request, "printer_id"))
        return _json(self.sim.printer_or_404(path_int(request, "printer_id")).status_json())

    async def inventory_remain(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, READ)
        self._in_scope(key, path_int(request, "printer_id"))
        printer = self.sim.printer_or_404(path_int(request, "printer_id"))
        return _json({"inventory_remain_g": inventory_remain(self.db, printer.id)})

    # --- spools -------------------------------------------------------------------------

    def _spool(self, request: web.Request) -> Spool:
        spool = self.db.spools.get(path_int(request, "spool_id"))
        if spool is None:
            raise HttpError(404, "Spool not found")
        return spool

    async def list_spools(self, request: web.Request) -> web.Response:
        require(self.sim, request, READ)
        include_archived = query_bool(request, "include_archived", default=False)
        spools = [s for s in self.db.spools.values() if include_archived or s.archived_at is None]
        return _json([spool.to_json() for spool in sorted_spools(spools)])

    async def create_spool(self, request: web.Request) -> web.Response:
        require(self.sim, request, WRITE)
        spool = create_spool(self.db, await json_object_body(request))
        self.sim.inventory_changed()
        return _json(spool.to_json())

    async def spool_by_tag(self, request: web.Request) -> web.Response:
        try:
            require(self.sim, request, READ)
        except HttpError as exc:
            if exc.status != 403:
                raise
            require(self.sim, request, WRITE)
        tray_uuid = request.query.get("tray_uuid")
        tag_uid = request.query.get("tag_uid")
        if not tray_uuid and not tag_uid:
            raise HttpError(400, "Either tray_uuid or tag_uid is required")
        include_archived = query_bool(request, "include_archived", default=False)
        spool = find_spool_by_tag(
            self.db,
            normalise_tag(tray_uuid),
            normalise_tag(tag_uid, last=16),
            include_archived=include_archived,
        )
        if spool is None:
            raise HttpError(404, "Spool not found")
        return _json(spool.to_json())

    async def get_spool(self, request: web.Request) -> web.Response:
        require(self.sim, request, READ)
        return _json(self._spool(request).to_json())

    async def patch_spool(self, request: web.Request) -> web.Response:
        require(self.sim, request, WRITE)
        spool = self._spool(request)
        patch_spool(self.db, spool, await json_object_body(request))
        self.sim.inventory_changed()
        return _json(spool.to_json())

    async def delete_spool(self, request: web.Request) -> web.Response:
        require(self.sim, request, WRITE)
        spool = self._spool(request)
        del self.db.spools[spool.id]
        for assignment in list(self.db.assignments.values()):
            if assignment.spool_id == spool.id:
                del self.db.assignments[assignment.id]
        self.sim.inventory_changed()
        return _json({"status": "deleted"})

    async def archive_spool(self, request: web.Request) -> web.Response:
        require(self.sim, request, WRITE)
        spool = self._spool(request)
        spool.archived_at = spool.updated_at = utc_now()
        self.sim.inventory_changed()
        return _json(spool.to_json())

    async def restore_spool(self, request: web.Request) -> web.Response:
        require(self.sim, request, WRITE)
        spool = self._spool(request)
        spool.archived_at = None
        spool.updated_at = utc_now()
        self.sim.inventory_changed()
        return _json(spool.to_json())

    # --- usage history ------------------------------------------------------------------

    async def spool_usage(self, request: web.Request) -> web.Response:
        require(self.sim, request, READ)
        spool_id = path_int(request, "spool_id")
        limit = query_int(request, "limit", 50) or 0
        rows = [row for row in usage_newest_first(self.db) if row.spool_id == spool_id]
        return _json([row.to_json() for row in rows[:limit]])

    async def clear_spool_usage(self, request: web.Request) -> web.Response:
        require(self.sim, request, WRITE)
        spool_id = path_int(request, "spool_id")
        self.db.usage = [row for row in self.db.usage if row.spool_id != spool_id]
        return _json({"status": "cleared"})

    async def list_archives(self, request: web.Request) -> web.Response:
        """Newest first; `limit` (default 50) and `printer_id` as the server takes them."""
        key = require(self.sim, request, READ)
        limit = query_int(request, "limit", 50) or 0
        printer_id = query_int(request, "printer_id", None)
        archives = [
            archive
            for archive in reversed(self.db.archives)
            if (printer_id is None or archive.printer_id == printer_id)
            and self._scoped(key, archive.printer_id)
        ]
        return _json([archive.to_json() for archive in archives[:limit]])

    async def all_usage(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, READ)
        limit = query_int(request, "limit", 100) or 0
        printer_id = query_int(request, "printer_id", None)
        rows = [
            row
            for row in usage_newest_first(self.db)
            if (printer_id is None or row.printer_id == printer_id)
            and self._scoped(key, row.printer_id)
        ]
        return _json([row.to_json() for row in rows[:limit]])

    # --- assignments --------------------------------------------------------------------

    async def list_assignments(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, READ)
        printer_id = query_int(request, "printer_id", None)
        assignments = sorted(self.db.assignments.values(), key=lambda a: a.id)
        return _json(
            [
                slots.assignment_json(self.sim, assignment, configured=False, pending_config=False)
                for assignment in assignments
                if (printer_id is None or assignment.printer_id == printer_id)
                and self._scoped(key, assignment.printer_id)
            ]
        )

    async def create_assignment(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, WRITE)
        values = validate_fields(
            await json_object_body(request), ASSIGNMENT_RULES, required=tuple(ASSIGNMENT_RULES)
        )
        self._in_scope(key, values["printer_id"])
        spool = self.db.spools.get(values["spool_id"])
        if spool is None:
            raise HttpError(404, "Spool not found")
        if spool.archived_at is not None:
            raise HttpError(400, "Cannot assign an archived spool")
        body = slots.assign_spool(
            self.sim, spool, values["printer_id"], values["ams_id"], values["tray_id"]
        )
        return _json(body)

    async def delete_assignment(self, request: web.Request) -> web.Response:
        key = require(self.sim, request, WRITE)
        printer_id = path_int(request, "printer_id")
        self._in_scope(key, printer_id)
        ams_id = path_int(request, "ams_id")
        tray_id = path_int(request, "tray_id")
        if not slots.unassign(self.sim, printer_id, ams_id, tray_id):
            raise HttpError(404, "Assignment not found")
        return _json({"status": "deleted"})

    # --- settings -----------------------------------------------------------------------

    async def settings(self, request: web.Request) -> web.Response:
        require(self.sim, request, READ)
        return _json(self.sim.app_settings())

    async def spoolman_settings(self, request: web.Request) -> web.Response:
        require(self.sim, request, READ)
        enabled = "true" if self.db.spoolman_enabled else "false"
        return _json(
            {
                "spoolman_enabled": enabled,
                "spoolman_url": "http://filaman.local:8000/spoolman" if enabled == "true" else "",
                "spoolman_sync_mode": "auto",
                "spoolman_disable_weight_sync": "false",
                "spoolman_report_partial_usage": "true",
                # An empty stored value reads "true" here, yet switches auto-create off.
                "auto_add_unknown_rfid": self.db.settings.get("auto_add_unknown_rfid") or "true",
            }
        )
