"""FilamanSimulator: a FilaMan 1.2.20 stand-in on a real loopback socket.

Tests drive it in-process (`sim.add_spool(...)`, `sim.fail_next(...)`); the demo drives the
same controls over HTTP under `/_sim/` (see control.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime
from http import HTTPStatus
import logging
import re
from typing import Any

from aiohttp import web

from . import serialize as ser
from .auth import KeyRing, parse_token
from .control import control_routes
from .demo import seed_demo
from .errors import ApiError
from .handlers import FilamanHandlers
from .models import STATUS_ID_BY_KEY, JsonDict, Spool, SpoolEvent
from .state import FilamanState, plugin_row
from .workers import DEFAULT_WORKERS, Workers

_LOGGER = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FailRule:
    method: str
    path_regex: re.Pattern[str]
    status: int
    remaining: int
    body: object | None
    spare: int = 0
    """Matching requests answered normally before the rule starts failing."""


@dataclass
class LateRule:
    method: str
    path_regex: re.Pattern[str]
    seconds: float
    remaining: int


class FilamanSimulator:
    """In-memory FilaMan server. See the module docstring of simulators.filaman."""

    def __init__(self, workers: int = DEFAULT_WORKERS) -> None:
        self.state = FilamanState()
        self.keys = KeyRing()
        self.bus = Workers(workers)
        """gunicorn's workers (DEPLOYMENTS.md): which one serves a request, and their buses."""
        self.primary_proxy_failures = False
        """A newer FilaMan: driver endpoints on a worker that is not the primary may answer 503
        ``primary_proxy_failed``."""
        self.request_log: list[tuple[str, str]] = []
        self.sent_bytes = 0
        """Bytes of API answer bodies sent (streams not counted), for the bench's idle load."""
        self.latency: float = 0.0
        """Seconds every API answer is held back after the request took effect."""
        self.down: bool = False
        self._fail_rules: list[FailRule] = []
        self._late_rules: list[LateRule] = []
        self.late_answers = 0
        """Answers held back by :meth:`answer_late` rules so far."""
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._background: set[asyncio.Task[None]] = set()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        handlers = FilamanHandlers(
            self.state, self.keys, self.bus, lambda: self.primary_proxy_failures
        )
        self.handlers = handlers
        app.add_routes(handlers.routes())
        app.add_routes(control_routes(self))
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._host = host
        runner = web.AppRunner(self._build_app(), shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port or self._port, reuse_address=True)
        await site.start()
        self._runner = runner
        sockets = runner.addresses
        self._port = int(sockets[0][1])
        return self.url

    async def stop(self) -> None:
        for task in list(self._background):
            if task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._shutdown()

    async def _shutdown(self) -> None:
        self.bus.drop_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        """Stop listening, drop every connection, listen again on the same port; data stays."""
        await self._shutdown()
        await self.start(self._host, self._port)

    def schedule_restart(self) -> None:
        """Restart after the current (control) response has gone out."""

        async def later() -> None:
            await asyncio.sleep(0.05)
            await self.restart()

        task = asyncio.get_running_loop().create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- faults ----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        count: int = 1,
        body: object | None = None,
        *,
        after: int = 0,
    ) -> None:
        """The next `count` API requests matching method and path (re.search) get `status`;
        `after`: that many matching requests are answered normally first."""
        self._fail_rules.append(
            FailRule(method.upper(), re.compile(path_regex), status, count, body, after)
        )

    def answer_late(self, method: str, path_regex: str, seconds: float, *, count: int = 1) -> None:
        """The next `count` matching API requests take effect at once; their answers come
        `seconds` later (on top of `latency`), e.g. after the client's timeout."""
        self._late_rules.append(LateRule(method.upper(), re.compile(path_regex), seconds, count))

    def _take_late(self, request: web.Request) -> float:
        for rule in self._late_rules:
            if rule.method in {request.method, "*"} and rule.path_regex.search(request.path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._late_rules.remove(rule)
                self.late_answers += 1
                return rule.seconds
        return 0.0

    @property
    def listing_pages(self) -> int:
        """Pages of more than one spool served so far (listings, as a full sync reads them)."""
        return self.handlers.listing_pages

    def drop_sse(self) -> None:
        self.bus.drop_all()

    def restart_worker(self, worker: int) -> None:
        """gunicorn restarts one worker (max requests, a crash): its change streams end."""
        self.bus.restart(worker)

    def served_by(self, worker: int) -> contextlib.AbstractContextManager[int]:
        """Make the in-process controls inside act as requests worker ``worker`` served."""
        return self.bus.serving(worker)

    def _take_fault(self, request: web.Request) -> FailRule | None:
        for rule in self._fail_rules:
            if rule.method in {request.method, "*"} and rule.path_regex.search(request.path):
                if rule.spare > 0:
                    rule.spare -= 1
                    return None
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._fail_rules.remove(rule)
                return rule
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await _control_call(handler, request)
        self.request_log.append((request.method, request.path))
        if self.down:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        # Whether a request fails is decided on arrival, like its effect.
        rule = self._take_fault(request)
        if rule is not None:
            response: web.StreamResponse = _fault_response(rule)
        else:
            with self.bus.serving():  # nginx hands it to whichever worker wins the accept
                response = await self._handle(handler, request)
        if isinstance(response, web.Response) and response.body is not None:
            self.sent_bytes += len(response.body)  # type: ignore[arg-type]
        delay = self.latency + self._take_late(request)
        if delay > 0 and not response.prepared:
            # The real server commits before a slow answer reaches the client: a client
            # that gives up meanwhile has still had its write applied. (A stream is
            # already prepared and ended here; it is not delayed.)
            await asyncio.sleep(delay)
        return response

    async def _handle(self, handler: Handler, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            return web.json_response(err.body, status=err.status)
        except web.HTTPNotFound:
            return await self._not_found(request)
        except web.HTTPMethodNotAllowed:
            return web.json_response({"detail": "Method Not Allowed"}, status=405)
        except ValueError:
            # The server leaves these unhandled (e.g. a bad adjustment_type): plain 500.
            _LOGGER.debug("simulated unhandled server error", exc_info=True)
            return web.Response(status=500, text="Internal Server Error")

    async def _not_found(self, request: web.Request) -> web.Response:
        """Starlette redirects to the other trailing-slash form when that route exists."""
        path = request.path
        other = path[:-1] if path.endswith("/") and path != "/" else f"{path}/"
        probe = request.clone(rel_url=request.rel_url.with_path(other))
        match = await request.app.router.resolve(probe)
        if match.http_exception is None:
            location = request.url.with_path(other)
            raise web.HTTPTemporaryRedirect(location=str(location))
        return web.json_response({"detail": "Not Found"}, status=404)

    # --- in-process controls (each publishes what the real write would) --------------------

    def create_api_key(self, role: str = "user", superadmin: bool = False) -> str:
        return self.keys.create_key(role, superadmin)

    def revoke_api_key(self, token: str) -> None:
        """Delete a key, as its owner does in FilaMan's settings (the next request is a 401)."""
        parsed = parse_token(token)
        if parsed is not None:
            self.keys.keys.pop(parsed[0], None)

    def register_api_key(self, token: str, role: str = "user") -> None:
        """Accept a fixed token `uak.<id>.<secret>` (CLI --api-key) for a new user."""
        self.keys.create_key(role, token=token)

    def add_manufacturer(
        self, name: str, url: str | None = None, empty_spool_weight_g: float | None = 250.0
    ) -> int:
        manufacturer = self.state.add_manufacturer(name, url, empty_spool_weight_g)
        self.bus.publish({"event": "manufacturers_changed"})
        return manufacturer.id

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
    ) -> int:
        filament = self.state.add_filament(
            manufacturer_id,
            material_type,
            material_subgroup,
            designation=designation,
            color_hex=color_hex,
            manufacturer_color_name=manufacturer_color_name,
            raw_material_weight_g=raw_material_weight_g,
            default_spool_weight_g=default_spool_weight_g,
            price=price,
        )
        self.bus.publish({"event": "filaments_changed"})
        return filament.id

    def add_color(self, name: str, hex_code: str) -> int:
        """A colour in the palette (filaments reuse a colour with the same name and hex)."""
        color = self.state.ensure_color(hex_code, name)
        self.bus.publish({"event": "colors_changed"})
        return color.id

    def add_location(
        self, name: str, identifier: str | None = None, custom_fields: JsonDict | None = None
    ) -> int:
        location = self.state.add_location(name, identifier, custom_fields)
        self.bus.publish({"event": "locations_changed"})
        return location.id

    def add_spool(
        self,
        filament_id: int,
        *,
        initial_total_weight_g: float | None = 1250.0,
        empty_spool_weight_g: float | None = 250.0,
        remaining_weight_g: float | None = None,
        rfid_uid: str | None = None,
        status: str = "new",
        purchase_price: float | None = None,
        lot_number: str | None = None,
        location_id: int | None = None,
    ) -> int:
        """Create a spool like POST /spools does (remaining defaults to gross - tare)."""
        spool = self.state.create_spool(
            {
                "filament_id": filament_id,
                "status_id": STATUS_ID_BY_KEY[status],
                "initial_total_weight_g": initial_total_weight_g,
                "empty_spool_weight_g": empty_spool_weight_g,
                "remaining_weight_g": remaining_weight_g,
                "rfid_uid": rfid_uid,
                "purchase_price": purchase_price,
                "lot_number": lot_number,
                "location_id": location_id,
            }
        )
        self.bus.publish({"event": "spools_changed"})
        return spool.id

    def edit_spool(self, spool_id: int, **fields: Any) -> None:
        """Write any spool column directly (a UI edit); `status="empty"` sets status by key."""
        spool = self.state.get_spool(spool_id)
        if "status" in fields:
            fields["status_id"] = STATUS_ID_BY_KEY[fields.pop("status")]
        for name, value in fields.items():
            if not hasattr(spool, name) or name == "id":
                raise AttributeError(f"Spool has no writable field {name!r}")
            setattr(spool, name, value)
        self.bus.publish({"event": "spools_changed"})

    def move_spool(self, spool_id: int, location_id: int | None) -> SpoolEvent:
        """Someone moves the spool in FilaMan's UI (the spool page's move: a move event)."""
        event = self.state.move_spool(spool_id, location_id)
        self.bus.publish({"event": "spools_changed"})
        return replace(event)

    def archive_spool(self, spool_id: int) -> None:
        self.state.archive_spool(spool_id)
        self.bus.publish({"event": "spools_changed"})

    def delete_spool_permanent(self, spool_id: int) -> None:
        self.state.delete_spool_permanent(spool_id)
        self.bus.publish({"event": "spools_changed"})

    def record_consumption(
        self,
        spool_id: int,
        delta_weight_g: float,
        *,
        event_at: datetime | None = None,
        note: str | None = None,
        source: str = "ui",
        user_id: int | None = 1,
    ) -> SpoolEvent:
        """Someone else debits the spool (the UI, or source="bambuddy" for FilaMan's own
        plugin, which writes straight to the database and publishes nothing)."""
        event = self.state.record_consumption(
            spool_id, delta_weight_g, event_at=event_at, note=note, user_id=user_id, source=source
        )
        if source == "ui":
            self.bus.publish({"event": "spools_changed"})
        return replace(event)

    def record_measurement(
        self, spool_id: int, measured_weight_g: float, *, event_at: datetime | None = None
    ) -> SpoolEvent:
        """Someone weighs the spool (gross grams; remaining = gross - tare), as the UI does."""
        event = self.state.record_measurement(spool_id, measured_weight_g, event_at=event_at)
        self.bus.publish({"event": "spools_changed"})
        return replace(event)

    def add_printer(
        self,
        name: str,
        driver_key: str | None = None,
        driver_config: JsonDict | None = None,
        driver_running: bool = False,
    ) -> int:
        # Printer CRUD publishes no SSE event on the real server.
        return self.state.add_printer(name, driver_key, driver_config, driver_running).id

    def install_plugin(
        self,
        key: str,
        name: str,
        plugin_type: str = "integration",
        *,
        driver_key: str | None = None,
        capabilities: JsonDict | None = None,
        active: bool = True,
    ) -> None:
        """A plugin installed by the admin (its own code runs inside the server, unseen)."""
        row = plugin_row(
            self.state.plugins, key, name, plugin_type,
            driver_key=driver_key, capabilities=capabilities,
        )  # fmt: skip
        row["is_active"] = active
        self.state.plugins.insert(0, row)

    def set_printer_driver(
        self, printer_id: int, running: bool, slots: list[JsonDict] | None = None
    ) -> None:
        printer = self.state.get_printer(printer_id)
        printer.driver_running = running
        if slots is not None:
            printer.slots = slots

    def set_printer_params(
        self,
        printer_id: int,
        spool_id: int | None = None,
        filament_id: int | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        # Param writes publish no SSE event on the real server.
        self.state.set_printer_params(
            printer_id, dict(params or {}), spool_id=spool_id, filament_id=filament_id
        )

    def publish_event(self, event: JsonDict) -> None:
        """Publish any bus event, e.g. a driver's {"event": "printer_status", ...}."""
        self.bus.publish(event)

    def spool(self, spool_id: int) -> Spool:
        """A snapshot of the stored spool (KeyError-free: raises ApiError 404 if absent)."""
        return replace(self.state.get_spool(spool_id))

    def spool_json(self, spool_id: int) -> JsonDict:
        """The spool exactly as GET /spools/{id} would return it."""
        return ser.spool(self.state, self.state.get_spool(spool_id))

    def consumption_events(self, spool_id: int) -> list[SpoolEvent]:
        """print_consumption events of a spool, oldest id first (snapshots)."""
        return [
            replace(e)
            for e in sorted(self.state.events.values(), key=lambda e: e.id)
            if e.spool_id == spool_id and e.event_type == "print_consumption"
        ]

    def events(self, spool_id: int | None = None) -> list[SpoolEvent]:
        """All events (of one spool), newest first like GET .../events."""
        return [replace(e) for e in self.state.spool_events(spool_id)]

    def seed_demo(self) -> dict[str, int]:
        """A realistic inventory; returns names of interesting objects -> ids."""
        return seed_demo(self)


async def _control_call(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return web.json_response(err.body, status=err.status)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        return web.json_response({"error": f"{type(err).__name__}: {err}"}, status=400)


def _fault_response(rule: FailRule) -> web.Response:
    if rule.body is not None:
        return web.json_response(rule.body, status=rule.status)
    if rule.status >= 500:
        return web.Response(status=rule.status, text="Internal Server Error")
    return web.json_response({"detail": HTTPStatus(rule.status).phrase}, status=rule.status)
