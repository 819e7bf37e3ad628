"""The in-process controls over HTTP under /_sim/ (JSON, no auth) for the demo.

| route | body | effect |
|---|---|---|
| POST /_sim/api-keys | {role?, superadmin?} | {"token"} |
| POST /_sim/{manufacturers,filaments,spools,colors,locations,printers} | add_* kwargs | {"id"} |
| PATCH /_sim/spools/{id} | spool fields (status by key) | edit_spool |
| POST /_sim/spools/{id}/archive, DELETE /_sim/spools/{id} | | archive / permanent delete |
| GET /_sim/spools/{id}, GET /_sim/spools/{id}/consumptions | | SpoolResponse / events |
| POST /_sim/spools/{id}/consumptions | {delta_weight_g, note?, source?} | someone else debits |
| PUT /_sim/printers/{id}/params | {spool_id?, filament_id?, params} | set_printer_params |
| PUT /_sim/printers/{id}/driver | {running, slots?} | set_printer_driver |
| POST /_sim/events | any JSON object | publish on the SSE bus |
| POST /_sim/seed-demo | | seed_demo -> ids |
| POST /_sim/faults | {method, path_regex, status?, count?, body?} | fail_next |
| PUT /_sim/latency, PUT /_sim/down | {seconds} / {down} | answers late (effect applied) / dead |
| POST /_sim/drop-sse, POST /_sim/restart | | |
| GET, DELETE /_sim/request-log | | read / clear |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import serialize as ser

if TYPE_CHECKING:
    from .app import FilamanSimulator

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def control_routes(sim: FilamanSimulator) -> list[web.RouteDef]:
    async def body(request: web.Request) -> dict[str, Any]:
        data = await request.json() if request.can_read_body else {}
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return data

    def ident(request: web.Request, name: str = "id") -> int:
        return int(request.match_info[name])

    def created(object_id: int) -> web.Response:
        return web.json_response({"id": object_id}, status=201)

    async def api_key(request: web.Request) -> web.Response:
        data = await body(request)
        token = sim.create_api_key(data.get("role", "user"), bool(data.get("superadmin", False)))
        return web.json_response({"token": token}, status=201)

    async def manufacturer(request: web.Request) -> web.Response:
        return created(sim.add_manufacturer(**await body(request)))

    async def filament(request: web.Request) -> web.Response:
        return created(sim.add_filament(**await body(request)))

    async def spool(request: web.Request) -> web.Response:
        data = await body(request)
        return created(sim.add_spool(data.pop("filament_id"), **data))

    async def color(request: web.Request) -> web.Response:
        return created(sim.add_color(**await body(request)))

    async def location(request: web.Request) -> web.Response:
        return created(sim.add_location(**await body(request)))

    async def printer(request: web.Request) -> web.Response:
        return created(sim.add_printer(**await body(request)))

    async def edit(request: web.Request) -> web.Response:
        sim.edit_spool(ident(request), **await body(request))
        return web.json_response(sim.spool_json(ident(request)))

    async def archive(request: web.Request) -> web.Response:
        sim.archive_spool(ident(request))
        return web.Response(status=204)

    async def delete(request: web.Request) -> web.Response:
        sim.delete_spool_permanent(ident(request))
        return web.Response(status=204)

    async def read_spool(request: web.Request) -> web.Response:
        return web.json_response(sim.spool_json(ident(request)))

    async def consumptions(request: web.Request) -> web.Response:
        return web.json_response([ser.event(e) for e in sim.consumption_events(ident(request))])

    async def consume(request: web.Request) -> web.Response:
        data = await body(request)
        event = sim.record_consumption(
            ident(request),
            float(data["delta_weight_g"]),
            note=data.get("note"),
            source=data.get("source", "ui"),
        )
        return web.json_response(ser.event(event))

    async def params(request: web.Request) -> web.Response:
        data = await body(request)
        sim.set_printer_params(
            ident(request), data.get("spool_id"), data.get("filament_id"), data.get("params")
        )
        return web.Response(status=204)

    async def driver(request: web.Request) -> web.Response:
        data = await body(request)
        sim.set_printer_driver(ident(request), bool(data.get("running")), data.get("slots"))
        return web.Response(status=204)

    async def publish(request: web.Request) -> web.Response:
        sim.publish_event(await body(request))
        return web.Response(status=204)

    async def seed(request: web.Request) -> web.Response:
        return web.json_response(sim.seed_demo())

    async def faults(request: web.Request) -> web.Response:
        data = await body(request)
        sim.fail_next(
            data["method"],
            data["path_regex"],
            int(data.get("status", 500)),
            int(data.get("count", 1)),
            data.get("body"),
        )
        return web.Response(status=204)

    async def latency(request: web.Request) -> web.Response:
        sim.latency = float((await body(request)).get("seconds", 0.0))
        return web.Response(status=204)

    async def down(request: web.Request) -> web.Response:
        sim.down = bool((await body(request)).get("down", True))
        return web.Response(status=204)

    async def drop_sse(request: web.Request) -> web.Response:
        sim.drop_sse()
        return web.Response(status=204)

    async def restart(request: web.Request) -> web.Response:
        sim.schedule_restart()
        return web.Response(status=202)

    async def request_log(request: web.Request) -> web.Response:
        return web.json_response([list(entry) for entry in sim.request_log])

    async def clear_log(request: web.Request) -> web.Response:
        sim.request_log.clear()
        return web.Response(status=204)

    async def state(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "spools": [sim.spool_json(i) for i in sorted(sim.state.spools)],
                "printers": [ser.printer_detail(p) for p in sim.state.printers.values()],
                "params": [asdict(p) for p in sim.state.params.values()],
                "sse_subscribers": sim.bus.subscriber_count,
                "sse_subscribers_per_worker": sim.bus.streams_per_worker(),
            }
        )

    return [
        web.post("/_sim/api-keys", api_key),
        web.post("/_sim/manufacturers", manufacturer),
        web.post("/_sim/filaments", filament),
        web.post("/_sim/spools", spool),
        web.post("/_sim/locations", location),
        web.post("/_sim/colors", color),
        web.post("/_sim/printers", printer),
        web.get("/_sim/spools/{id}", read_spool),
        web.patch("/_sim/spools/{id}", edit),
        web.delete("/_sim/spools/{id}", delete),
        web.post("/_sim/spools/{id}/archive", archive),
        web.get("/_sim/spools/{id}/consumptions", consumptions),
        web.post("/_sim/spools/{id}/consumptions", consume),
        web.put("/_sim/printers/{id}/params", params),
        web.put("/_sim/printers/{id}/driver", driver),
        web.post("/_sim/events", publish),
        web.post("/_sim/seed-demo", seed),
        web.post("/_sim/faults", faults),
        web.put("/_sim/latency", latency),
        web.put("/_sim/down", down),
        web.post("/_sim/drop-sse", drop_sse),
        web.post("/_sim/restart", restart),
        web.get("/_sim/request-log", request_log),
        web.delete("/_sim/request-log", clear_log),
        web.get("/_sim/state", state),
    ]
