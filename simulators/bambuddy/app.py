"""The aiohttp application: middlewares (faults, auth presence, error bodies) and the routes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from .auth import PUBLIC_PATHS, HttpError, has_credentials
from .control import ControlApi
from .inventory import DatabaseIntegrityError
from .rest import RestApi
from .validation import ValidationFailed

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

CONTROL_PREFIX = "/_sim"


def build_app(sim: BambuddySimulator) -> web.Application:
    """A fresh application for one listening period (restart builds another)."""

    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        sim.request_log.append((request.method, request.path))
        if sim.down:
            # A dead server: the connection closes without any HTTP response.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        if sim.latency > 0:
            await asyncio.sleep(sim.latency)
        rule = sim.faults.take(request.method, request.path)
        if rule is not None:
            return rule.response()
        return await handler(request)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if (
                sim.auth_enabled
                and request.path.startswith("/api/")
                and request.path not in PUBLIC_PATHS
                and not has_credentials(request)
            ):
                return HttpError(401, "Authentication required").response()
            return await handler(request)
        except web.HTTPNotFound:
            # Bambuddy's web-UI catch-all answers every unknown path (and wrong slash form).
            return web.json_response({"detail": "Not found"}, status=404)
        except web.HTTPMethodNotAllowed:
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        except HttpError as exc:
            return exc.response()
        except ValidationFailed as exc:
            return exc.response()
        except DatabaseIntegrityError:
            # Unhandled IntegrityError: Starlette's plain-text 500.
            return web.Response(status=500, text="Internal Server Error")

    async def websocket(request: web.Request) -> web.StreamResponse:
        token = request.query.get("token")
        if sim.auth_enabled and not sim.db.ws_token_valid(token):
            return web.Response(status=403)  # rejected before the upgrade
        return await sim.hub.serve(
            request,
            snapshots=sim.all_status_frames,
            snapshot_for=sim.status_frame,
            printer_ids=sim.token_scope(token),
        )

    app = web.Application(middlewares=[faults, errors])
    app.add_routes([web.get("/api/v1/ws", websocket)])
    app.add_routes(RestApi(sim).routes())
    app.add_routes(ControlApi(sim).routes(CONTROL_PREFIX))
    return app
