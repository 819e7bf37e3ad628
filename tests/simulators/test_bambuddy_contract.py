"""The Bambuddy simulator against Bambuddy 1.2.5.2's captured payloads and documented quirks.

REST answers are validated against the trimmed openapi and compared (keys and value types,
recursively) with the captured example of the same call; WebSocket frames are compared with
the captured frames. Everything is read from tests/fixtures/bambuddy.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
from pathlib import Path
import time
from typing import Any

import aiohttp
import jsonschema
import pytest

from simulators.bambuddy import BambuddySimulator
from simulators.bambuddy.state import utc_now

from .bambuddy_client import API, USAGE_DELAY, Ws, create_spool, get_json, open_ws, send_json

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bambuddy"
EXAMPLES = FIXTURES / "examples"
OPENAPI: dict[str, Any] = json.loads((FIXTURES / "openapi.json").read_text(encoding="utf-8"))

# Every captured example file → the test that checks the simulator against it, or why not.
EXAMPLE_COVERAGE: dict[str, str] = {
    "api_key_create.json": "test_api_keys_admin_routes",
    "api_key_create_authdisabled.json": "test_api_keys_admin_routes",
    "api_keys_list.json": "test_api_keys_admin_routes",
    "assignment_create_response.json": "test_assignment_create_configures_slot",
    "assignment_delete_response.json": "test_assignment_delete",
    "assignments_list.json": "test_assignments_list",
    "auth_me_apikey.json": "n/a: /auth/me is not simulated (useless for capabilities, §2)",
    "auth_status.json": "test_public_routes",
    "fake_printer_mqtt_log.json": "n/a: MQTT between Bambuddy and the printer, not visible",
    "inventory_remain.json": "test_inventory_remain",
    "mqtt_commands_on_assign.jsonl": "n/a: MQTT; its effect on the tray is in "
    "test_assignment_create_configures_slot",
    "printer_create_response.json": "n/a: creating printers needs an admin JWT",
    "printer_get_apikey.json": "test_printer_get",
    "printer_status.json": "test_printer_status_rest",
    "printer_status_after_prints.json": "test_printer_status_rest",
    "printer_status_unreachable.json": "n/a: 'unknown' state of an unreachable printer after a "
    "Bambuddy restart is not simulated",
    "printers_list_admin_jwt.json": "n/a: admin JWT view (access_code)",
    "printers_list_apikey.json": "test_printers_list",
    "spool_create_minimal_response.json": "test_spool_create_minimal",
    "spool_create_response.json": "test_spool_create_full",
    "spool_delete_response.json": "test_spool_delete_is_hard",
    "spool_get.json": "test_spool_get",
    "spool_patch_response.json": "test_spool_patch_auto_locks_weight",
    "spools_list.json": "test_spools_list_sorted",
    "usage_history_all.json": "test_print_lifecycle",
    "usage_history_spool1.json": "test_print_lifecycle",
    "ws_assignment_events.json": "test_ws_assignment_events",
    "ws_initial_two_printers.json": "test_ws_initial_snapshots",
    "ws_inventory_events.json": "test_ws_inventory_changed",
    "ws_print_complete.json": "test_print_lifecycle",
    "ws_print_failed_events.json": "test_print_failed",
    "ws_print_lifecycle_events.json": "test_print_lifecycle",
    "ws_print_start.json": "test_print_lifecycle",
    "ws_printer_connect_events.json": "test_rfid_auto_assign",
    "ws_printer_offline_online_events.json": "test_printer_offline_online",
    "ws_printer_status_finish.json": "test_print_lifecycle",
    "ws_printer_status_initial.json": "test_ws_initial_snapshots",
    "ws_printer_status_offline.json": "test_printer_offline_online",
    "ws_printer_status_running.json": "test_print_lifecycle",
    "ws_spool_assignment_changed.json": "test_ws_assignment_events",
    "ws_spool_assignment_verified.json": "test_ws_assignment_events",
    "ws_spool_auto_assigned.json": "test_rfid_auto_assign",
    "ws_spool_usage_logged.json": "test_print_lifecycle",
    "ws_token_authdisabled.json": "test_auth_disabled_mode",
}


# --- reference helpers --------------------------------------------------------------------


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def example_frames(name: str, kind: str) -> list[dict[str, Any]]:
    frames = example(name)
    return [frame for frame in frames if frame["type"] == kind]


def validate_openapi(path: str, method: str, body: Any, status: int = 200) -> None:
    """Validate a response body against the trimmed openapi (when it declares a schema)."""
    operation = OPENAPI["paths"][path][method]
    content = operation["responses"][str(status)].get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if not schema:
        return
    document = dict(schema) | {"components": OPENAPI["components"]}
    jsonschema.Draft202012Validator(document).validate(body)


# Objects keyed by data (unit ids, global tray ids): only their values are compared.
DATA_KEYED_OBJECTS = ("ams_extruder_map", "inventory_remain_g")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def shape_mismatch(actual: Any, reference: Any, where: str, *, allow_null: bool) -> str | None:
    """Why `actual` does not have the keys and value types of `reference` (None if it does)."""
    if reference is None:
        return None  # the capture does not say which type
    if actual is None:
        return None if allow_null else f"{where}: null where the capture has {reference!r}"
    if isinstance(reference, dict):
        if not isinstance(actual, dict):
            return f"{where}: {_type_name(actual)} instead of object"
        if where.endswith(DATA_KEYED_OBJECTS):
            values = list(reference.values())
            return shape_mismatch(list(actual.values()), values, where, allow_null=allow_null)
        if set(actual) != set(reference):
            missing, extra = set(reference) - set(actual), set(actual) - set(reference)
            return f"{where}: keys missing {sorted(missing)}, extra {sorted(extra)}"
        for key, value in actual.items():
            problem = shape_mismatch(value, reference[key], f"{where}.{key}", allow_null=allow_null)
            if problem:
                return problem
        return None
    if isinstance(reference, list):
        if not isinstance(actual, list):
            return f"{where}: {_type_name(actual)} instead of array"
        for index, item in enumerate(actual):
            problems = [
                shape_mismatch(item, ref, f"{where}[{index}]", allow_null=allow_null)
                for ref in reference
            ]
            if reference and all(problems):
                return problems[0]
        return None
    if type(actual) is not type(reference):
        return f"{where}: {_type_name(actual)} {actual!r} where the capture has {reference!r}"
    return None


def assert_shape(actual: Any, *references: Any, allow_null: bool = False) -> None:
    """`actual` matches at least one captured reference."""
    problems = [shape_mismatch(actual, ref, "$", allow_null=allow_null) for ref in references]
    assert not all(problems), problems[0]


def assert_rest(
    path: str, method: str, body: Any, example_name: str | None, status: int = 200
) -> None:
    validate_openapi(path, method, body, status)
    if example_name is not None:
        reference = example(example_name)
        if isinstance(reference, list) and isinstance(body, list):
            for item in body:
                assert_shape(item, *reference, allow_null=True)
        else:
            assert_shape(body, reference, allow_null=True)


FULL_SPOOL = {
    "material": "PLA",
    "subtype": "Basic",
    "color_name": "Jade White",
    "rgba": "FFFFFFFF",
    "brand": "Bambu Lab",
    "label_weight": 1000,
    "core_weight": 250,
    "weight_used": 12.5,
    "slicer_filament": "GFA00",
    "slicer_filament_name": "Bambu PLA Basic",
    "nozzle_temp_min": 190,
    "nozzle_temp_max": 230,
    "note": "filaman:7",
    "tag_uid": "A1B2C3D4",
    "tray_uuid": "0123456789ABCDEF0123456789ABCDEF",
    "cost_per_kg": 20.0,
    "storage_location": "Shelf A",
}


def loaded_printer(sim: BambuddySimulator, **kwargs: Any) -> int:
    """A printer like the captured 'Fake P1S': PLA, PETG, PLA, empty; external PLA."""
    printer_id = sim.add_printer("Fake P1S", model="P1S", **kwargs)
    sim.set_tray(printer_id, 0, 0, tray_type="PLA", tray_sub_brands="PLA Basic", remain=80)
    sim.set_tray(printer_id, 0, 1, tray_type="PETG", tray_color="FF0000FF", remain=55)
    sim.set_tray(printer_id, 0, 2, tray_type="PLA", tray_color="00AE42FF", remain=100)
    sim.set_tray(printer_id, 255, 0, tray_type="PLA", tray_color="000000FF", remain=0)
    return printer_id


# --- the coverage table -------------------------------------------------------------------


def test_every_example_file_is_covered() -> None:
    files = {path.name for path in EXAMPLES.iterdir()}
    assert files == set(EXAMPLE_COVERAGE), files ^ set(EXAMPLE_COVERAGE)
    for name, covered_by in EXAMPLE_COVERAGE.items():
        assert covered_by.startswith("n/a: ") or covered_by in globals(), name


# --- public routes, trailing slashes, auth -----------------------------------------------


async def test_public_routes(sim: BambuddySimulator, anon: aiohttp.ClientSession) -> None:
    assert await get_json(anon, "/health") == {"status": "healthy"}
    status = await get_json(anon, f"{API}/auth/status")
    assert status == {"auth_enabled": True, "requires_setup": False}
    assert_rest(f"{API}/auth/status", "get", status, "auth_status.json")
    version = await get_json(anon, f"{API}/updates/version")
    assert version["version"] == "1.2.5.2"


@pytest.mark.parametrize(
    ("right", "wrong"),
    [
        (f"{API}/printers/", f"{API}/printers"),
        (f"{API}/inventory/spools", f"{API}/inventory/spools/"),
        (f"{API}/inventory/assignments", f"{API}/inventory/assignments/"),
        (f"{API}/inventory/usage", f"{API}/inventory/usage/"),
        (f"{API}/printers/1", f"{API}/printers/1/"),
        (f"{API}/printers/1/status", f"{API}/printers/1/status/"),
        (f"{API}/settings/spoolman", f"{API}/settings/spoolman/"),
    ],
)
async def test_trailing_slash_is_exact(
    sim: BambuddySimulator, http: aiohttp.ClientSession, right: str, wrong: str
) -> None:
    sim.add_printer("P")
    await get_json(http, right)
    assert await get_json(http, wrong, status=404) == {"detail": "Not found"}


async def test_trailing_slash_ws_token_and_settings(http: aiohttp.ClientSession) -> None:
    await get_json(http, f"{API}/settings/")
    await get_json(http, f"{API}/settings")
    await send_json(http, "POST", f"{API}/auth/ws-token")
    assert await send_json(http, "POST", f"{API}/auth/ws-token/", status=404) == {
        "detail": "Not found"
    }


async def test_auth_errors(sim: BambuddySimulator, anon: aiohttp.ClientSession) -> None:
    path = f"{API}/inventory/spools"
    cases = [
        ({}, 401, {"detail": "Authentication required"}),
        ({"X-API-Key": "bb_wrong"}, 401, {"detail": "Authentication required"}),
        ({"Authorization": "Bearer bb_wrong"}, 401, {"detail": "Invalid API key"}),
    ]
    for headers, status, body in cases:
        async with anon.get(path, headers=headers) as response:
            assert (response.status, await response.json()) == (status, body)
    key = sim.create_api_key()
    async with anon.get(path, headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 200
    sim.revoke_api_key(key)
    async with anon.get(path, headers={"X-API-Key": key}) as response:
        assert response.status == 401


async def test_scopes(sim: BambuddySimulator, anon: aiohttp.ClientSession) -> None:
    read_only = {"X-API-Key": sim.create_api_key(can_manage_inventory=False)}
    write_only = {"X-API-Key": sim.create_api_key(can_read_status=False)}
    path = f"{API}/inventory/spools"
    async with anon.post(path, json={"material": "PLA"}, headers=read_only) as response:
        assert response.status == 403
        assert await response.json() == {
            "detail": "API key does not have 'can_manage_inventory' permission"
        }
    async with anon.get(path, headers=write_only) as response:
        assert response.status == 403
        assert await response.json() == {
            "detail": "API key does not have 'can_read_status' permission"
        }
    async with anon.post(path, json={"material": "PLA"}, headers=write_only) as response:
        assert response.status == 200
    async with anon.post(f"{API}/auth/ws-token", headers=write_only) as response:
        assert response.status == 403


async def test_api_key_format(sim: BambuddySimulator) -> None:
    key = sim.create_api_key()
    assert key.startswith("bb_")
    assert len(key) == 46
    assert all(char.isalnum() or char in "-_" for char in key[3:])


async def test_auth_disabled_mode(sim: BambuddySimulator, anon: aiohttp.ClientSession) -> None:
    sim.auth_enabled = False
    assert (await get_json(anon, f"{API}/auth/status"))["auth_enabled"] is False
    async with anon.get(f"{API}/printers/", headers={"X-API-Key": "garbage"}) as response:
        assert response.status == 200
    token = await send_json(anon, "POST", f"{API}/auth/ws-token")
    assert_shape(token, example("ws_token_authdisabled.json"))
    assert len(token["token"]) == 32
    sim.add_printer("P")
    socket = await anon.ws_connect(f"{API}/ws")  # no token needed
    assert (await Ws(socket).next())["type"] == "printer_status"
    await socket.close()
    sim.auth_enabled = True
    async with anon.get(f"{API}/printers/") as response:
        assert response.status == 401


async def test_api_keys_admin_routes(
    sim: BambuddySimulator, http: aiohttp.ClientSession, anon: aiohttp.ClientSession
) -> None:
    forbidden = {"detail": "API keys cannot be used for administrative operations"}
    assert await send_json(http, "POST", f"{API}/api-keys/", {"name": "x"}, 403) == forbidden
    sim.auth_enabled = False
    created = await send_json(anon, "POST", f"{API}/api-keys/", {"name": "noauth-key"})
    assert_rest(f"{API}/api-keys/", "post", created, "api_key_create_authdisabled.json")
    assert_shape(created, example("api_key_create.json"), allow_null=True)
    assert created["key"].startswith("bb_")
    assert created["key_prefix"] == created["key"][:8] + "..."
    listed = await get_json(anon, f"{API}/api-keys/")
    assert_rest(f"{API}/api-keys/", "get", listed, "api_keys_list.json")
    sim.auth_enabled = True
    # A key created while auth was disabled keeps working after auth is enabled.
    async with anon.get(f"{API}/printers/", headers={"X-API-Key": created["key"]}) as response:
        assert response.status == 200


# --- printers -----------------------------------------------------------------------------


async def test_printers_list(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    sim.add_printer("Zeta")
    sim.add_printer("Alpha")
    printers = await get_json(http, f"{API}/printers/")
    assert [printer["name"] for printer in printers] == ["Alpha", "Zeta"]
    assert_rest(f"{API}/printers/", "get", printers, "printers_list_apikey.json")
    assert "access_code" not in printers[0]


async def test_printer_get(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = sim.add_printer("Fake P1S", model="P1S")
    printer = await get_json(http, f"{API}/printers/{printer_id}")
    assert_rest(f"{API}/printers/{{printer_id}}", "get", printer, "printer_get_apikey.json")
    assert (printer["id"], printer["model"]) == (printer_id, "P1S")
    assert await get_json(http, f"{API}/printers/99", 404) == {"detail": "Printer not found"}
    body = await get_json(http, f"{API}/printers/abc", 422)
    assert body["detail"][0]["type"] == "int_parsing"


async def test_printer_status_rest(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim, ams_ht=1, external=2)
    status = await get_json(http, f"{API}/printers/{printer_id}/status")
    path = f"{API}/printers/{{printer_id}}/status"
    assert_rest(path, "get", status, "printer_status.json")
    assert_rest(path, "get", status, "printer_status_after_prints.json")
    assert isinstance(status["ams"][0]["temp"], float)
    assert isinstance(status["ams"][0]["tray"][0]["nozzle_temp_min"], int)
    assert [unit["id"] for unit in status["ams"]] == [0, 128]
    assert status["ams"][1]["is_ams_ht"] is True
    assert len(status["ams"][1]["tray"]) == 1
    assert [tray["id"] for tray in status["vt_tray"]] == [254, 255]
    assert status["vt_tray"][0]["state"] is None
    assert status["ams"][0]["tray"][3]["state"] == 9
    assert await get_json(http, f"{API}/printers/99/status", 404) == {"detail": "Printer not found"}
    sim.add_printer("Bare", ams_units=0, external=0)
    bare = await get_json(http, f"{API}/printers/{printer_id + 1}/status")
    assert (bare["ams"], bare["vt_tray"], bare["ams_exists"]) == ([], [], False)


async def test_inventory_remain(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim, ams_ht=1)
    sim.set_tray(printer_id, 128, 0, tray_type="PETG")
    first = await create_spool(http, weight_used=300.0)
    second = await create_spool(http, material="PETG", weight_used=50.0)
    for spool, (ams_id, tray_id) in ((first, (0, 1)), (second, (255, 0)), (second, (128, 0))):
        body = {"spool_id": spool["id"], "printer_id": printer_id}
        await send_json(
            http,
            "POST",
            f"{API}/inventory/assignments",
            body | {"ams_id": ams_id, "tray_id": tray_id},
        )
    remain = await get_json(http, f"{API}/printers/{printer_id}/inventory-remain")
    # Slot (0, 1) reports remain 55 %: the AMS report after the assignment raised the unlocked
    # spool's weight_used from 300 to 450 g (AUTOMATION.md §4); externals never get that sync.
    assert remain == {"inventory_remain_g": {"1": 550.0, "254": 950.0, "128": 950.0}}
    assert_shape(remain, example("inventory_remain.json"))


# --- spools -------------------------------------------------------------------------------


async def test_spool_create_minimal(http: aiohttp.ClientSession) -> None:
    spool = await create_spool(http, material="PETG", unknown_field="ignored")
    path = f"{API}/inventory/spools"
    assert_rest(path, "post", spool, "spool_create_minimal_response.json")
    expected = example("spool_create_minimal_response.json")
    volatile = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in spool.items() if k not in volatile} == {
        k: v for k, v in expected.items() if k not in volatile
    }
    assert len(spool["created_at"]) == 19  # naive UTC, seconds


async def test_spool_create_full(http: aiohttp.ClientSession) -> None:
    spool = await create_spool(http, **FULL_SPOOL)
    assert_rest(f"{API}/inventory/spools", "post", spool, "spool_create_response.json")
    assert_shape(spool, example("spool_create_response.json"))
    assert spool["location_id"] is not None  # storage_location auto-links a Location


async def test_spool_validation(http: aiohttp.ClientSession) -> None:
    path = f"{API}/inventory/spools"
    body = await send_json(http, "POST", path, {"material": "PLA", "rgba": "red"}, 422)
    assert body == {
        "detail": [
            {
                "type": "string_pattern_mismatch",
                "loc": ["body", "rgba"],
                "msg": "String should match pattern '^[0-9A-Fa-f]{8}$'",
                "input": "red",
                "ctx": {"pattern": "^[0-9A-Fa-f]{8}$"},
            }
        ]
    }
    validate_openapi(path, "post", body, 422)
    missing = await send_json(http, "POST", path, {"brand": "X"}, 422)
    assert missing["detail"][0]["type"] == "missing"
    assert missing["detail"][0]["loc"] == ["body", "material"]
    null_on_create = await send_json(http, "POST", path, {"material": None}, 422)
    assert null_on_create["detail"][0]["type"] == "string_type"
    spool = await create_spool(http)
    patch = f"{path}/{spool['id']}"
    assert (await send_json(http, "PATCH", patch, {"rgba": "12345"}, 422))["detail"][0]["loc"] == [
        "body",
        "rgba",
    ]


@pytest.mark.parametrize(
    "field", ["material", "label_weight", "core_weight", "weight_used", "weight_locked"]
)
async def test_spool_patch_null_is_http_500(http: aiohttp.ClientSession, field: str) -> None:
    spool = await create_spool(http)
    async with http.patch(f"{API}/inventory/spools/{spool['id']}", json={field: None}) as response:
        assert response.status == 500
        assert await response.text() == "Internal Server Error"


async def test_spool_patch_auto_locks_weight(http: aiohttp.ClientSession) -> None:
    spool = await create_spool(http, **FULL_SPOOL)
    path = f"{API}/inventory/spools/{spool['id']}"
    patched = await send_json(http, "PATCH", path, {"weight_used": 100.25, "note": "patched"})
    assert_rest(f"{API}/inventory/spools/{{spool_id}}", "patch", patched, None)
    assert_shape(patched, example("spool_patch_response.json"))
    assert (patched["weight_used"], patched["weight_locked"]) == (100.25, True)
    explicit = await send_json(http, "PATCH", path, {"weight_used": 5, "weight_locked": False})
    assert (explicit["weight_used"], explicit["weight_locked"]) == (5.0, False)
    cleared = await send_json(http, "PATCH", path, {"brand": None, "bogus": 1})
    assert cleared["brand"] is None
    assert cleared["material"] == "PLA"


async def test_spool_get(http: aiohttp.ClientSession) -> None:
    spool = await create_spool(http, **FULL_SPOOL)
    fetched = await get_json(http, f"{API}/inventory/spools/{spool['id']}")
    assert_rest(f"{API}/inventory/spools/{{spool_id}}", "get", fetched, "spool_get.json")
    assert list(fetched) == list(example("spool_get.json"))
    assert await get_json(http, f"{API}/inventory/spools/999", 404) == {"detail": "Spool not found"}


async def test_spools_list_sorted(http: aiohttp.ClientSession) -> None:
    await create_spool(http, material="TPU")
    await create_spool(http, material="PLA", brand="Bambu Lab", color_name="White")
    await create_spool(http, material="PETG", brand="Polymaker", color_name="Red")
    await create_spool(http, material="PLA", brand=None, color_name="Black")
    await create_spool(http, material="PLA", brand="Bambu Lab", color_name="Black")
    spools = await get_json(http, f"{API}/inventory/spools")
    assert_rest(f"{API}/inventory/spools", "get", spools, "spools_list.json")
    order = [(s["material"], s["brand"], s["color_name"]) for s in spools]
    assert order == [
        ("PETG", "Polymaker", "Red"),
        ("PLA", None, "Black"),
        ("PLA", "Bambu Lab", "Black"),
        ("PLA", "Bambu Lab", "White"),
        ("TPU", None, None),
    ]


async def test_archive_restore_and_include_archived(http: aiohttp.ClientSession) -> None:
    spool = await create_spool(http)
    path = f"{API}/inventory/spools/{spool['id']}"
    archived = await send_json(http, "POST", f"{path}/archive")
    assert_rest(f"{API}/inventory/spools/{{spool_id}}/archive", "post", archived, "spool_get.json")
    assert archived["archived_at"] is not None
    assert await get_json(http, f"{API}/inventory/spools") == []
    listed = await get_json(http, f"{API}/inventory/spools?include_archived=true")
    assert [s["id"] for s in listed] == [spool["id"]]
    restored = await send_json(http, "POST", f"{path}/restore")
    assert restored["archived_at"] is None
    assert len(await get_json(http, f"{API}/inventory/spools")) == 1


async def test_spool_delete_is_hard(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim)
    spool = await create_spool(http)
    assignment = {"spool_id": spool["id"], "printer_id": printer_id, "ams_id": 0, "tray_id": 0}
    await send_json(http, "POST", f"{API}/inventory/assignments", assignment)
    deleted = await send_json(http, "DELETE", f"{API}/inventory/spools/{spool['id']}")
    assert deleted == example("spool_delete_response.json")
    assert await get_json(http, f"{API}/inventory/assignments") == []
    listed = await get_json(http, f"{API}/inventory/spools?include_archived=true")
    assert listed == []
    await send_json(http, "DELETE", f"{API}/inventory/spools/{spool['id']}", status=404)


async def test_spool_by_tag(http: aiohttp.ClientSession) -> None:
    spool = await create_spool(http, **FULL_SPOOL)
    path = f"{API}/inventory/spools/by-tag"
    found = await get_json(http, f"{path}?tray_uuid=0123456789abcdef0123456789abcdef")
    assert found["id"] == spool["id"]
    assert (await get_json(http, f"{path}?tag_uid=a1:b2:c3:d4"))["id"] == spool["id"]
    await get_json(http, f"{path}?tag_uid=FFFF", 404)
    await get_json(http, path, 400)


async def test_ws_inventory_changed(http: aiohttp.ClientSession) -> None:
    ws = await open_ws(http)
    spool = await create_spool(http)
    path = f"{API}/inventory/spools/{spool['id']}"
    await send_json(http, "PATCH", path, {"note": "x"})
    await send_json(http, "POST", f"{path}/archive")
    await send_json(http, "POST", f"{path}/restore")
    await send_json(http, "DELETE", path)
    await ws.send({"type": "ping"})
    frames = [await ws.next() for _ in range(6)]
    assert [frame["type"] for frame in frames] == ["inventory_changed"] * 5 + ["pong"]
    for frame in frames:
        assert_shape(frame, *example("ws_inventory_events.json"))


# --- assignments --------------------------------------------------------------------------


async def test_assignment_create_configures_slot(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = loaded_printer(sim)
    spool = await create_spool(
        http,
        material="PETG",
        subtype="HF",
        brand="Polymaker",
        color_name="Red",
        rgba="FF0000FF",
        slicer_filament="GFG99",
        nozzle_temp_min=230,
        nozzle_temp_max=250,
    )
    body = {"spool_id": spool["id"], "printer_id": printer_id, "ams_id": 0, "tray_id": 1, "x": 1}
    created = await send_json(http, "POST", f"{API}/inventory/assignments", body)
    path = f"{API}/inventory/assignments"
    assert_rest(path, "post", created, "assignment_create_response.json")
    assert_shape(created, example("assignment_create_response.json"), allow_null=True)
    assert (created["configured"], created["pending_config"]) == (True, False)
    assert (created["fingerprint_type"], created["fingerprint_color"]) == ("PETG", "FF0000FF")
    status = await get_json(http, f"{API}/printers/{printer_id}/status")
    tray = status["ams"][0]["tray"][1]
    assert tray["tray_sub_brands"] == "Polymaker PETG HF"
    assert (tray["nozzle_temp_min"], tray["nozzle_temp_max"]) == (230, 250)


async def test_assignment_pending_and_errors(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = loaded_printer(sim)
    spool = await create_spool(http)
    path = f"{API}/inventory/assignments"
    slot = {"spool_id": spool["id"], "printer_id": printer_id, "tray_id": 3}
    empty = await send_json(http, "POST", path, slot | {"ams_id": 0})
    assert (empty["configured"], empty["pending_config"]) == (False, True)
    assert (empty["fingerprint_type"], empty["fingerprint_color"]) == ("", "")
    sim.set_online(printer_id, False)
    offline = await send_json(http, "POST", path, slot | {"ams_id": 0, "tray_id": 0})
    assert (offline["configured"], offline["pending_config"]) == (False, True)
    unknown_printer = await send_json(http, "POST", path, slot | {"ams_id": 0, "printer_id": 77})
    assert unknown_printer["printer_name"] is None
    assert await send_json(http, "POST", path, slot | {"ams_id": 0, "spool_id": 999}, 404) == {
        "detail": "Spool not found"
    }
    await send_json(http, "POST", f"{API}/inventory/spools/{spool['id']}/archive")
    assert await send_json(http, "POST", path, slot | {"ams_id": 0}, 400) == {
        "detail": "Cannot assign an archived spool"
    }
    missing = await send_json(http, "POST", path, {"spool_id": spool["id"]}, 422)
    assert {tuple(e["loc"]) for e in missing["detail"]} == {
        ("body", "printer_id"),
        ("body", "ams_id"),
        ("body", "tray_id"),
    }


async def test_assignments_list(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim)
    other_printer = loaded_printer(sim)
    first = await create_spool(http, **FULL_SPOOL)
    second = await create_spool(http, material="PETG")
    path = f"{API}/inventory/assignments"
    for spool, printer, tray_id in ((first, printer_id, 0), (second, printer_id, 3)):
        body = {"spool_id": spool["id"], "printer_id": printer, "ams_id": 0, "tray_id": tray_id}
        await send_json(http, "POST", path, body)
    # Upsert per slot: assigning another spool replaces the slot's row.
    body = {"spool_id": second["id"], "printer_id": printer_id, "ams_id": 0, "tray_id": 0}
    await send_json(http, "POST", path, body)
    body = {"spool_id": first["id"], "printer_id": other_printer, "ams_id": 0, "tray_id": 0}
    await send_json(http, "POST", path, body)
    listed = await get_json(http, f"{path}?printer_id={printer_id}")
    assert_rest(path, "get", listed, "assignments_list.json")
    assert [(a["tray_id"], a["spool_id"]) for a in listed] == [(0, second["id"]), (3, second["id"])]
    assert all(not a["configured"] and not a["pending_config"] for a in listed)
    assert len(await get_json(http, path)) == 3


async def test_assignment_delete(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim)
    spool = await create_spool(http)
    body = {"spool_id": spool["id"], "printer_id": printer_id, "ams_id": 255, "tray_id": 0}
    await send_json(http, "POST", f"{API}/inventory/assignments", body)
    path = f"{API}/inventory/assignments/{printer_id}/255/0"
    assert await send_json(http, "DELETE", path) == example("assignment_delete_response.json")
    assert await send_json(http, "DELETE", path, status=404) == {"detail": "Assignment not found"}
    status = await get_json(http, f"{API}/printers/{printer_id}/status")
    assert status["vt_tray"][0]["tray_type"] == "PLA"  # unassign does not reset the slot


async def test_ws_assignment_events(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim, ams_ht=1)
    spool = await create_spool(http, rgba="FF0000FF", material="PETG")
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    body = {"spool_id": spool["id"], "printer_id": printer_id, "ams_id": 0, "tray_id": 1}
    await send_json(http, "POST", f"{API}/inventory/assignments", body)
    changed = await ws.next_of("spool_assignment_changed")
    assert changed == example("ws_spool_assignment_changed.json")
    assert_shape(changed, *example_frames("ws_assignment_events.json", changed["type"]))
    status = await ws.next_of("printer_status")  # the configured tray
    assert status["data"]["ams"][0]["tray"][1]["tray_type"] == "PETG"
    verified = await ws.next_of("spool_assignment_verified")
    assert verified | {"printer_name": "Fake P1S"} == example("ws_spool_assignment_verified.json")
    assert_shape(verified, *example_frames("ws_assignment_events.json", verified["type"]))
    # Empty slot: pending, so no configuration and no read-back.
    await send_json(http, "POST", f"{API}/inventory/assignments", body | {"tray_id": 3})
    assert (await ws.next())["type"] == "spool_assignment_changed"
    assert await ws.quiet(0.1) == []
    # Inserting a spool into the pre-assigned slot sends the configuration.
    sim.set_tray(printer_id, 0, 3, tray_type="PLA")
    kinds = [frame["type"] for frame in await ws.quiet(0.2)]
    assert kinds == ["printer_status", "printer_status", "spool_assignment_verified"]
    # AMS-HT and external slots: labels and addresses.
    sim.set_tray(printer_id, 128, 0, tray_type="PETG")
    await send_json(
        http, "POST", f"{API}/inventory/assignments", body | {"ams_id": 128, "tray_id": 0}
    )
    assert (await ws.next_of("spool_assignment_verified"))["slot"] == "HT-A"
    await send_json(http, "DELETE", f"{API}/inventory/assignments/{printer_id}/0/1")
    assert (await ws.next_of("spool_assignment_changed"))["tray_id"] == 1


async def test_rfid_auto_assign(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = sim.add_printer("Fake P1S")
    spool = await create_spool(http, **FULL_SPOOL)
    ws = await open_ws(http)
    await ws.next_of("printer_status")
    sim.set_tray(
        printer_id,
        0,
        0,
        tray_type="PLA",
        tag_uid="A1B2C3D4E5F60708",
        tray_uuid="0123456789ABCDEF0123456789ABCDEF",
    )
    status = await ws.next_of("printer_status")
    assert_shape(status, *example_frames("ws_printer_connect_events.json", "printer_status")[1:])
    auto = await ws.next_of("spool_auto_assigned")
    assert auto == example("ws_spool_auto_assigned.json") | {"spool_id": spool["id"]}
    assert_shape(auto, *example_frames("ws_printer_connect_events.json", "spool_auto_assigned"))
    assert len(await get_json(http, f"{API}/inventory/assignments")) == 1
    # Taking the spool out auto-unlinks the assignment.
    sim.clear_tray(printer_id, 0, 0)
    changed = await ws.next_of("spool_assignment_changed")
    assert_shape(changed, *example_frames("ws_printer_connect_events.json", changed["type"]))
    assert await get_json(http, f"{API}/inventory/assignments") == []


async def test_non_rfid_mismatch_auto_unlinks(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = loaded_printer(sim)
    spool = await create_spool(http, material="PETG", rgba="FF0000FF")
    body = {"spool_id": spool["id"], "printer_id": printer_id, "ams_id": 0, "tray_id": 1}
    await send_json(http, "POST", f"{API}/inventory/assignments", body)
    sim.set_tray(printer_id, 0, 1, tray_type="ABS", tray_color="123456FF")
    assert await get_json(http, f"{API}/inventory/assignments") == []


# --- usage history and the print lifecycle -------------------------------------------------


async def assign(
    http: aiohttp.ClientSession, spool: dict[str, Any], printer_id: int, ams_id: int, tray_id: int
) -> None:
    body = {"spool_id": spool["id"], "printer_id": printer_id, "ams_id": ams_id, "tray_id": tray_id}
    await send_json(http, "POST", f"{API}/inventory/assignments", body)


async def test_print_lifecycle(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim)
    pla = await create_spool(http, rgba="FFFFFFFF", cost_per_kg=20.0)
    petg = await create_spool(http, material="PETG", rgba="FF0000FF")
    await assign(http, pla, printer_id, 0, 0)
    await assign(http, petg, printer_id, 0, 1)
    ws = await open_ws(http)
    await ws.quiet(0.1)
    started = time.monotonic()
    grams = {(0, 0): 100.04, (0, 1): 50.0, (0, 2): 30.0}  # (0, 2) is unassigned
    task = sim.start_print(printer_id, "Benchy", grams)
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != "print_complete":
        frames.append(await ws.next())
    usage_event = await ws.next_of("spool_usage_logged")
    sent = {kind: moment for moment, kind in sim.hub.timeline}
    assert sent["spool_usage_logged"] - sent["print_complete"] >= USAGE_DELAY * 0.8
    await task
    assert time.monotonic() - started < 2

    # Slot A3 is printed from but has no spool: Bambuddy says so right after print_start
    # (AUTOMATION.md §6; no capture holds this frame, so its keys are checked against API.md).
    (missing,) = [f for f in frames if f["type"] == "missing_spool_assignment"]
    assert frames.index(missing) == 1
    assert set(missing) == {"type", "printer_id", "printer_name", "missing_slots"}
    assert [slot["slot"] for slot in missing["missing_slots"]] == ["A3"]
    frames.remove(missing)
    kinds = [frame["type"] for frame in frames]
    assert kinds[0] == "print_start"
    states = [f["data"]["state"] for f in frames if f["type"] == "printer_status"]
    assert states[0] == "RUNNING"
    assert states[-1] == "FINISH"
    assert kinds[-2:] == ["printer_status", "print_complete"]

    lifecycle = "ws_print_lifecycle_events.json"
    start = frames[0]
    assert_shape(start, example("ws_print_start.json"), *example_frames(lifecycle, "print_start"))
    assert start["data"]["remaining_time"] == 60 * frames[1]["data"]["remaining_time"]
    running = frames[1]
    assert_shape(running, example("ws_printer_status_running.json"))
    assert isinstance(running["data"]["ams"][0]["temp"], str)
    assert isinstance(running["data"]["ams"][0]["tray"][0]["nozzle_temp_min"], str)
    finish = frames[-2]
    assert_shape(finish, example("ws_printer_status_finish.json"))
    assert finish["data"]["progress"] == 100.0
    complete = frames[-1]
    assert complete == example("ws_print_complete.json") | {"printer_id": printer_id}
    assert "weight_used" not in complete["data"]
    for frame in frames:
        assert_shape(frame, *example_frames(lifecycle, frame["type"]))

    assert usage_event == {
        "type": "spool_usage_logged",
        "printer_id": printer_id,
        "usage": [
            {
                "spool_id": pla["id"],
                "weight_used": 100.0,
                "percent_used": 10,
                "ams_id": 0,
                "tray_id": 0,
                "material": "PLA",
                "cost": 2.0,
                "slot_id": None,
                "color": "#FFFFFF",
            },
            {
                "spool_id": petg["id"],
                "weight_used": 50.0,
                "percent_used": 5,
                "ams_id": 0,
                "tray_id": 1,
                "material": "PETG",
                "cost": None,
                "slot_id": None,
                "color": "#FF0000",
            },
        ],
    }
    assert_shape(usage_event, example("ws_spool_usage_logged.json"), allow_null=True)
    spool = await get_json(http, f"{API}/inventory/spools/{pla['id']}")
    assert spool["weight_used"] == pytest.approx(100.04)
    assert spool["last_used"] is not None

    rows = await get_json(http, f"{API}/inventory/usage")
    assert_rest(f"{API}/inventory/usage", "get", rows, "usage_history_all.json")
    assert [row["spool_id"] for row in rows] == [pla["id"], petg["id"]]
    assert rows[0]["id"] < rows[1]["id"]  # ties keep insertion order, not id desc
    assert (rows[0]["weight_used"], rows[0]["percent_used"], rows[0]["cost"]) == (100.0, 10, 2.0)
    spool_rows = await get_json(http, f"{API}/inventory/spools/{pla['id']}/usage")
    path = f"{API}/inventory/spools/{{spool_id}}/usage"
    assert_rest(path, "get", spool_rows, "usage_history_spool1.json")
    assert len(spool_rows) == 1


async def test_prints_are_archived_with_their_estimate(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    """Auto-archive (on by default): GET /archives/ (trailing slash), newest first, per printer."""
    printer_id = loaded_printer(sim)
    other_printer = loaded_printer(sim)
    await sim.run_print(printer_id, "One", {(0, 0): 10.0, (0, 1): 2.5}, status="failed")
    await sim.run_print(other_printer, "Two", {(0, 0): 20.0})
    await sim.run_print(printer_id, "Three", {(0, 0): 1.0})
    archives = await get_json(http, f"{API}/archives/?printer_id={printer_id}")
    validate_openapi(f"{API}/archives/", "get", archives)
    assert [(a["print_name"], a["filament_used_grams"], a["status"]) for a in archives] == [
        ("Three", 1.0, "completed"),
        ("One", 12.5, "failed"),
    ]
    assert len(await get_json(http, f"{API}/archives/?limit=1")) == 1
    async with http.get(f"{sim.url}{API}/archives") as without_slash:
        assert without_slash.status == 404


async def test_usage_history_order_limit_and_filter(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = loaded_printer(sim)
    other_printer = loaded_printer(sim)
    spool = await create_spool(http)
    await assign(http, spool, printer_id, 0, 0)
    await assign(http, spool, other_printer, 0, 0)
    await sim.run_print(printer_id, "One", {(0, 0): 10.0})
    for row in sim.db.usage:
        row.created_at -= timedelta(minutes=5)  # make the first print clearly older
    await sim.run_print(other_printer, "Two", {(0, 0): 20.0})
    rows = await get_json(http, f"{API}/inventory/usage")
    assert [row["print_name"] for row in rows] == ["Two", "One"]
    assert rows[0]["id"] > rows[1]["id"]
    assert len(await get_json(http, f"{API}/inventory/usage?limit=1")) == 1
    filtered = await get_json(http, f"{API}/inventory/usage?printer_id={printer_id}")
    assert [row["print_name"] for row in filtered] == ["One"]
    path = f"{API}/inventory/spools/{spool['id']}/usage"
    assert await send_json(http, "DELETE", path) == {"status": "cleared"}
    assert await get_json(http, path) == []


async def test_print_failed(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim)
    spool = await create_spool(http, rgba="FFFFFFFF", cost_per_kg=20.0)
    await assign(http, spool, printer_id, 0, 0)
    ws = await open_ws(http)
    await ws.quiet(0.1)
    await sim.run_print(printer_id, "FailCube", {(0, 0): 20.0}, status="failed")
    frames = await ws.quiet(0.1)
    failed = "ws_print_failed_events.json"
    for frame in frames:
        assert_shape(frame, *example_frames(failed, frame["type"]))
    statuses = [f["data"]["state"] for f in frames if f["type"] == "printer_status"]
    assert statuses[-1] == "FAILED"
    complete = next(f for f in frames if f["type"] == "print_complete")
    assert complete["data"]["status"] == "failed"
    assert frames[-1]["type"] == "spool_usage_logged"
    rows = await get_json(http, f"{API}/inventory/usage")
    assert [(row["status"], row["weight_used"]) for row in rows] == [("failed", 20.0)]


async def test_usage_step_survives_websocket_loss(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = loaded_printer(sim)
    spool = await create_spool(http)
    await assign(http, spool, printer_id, 0, 0)
    ws = await open_ws(http)
    task = sim.start_print(printer_id, "Benchy", {(0, 0): 10.0})
    await ws.next_of("print_complete")
    sim.drop_websockets()
    await task
    assert len(await get_json(http, f"{API}/inventory/usage")) == 1
    assert (await get_json(http, f"{API}/inventory/spools/{spool['id']}"))["weight_used"] == 10.0


async def test_spoolman_mode(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    settings = await get_json(http, f"{API}/settings/")
    validate_openapi(f"{API}/settings/", "get", settings)
    assert settings["spoolman_enabled"] is False
    spoolman = await get_json(http, f"{API}/settings/spoolman")
    assert spoolman["spoolman_enabled"] == "false"
    assert all(isinstance(value, str) for value in spoolman.values())
    sim.set_spoolman_mode(True)
    assert (await get_json(http, f"{API}/settings"))["spoolman_enabled"] is True
    assert (await get_json(http, f"{API}/settings/spoolman"))["spoolman_enabled"] == "true"
    printer_id = loaded_printer(sim)
    spool = await create_spool(http)
    await assign(http, spool, printer_id, 0, 0)
    ws = await open_ws(http)
    await sim.run_print(printer_id, "Benchy", {(0, 0): 10.0})
    kinds = [frame["type"] for frame in await ws.quiet(0.1)]
    assert "print_complete" in kinds
    assert "spool_usage_logged" not in kinds
    assert await get_json(http, f"{API}/inventory/usage") == []


@pytest.mark.parametrize(
    ("mode", "expected"), [("float", 15.0), ("dict", {"0-0": 10.0, "0-1": 5.0})]
)
async def test_legacy_weights(
    sim: BambuddySimulator, http: aiohttp.ClientSession, mode: Any, expected: Any
) -> None:
    printer_id = loaded_printer(sim)
    ws = await open_ws(http)
    await sim.run_print(printer_id, "Old", {(0, 0): 10.0, (0, 1): 5.0}, legacy_weights=mode)
    complete = await ws.next_of("print_complete")
    assert complete["data"]["weight_used"] == expected
    assert complete["data"]["printer_id"] == printer_id
    assert "spool_usage_logged" not in [frame["type"] for frame in await ws.quiet(0.1)]


# --- WebSocket behaviour -------------------------------------------------------------------


async def test_ws_initial_snapshots(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    first = loaded_printer(sim, ams_units=2)
    second = sim.add_printer("Second", ams_units=0, external=0)
    ws = await open_ws(http)
    frames = [await ws.next(), await ws.next()]
    assert [frame["printer_id"] for frame in frames] == [first, second]
    # The captures were taken after a print (FINISH); idle frames come from the lifecycle.
    idle = example_frames("ws_print_lifecycle_events.json", "printer_status")[0]
    assert_shape(frames[0], example("ws_printer_status_initial.json"), idle)
    initial = example_frames("ws_initial_two_printers.json", "printer_status")
    assert_shape(frames[0], *initial, idle)
    assert frames[1]["data"]["ams"] == []
    assert list(frames[0]["data"]) == list(example("ws_printer_status_initial.json")["data"])
    assert "id" not in frames[0]["data"]
    assert frames[0]["data"]["model"] == "P1S"


async def test_ws_ping_get_status_and_bad_frames(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = sim.add_printer("P")
    ws = await open_ws(http)
    await ws.next()
    await ws.send({"type": "ping"})
    assert await ws.next() == {"type": "pong"}
    await ws.send({"type": "get_status", "printer_id": printer_id})
    assert (await ws.next())["printer_id"] == printer_id
    await ws.send({"type": "get_status", "printer_id": 99})
    await ws.send({"type": "something_else"})
    assert await ws.quiet(0.1) == []
    sim.inject_ws_frame("not json from the server")
    message = await ws.socket.receive(timeout=1)
    assert message.data == "not json from the server"
    sim.broadcast({"type": "custom"})
    assert await ws.next() == {"type": "custom"}
    for bad in ("not json", "[1, 2]", '"text"'):
        ws = await open_ws(http)
        await ws.next()
        await ws.send(bad)
        message = await ws.socket.receive(timeout=1)
        # Dropped without a close frame: the client sees an abnormal closure.
        assert message.type is aiohttp.WSMsgType.CLOSED, message
        assert ws.socket.close_code == 1006


async def test_ws_handshake_auth(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    for query in ("", "?token=", "?token=wrong"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as error:
            await http.ws_connect(f"{API}/ws{query}")
        assert error.value.status == 403
    token = (await send_json(http, "POST", f"{API}/auth/ws-token"))["token"]
    assert len(token) == 32
    for _ in range(2):  # reusable
        ws = await open_ws(http, token=token)
        await ws.socket.close()
    sim.expire_ws_tokens()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await open_ws(http, token=token)


async def test_drop_websockets(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    ws = await open_ws(http)
    sim.drop_websockets()
    message = await ws.socket.receive(timeout=1)
    assert message.type is aiohttp.WSMsgType.CLOSED
    for _ in range(50):
        if not sim.hub.clients:
            break
        await asyncio.sleep(0.01)
    assert not sim.hub.clients


async def test_printer_offline_online(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = loaded_printer(sim)
    ws = await open_ws(http)
    await ws.next()
    sim.set_online(printer_id, False)
    offline = await ws.next()
    assert offline["data"]["connected"] is False
    assert_shape(offline, example("ws_printer_status_offline.json"))
    sim.set_online(printer_id, True)
    online = await ws.next()
    assert online["data"]["connected"] is True
    events = "ws_printer_offline_online_events.json"
    for frame in (offline, online):
        assert_shape(frame, *example_frames(events, "printer_status"))
    rest = await get_json(http, f"{API}/printers/{printer_id}/status")
    assert rest["connected"] is True


async def test_every_control_broadcasts_a_snapshot(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    printer_id = sim.add_printer("P", ams_units=1)
    ws = await open_ws(http)
    await ws.next()
    unit = sim.add_ams_unit(printer_id)
    ht_unit = sim.add_ams_unit(printer_id, is_ams_ht=True)
    assert (unit, ht_unit) == (1, 128)
    sim.set_tray(printer_id, 1, 2, tray_type="ABS", tray_color="00FF00FF")
    sim.clear_tray(printer_id, 1, 2)
    sim.remove_ams_unit(printer_id, 1)
    frames = [await ws.next() for _ in range(5)]
    assert all(frame["type"] == "printer_status" for frame in frames)
    assert [u["id"] for u in frames[1]["data"]["ams"]] == [0, 1, 128]
    assert frames[2]["data"]["ams"][1]["tray"][2]["tray_type"] == "ABS"
    assert frames[3]["data"]["ams"][1]["tray"][2]["state"] == 9
    assert [u["id"] for u in frames[4]["data"]["ams"]] == [0, 128]


# --- faults and restart --------------------------------------------------------------------


async def test_faults_and_request_log(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    sim.fail_next("GET", r"/inventory/spools$", status=503, count=2)
    for _ in range(2):
        async with http.get(f"{API}/inventory/spools") as response:
            assert (response.status, await response.text()) == (503, "Service Unavailable")
    await get_json(http, f"{API}/inventory/spools")
    sim.fail_next("*", "/printers/", body={"detail": "boom"}, status=500)
    assert await get_json(http, f"{API}/printers/", 500) == {"detail": "boom"}
    assert sim.request_log[-1] == ("GET", f"{API}/printers/")
    assert len(sim.request_log) == 4
    sim.request_log.clear()
    sim.latency = 0.1
    started = time.monotonic()
    await get_json(http, "/health")
    assert time.monotonic() - started >= 0.1
    sim.latency = 0.0
    sim.down = True
    with pytest.raises(aiohttp.ClientError):
        await get_json(http, "/health")
    sim.down = False
    await get_json(http, "/health")


async def test_restart_keeps_data_and_tokens(
    sim: BambuddySimulator, http: aiohttp.ClientSession
) -> None:
    sim.add_printer("P")
    spool = await create_spool(http)
    token = (await send_json(http, "POST", f"{API}/auth/ws-token"))["token"]
    ws = await open_ws(http, token=token)
    await ws.next()
    url = sim.url
    await sim.restart()
    assert sim.url == url
    message = await ws.socket.receive(timeout=1)
    assert message.type is aiohttp.WSMsgType.CLOSED
    fetched = await get_json(http, f"{API}/inventory/spools/{spool['id']}")
    assert fetched["id"] == spool["id"]
    ws = await open_ws(http, token=token)
    assert (await ws.next())["type"] == "printer_status"


# --- HTTP controls -----------------------------------------------------------------------------


async def test_http_controls(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    async def control(method: str, path: str, body: Any = None) -> Any:
        async with http.request(method, f"/_sim{path}", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    printer_id = (await control("POST", "/printers", {"name": "Demo", "ams_units": 1}))["id"]
    await control(
        "POST", f"/printers/{printer_id}/trays", {"ams_id": 0, "tray_id": 0, "tray_type": "PLA"}
    )
    unit = (await control("POST", f"/printers/{printer_id}/ams", {"is_ams_ht": True}))["ams_id"]
    await control("DELETE", f"/printers/{printer_id}/ams/{unit}")
    await control("DELETE", f"/printers/{printer_id}/trays/0/0")
    await control("POST", f"/printers/{printer_id}/online", {"online": False})
    assert sim.printers[printer_id].connected is False
    await control("POST", f"/printers/{printer_id}/online", {"online": True})
    sim.set_tray(printer_id, 0, 1, tray_type="PETG")
    spool = await create_spool(http)
    await assign(http, spool, printer_id, 0, 1)
    grams = [{"ams_id": 0, "tray_id": 1, "grams": 7.5}]
    body = {"printer_id": printer_id, "name": "Cube", "grams": grams, "wait": True}
    await control("POST", "/print", body)
    assert [row.weight_used for row in sim.db.usage] == [7.5]
    await control("POST", "/spoolman", {"enabled": True})
    assert sim.db.spoolman_enabled
    await control("POST", "/spoolman", {"enabled": False})
    key = (await control("POST", "/api-keys", {"name": "demo"}))["key"]
    assert key in sim.db.api_keys
    await control("POST", "/api-keys/revoke", {"key": key})
    assert not sim.db.api_keys[key].is_valid()
    await control("POST", "/fault", {"path_regex": "/health", "status": 502})
    async with http.get("/health") as response:
        assert (response.status, await response.text()) == (502, "Bad Gateway")
    await control("POST", "/latency", {"seconds": 0})
    await control("POST", "/ws/drop")
    await control("POST", "/ws/inject", {"raw": "x"})
    await control("POST", "/ws/broadcast", {"type": "x"})
    assert len(await control("GET", "/requests")) > 0
    await control("DELETE", "/requests")
    assert sim.request_log == []
    state = await control("GET", "/state")
    assert state["printers"][0]["name"] == "Demo"
    await control("POST", "/down", {"down": False})
    await control("POST", "/auth", {"enabled": False})
    assert sim.auth_enabled is False


async def test_seed_demo(sim: BambuddySimulator, http: aiohttp.ClientSession) -> None:
    printer_id = sim.seed_demo()
    status = await get_json(http, f"{API}/printers/{printer_id}/status")
    assert status["name"] == "Workshop X1C"
    assert [len(unit["tray"]) for unit in status["ams"]] == [4, 4]
    types = {tray["tray_type"] for unit in status["ams"] for tray in unit["tray"]}
    assert {"PLA", "PETG", "ABS", None} <= types
    assert status["vt_tray"][0]["tray_type"] == "PLA"
    assert_rest(f"{API}/printers/{{printer_id}}/status", "get", status, "printer_status.json")
    # A1 holds a Bambu RFID spool: Bambuddy created and assigned its own spool, as by default.
    (auto,) = await get_json(http, f"{API}/inventory/spools")
    assert (auto["data_origin"], auto["tag_uid"], auto["note"]) == (
        "rfid_auto",
        "04A17C9B445566",
        None,
    )
    (assignment,) = await get_json(http, f"{API}/inventory/assignments")
    assert (assignment["ams_id"], assignment["tray_id"], assignment["spool_id"]) == (
        0,
        0,
        auto["id"],
    )


def test_now_is_naive_utc() -> None:
    assert utc_now().tzinfo is None
