"""HTTP controls under /_sim (no auth) for a simulator running in another process (the demo).

Each route is a thin JSON wrapper around the in-process method of the same name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

TRAY_FIELDS = (
    "tray_type",
    "tray_sub_brands",
    "tray_color",
    "remain",
    "tag_uid",
    "tray_uuid",
    "tray_info_idx",
    "tray_id_name",
    "nozzle_temp_min",
    "nozzle_temp_max",
    "state",
)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def _ok(**extra: Any) -> web.Response:
    return web.json_response({"ok": True, **extra})


class ControlApi:
    """The /_sim routes of one simulator."""

    def __init__(self, sim: BambuddySimulator) -> None:
        self.sim = sim

    def routes(self, prefix: str) -> list[web.RouteDef]:
        printer = f"{prefix}/printers/{{printer_id}}"
        return [
            web.get(f"{prefix}/state", self.state),
            web.post(f"{prefix}/printers", self.add_printer),
            web.post(f"{printer}/online", self.set_online),
            web.post(f"{printer}/trays", self.set_tray),
            web.delete(f"{printer}/trays/{{ams_id}}/{{tray_id}}", self.clear_tray),
            web.post(f"{printer}/ams", self.add_ams_unit),
            web.delete(f"{printer}/ams/{{ams_id}}", self.remove_ams_unit),
            web.post(f"{prefix}/print", self.run_print),
            web.post(f"{prefix}/ws/drop", self.drop_websockets),
            web.post(f"{prefix}/ws/inject", self.inject_ws_frame),
            web.post(f"{prefix}/ws/broadcast", self.broadcast),
            web.post(f"{prefix}/fault", self.fail_next),
            web.post(f"{prefix}/latency", self.set_latency),
            web.post(f"{prefix}/down", self.set_down),
            web.post(f"{prefix}/spoolman", self.set_spoolman_mode),
            web.post(f"{prefix}/auth", self.set_auth),
            web.post(f"{prefix}/api-keys", self.create_api_key),
            web.post(f"{prefix}/api-keys/revoke", self.revoke_api_key),
            web.get(f"{prefix}/requests", self.request_log),
            web.delete(f"{prefix}/requests", self.clear_request_log),
        ]

    async def state(self, request: web.Request) -> web.Response:
        sim = self.sim
        return web.json_response(
            {
                "auth_enabled": sim.auth_enabled,
                "spoolman_enabled": sim.db.spoolman_enabled,
                "printers": [p.status_json() for p in sim.printers.values()],
                "spools": [s.to_json() for s in sim.db.spools.values()],
                "usage": [row.to_json() for row in sim.db.usage],
                "websocket_clients": len(sim.hub.clients),
            }
        )

    async def add_printer(self, request: web.Request) -> web.Response:
        body = await _body(request)
        printer_id = self.sim.add_printer(
            body["name"],
            model=body.get("model", "X1C"),
            ams_units=body.get("ams_units", 1),
            ams_ht=body.get("ams_ht", 0),
            external=body.get("external", 1),
        )
        return _ok(id=printer_id)

    async def set_online(self, request: web.Request) -> web.Response:
        body = await _body(request)
        self.sim.set_online(int(request.match_info["printer_id"]), bool(body["online"]))
        return _ok()

    async def set_tray(self, request: web.Request) -> web.Response:
        body = await _body(request)
        fields = {name: body[name] for name in TRAY_FIELDS if name in body}
        self.sim.set_tray(
            int(request.match_info["printer_id"]), body["ams_id"], body["tray_id"], **fields
        )
        return _ok()

    async def clear_tray(self, request: web.Request) -> web.Response:
        info = request.match_info
        self.sim.clear_tray(int(info["printer_id"]), int(info["ams_id"]), int(info["tray_id"]))
        return _ok()

    async def add_ams_unit(self, request: web.Request) -> web.Response:
        body = await _body(request)
        unit_id = self.sim.add_ams_unit(
            int(request.match_info["printer_id"]), is_ams_ht=bool(body.get("is_ams_ht", False))
        )
        return _ok(ams_id=unit_id)

    async def remove_ams_unit(self, request: web.Request) -> web.Response:
        info = request.match_info
        self.sim.remove_ams_unit(int(info["printer_id"]), int(info["ams_id"]))
        return _ok()

    async def run_print(self, request: web.Request) -> web.Response:
        """Start a print; `"wait": true` answers only after the usage step."""
        body = await _body(request)
        grams = {(int(g["ams_id"]), int(g["tray_id"])): float(g["grams"]) for g in body["grams"]}
        booked: dict[tuple[int, int], float | list[float]] | None = None
        if body.get("booked") is not None:
            booked = {
                (int(g["ams_id"]), int(g["tray_id"])): float(g["grams"]) for g in body["booked"]
            }
        task = self.sim.start_print(
            int(body["printer_id"]),
            name=body.get("name", "Benchy"),
            grams=grams,
            status=body.get("status", "completed"),
            duration=float(body.get("duration", 0.0)),
            legacy_weights=body.get("legacy_weights"),
            mapped=bool(body.get("mapped", True)),
            booked=booked,
            has_3mf=bool(body.get("has_3mf", True)),
        )
        if body.get("wait"):
            await task
        return _ok()

    async def drop_websockets(self, request: web.Request) -> web.Response:
        self.sim.drop_websockets()
        return _ok()

    async def inject_ws_frame(self, request: web.Request) -> web.Response:
        self.sim.inject_ws_frame((await _body(request))["raw"])
        return _ok()

    async def broadcast(self, request: web.Request) -> web.Response:
        self.sim.broadcast(await _body(request))
        return _ok()

    async def fail_next(self, request: web.Request) -> web.Response:
        body = await _body(request)
        self.sim.fail_next(
            body.get("method", "*"),
            body["path_regex"],
            status=int(body.get("status", 500)),
            count=int(body.get("count", 1)),
            body=body.get("body"),
        )
        return _ok()

    async def set_latency(self, request: web.Request) -> web.Response:
        self.sim.latency = float((await _body(request))["seconds"])
        return _ok()

    async def set_down(self, request: web.Request) -> web.Response:
        self.sim.down = bool((await _body(request))["down"])
        return _ok()

    async def set_spoolman_mode(self, request: web.Request) -> web.Response:
        self.sim.set_spoolman_mode(bool((await _body(request))["enabled"]))
        return _ok()

    async def set_auth(self, request: web.Request) -> web.Response:
        self.sim.auth_enabled = bool((await _body(request))["enabled"])
        return _ok()

    async def create_api_key(self, request: web.Request) -> web.Response:
        body = await _body(request)
        key = self.sim.create_api_key(
            name=body.get("name", "ha"),
            can_read_status=body.get("can_read_status", True),
            can_manage_inventory=body.get("can_manage_inventory", True),
            can_control_printer=body.get("can_control_printer", False),
            key=body.get("key"),
        )
        return _ok(key=key)

    async def revoke_api_key(self, request: web.Request) -> web.Response:
        """Disable a key (`{"key": "bb_…"}`), as deleting it in Bambuddy's UI does."""
        body = await _body(request)
        self.sim.revoke_api_key(str(body["key"]))
        return _ok()

    async def request_log(self, request: web.Request) -> web.Response:
        return web.json_response([list(entry) for entry in self.sim.request_log])

    async def clear_request_log(self, request: web.Request) -> web.Response:
        self.sim.request_log.clear()
        return _ok()
