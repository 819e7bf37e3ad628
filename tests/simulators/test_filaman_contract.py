"""The FilaMan simulator against the captured FilaMan 1.2.20 reference (tests/fixtures/filaman).

Every served endpoint is validated against the trimmed OpenAPI schema and compared key by
key and type by type with the matching captured example; behaviour tests pin the quirks the
integration depends on (paging, archive, consumption rules, id reuse, SSE).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import re
from typing import Any

import aiohttp
import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest

from simulators.filaman import FilamanSimulator

FIXTURES = Path(__file__).parent.parent / "fixtures" / "filaman"
EXAMPLES = FIXTURES / "examples"
OPENAPI: dict[str, Any] = json.loads((FIXTURES / "openapi.json").read_text())
API = "/api/v1"

# Every captured example -> the test covering it, or why it does not apply.
EXAMPLE_COVERAGE: dict[str, str] = {
    "admin_plugins.json": "test_installed_plugins",
    "admin_plugins_available.json": "n/a: plugin registry browsing (admin UI only)",
    "apikey.json": "test_api_key_token_shape",
    "app_settings_public_info.json": "test_public_endpoints",
    "auth_me.json": "test_me",
    "color_create.json": "test_catalogue_reads",
    "color_create2.json": "test_catalogue_reads",
    "dashboard_stats.json": "n/a: dashboard statistics are not read by the integration",
    "error_printer_params_nonsuperadmin_403.json": "test_printer_params_write_needs_superadmin",
    "filament_create.json": "test_catalogue_reads",
    "filament_printer_params_get.json": "test_printer_params",
    "filament_printer_params_put.json": "test_printer_params",
    "filaments_list.json": "test_catalogue_reads",
    "locations_list.json": "test_catalogue_reads",
    "login.json": "n/a: browser cookie login; the integration must use API keys only",
    "manufacturer_create.json": "test_catalogue_reads",
    "manufacturers_list.json": "test_catalogue_reads",
    "me.json": "test_me",
    "printer_create.json": "test_printers",
    "printer_driver_action_no_driver.json": "test_printers",
    "printer_driver_health.json": "test_printers",
    "printer_get.json": "test_printers",
    "printer_slots.json": "test_printers",
    "printers_list.json": "test_printers",
    "spool_adjustment.json": "test_weight_events_match_examples",
    "spool_adjustment_absolute.json": "test_weight_events_match_examples",
    "spool_all_events.json": "test_weight_events_match_examples",
    "spool_consumption.json": "test_consumption_aggregation_matches_example",
    "spool_create.json": "test_spool_crud_matches_examples",
    "spool_create2.json": "test_spool_crud_matches_examples",
    "spool_events.json": "test_consumption_aggregation_matches_example",
    "spool_get.json": "test_spool_crud_matches_examples",
    "spool_measurement.json": "test_weight_events_match_examples",
    "spool_printer_params_get.json": "test_printer_params",
    "spool_printer_params_put.json": "test_printer_params",
    "spool_statuses.json": "test_spool_crud_matches_examples",
    "spools_list.json": "test_spool_crud_matches_examples",
    "sse_auth.txt": "test_sse_framing_matches_capture",
    "sse_unauth.txt": "test_sse_framing_matches_capture",
    "system_extra_fields.json": "n/a: no driver param fields registered, so any key is accepted",
}

# Free-form objects whose keys legitimately differ between captures and simulator runs.
FREE_FORM_KEYS = frozenset({"meta", "custom_fields", "driver_config", "ctx", "input"})


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def assert_same_shape(actual: Any, expected: Any, where: str = "$") -> None:
    """Same keys and same JSON value types, recursively; null is accepted on either side
    (the OpenAPI check decides whether the field may be null)."""
    if expected is None or actual is None:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected object, got {actual!r}"
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key, value in expected.items():
            if key not in FREE_FORM_KEYS:
                assert_same_shape(actual[key], value, f"{where}.{key}")
            elif value is not None and actual[key] is not None:
                assert type(actual[key]) is type(value), f"{where}.{key}: type differs"
        return
    if isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected list, got {actual!r}"
        if expected:
            for index, item in enumerate(actual):
                assert_same_shape(item, expected[0], f"{where}[{index}]")
        return
    assert type(actual) is type(expected), f"{where}: {actual!r} is not like {expected!r}"


def response_schema(method: str, path: str, status: int) -> dict[str, Any] | None:
    operation = OPENAPI["paths"][path][method.lower()]
    content = operation["responses"].get(str(status), {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return None if schema is None else {**schema, "components": OPENAPI["components"]}


def assert_matches_openapi(method: str, path: str, status: int, body: Any) -> None:
    """Validate against the trimmed OpenAPI (JSON Schema 2020-12 with $refs into components)."""
    schema = response_schema(method, path, status)
    assert schema is not None, f"no {status} schema for {method} {path}"
    jsonschema.Draft202012Validator(schema).validate(body)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Api:
    session: aiohttp.ClientSession
    url: str
    key: str | None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
        key: str | None = "default",
        spec: str | None = None,
    ) -> Reply:
        """One request; with `spec` (the OpenAPI path) the reply is schema-checked."""
        token = self.key if key == "default" else key
        headers = {"Authorization": f"ApiKey {token}"} if token else {}
        async with self.session.request(
            method,
            self.url + path,
            json=json_body,
            data=data,
            params=params,
            headers=headers,
            allow_redirects=False,
        ) as response:
            text = await response.text()
            body = json.loads(text) if text and "json" in response.content_type else text
            reply = Reply(response.status, body, dict(response.headers))
        if spec is not None and reply.status < 400:
            assert_matches_openapi(method, spec, reply.status, reply.body)
        return reply


@pytest.fixture
async def sim(socket_enabled: None) -> AsyncIterator[FilamanSimulator]:
    simulator = FilamanSimulator()
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def api(sim: FilamanSimulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield Api(session, sim.url, sim.create_api_key("user"))


@pytest.fixture
async def one_worker(socket_enabled: None) -> AsyncIterator[FilamanSimulator]:
    """FilaMan as one process (``uvicorn app.main:app``): one bus hears every write."""
    simulator = FilamanSimulator(workers=1)
    await simulator.start(host="127.0.0.1", port=0)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def api1(one_worker: FilamanSimulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield Api(session, one_worker.url, one_worker.create_api_key("user"))


def add_bambu_pla(sim: FilamanSimulator) -> int:
    """The catalogue of the capture: Jade White is colour 1, Bambu Green colour 2."""
    sim.add_color("Jade White", "#FFFFFF")
    maker = sim.add_manufacturer("Bambu Lab", url="https://bambulab.com")
    return sim.add_filament(
        maker,
        "PLA",
        "Basic",
        color_hex="#00AE42",
        manufacturer_color_name="Bambu Green",
        price=19.99,
    )


T0 = datetime(2026, 11, 24, 11, 38, 39, 330304, tzinfo=UTC)


def at(offset: timedelta) -> str:
    return (T0 + offset).isoformat()


# --- reference bookkeeping ------------------------------------------------------------------


def test_every_example_file_is_accounted_for() -> None:
    on_disk = {p.name for p in EXAMPLES.iterdir()}
    assert on_disk == set(EXAMPLE_COVERAGE), (
        f"unmapped: {sorted(on_disk - set(EXAMPLE_COVERAGE))}, "
        f"stale: {sorted(set(EXAMPLE_COVERAGE) - on_disk)}"
    )
    tests = {name for name in globals() if name.startswith("test_")}
    for target in EXAMPLE_COVERAGE.values():
        assert target.startswith("n/a: ") or target in tests, target


# --- contract: shapes -----------------------------------------------------------------------


async def test_public_endpoints(api: Api) -> None:
    health = await api.call("GET", "/health", key=None, spec="/health")
    assert (health.status, health.body) == (200, {"status": "ok"})
    info = await api.call(
        "GET",
        f"{API}/app-settings/public-info",
        key=None,
        spec="/api/v1/app-settings/public-info",
    )
    assert info.status == 200
    assert_same_shape(info.body, example("app_settings_public_info.json"))
    document = await api.call("GET", "/openapi.json", key=None)
    assert document.body["info"]["version"] == "1.2.20"


async def test_me(sim: FilamanSimulator, api: Api) -> None:
    reply = await api.call("GET", f"{API}/me", spec="/api/v1/me")
    assert reply.status == 200
    assert_same_shape(reply.body, example("me.json"))
    assert_same_shape(reply.body, example("auth_me.json"))
    assert reply.body["roles"] == ["user"]
    assert "spool_events:create_consumption" in reply.body["permissions"]
    admin = await api.call("GET", f"{API}/me", key=sim.create_api_key("admin", superadmin=True))
    assert admin.body["is_superadmin"] is True
    assert admin.body["permissions"] == example("me.json")["permissions"]


async def test_installed_plugins(sim: FilamanSimulator, api: Api) -> None:
    """A fresh server lists its two import plugins, to admins only (admin:plugins_manage)."""
    path = f"{API}/admin/system/plugins"
    admin = sim.create_api_key("admin")
    reply = await api.call("GET", path, key=admin, spec="/api/v1/admin/system/plugins")
    assert reply.status == 200
    assert reply.body == example("admin_plugins.json")
    refused = await api.call("GET", path)  # the user role
    assert refused.status == 403
    sim.install_plugin(
        "bambu_usage", "Bambu Usage Tracking",
        capabilities={"tracks_consumption": True, "requires_driver": "bambulab"},
    )  # fmt: skip
    reply = await api.call("GET", path, key=admin, spec="/api/v1/admin/system/plugins")
    assert [p["plugin_key"] for p in reply.body] == [
        "bambu_usage", "filamentdb_import", "spoolman_import"
    ]  # fmt: skip
    assert_same_shape(reply.body[0], example("admin_plugins.json")[0])


def test_api_key_token_shape(sim: FilamanSimulator) -> None:
    pattern = re.compile(r"^uak\.(\d+)\.([A-Za-z0-9_-]{43})$")
    assert pattern.match(example("apikey.json")["token"])
    first, second = sim.create_api_key(), sim.create_api_key("viewer")
    assert pattern.match(first)
    assert pattern.match(second)
    assert first.split(".")[1] != second.split(".")[1]


async def test_spool_crud_matches_examples(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    created = await api.call(
        "POST",
        f"{API}/spools",
        json_body={
            "filament_id": filament_id,
            "initial_total_weight_g": 1250.0,
            "lot_number": "LOT-42",
            "rfid_uid": "04:F5:02:3A:11:22:33",
            "purchase_price": 19.99,
        },
        spec="/api/v1/spools",
    )
    assert created.status == 201
    assert_same_shape(created.body, example("spool_create.json"))
    expected = example("spool_create.json")
    for field in ("initial_total_weight_g", "empty_spool_weight_g", "remaining_weight_g",
                  "spool_outer_diameter_mm", "spool_width_mm", "low_weight_threshold_g",
                  "status_id", "rfid_uid"):  # fmt: skip
        assert created.body[field] == expected[field], field
    assert created.body["filament"] == expected["filament"]

    only_net = await api.call(
        "POST",
        f"{API}/spools",
        json_body={"filament_id": filament_id, "remaining_weight_g": 500},
        spec="/api/v1/spools",
    )
    assert only_net.status == 201
    assert_same_shape(only_net.body, example("spool_create2.json"))
    assert only_net.body["initial_total_weight_g"] is None
    assert only_net.body["remaining_weight_g"] == 500.0

    got = await api.call("GET", f"{API}/spools/1", spec="/api/v1/spools/{spool_id}")
    assert_same_shape(got.body, example("spool_get.json"))
    assert got.body == created.body

    listing = await api.call("GET", f"{API}/spools", spec="/api/v1/spools")
    assert_same_shape(listing.body, example("spools_list.json"))
    assert [s["id"] for s in listing.body["items"]] == [2, 1]  # sort_by id, desc by default
    assert (listing.body["page"], listing.body["page_size"], listing.body["total"]) == (1, 50, 2)

    statuses = await api.call("GET", f"{API}/spools/statuses", spec="/api/v1/spools/statuses")
    assert statuses.body == example("spool_statuses.json")

    missing_filament = await api.call("POST", f"{API}/spools", json_body={"filament_id": 99})
    assert (missing_filament.status, missing_filament.body) == (
        400,
        {"detail": {"code": "validation_error", "message": "Filament not found"}},
    )


async def test_consumption_aggregation_matches_example(sim: FilamanSimulator, api: Api) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    note = "HA test print_complete AMS 0-2 job-1"
    first = await api.call(
        "POST",
        f"{API}/spools/{spool_id}/consumptions",
        json_body={"delta_weight_g": 12.4, "event_at": at(timedelta()), "note": note},
        spec="/api/v1/spools/{spool_id}/consumptions",
    )
    assert first.status == 200
    assert first.body == {**example("spool_consumption.json"), "user_id": first.body["user_id"]}
    second = await api.call(
        "POST",
        f"{API}/spools/{spool_id}/consumptions",
        json_body={"delta_weight_g": 2.6, "event_at": at(timedelta(microseconds=156900))},
        spec="/api/v1/spools/{spool_id}/consumptions",
    )
    events = await api.call(
        "GET", f"{API}/spools/{spool_id}/events", spec="/api/v1/spools/{spool_id}/events"
    )
    captured = example("spool_events.json")
    assert_same_shape(events.body, captured)
    user_id = first.body["user_id"]
    assert events.body["items"] == [
        {**captured["items"][0], "user_id": user_id},
        captured["items"][1],
    ]
    assert second.body == events.body["items"][0]


async def test_weight_events_match_examples(sim: FilamanSimulator, api: Api) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    measured = await api.call(
        "POST",
        f"{API}/spools/{spool_id}/measurements",
        json_body={"measured_weight_g": 1200},
        spec="/api/v1/spools/{spool_id}/measurements",
    )
    assert_same_shape(measured.body, example("spool_measurement.json"))
    assert sim.spool(spool_id).remaining_weight_g == 950.0
    relative = await api.call(
        "POST",
        f"{API}/spools/{spool_id}/adjustments",
        json_body={"adjustment_type": "relative", "delta_weight_g": -5},
        spec="/api/v1/spools/{spool_id}/adjustments",
    )
    assert_same_shape(relative.body, example("spool_adjustment.json"))
    assert relative.body["meta"] == {"adjustment_type": "relative"}
    assert sim.spool(spool_id).remaining_weight_g == 945.0
    absolute = await api.call(
        "POST",
        f"{API}/spools/{spool_id}/adjustments",
        json_body={"adjustment_type": "absolute", "measured_weight_g": 700},
        spec="/api/v1/spools/{spool_id}/adjustments",
    )
    assert_same_shape(absolute.body, example("spool_adjustment_absolute.json"))
    assert absolute.body["delta_weight_g"] is None
    assert sim.spool(spool_id).remaining_weight_g == 450.0
    everything = await api.call(
        "GET",
        f"{API}/spools/all-events",
        params={"page_size": "20"},
        spec="/api/v1/spools/all-events",
    )
    assert_same_shape(everything.body, example("spool_all_events.json"))
    kinds = [e["event_type"] for e in everything.body["items"]]
    assert kinds == ["manual_adjust", "manual_adjust", "opened", "measurement"]
    bad_type = await api.call(
        "POST",
        f"{API}/spools/{spool_id}/adjustments",
        json_body={"adjustment_type": "sideways"},
    )
    assert (bad_type.status, bad_type.body) == (500, "Internal Server Error")


async def test_catalogue_reads(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    sim.add_spool(filament_id, purchase_price=19.99)
    sim.add_spool(filament_id, initial_total_weight_g=None, remaining_weight_g=500.0)
    filaments = await api.call("GET", f"{API}/filaments", spec="/api/v1/filaments")
    assert_same_shape(filaments.body, example("filaments_list.json"))
    assert filaments.body["items"][0]["spool_count"] == 2
    one = await api.call(
        "GET", f"{API}/filaments/{filament_id}", spec="/api/v1/filaments/{filament_id}"
    )
    assert_same_shape(one.body, example("filament_create.json"))
    assert one.body["colors"][0]["color"]["hex_code"] == "#00AE42"
    makers = await api.call("GET", f"{API}/manufacturers", spec="/api/v1/manufacturers")
    assert makers.body == example("manufacturers_list.json")
    maker = await api.call(
        "GET", f"{API}/manufacturers/1", spec="/api/v1/manufacturers/{manufacturer_id}"
    )
    assert_same_shape(maker.body, example("manufacturer_create.json"))
    colors = await api.call("GET", f"{API}/colors", spec="/api/v1/colors")
    assert_same_shape(colors.body["items"][0], example("color_create.json"))
    assert_same_shape(colors.body["items"][0], example("color_create2.json"))
    locations = await api.call("GET", f"{API}/locations", spec="/api/v1/locations")
    assert locations.body == example("locations_list.json")
    sim.add_location("Shelf A")
    located = await api.call("GET", f"{API}/locations", spec="/api/v1/locations")
    assert located.body["items"][0]["spool_count"] == 0
    missing = await api.call("GET", f"{API}/filaments/42")
    assert missing.body == {"detail": {"code": "not_found", "message": "Filament not found"}}


async def test_multicolour_filament_colours_in_position_order(
    sim: FilamanSimulator, api: Api
) -> None:
    maker = sim.add_manufacturer("Bambu Lab")
    filament_id = sim.add_filament(maker, "PLA", "Silk+", color_hex=["#e4bd68", "#D1D3D5"])
    reply = await api.call("GET", f"{API}/filaments/{filament_id}")
    assert reply.body["color_mode"] == "multi"
    colours = reply.body["colors"]
    assert [c["position"] for c in colours] == [1, 2]
    assert [c["color"]["hex_code"] for c in colours] == ["#E4BD68", "#D1D3D5"]


async def test_printers(sim: FilamanSimulator, api: Api) -> None:
    config = {"bambuddy_url": "http://127.0.0.1:9", "api_key": "x", "printer_id": 1,
              "sync_enabled": "enabled"}  # fmt: skip
    printer_id = sim.add_printer("P1S", driver_key="bambuddy", driver_config=config)
    sim.add_printer("A1 mini")
    listing = await api.call("GET", f"{API}/printers", spec="/api/v1/printers")
    assert_same_shape(listing.body, example("printers_list.json"))
    assert_same_shape(listing.body["items"][0], example("printer_create.json"))
    assert [p["name"] for p in listing.body["items"]] == ["A1 mini", "P1S"]  # by name
    detail = await api.call(
        "GET", f"{API}/printers/{printer_id}", spec="/api/v1/printers/{printer_id}"
    )
    assert detail.body == example("printer_get.json")
    slots = await api.call(
        "GET", f"{API}/printers/{printer_id}/slots", spec="/api/v1/printers/{printer_id}/slots"
    )
    assert slots.body == example("printer_slots.json")
    health = await api.call(
        "GET",
        f"{API}/printers/{printer_id}/driver/health",
        spec="/api/v1/printers/{printer_id}/driver/health",
    )
    assert health.body == example("printer_driver_health.json")
    admin = sim.create_api_key("admin")
    action = await api.call(
        "POST",
        f"{API}/printers/{printer_id}/driver/action",
        json_body={"action": "sync"},
        key=admin,
    )
    assert (action.status, action.body) == (400, example("printer_driver_action_no_driver.json"))
    user_action = await api.call(
        "POST", f"{API}/printers/{printer_id}/driver/action", json_body={"action": "sync"}
    )
    assert user_action.body["detail"]["message"] == "Permission 'printers:update' required"

    sim.set_printer_driver(printer_id, running=True)
    running = await api.call("GET", f"{API}/printers/{printer_id}/driver/health")
    assert running.body["running"] is True
    assert running.body["driver_key"] == "bambuddy"
    assert running.body["bambuddy_printer_id"] == 1
    assert {"connected", "sync_enabled", "last_sync_count", "last_sync_error", "spoolman_enabled",
            "slots", "ams_units", "sync_actions"} <= set(running.body)  # fmt: skip
    missing = await api.call("GET", f"{API}/printers/99")
    assert missing.body == {"detail": {"code": "not_found", "message": "Printer not found"}}


async def test_printer_params(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    spool_id = sim.add_spool(filament_id)
    printer_id = sim.add_printer("P1S", driver_key="bambuddy")
    other_printer = sim.add_printer("X1C", driver_key="bambuddy")
    superadmin = sim.create_api_key("admin", superadmin=True)
    put_spool = await api.call(
        "PUT",
        f"{API}/spools/{spool_id}/printer-params/{printer_id}",
        json_body={
            "params": [
                {"param_key": "bambu_nozzle_temp_min", "param_value": "190"},
                {"param_key": "bambu_nozzle_temp_max", "param_value": "230"},
                {"param_key": "bambu_idx", "param_value": "GFA00"},
            ]
        },
        key=superadmin,
        spec="/api/v1/spools/{spool_id}/printer-params/{printer_id}",
    )
    assert put_spool.body == example("spool_printer_params_put.json")
    get_spool = await api.call(
        "GET",
        f"{API}/spools/{spool_id}/printer-params",
        spec="/api/v1/spools/{spool_id}/printer-params",
    )
    assert get_spool.body == example("spool_printer_params_get.json")
    put_filament = await api.call(
        "PUT",
        f"{API}/filaments/{filament_id}/printer-params/{printer_id}",
        json_body={
            "params": [
                {"param_key": "bambu_nozzle_temp_min", "param_value": "200"},
                {"param_key": "bambu_nozzle_temp_max", "param_value": "220"},
            ]
        },
        key=superadmin,
        spec="/api/v1/filaments/{filament_id}/printer-params/{printer_id}",
    )
    assert put_filament.body == example("filament_printer_params_put.json")
    sim.set_printer_params(other_printer, filament_id=filament_id, params={"bambu_idx": "GFL99"})
    get_filament = await api.call(
        "GET",
        f"{API}/filaments/{filament_id}/printer-params",
        params={"printer_id": str(printer_id)},
        spec="/api/v1/filaments/{filament_id}/printer-params",
    )
    assert get_filament.body == example("filament_printer_params_get.json")
    exported = await api.call(
        "GET",
        f"{API}/printers/{printer_id}/params/export",
        spec="/api/v1/printers/{printer_id}/params/export",
    )
    assert exported.body == {
        "printer_id": printer_id,
        "printer_name": "P1S",
        "driver_key": "bambuddy",
        "filament_params": {
            str(filament_id): [
                {"param_key": "bambu_nozzle_temp_min", "param_value": "200"},
                {"param_key": "bambu_nozzle_temp_max", "param_value": "220"},
            ]
        },
        "spool_params": {
            str(spool_id): [
                {"param_key": "bambu_nozzle_temp_min", "param_value": "190"},
                {"param_key": "bambu_nozzle_temp_max", "param_value": "230"},
                {"param_key": "bambu_idx", "param_value": "GFA00"},
            ]
        },
    }
    deleted = await api.call(
        "DELETE",
        f"{API}/spools/{spool_id}/printer-params/{printer_id}",
        params={"param_key": "bambu_idx"},
        key=superadmin,
    )
    assert deleted.status == 204
    after = await api.call("GET", f"{API}/spools/{spool_id}/printer-params")
    assert [p["param_key"] for p in after.body] == [
        "bambu_nozzle_temp_max",
        "bambu_nozzle_temp_min",
    ]


async def test_printer_params_write_needs_superadmin(sim: FilamanSimulator, api: Api) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    printer_id = sim.add_printer("P1S", driver_key="bambuddy")
    body = {"params": [{"param_key": "bambu_idx", "param_value": "GFA00"}]}
    admin = await api.call(
        "PUT",
        f"{API}/spools/{spool_id}/printer-params/{printer_id}",
        json_body=body,
        key=sim.create_api_key("admin"),
    )
    assert (admin.status, admin.body) == (
        403,
        example("error_printer_params_nonsuperadmin_403.json"),
    )
    filament = await api.call(
        "PUT",
        f"{API}/filaments/1/printer-params/{printer_id}",
        json_body=body,
        key=sim.create_api_key("admin"),
    )
    assert filament.body["detail"]["message"] == "Permission 'filaments:edit' required"
    imported = await api.call(
        "POST",
        f"{API}/printers/{printer_id}/params/import",
        json_body={"spool_params": {str(spool_id): body["params"]}},
        key=sim.create_api_key("admin"),
        spec="/api/v1/printers/{printer_id}/params/import",
    )
    assert imported.body["imported"] == 1
    params = await api.call(
        "GET", f"{API}/spools/{spool_id}/printer-params", params={"printer_id": str(printer_id)}
    )
    assert [(p["param_key"], p["param_value"]) for p in params.body] == [("bambu_idx", "GFA00")]


# --- behaviour: auth and errors -------------------------------------------------------------


async def test_auth_and_permission_errors(sim: FilamanSimulator, api: Api) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    unauthenticated = {"detail": {"code": "unauthenticated", "message": "Authentication required"}}
    for key in (None, "uak.1.wrong", "nonsense"):
        reply = await api.call("GET", f"{API}/spools", key=key)
        assert (reply.status, reply.body) == (401, unauthenticated)
    async with api.session.get(
        f"{api.url}{API}/spools", headers={"Authorization": f"apikey {api.key}"}
    ) as lower_case_scheme:
        assert lower_case_scheme.status == 401
    viewer = sim.create_api_key("viewer")
    assert (await api.call("GET", f"{API}/spools", key=viewer)).status == 200
    denied = await api.call(
        "POST", f"{API}/spools/{spool_id}/consumptions", json_body={"delta_weight_g": 1}, key=viewer
    )
    assert (denied.status, denied.body) == (
        403,
        {"detail": {"code": "forbidden",
                    "message": "Permission 'spool_events:create_consumption' required"}},
    )  # fmt: skip
    # The seeded user role lacks spools:delete, so it can't archive either.
    archive = await api.call("DELETE", f"{API}/spools/{spool_id}")
    assert archive.body["detail"]["message"] == "Permission 'spools:delete' required"
    missing = await api.call("GET", f"{API}/spools/999")
    assert (missing.status, missing.body) == (
        404,
        {"detail": {"code": "not_found", "message": "Spool not found"}},
    )
    # Authentication is checked before query validation, as FastAPI resolves dependencies first.
    assert (await api.call("GET", f"{API}/spools?page_size=0", key=None)).status == 401


async def test_locations_create_read_and_moves(sim: FilamanSimulator, api: Api) -> None:
    """POST /locations needs locations:create (an admin's; the user role has only read); a move
    is a move_location event with both locations and needs no more than the user role."""
    spool_id = sim.add_spool(add_bambu_pla(sim))
    body = {
        "name": "P1S - AMS A1",
        "identifier": "bambuddy_3_0_0",
        "custom_fields": {"managed_by": "home_assistant"},
    }
    denied = await api.call("POST", f"{API}/locations", json_body=body)
    assert (denied.status, denied.body) == (
        403,
        {"detail": {"code": "forbidden", "message": "Permission 'locations:create' required"}},
    )
    admin = sim.create_api_key("admin")
    created = await api.call(
        "POST", f"{API}/locations", json_body=body, key=admin, spec="/api/v1/locations"
    )
    assert created.status == 201
    assert created.body == {**body, "id": 1, "spool_count": 0}
    missing_name = await api.call("POST", f"{API}/locations", json_body={}, key=admin)
    assert missing_name.status == 422
    one = await api.call("GET", f"{API}/locations/1", spec="/api/v1/locations/{location_id}")
    assert one.body == created.body
    assert (await api.call("GET", f"{API}/locations/9")).body == {
        "detail": {"code": "not_found", "message": "Location not found"}
    }
    moved = await api.call(
        "POST",
        f"{API}/spools/{spool_id}/move",
        json_body={"location_id": 1, "note": "loaded"},
        spec="/api/v1/spools/{spool_id}/move",
    )
    assert moved.body["event_type"] == "move_location"
    assert (moved.body["from_location_id"], moved.body["to_location_id"]) == (None, 1)
    back = await api.call("POST", f"{API}/spools/{spool_id}/move", json_body={"location_id": None})
    assert (back.body["from_location_id"], back.body["to_location_id"]) == (1, None)
    assert sim.spool(spool_id).location_id is None


async def test_validation_errors_are_fastapi_lists(api: Api) -> None:
    too_small = await api.call("GET", f"{API}/spools", params={"page_size": "0"})
    assert (too_small.status, too_small.body) == (
        422,
        {"detail": [{"type": "greater_than_equal", "loc": ["query", "page_size"],
                     "msg": "Input should be greater than or equal to 1", "input": "0",
                     "ctx": {"ge": 1}}]},
    )  # fmt: skip
    too_big = await api.call("GET", f"{API}/spools", params={"page_size": "201", "page": "0"})
    assert too_big.status == 422
    assert [(e["type"], e["loc"]) for e in too_big.body["detail"]] == [
        ("greater_than_equal", ["query", "page"]),
        ("less_than_equal", ["query", "page_size"]),
    ]
    assert too_big.body["detail"][1]["msg"] == "Input should be less than or equal to 200"
    bad_sort = await api.call("GET", f"{API}/spools", params={"sort_by": "colour"})
    assert bad_sort.body["detail"][0]["type"] == "string_pattern_mismatch"
    not_int = await api.call("GET", f"{API}/spools/abc")
    assert not_int.body["detail"][0]["type"] == "int_parsing"
    assert not_int.body["detail"][0]["loc"] == ["path", "spool_id"]
    missing_field = await api.call("POST", f"{API}/spools/1/consumptions", json_body={"note": "x"})
    assert missing_field.body == {
        "detail": [{"type": "missing", "loc": ["body", "delta_weight_g"], "msg": "Field required",
                    "input": {"note": "x"}}]
    }  # fmt: skip
    bad_json = await api.call("POST", f"{API}/spools/1/consumptions", data=b"{oops")
    assert bad_json.body["detail"][0]["type"] == "json_invalid"
    for body in (await api.call("GET", f"{API}/spools", params={"page": "x"}),):
        assert_matches_openapi("GET", "/api/v1/spools", 422, body.body)


async def test_unknown_route_and_trailing_slash(api: Api) -> None:
    unknown = await api.call("GET", f"{API}/nothing-here")
    assert (unknown.status, unknown.body) == (404, {"detail": "Not Found"})
    slash = await api.call("GET", f"{API}/spools/")
    assert slash.status == 307
    assert slash.headers["Location"].endswith(f"{API}/spools")
    wrong_method = await api.call("PUT", f"{API}/spools")
    assert (wrong_method.status, wrong_method.body) == (405, {"detail": "Method Not Allowed"})


# --- behaviour: spools ----------------------------------------------------------------------


async def test_paging_limits_and_sorting(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    for _ in range(5):
        sim.add_spool(filament_id)
    page3 = await api.call("GET", f"{API}/spools", params={"page": "3", "page_size": "2"})
    assert [s["id"] for s in page3.body["items"]] == [1]
    assert (page3.body["page"], page3.body["page_size"], page3.body["total"]) == (3, 2, 5)
    beyond = await api.call("GET", f"{API}/spools", params={"page": "9"})
    assert (beyond.body["items"], beyond.body["total"]) == ([], 5)
    ascending = await api.call("GET", f"{API}/spools", params={"sort_order": "asc"})
    assert [s["id"] for s in ascending.body["items"]] == [1, 2, 3, 4, 5]
    biggest = await api.call("GET", f"{API}/spools", params={"page_size": "200"})
    assert biggest.body["page_size"] == 200


async def test_include_archived_and_filters(sim: FilamanSimulator, api: Api) -> None:
    pla = add_bambu_pla(sim)
    petg = sim.add_filament(1, "PETG", "HF", color_hex="#0A2989")
    kept = sim.add_spool(pla)
    empty = sim.add_spool(pla, remaining_weight_g=0.0, status="empty")
    archived = sim.add_spool(petg)
    sim.archive_spool(archived)
    default = await api.call("GET", f"{API}/spools")
    assert sorted(s["id"] for s in default.body["items"]) == [kept, empty]
    everything = await api.call("GET", f"{API}/spools", params={"include_archived": "true"})
    assert everything.body["total"] == 3
    by_status = await api.call("GET", f"{API}/spools", params={"status_id": "6"})
    assert [s["id"] for s in by_status.body["items"]] == [archived]  # status filter wins
    by_type = await api.call(
        "GET", f"{API}/spools", params={"type": "PETG", "include_archived": "true"}
    )
    assert [s["id"] for s in by_type.body["items"]] == [archived]
    by_filament = await api.call("GET", f"{API}/spools", params={"filament_id": str(pla)})
    assert by_filament.body["total"] == 2
    archived_one = await api.call("GET", f"{API}/spools/{archived}")
    assert archived_one.body["status_id"] == 6


async def test_archive_and_permanent_delete_reuse_ids(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    ids = [sim.add_spool(filament_id) for _ in range(3)]
    admin = sim.create_api_key("admin")
    archived = await api.call("DELETE", f"{API}/spools/{ids[0]}", key=admin)
    assert (archived.status, archived.body) == (204, "")
    assert sim.spool(ids[0]).status_id == 6
    sim.record_consumption(ids[1], 10.0)
    gone = await api.call("DELETE", f"{API}/spools/{ids[1]}/permanent", key=admin)
    assert gone.status == 204
    assert (await api.call("GET", f"{API}/spools/{ids[1]}")).status == 404
    assert sim.events(ids[1]) == []
    again = await api.call("POST", f"{API}/spools", json_body={"filament_id": filament_id})
    assert again.body["id"] == ids[1]  # the smallest free id comes back
    assert again.body["remaining_weight_g"] is None  # neither gross nor net given


async def test_patch_ignores_remaining_and_shifts_on_tare_change(
    sim: FilamanSimulator, api: Api
) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    ignored = await api.call(
        "PATCH",
        f"{API}/spools/{spool_id}",
        json_body={"remaining_weight_g": 5.0, "lot_number": "L2"},
        spec="/api/v1/spools/{spool_id}",
    )
    assert ignored.status == 200
    assert (ignored.body["remaining_weight_g"], ignored.body["lot_number"]) == (1000.0, "L2")
    tare = await api.call(
        "PATCH", f"{API}/spools/{spool_id}", json_body={"empty_spool_weight_g": 260}
    )
    assert tare.body["remaining_weight_g"] == 990.0
    assert tare.body["initial_total_weight_g"] == 1250.0
    adjust = sim.events(spool_id)[0]
    assert (adjust.event_type, adjust.delta_weight_g) == ("manual_adjust", -10.0)
    assert adjust.meta is not None
    assert adjust.meta["adjustment_type"] == "tara_change"


async def test_rfid_uid_is_unique(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    first = sim.add_spool(filament_id, rfid_uid="04:F5:02:3A:11:22:33")
    second = sim.add_spool(filament_id)
    await api.call(
        "PATCH", f"{API}/spools/{second}", json_body={"rfid_uid": "04:F5:02:3A:11:22:33"}
    )
    assert sim.spool(first).rfid_uid is None
    assert sim.spool(second).rfid_uid == "04:F5:02:3A:11:22:33"


# --- behaviour: consumption -----------------------------------------------------------------


async def consume(
    api: Api, spool_id: int, grams: float, when: timedelta, note: str | None = None
) -> Reply:
    body: dict[str, Any] = {"delta_weight_g": grams, "event_at": at(when)}
    if note is not None:
        body["note"] = note
    return await api.call("POST", f"{API}/spools/{spool_id}/consumptions", json_body=body)


async def test_consumption_sign_clamp_and_empty(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    spool_id = sim.add_spool(filament_id, remaining_weight_g=100.0)
    positive = await consume(api, spool_id, 10.0, timedelta())
    negative = await consume(api, spool_id, -5.0, timedelta(minutes=10))
    assert (positive.body["delta_weight_g"], negative.body["delta_weight_g"]) == (-10.0, -5.0)
    spool = sim.spool(spool_id)
    assert spool.remaining_weight_g == 85.0
    assert spool.status_id == 2  # new -> opened on the first weight change
    assert spool.last_used_at == T0 + timedelta(minutes=10)

    clamped = await consume(api, spool_id, 500.0, timedelta(minutes=20))
    assert clamped.body["delta_weight_g"] == -500.0  # the full delta is recorded
    assert clamped.body["meta"] == {"clamped_to_zero": True}
    assert sim.spool(spool_id).remaining_weight_g == 0.0
    assert sim.spool(spool_id).status_id == 2  # clamped, so not empty

    exact_id = sim.add_spool(filament_id, remaining_weight_g=30.0)
    await consume(api, exact_id, 30.0, timedelta())
    assert sim.spool(exact_id).status_id == 5
    empty_event = sim.events(exact_id)[0]
    assert (empty_event.event_type, empty_event.to_status_id) == ("empty", 5)

    unknown_id = sim.add_spool(filament_id, initial_total_weight_g=None)
    logged = await consume(api, unknown_id, 7.0, timedelta())
    assert logged.body["delta_weight_g"] == -7.0
    unknown = sim.spool(unknown_id)
    assert (unknown.remaining_weight_g, unknown.status_id, unknown.last_used_at) == (None, 1, None)

    archived_id = sim.add_spool(filament_id)
    sim.archive_spool(archived_id)
    assert (await consume(api, archived_id, 1.0, timedelta())).status == 200


async def test_consumption_aggregation_window_boundary(sim: FilamanSimulator, api: Api) -> None:
    filament_id = add_bambu_pla(sim)
    spool_id = sim.add_spool(filament_id)
    first = await consume(api, spool_id, 1.0, timedelta(), note="job-1")
    edge = await consume(api, spool_id, 2.0, timedelta(minutes=5), note="job-2")
    assert edge.body["id"] == first.body["id"]  # exactly 5 minutes later still merges
    assert edge.body["delta_weight_g"] == -3.0
    assert edge.body["note"] == "job-1"  # the later note is dropped
    assert edge.body["event_at"] == "2026-11-24T11:43:39.330304Z"
    assert edge.body["meta"] == {"first_event_at": T0.isoformat(), "aggregation_count": 2}
    past = await consume(api, spool_id, 4.0, timedelta(minutes=10, microseconds=1))
    assert past.body["id"] != first.body["id"]
    assert past.body["meta"] is None
    assert [e.delta_weight_g for e in sim.consumption_events(spool_id)] == [-3.0, -4.0]
    assert sim.spool(spool_id).remaining_weight_g == 993.0


async def test_consumption_merges_into_a_later_dated_event(sim: FilamanSimulator, api: Api) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    later = await consume(api, spool_id, 5.0, timedelta(hours=2))
    earlier = await consume(api, spool_id, 3.0, timedelta())
    assert earlier.body["id"] == later.body["id"]
    assert earlier.body["event_at"] == "2026-11-24T11:38:39.330304Z"  # moved back in time
    assert earlier.body["meta"]["aggregation_count"] == 2
    # Another source (FilaMan's own Bambuddy plugin) never merges with API ("ui") debits.
    plugin = sim.record_consumption(spool_id, 1.0, event_at=T0, source="bambuddy")
    assert plugin.id != later.body["id"]
    assert len(sim.consumption_events(spool_id)) == 2


async def test_aggregated_clamp_sets_empty(sim: FilamanSimulator, api: Api) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim), remaining_weight_g=10.0)
    await consume(api, spool_id, 4.0, timedelta())
    merged = await consume(api, spool_id, 50.0, timedelta(minutes=1))
    assert merged.body["meta"]["clamped_to_zero"] is True
    assert sim.spool(spool_id).status_id == 5  # unlike the non-aggregated clamp


# --- behaviour: four gunicorn workers (DEPLOYMENTS.md) ----------------------------------------


async def open_streams(api: Api, count: int) -> list[aiohttp.ClientResponse]:
    """``count`` streams opened at the same moment, each read up to its ``: connected``."""
    streams = await asyncio.gather(
        *(api.session.get(f"{api.url}{API}/events/stream") for _ in range(count))
    )
    for stream in streams:
        assert await read_frame(stream) == b": connected\n\n"
    return list(streams)


async def heard(streams: list[aiohttp.ClientResponse]) -> list[bool]:
    """Which streams received a frame (each at most one) within a short wait."""
    result = []
    for stream in streams:
        try:
            await read_frame(stream, wait=0.1)
        except TimeoutError:
            result.append(False)
        else:
            result.append(True)
    return result


async def test_a_stream_hears_only_the_writes_its_worker_served(
    sim: FilamanSimulator, api: Api
) -> None:
    """The image's four workers: streams opened together land on different workers, and a
    write is heard only on its own worker's streams. The database is shared by all."""
    assert sim.bus.count == 4
    spool_id = sim.add_spool(add_bambu_pla(sim))
    streams = await open_streams(api, 4)
    try:
        assert sim.bus.streams_per_worker() == [1, 1, 1, 1]  # the accept race spread them
        for worker in range(4):
            with sim.served_by(worker):
                sim.edit_spool(spool_id, lot_number=f"LOT-{worker}")
            assert sum(await heard(streams)) == 1  # one stream of the four
            # Whichever worker serves the read sees the write at once.
            read = await api.call("GET", f"{API}/spools/{spool_id}")
            assert read.body["lot_number"] == f"LOT-{worker}"
    finally:
        for stream in streams:
            stream.close()


async def test_requests_one_after_another_favour_a_few_workers(
    sim: FilamanSimulator, api: Api
) -> None:
    """Not a round-robin: a free worker early in the wake-up order wins most connections."""
    spool_id = sim.add_spool(add_bambu_pla(sim))
    before = list(sim.bus.served)
    for _ in range(40):
        await api.call("GET", f"{API}/spools/{spool_id}")
        await asyncio.sleep(sim.bus.service_time)  # each request finds every worker free
    served = [after - was for after, was in zip(sim.bus.served, before, strict=True)]
    assert sum(served) == 40
    assert max(served) >= 12  # lopsided ...
    assert served[0] > served[3]  # ... towards the preferred worker


async def test_a_restarted_worker_ends_only_its_streams(sim: FilamanSimulator, api: Api) -> None:
    streams = await open_streams(api, 4)
    try:
        sim.restart_worker(2)
        assert sim.bus.streams_per_worker() == [1, 1, 0, 1]
        ended = [stream for stream in streams if not await _still_open(stream)]
        assert len(ended) == 1
    finally:
        for stream in streams:
            stream.close()


async def _still_open(stream: aiohttp.ClientResponse) -> bool:
    try:
        await asyncio.wait_for(stream.content.read(1), 0.2)
    except TimeoutError:
        return True
    return not stream.content.at_eof()


async def test_a_silenced_worker_keeps_its_streams_open_and_quiet(
    sim: FilamanSimulator, api: Api
) -> None:
    """What a queue overflow does (API.md §8), for one worker's subscribers at once."""
    spool_id = sim.add_spool(add_bambu_pla(sim))
    streams = await open_streams(api, 4)
    try:
        sim.bus.silence(1)
        assert sim.bus.streams_per_worker() == [1, 0, 1, 1]
        assert sim.bus.stream_count == 4
        with sim.served_by(1):
            sim.edit_spool(spool_id, lot_number="unheard")
        assert sum(await heard(streams)) == 0
    finally:
        for stream in streams:
            stream.close()


async def test_newer_filaman_may_fail_driver_questions_off_the_primary(
    sim: FilamanSimulator, api: Api
) -> None:
    printer = sim.add_printer("P1S", driver_key="bambuddy", driver_running=True)
    path = f"{API}/printers/{printer}/driver/health"
    assert (await api.call("GET", path)).status == 200  # 1.2.20: shared memory everywhere
    sim.primary_proxy_failures = True
    statuses = {(await api.call("GET", path)).status for _ in range(40)}
    assert statuses == {200, 503}
    failed = None
    while failed is None or failed.status != 503:
        failed = await api.call("GET", path)
    assert failed.body == {
        "detail": {"code": "primary_proxy_failed", "message": "Could not reach the primary worker"}
    }


# --- behaviour: SSE -------------------------------------------------------------------------


async def read_frame(response: aiohttp.ClientResponse, wait: float = 2.0) -> bytes:
    """One SSE frame including its blank line."""
    return await asyncio.wait_for(response.content.readuntil(b"\n\n"), wait)


async def test_sse_framing_matches_capture(one_worker: FilamanSimulator, api1: Api) -> None:
    sim, api = one_worker, api1
    spool_id = sim.add_spool(add_bambu_pla(sim))
    captured = (EXAMPLES / "sse_auth.txt").read_bytes()
    assert captured == (EXAMPLES / "sse_unauth.txt").read_bytes()
    async with api.session.get(f"{sim.url}{API}/events/stream") as stream:  # no credential
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Cache-Control"] == "no-cache"
        assert stream.headers["X-Accel-Buffering"] == "no"
        received = [await read_frame(stream)]
        await consume(api, spool_id, 1.0, timedelta())
        await api.call("PATCH", f"{API}/spools/{spool_id}", json_body={"lot_number": "x"})
        await api.call("POST", f"{API}/spools", json_body={"filament_id": 1})
        await api.call(
            "POST",
            f"{API}/spools/{spool_id}/adjustments",
            json_body={"adjustment_type": "relative", "delta_weight_g": 1},
        )
        received += [await read_frame(stream) for _ in range(4)]
        assert b"".join(received) == captured


async def test_sse_events_per_kind_of_write(one_worker: FilamanSimulator, api1: Api) -> None:
    sim, api = one_worker, api1
    async with api.session.get(f"{sim.url}{API}/events/stream") as stream:
        assert await read_frame(stream) == b": connected\n\n"
        maker = sim.add_manufacturer("Polymaker")
        filament_id = sim.add_filament(maker, "ASA")
        printer_id = sim.add_printer("P1S", driver_key="bambuddy")  # publishes nothing
        sim.set_printer_params(printer_id, filament_id=filament_id, params={"a": "1"})  # nothing
        sim.add_location("Shelf")
        sim.move_spool(sim.add_spool(filament_id), None)
        sim.publish_event({"event": "printer_status", "printer_id": printer_id, "connected": True})
        frames = [await read_frame(stream) for _ in range(6)]
    assert [json.loads(f.removeprefix(b"data: ")) for f in frames] == [
        {"event": "manufacturers_changed"},
        {"event": "filaments_changed"},
        {"event": "locations_changed"},
        {"event": "spools_changed"},  # the new spool
        {"event": "spools_changed"},  # its move
        {"event": "printer_status", "printer_id": printer_id, "connected": True},
    ]


async def test_sse_slow_client_is_silently_unsubscribed(
    one_worker: FilamanSimulator, api1: Api
) -> None:
    sim, api = one_worker, api1
    spool_id = sim.add_spool(add_bambu_pla(sim))
    async with api.session.get(f"{sim.url}{API}/events/stream") as stream:
        await read_frame(stream)
        assert sim.bus.subscriber_count == 1
        for _ in range(70):  # synchronous: the stream cannot drain between publishes
            sim.publish_event({"event": "spools_changed"})
        assert sim.bus.subscriber_count == 0
        assert sim.bus.stream_count == 1
        frames = [await read_frame(stream) for _ in range(64)]
        assert set(frames) == {b'data: {"event": "spools_changed"}\n\n'}
        await consume(api, spool_id, 1.0, timedelta())
        with pytest.raises(TimeoutError):
            await read_frame(stream, wait=0.2)
        assert not stream.content.at_eof()  # open and silent


async def test_drop_sse_ends_streams(sim: FilamanSimulator, api: Api) -> None:
    async with api.session.get(f"{sim.url}{API}/events/stream") as stream:
        await read_frame(stream)
        sim.drop_sse()
        assert await asyncio.wait_for(stream.content.read(), 2) == b""


# --- behaviour: faults and controls ---------------------------------------------------------


async def test_fail_next_latency_and_request_log(sim: FilamanSimulator, api: Api) -> None:
    sim.request_log.clear()
    sim.fail_next("GET", r"^/api/v1/spools$", status=503, count=2)
    assert (await api.call("GET", f"{API}/spools")).status == 503
    assert (await api.call("GET", f"{API}/spools/statuses")).status == 200  # no match
    assert (await api.call("GET", f"{API}/spools")).status == 503
    assert (await api.call("GET", f"{API}/spools")).status == 200
    sim.fail_next("POST", "consumptions", body={"detail": "boom"})
    failed = await api.call("POST", f"{API}/spools/1/consumptions", json_body={"delta_weight_g": 1})
    assert (failed.status, failed.body) == (500, {"detail": "boom"})
    assert sim.request_log[:2] == [("GET", f"{API}/spools"), ("GET", f"{API}/spools/statuses")]
    sim.latency = 0.1
    started = asyncio.get_running_loop().time()
    await api.call("GET", "/health")
    assert asyncio.get_running_loop().time() - started >= 0.1


async def test_latency_delays_the_answer_not_the_effect(sim: FilamanSimulator, api: Api) -> None:
    """Like the real server, a slow answer comes after the commit: a timed-out POST landed."""
    spool_id = sim.add_spool(add_bambu_pla(sim))
    sim.latency = 0.3
    path = f"{API}/spools/{spool_id}/consumptions"
    headers = {"Authorization": f"ApiKey {api.key}"}
    impatient = aiohttp.ClientTimeout(total=0.1)
    with pytest.raises(TimeoutError):
        async with api.session.post(
            sim.url + path, json={"delta_weight_g": 12.5}, headers=headers, timeout=impatient
        ) as response:
            await response.read()
    async with asyncio.timeout(1):
        while not sim.consumption_events(spool_id):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    (event,) = sim.consumption_events(spool_id)
    assert event.delta_weight_g == -12.5
    assert sim.spool(spool_id).remaining_weight_g == 987.5
    # A scripted failure is decided on arrival: refused (not applied), and answered late too.
    sim.latency = 0.1
    sim.fail_next("POST", "consumptions$", status=503)
    started = asyncio.get_running_loop().time()
    failed = await api.call("POST", path, json_body={"delta_weight_g": 1})
    assert failed.status == 503
    assert asyncio.get_running_loop().time() - started >= 0.1
    assert len(sim.consumption_events(spool_id)) == 1
    sim.latency = 0.0


async def test_answer_late_holds_back_only_matching_answers(
    sim: FilamanSimulator, api: Api
) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    sim.answer_late("POST", "consumptions$", 0.3)
    headers = {"Authorization": f"ApiKey {api.key}"}
    impatient = aiohttp.ClientTimeout(total=0.1)
    path = f"{sim.url}{API}/spools/{spool_id}/consumptions"
    with pytest.raises(TimeoutError):
        async with api.session.post(
            path, json={"delta_weight_g": 2}, headers=headers, timeout=impatient
        ) as response:
            await response.read()
    assert sim.late_answers == 1
    assert len(sim.consumption_events(spool_id)) == 1  # applied at once
    async with api.session.get(f"{sim.url}/health", timeout=impatient) as health:
        assert health.status == 200
    async with api.session.post(
        path, json={"delta_weight_g": 3}, headers=headers, timeout=impatient
    ) as again:
        assert again.status == 200  # the rule was used up
    assert sim.late_answers == 1


async def test_down_and_restart_keep_data_and_port(sim: FilamanSimulator, api: Api) -> None:
    spool_id = sim.add_spool(add_bambu_pla(sim))
    url = sim.url
    sim.down = True
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.call("GET", f"{API}/spools/{spool_id}")
    sim.down = False
    async with api.session.get(f"{sim.url}{API}/events/stream") as stream:
        await read_frame(stream)
        await sim.restart()
        assert await asyncio.wait_for(stream.content.read(), 2) == b""
    assert sim.url == url
    again = await api.call("GET", f"{API}/spools/{spool_id}")
    assert again.status == 200


async def test_http_controls(sim: FilamanSimulator, api: Api) -> None:
    session = api.session
    async with session.post(f"{sim.url}/_sim/seed-demo") as seeded:
        ids = await seeded.json()
    listing = await api.call("GET", f"{API}/spools", params={"include_archived": "true"})
    assert listing.body["total"] == 13  # with the PETG Translucent loaded in the demo printer's B4
    materials = {s["filament"]["material_type"] for s in listing.body["items"]}
    assert {"PLA", "PETG", "ABS", "TPU", "ASA", "PLA-CF"} <= materials
    assert any(s["initial_total_weight_g"] is None for s in listing.body["items"])
    assert sum(1 for s in listing.body["items"] if s["status_id"] == 6) == 1
    spool_id = ids["spool_pla_green_rfid"]
    async with session.post(
        f"{sim.url}/_sim/spools/{spool_id}/consumptions", json={"delta_weight_g": 3}
    ) as consumed:
        assert (await consumed.json())["delta_weight_g"] == -3.0
    async with session.patch(
        f"{sim.url}/_sim/spools/{spool_id}", json={"remaining_weight_g": 123.0}
    ) as edited:
        assert (await edited.json())["remaining_weight_g"] == 123.0
    async with session.post(
        f"{sim.url}/_sim/faults", json={"method": "GET", "path_regex": "/health", "status": 502}
    ) as fault:
        assert fault.status == 204
    assert (await api.call("GET", "/health")).status == 502
    async with session.post(f"{sim.url}/_sim/api-keys", json={"role": "viewer"}) as key:
        viewer = (await key.json())["token"]
    assert (await api.call("GET", f"{API}/me", key=viewer)).body["roles"] == ["viewer"]
    async with session.get(f"{sim.url}/_sim/spools/999") as missing:
        assert missing.status == 404
    async with session.get(f"{sim.url}/_sim/request-log") as log:
        assert ["GET", "/health"] in await log.json()


async def test_sse_client_leaving_ends_its_stream_quietly(
    sim: FilamanSimulator, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that hangs up is no server error: its stream just ends."""
    async with api.session.get(f"{sim.url}{API}/events/stream") as stream:
        assert await read_frame(stream) == b": connected\n\n"
        stream.connection.transport.abort()  # type: ignore[union-attr]
    for _ in range(100):  # the server may write once more before it sees the hang-up
        sim.publish_event({"event": "spools_changed"})
        await asyncio.sleep(0.01)
        if sim.bus.stream_count == 0:
            break
    assert sim.bus.stream_count == 0
    assert "Error handling request" not in caplog.text
