"""FilaMan REST endpoints: auth, validation order and bodies as the FastAPI server has them.

Order per request, as in FastAPI: JSON decode (422) -> credential/permission (401/403)
-> path, query and body validation (422, all errors at once) -> handler (404/400/...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from . import serialize as ser
from .auth import KeyRing, Principal
from .errors import coded, not_found
from .models import STATUS_ID_BY_KEY, Spool
from .state import FilamanState
from .validation import (
    PAGE,
    PAGE_SIZE,
    BodyField,
    ErrorList,
    QueryParam,
    decode_json_body,
    parse_body,
    parse_path_int,
    parse_query,
    raise_if_errors,
)
from .workers import PRIMARY_WORKER, Workers

VERSION = "1.2.20"
API = "/api/v1"

SPOOL_SORT_PATTERN = (
    "^(id|filament_id|status_id|location_id|remaining_weight_g|purchase_date|purchase_price|"
    "last_used_at|created_at|lot_number|initial_total_weight_g|empty_spool_weight_g|"
    "manufacturer|material|mfr_color)$"
)
FILAMENT_SORT_PATTERN = (
    "^(id|designation|material_type|diameter_mm|price|manufacturer_color_name|density_g_cm3|"
    "raw_material_weight_g|finish_type|material_subgroup|manufacturer|spool_count)$"
)
SORT_ORDER_PATTERN = "^(asc|desc)$"

SPOOL_LIST_QUERY: dict[str, QueryParam] = {
    "page": PAGE,
    "page_size": PAGE_SIZE,
    "filament_id": QueryParam("int"),
    "status_id": QueryParam("int"),
    "location_id": QueryParam("int"),
    "manufacturer_id": QueryParam("int"),
    "type": QueryParam("str"),
    "include_archived": QueryParam("bool", False),
    "search": QueryParam("str", max_length=200),
    "sort_by": QueryParam("str", "id", pattern=SPOOL_SORT_PATTERN),
    "sort_order": QueryParam("str", "desc", pattern=SORT_ORDER_PATTERN),
}
PAGING_QUERY: dict[str, QueryParam] = {"page": PAGE, "page_size": PAGE_SIZE}
PRINTER_FILTER_QUERY: dict[str, QueryParam] = {"printer_id": QueryParam("int")}

_SPOOL_WRITABLE: dict[str, BodyField] = {
    "status_id": BodyField("int"),
    "lot_number": BodyField("str"),
    "rfid_uid": BodyField("str"),
    "external_id": BodyField("str"),
    "location_id": BodyField("int"),
    "purchase_date": BodyField("datetime"),
    "purchase_price": BodyField("number"),
    "initial_total_weight_g": BodyField("number"),
    "empty_spool_weight_g": BodyField("number"),
    "spool_outer_diameter_mm": BodyField("number"),
    "spool_width_mm": BodyField("number"),
    "spool_material": BodyField("str"),
    "custom_fields": BodyField("object"),
}
SPOOL_CREATE: dict[str, BodyField] = {
    "filament_id": BodyField("int", required=True, nullable=False),
    **_SPOOL_WRITABLE,
    "stocked_in_at": BodyField("datetime"),
    "remaining_weight_g": BodyField("number"),
    "low_weight_threshold_g": BodyField("int", nullable=False),
}
# SpoolUpdate has no remaining_weight_g: pydantic ignores it (no 422, no effect).
SPOOL_UPDATE: dict[str, BodyField] = {
    "filament_id": BodyField("int"),
    **_SPOOL_WRITABLE,
    "low_weight_threshold_g": BodyField("int"),
}
CONSUMPTION: dict[str, BodyField] = {
    "delta_weight_g": BodyField("number", required=True, nullable=False),
    "event_at": BodyField("datetime"),
    "note": BodyField("str"),
}
MEASUREMENT: dict[str, BodyField] = {
    "measured_weight_g": BodyField("number", required=True, nullable=False),
    "event_at": BodyField("datetime"),
    "note": BodyField("str"),
}
ADJUSTMENT: dict[str, BodyField] = {
    "adjustment_type": BodyField("str", required=True, nullable=False),
    "delta_weight_g": BodyField("number"),
    "measured_weight_g": BodyField("number"),
    "event_at": BodyField("datetime"),
    "note": BodyField("str"),
}
STATUS_CHANGE: dict[str, BodyField] = {
    "status": BodyField("str", required=True, nullable=False),
    "event_at": BodyField("datetime"),
    "note": BodyField("str"),
    "meta": BodyField("object"),
}
LOCATION_CREATE: dict[str, BodyField] = {
    "name": BodyField("str", required=True, nullable=False),
    "identifier": BodyField("str"),
    "custom_fields": BodyField("object"),
}
MOVE: dict[str, BodyField] = {
    "location_id": BodyField("int", required=True),
    "event_at": BodyField("datetime"),
    "note": BodyField("str"),
}
PARAMS_PUT: dict[str, BodyField] = {
    "params": BodyField("param_list", required=True, nullable=False)
}
PARAMS_IMPORT: dict[str, BodyField] = {
    "filament_params": BodyField("object", nullable=False),
    "spool_params": BodyField("object", nullable=False),
}
DRIVER_ACTION: dict[str, BodyField] = {
    "action": BodyField("str", required=True, nullable=False),
    "params": BodyField("object"),
}


@dataclass
class Parsed:
    """What a request carried once authenticated and validated."""

    principal: Principal | None
    path: dict[str, int]
    query: dict[str, Any]
    body: dict[str, Any]


def _sort_rows[T](rows: list[T], key: Callable[[T], Any], descending: bool) -> list[T]:
    """SQL-like: NULLs first ascending, last descending; ties keep id order."""

    def sort_key(row: T) -> tuple[bool, Any]:
        value = key(row)
        return (value is not None, value if value is not None else 0)

    return sorted(rows, key=sort_key, reverse=descending)


class FilamanHandlers:
    def __init__(
        self,
        state: FilamanState,
        keys: KeyRing,
        bus: Workers,
        primary_proxy_failures: Callable[[], bool] = lambda: False,
    ) -> None:
        self._primary_proxy_failures = primary_proxy_failures
        self.listing_pages = 0
        """Pages of more than one spool served (a listing, not a one-item look)."""
        self.state = state
        self.keys = keys
        self.bus = bus

    # --- plumbing --------------------------------------------------------------------------

    async def _parse(
        self,
        request: web.Request,
        *,
        auth: bool = True,
        permission: str | None = None,
        path_ints: tuple[str, ...] = (),
        query: Mapping[str, QueryParam] | None = None,
        body: Mapping[str, BodyField] | None = None,
    ) -> Parsed:
        raw_body = decode_json_body(await request.read()) if body is not None else None
        principal = self.keys.authenticate(request.headers.get("Authorization")) if auth else None
        if principal is not None and permission is not None:
            principal.require(permission)
        errors: ErrorList = []
        path = {name: parse_path_int(name, request.match_info[name], errors) for name in path_ints}
        query_values = parse_query(request.query, query, errors) if query else {}
        body_values = parse_body(raw_body, body, errors) if body is not None else {}
        raise_if_errors(errors)
        return Parsed(principal, path, query_values, body_values)

    def _from_primary(self) -> None:
        """Driver endpoints served by a worker that is not the primary: 1.2.20 answers from
        shared memory (the same answer); newer releases proxy to the primary and may fail with
        503 ``primary_proxy_failed`` (FilaMan issue #146), which ``primary_proxy_failures`` turns
        on."""
        if self._primary_proxy_failures() and self.bus.current() != PRIMARY_WORKER:
            raise coded(503, "primary_proxy_failed", "Could not reach the primary worker")

    def _user_id(self, parsed: Parsed) -> int | None:
        return parsed.principal.user.id if parsed.principal else None

    def _spools_changed(self) -> None:
        self.bus.publish({"event": "spools_changed"})

    def routes(self) -> list[web.RouteDef]:
        spool = f"{API}/spools/{{spool_id}}"
        printer = f"{API}/printers/{{printer_id}}"
        return [
            web.get("/health", self.health),
            web.get("/openapi.json", self.openapi),
            web.get(f"{API}/app-settings/public-info", self.public_info),
            web.get(f"{API}/events/stream", self.events_stream),
            web.get(f"{API}/me", self.me),
            web.get(f"{API}/spools/statuses", self.spool_statuses),
            web.get(f"{API}/spools/all-events", self.all_events),
            web.get(f"{API}/spools", self.list_spools),
            web.post(f"{API}/spools", self.create_spool),
            web.get(spool, self.get_spool),
            web.patch(spool, self.update_spool),
            web.delete(spool, self.archive_spool),
            web.delete(f"{spool}/permanent", self.delete_spool_permanent),
            web.post(f"{spool}/consumptions", self.record_consumption),
            web.post(f"{spool}/measurements", self.record_measurement),
            web.post(f"{spool}/adjustments", self.record_adjustment),
            web.post(f"{spool}/status", self.change_status),
            web.post(f"{spool}/move", self.move_spool),
            web.get(f"{spool}/events", self.spool_events),
            web.get(f"{spool}/printer-params", self.get_spool_params),
            web.put(f"{spool}/printer-params/{{printer_id}}", self.put_spool_params),
            web.delete(f"{spool}/printer-params/{{printer_id}}", self.delete_spool_params),
            web.get(f"{API}/filaments", self.list_filaments),
            web.get(f"{API}/filaments/{{filament_id}}", self.get_filament),
            web.get(f"{API}/filaments/{{filament_id}}/printer-params", self.get_filament_params),
            web.put(
                f"{API}/filaments/{{filament_id}}/printer-params/{{printer_id}}",
                self.put_filament_params,
            ),
            web.delete(
                f"{API}/filaments/{{filament_id}}/printer-params/{{printer_id}}",
                self.delete_filament_params,
            ),
            web.get(f"{API}/manufacturers", self.list_manufacturers),
            web.get(f"{API}/manufacturers/{{manufacturer_id}}", self.get_manufacturer),
            web.get(f"{API}/colors", self.list_colors),
            web.get(f"{API}/locations", self.list_locations),
            web.post(f"{API}/locations", self.create_location),
            web.get(f"{API}/locations/{{location_id}}", self.get_location),
            web.get(f"{API}/admin/system/plugins", self.list_plugins),
            web.get(f"{API}/printers", self.list_printers),
            web.get(printer, self.get_printer),
            web.get(f"{printer}/slots", self.printer_slots),
            web.get(f"{printer}/driver/health", self.driver_health),
            web.post(f"{printer}/driver/action", self.driver_action),
            web.get(f"{printer}/params/export", self.params_export),
            web.post(f"{printer}/params/import", self.params_import),
        ]

    # --- public ----------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"openapi": "3.1.0", "info": {"title": "FilaMan", "version": VERSION}, "paths": {}}
        )

    async def public_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "login_disabled": False,
                "currency": "EUR",
                "rfid_extended_data_enabled": False,
                "rfid_protocol": "openspool",
            }
        )

    async def events_stream(self, request: web.Request) -> web.StreamResponse:
        return await self.bus.stream(request)

    async def me(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request)
        assert parsed.principal is not None
        return web.json_response(ser.me(parsed.principal.user, parsed.principal.permissions))

    # --- spools ----------------------------------------------------------------------------

    async def spool_statuses(self, request: web.Request) -> web.Response:
        await self._parse(request)
        return web.json_response(ser.statuses())

    async def list_spools(self, request: web.Request) -> web.Response:
        q = (await self._parse(request, query=SPOOL_LIST_QUERY)).query
        if q["page_size"] > 1:
            self.listing_pages += 1
        rows = sorted(self.state.spools.values(), key=lambda s: s.id)
        rows = [s for s in rows if self._spool_matches(s, q)]
        rows = _sort_rows(rows, self._spool_sort_key(q["sort_by"]), q["sort_order"] == "desc")
        items, total = ser.paginate(rows, q["page"], q["page_size"])
        return web.json_response(
            ser.page([ser.spool(self.state, s) for s in items], q["page"], q["page_size"], total)
        )

    def _spool_matches(self, spool: Spool, q: Mapping[str, Any]) -> bool:
        filament = self.state.filaments.get(spool.filament_id)
        # Server quirk: a status_id filter replaces the "hide archived" default.
        if q["status_id"]:
            if spool.status_id != q["status_id"]:
                return False
        elif not q["include_archived"] and spool.status_id == STATUS_ID_BY_KEY["archived"]:
            return False
        if q["filament_id"] and spool.filament_id != q["filament_id"]:
            return False
        if q["location_id"] and spool.location_id != q["location_id"]:
            return False
        if q["manufacturer_id"] and (
            filament is None or filament.manufacturer_id != q["manufacturer_id"]
        ):
            return False
        if q["type"] and (filament is None or filament.material_type != q["type"]):
            return False
        if q["search"]:
            needle = q["search"].lower()
            maker = self.state.manufacturers.get(filament.manufacturer_id) if filament else None
            haystack = [
                filament.designation if filament else None,
                filament.material_type if filament else None,
                filament.manufacturer_color_name if filament else None,
                maker.name if maker else None,
                spool.lot_number,
                spool.rfid_uid,
            ]
            if not any(text and needle in text.lower() for text in haystack):
                return False
        return True

    def _spool_sort_key(self, sort_by: str) -> Callable[[Spool], Any]:
        def filament_attr(name: str) -> Callable[[Spool], Any]:
            def key(spool: Spool) -> Any:
                filament = self.state.filaments.get(spool.filament_id)
                return getattr(filament, name) if filament else None

            return key

        if sort_by == "manufacturer":

            def maker_name(spool: Spool) -> Any:
                filament = self.state.filaments.get(spool.filament_id)
                maker = self.state.manufacturers.get(filament.manufacturer_id) if filament else None
                return maker.name if maker else None

            return maker_name
        if sort_by == "material":
            return filament_attr("material_type")
        if sort_by == "mfr_color":
            return filament_attr("manufacturer_color_name")
        return lambda spool: getattr(spool, sort_by)

    async def create_spool(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, permission="spools:create", body=SPOOL_CREATE)
        spool = self.state.create_spool(parsed.body)
        self._spools_changed()
        return web.json_response(ser.spool(self.state, spool), status=201)

    async def get_spool(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("spool_id",))
        spool = self.state.get_spool(parsed.path["spool_id"])
        return web.json_response(ser.spool(self.state, spool))

    async def update_spool(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request, permission="spools:update", path_ints=("spool_id",), body=SPOOL_UPDATE
        )
        spool = self.state.update_spool(parsed.path["spool_id"], parsed.body, self._user_id(parsed))
        self._spools_changed()
        return web.json_response(ser.spool(self.state, spool))

    async def archive_spool(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, permission="spools:delete", path_ints=("spool_id",))
        self.state.archive_spool(parsed.path["spool_id"])
        self._spools_changed()
        return web.Response(status=204)

    async def delete_spool_permanent(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, permission="spools:delete", path_ints=("spool_id",))
        self.state.delete_spool_permanent(parsed.path["spool_id"])
        self._spools_changed()
        return web.Response(status=204)

    # --- weight events ---------------------------------------------------------------------

    async def record_consumption(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="spool_events:create_consumption",
            path_ints=("spool_id",),
            body=CONSUMPTION,
        )
        b = parsed.body
        event = self.state.record_consumption(
            parsed.path["spool_id"],
            b["delta_weight_g"],
            event_at=_when(b),
            note=b.get("note"),
            user_id=self._user_id(parsed),
        )
        self._spools_changed()
        return web.json_response(ser.event(event))

    async def record_measurement(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="spool_events:create_measurement",
            path_ints=("spool_id",),
            body=MEASUREMENT,
        )
        b = parsed.body
        event = self.state.record_measurement(
            parsed.path["spool_id"],
            b["measured_weight_g"],
            event_at=_when(b),
            note=b.get("note"),
            user_id=self._user_id(parsed),
        )
        self._spools_changed()
        return web.json_response(ser.event(event))

    async def record_adjustment(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="spool_events:create_adjustment",
            path_ints=("spool_id",),
            body=ADJUSTMENT,
        )
        b = parsed.body
        event = self.state.record_adjustment(
            parsed.path["spool_id"],
            b["adjustment_type"],
            delta_weight_g=b.get("delta_weight_g"),
            measured_weight_g=b.get("measured_weight_g"),
            event_at=_when(b),
            note=b.get("note"),
            user_id=self._user_id(parsed),
        )
        self._spools_changed()
        return web.json_response(ser.event(event))

    async def change_status(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="spool_events:create_status",
            path_ints=("spool_id",),
            body=STATUS_CHANGE,
        )
        b = parsed.body
        event = self.state.change_status(
            parsed.path["spool_id"],
            b["status"],
            event_at=_when(b),
            note=b.get("note"),
            meta=b.get("meta"),
            user_id=self._user_id(parsed),
        )
        self._spools_changed()
        return web.json_response(ser.event(event))

    async def move_spool(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="spool_events:create_move_location",
            path_ints=("spool_id",),
            body=MOVE,
        )
        b = parsed.body
        event = self.state.move_spool(
            parsed.path["spool_id"],
            b["location_id"],
            event_at=_when(b),
            note=b.get("note"),
            user_id=self._user_id(parsed),
        )
        self._spools_changed()
        return web.json_response(ser.event(event))

    async def spool_events(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request, permission="spool_events:read", path_ints=("spool_id",), query=PAGING_QUERY
        )
        spool = self.state.get_spool(parsed.path["spool_id"])
        return self._event_page(self.state.spool_events(spool.id), parsed.query)

    async def all_events(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, permission="spool_events:read", query=PAGING_QUERY)
        return self._event_page(self.state.spool_events(), parsed.query)

    def _event_page(self, events: list[Any], q: Mapping[str, Any]) -> web.Response:
        items, total = ser.paginate(events, q["page"], q["page_size"])
        return web.json_response(
            ser.page([ser.event(e) for e in items], q["page"], q["page_size"], total)
        )

    # --- printer params --------------------------------------------------------------------

    async def get_spool_params(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("spool_id",), query=PRINTER_FILTER_QUERY)
        rows = self.state.spool_params(parsed.path["spool_id"], parsed.query["printer_id"])
        return web.json_response([ser.spool_param(r) for r in rows])

    async def put_spool_params(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request, permission="spools:edit", path_ints=("spool_id", "printer_id"), body=PARAMS_PUT
        )
        rows = self.state.set_printer_params(
            parsed.path["printer_id"], _param_map(parsed.body), spool_id=parsed.path["spool_id"]
        )
        return web.json_response([ser.spool_param(r) for r in rows])

    async def delete_spool_params(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="spools:edit",
            path_ints=("spool_id", "printer_id"),
            query={"param_key": QueryParam("str")},
        )
        self._delete_params(parsed, spool_id=parsed.path["spool_id"])
        return web.Response(status=204)

    async def get_filament_params(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("filament_id",), query=PRINTER_FILTER_QUERY)
        rows = self.state.filament_params(parsed.path["filament_id"], parsed.query["printer_id"])
        return web.json_response([ser.filament_param(r) for r in rows])

    async def put_filament_params(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="filaments:edit",
            path_ints=("filament_id", "printer_id"),
            body=PARAMS_PUT,
        )
        rows = self.state.set_printer_params(
            parsed.path["printer_id"],
            _param_map(parsed.body),
            filament_id=parsed.path["filament_id"],
        )
        return web.json_response([ser.filament_param(r) for r in rows])

    async def delete_filament_params(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request,
            permission="filaments:edit",
            path_ints=("filament_id", "printer_id"),
            query={"param_key": QueryParam("str")},
        )
        self._delete_params(parsed, filament_id=parsed.path["filament_id"])
        return web.Response(status=204)

    def _delete_params(
        self, parsed: Parsed, *, spool_id: int | None = None, filament_id: int | None = None
    ) -> None:
        self.state.delete_params(
            parsed.path["printer_id"],
            spool_id=spool_id,
            filament_id=filament_id,
            param_key=parsed.query["param_key"],
        )

    # --- catalogue -------------------------------------------------------------------------

    async def list_filaments(self, request: web.Request) -> web.Response:
        q = (
            await self._parse(
                request,
                query={
                    **PAGING_QUERY,
                    "type": QueryParam("str"),
                    "manufacturer_id": QueryParam("int"),
                    "search": QueryParam("str", max_length=200),
                    "sort_by": QueryParam("str", "designation", pattern=FILAMENT_SORT_PATTERN),
                    "sort_order": QueryParam("str", "asc", pattern=SORT_ORDER_PATTERN),
                },
            )
        ).query
        rows = sorted(self.state.filaments.values(), key=lambda f: f.id)
        if q["type"]:
            rows = [f for f in rows if f.material_type == q["type"]]
        if q["manufacturer_id"]:
            rows = [f for f in rows if f.manufacturer_id == q["manufacturer_id"]]
        if q["search"]:
            needle = q["search"].lower()
            rows = [
                f
                for f in rows
                if any(
                    text and needle in text.lower()
                    for text in (f.designation, f.material_type, f.manufacturer_color_name)
                )
            ]
        sort_by = q["sort_by"]
        if sort_by == "manufacturer":
            rows = _sort_rows(
                rows,
                lambda f: self.state.manufacturers[f.manufacturer_id].name,
                q["sort_order"] == "desc",
            )
        elif sort_by != "spool_count":
            rows = _sort_rows(rows, lambda f: getattr(f, sort_by), q["sort_order"] == "desc")
        items, total = ser.paginate(rows, q["page"], q["page_size"])
        return web.json_response(
            ser.page([ser.filament(self.state, f) for f in items], q["page"], q["page_size"], total)
        )

    async def get_filament(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("filament_id",))
        filament = self.state.get_filament(parsed.path["filament_id"])
        return web.json_response(ser.filament(self.state, filament))

    async def list_manufacturers(self, request: web.Request) -> web.Response:
        q = (await self._parse(request, query=PAGING_QUERY)).query
        rows = sorted(self.state.manufacturers.values(), key=lambda m: m.name.lower())
        items, total = ser.paginate(rows, q["page"], q["page_size"])
        return web.json_response(
            ser.page(
                [ser.manufacturer(self.state, m) for m in items], q["page"], q["page_size"], total
            )
        )

    async def get_manufacturer(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("manufacturer_id",))
        row = self.state.get_manufacturer(parsed.path["manufacturer_id"])
        return web.json_response(ser.manufacturer(self.state, row))

    async def list_colors(self, request: web.Request) -> web.Response:
        q = (await self._parse(request, query=PAGING_QUERY)).query
        rows = sorted(self.state.colors.values(), key=lambda c: c.name.lower())
        items, total = ser.paginate(rows, q["page"], q["page_size"])
        body = [ser.color(c, ser.color_usage(self.state, c.id)) for c in items]
        return web.json_response(ser.page(body, q["page"], q["page_size"], total))

    async def list_locations(self, request: web.Request) -> web.Response:
        q = (await self._parse(request, query=PAGING_QUERY)).query
        rows = sorted(self.state.locations.values(), key=lambda loc: loc.name)
        items, total = ser.paginate(rows, q["page"], q["page_size"])
        body = [ser.location(self.state, loc) for loc in items]
        return web.json_response(ser.page(body, q["page"], q["page_size"], total))

    async def create_location(self, request: web.Request) -> web.Response:
        """201 and ``locations_changed``; needs ``locations:create`` (not in the ``user`` role)."""
        parsed = await self._parse(request, permission="locations:create", body=LOCATION_CREATE)
        b = parsed.body
        row = self.state.add_location(b["name"], b.get("identifier"), b.get("custom_fields"))
        self.bus.publish({"event": "locations_changed"})
        return web.json_response(ser.location(self.state, row), status=201)

    async def get_location(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("location_id",))
        row = self.state.locations.get(parsed.path["location_id"])
        if row is None:
            raise not_found("Location")
        return web.json_response(ser.location(self.state, row))

    # --- plugins ---------------------------------------------------------------------------

    async def list_plugins(self, request: web.Request) -> web.Response:
        """Installed plugins (``admin:plugins_manage``: the admin role only)."""
        await self._parse(request, permission="admin:plugins_manage")
        return web.json_response(self.state.plugins)

    # --- printers --------------------------------------------------------------------------

    async def list_printers(self, request: web.Request) -> web.Response:
        q = (await self._parse(request, query=PAGING_QUERY)).query
        rows = sorted(self.state.printers.values(), key=lambda p: p.name)
        items, total = ser.paginate(rows, q["page"], q["page_size"])
        return web.json_response(
            ser.page([ser.printer(p) for p in items], q["page"], q["page_size"], total)
        )

    async def get_printer(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("printer_id",))
        return web.json_response(
            ser.printer_detail(self.state.get_printer(parsed.path["printer_id"]))
        )

    async def printer_slots(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("printer_id",))
        return web.json_response(
            ser.printer_slots(self.state.get_printer(parsed.path["printer_id"]))
        )

    async def driver_health(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request, path_ints=("printer_id",), query={"refresh": QueryParam("int")}
        )
        self._from_primary()
        return web.json_response(
            ser.driver_health(self.state.get_printer(parsed.path["printer_id"]))
        )

    async def driver_action(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request, permission="printers:update", path_ints=("printer_id",), body=DRIVER_ACTION
        )
        printer = self.state.get_printer(parsed.path["printer_id"])
        self._from_primary()
        if not printer.driver_running:
            raise coded(400, "driver_not_running", "Driver is not running for this printer")
        return web.json_response({"success": True, "message": "ok", "data": None})

    async def params_export(self, request: web.Request) -> web.Response:
        parsed = await self._parse(request, path_ints=("printer_id",))
        printer = self.state.get_printer(parsed.path["printer_id"])
        return web.json_response(ser.params_export(self.state, printer))

    async def params_import(self, request: web.Request) -> web.Response:
        parsed = await self._parse(
            request, permission="printers:update", path_ints=("printer_id",), body=PARAMS_IMPORT
        )
        printer_id = self.state.get_printer(parsed.path["printer_id"]).id
        imported = 0
        for target, spool_level in (("filament_params", False), ("spool_params", True)):
            for object_id, items in (parsed.body.get(target) or {}).items():
                params = {str(i["param_key"]): i.get("param_value") for i in items}
                self.state.set_printer_params(
                    printer_id,
                    params,
                    spool_id=int(object_id) if spool_level else None,
                    filament_id=None if spool_level else int(object_id),
                )
                imported += len(params)
        return web.json_response({"imported": imported, "message": f"Imported {imported} params"})


def _when(body: Mapping[str, Any]) -> datetime | None:
    value = body.get("event_at")
    return value if isinstance(value, datetime) else None


def _param_map(body: Mapping[str, Any]) -> dict[str, str | None]:
    return {item["param_key"]: item["param_value"] for item in body["params"]}
