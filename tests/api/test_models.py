"""Parsing of captured payloads into the typed models (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from custom_components.filaman_bambuddy.api import _coerce
from custom_components.filaman_bambuddy.api.errors import ProtocolError
from custom_components.filaman_bambuddy.api.models_bambuddy import (
    Assignment,
    AuthStatus,
    BambuddySettings,
    BambuddySpool,
    Printer,
    PrinterStatus,
    UsageRow,
    global_tray_id,
    link_note,
    slot_from_global_tray_id,
    slot_label,
)
from custom_components.filaman_bambuddy.api.models_filaman import (
    DriverHealth,
    FilamanPrinter,
    FilamanSpool,
    Me,
    PrinterParams,
    SpoolEvent,
    SpoolStatus,
    SseEvent,
    param_dict,
)

from .conftest import load_json, ws_frames


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (5.0, 5),
        (5.5, None),
        ("7", 7),
        (" 8 ", 8),
        ("9.0", 9),
        ("", None),
        ("abc", None),
        (True, None),
        (None, None),
        (float("nan"), None),
        ([1], None),
    ],
)
def test_to_int(value: object, expected: int | None) -> None:
    assert _coerce.to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1.0), (2.5, 2.5), ("26.1", 26.1), ("", None), ("x", None), (False, None), ("inf", None)],
)
def test_to_float(value: object, expected: float | None) -> None:
    assert _coerce.to_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (0, False), (1, True), ("true", True), ("False", False), ("x", None), (2, None)],
)
def test_to_bool(value: object, expected: bool | None) -> None:
    assert _coerce.to_bool(value) == expected


def test_to_str_and_datetime() -> None:
    assert _coerce.to_str(12) == "12"
    assert _coerce.to_str(None) is None
    assert _coerce.to_str([]) is None
    naive = _coerce.to_datetime("2026-11-24T11:37:48")
    assert naive == datetime(2026, 11, 24, 11, 37, 48, tzinfo=UTC)
    micro = _coerce.to_datetime("2026-11-24T11:46:05.000400")
    assert micro is not None
    assert micro.tzinfo is UTC
    assert micro.microsecond == 400
    zulu = _coerce.to_datetime("2026-11-24T11:38:39.330304Z")
    assert zulu is not None
    assert zulu.utcoffset() == timedelta(0)
    offset = _coerce.to_datetime("2026-11-24T12:00:00+01:00")
    assert offset is not None
    assert offset.tzinfo == timezone(timedelta(hours=1))
    assert _coerce.to_datetime("yesterday") is None
    assert _coerce.to_datetime(12) is None


def test_shape_helpers_raise_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        _coerce.as_object([], "x")
    with pytest.raises(ProtocolError):
        _coerce.as_list({}, "x")
    with pytest.raises(ProtocolError, match="'id'"):
        _coerce.required_int({"id": "abc"}, "id", "spool")
    with pytest.raises(ProtocolError, match="'name'"):
        _coerce.required_str({"name": 3}, "name", "thing")
    assert _coerce.required_str({"name": "n"}, "name", "thing") == "n"


def test_bambuddy_spool_from_capture() -> None:
    spool = BambuddySpool.from_json(load_json("bambuddy/spool_get.json"))
    assert spool.id == 1
    assert spool.material == "PLA"
    assert spool.subtype == "Basic"
    assert spool.label_weight == 1000
    assert spool.weight_used == 101.0
    assert spool.remaining_weight == 899.0
    assert spool.cost_per_kg == 20.0
    assert spool.created_at == datetime(2026, 11, 24, 11, 37, 48, tzinfo=UTC)
    assert spool.archived_at is None
    assert not spool.archived
    assert spool.filaman_id is None  # note "patched"


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("filaman:12", 12),
        ("filaman:0", 0),
        (link_note(345), 345),
        ("filaman:", None),
        ("filaman:12 ", None),
        (" filaman:12", None),
        ("filaman:12a", None),
        ("FILAMAN:12", None),
        ("filaman:١٢", None),  # non-ASCII digits are not a link
        (None, None),
    ],
)
def test_filaman_link_note(note: str | None, expected: int | None) -> None:
    spool = BambuddySpool.from_json({"id": 1, "material": "PLA", "note": note})
    assert spool.filaman_id == expected


def test_bambuddy_spool_lenient_and_strict() -> None:
    spool = BambuddySpool.from_json(
        {"id": "4", "label_weight": "750", "weight_used": "12.5", "archived_at": "2026-01-01T00:00"}
    )
    assert spool.id == 4
    assert spool.material == ""
    assert spool.label_weight == 750
    assert spool.weight_used == 12.5
    assert spool.core_weight == 250
    assert spool.archived
    with pytest.raises(ProtocolError):
        BambuddySpool.from_json({"material": "PLA"})


def test_spool_list_and_assignments_from_capture() -> None:
    spools = [BambuddySpool.from_json(item) for item in load_json("bambuddy/spools_list.json")]
    assert spools
    assignments = [Assignment.from_json(a) for a in load_json("bambuddy/assignments_list.json")]
    assert [(a.ams_id, a.tray_id) for a in assignments] == [(0, 0), (0, 3)]
    assert assignments[0].spool is not None
    assert assignments[0].spool.weight_used == 320.0
    assert not assignments[0].configured
    created = Assignment.from_json(load_json("bambuddy/assignment_create_response.json"))
    assert created.configured
    assert not created.pending_config
    assert created.fingerprint_type == "PETG"
    bare = Assignment.from_json(
        {"id": 1, "spool_id": 2, "printer_id": 3, "ams_id": 255, "tray_id": 0}
    )
    assert bare.spool is None
    with pytest.raises(ProtocolError):
        Assignment.from_json({"id": 1, "spool_id": 2, "printer_id": 3, "ams_id": None})


def test_usage_rows_printers_auth_from_capture() -> None:
    rows = [UsageRow.from_json(row) for row in load_json("bambuddy/usage_history_all.json")]
    assert [(r.id, r.spool_id, r.weight_used, r.status) for r in rows] == [
        (1, 1, 100.0, "completed"),
        (2, 2, 50.0, "completed"),
    ]
    assert rows[0].created_at == datetime(2026, 11, 24, 11, 42, 14, tzinfo=UTC)
    printers = [Printer.from_json(p) for p in load_json("bambuddy/printers_list_apikey.json")]
    assert printers == [Printer(1, "Fake P1S", "P1S", "01P00A000000001", True, 1)]
    assert Printer.from_json(load_json("bambuddy/printer_get_apikey.json")).name == "Fake P1S"
    assert Printer.from_json({"id": 7}).name == "Printer 7"
    assert AuthStatus.from_json(load_json("bambuddy/auth_status.json")) == AuthStatus(True, False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("false", False), ("true", True), ("True", True), (True, True), (False, False), (None, False)],
)
def test_spoolman_settings_strings(raw: object, expected: bool) -> None:
    settings = BambuddySettings.from_json({"spoolman_enabled": raw, "spoolman_url": ""})
    assert settings.spoolman_enabled is expected
    assert settings.spoolman_url is None


def test_rest_printer_status_from_capture() -> None:
    status = PrinterStatus.from_json(load_json("bambuddy/printer_status.json"))
    assert status.printer_id == 1
    assert status.connected
    assert status.state == "IDLE"
    assert status.model is None  # only the WS shape carries it
    assert status.tray_now == 255
    assert status.active_tray is None  # 255 = nothing loaded on a P1S
    assert status.bed_temp == 23.0
    assert status.nozzle_target_temp == 0.0
    unit = status.ams[0]
    assert (unit.id, unit.humidity, unit.temp, unit.is_ams_ht, unit.module_type) == (
        0,
        23,
        26.1,
        False,
        "ams",
    )
    slots = status.slots()
    assert [(t.ams_id, t.tray_id, t.global_tray_id) for t in slots] == [
        (0, 0, 0),
        (0, 1, 1),
        (0, 2, 2),
        (0, 3, 3),
        (255, 0, 254),
    ]
    first = slots[0]
    assert first.tag_uid == "A1B2C3D4E5F60708"
    assert first.nozzle_temp_min == 190
    assert first.label == "A1"
    assert not first.is_empty
    assert slots[3].is_empty
    assert slots[4].id == 254
    assert slots[4].label == "Ext"
    assert status.tray(0, 1) is slots[1]
    assert status.tray(1, 0) is None
    assert status.unit(0) is unit
    assert status.unit(5) is None


def test_ws_printer_status_strings_and_null_ams() -> None:
    frame = ws_frames("ws_printer_status_running.json")[0]
    status = PrinterStatus.from_json(frame["data"], printer_id=frame["printer_id"])
    assert status.model == "P1S"
    assert status.name == "Fake P1S"
    assert status.state == "RUNNING"
    assert status.remaining_time_min == 42
    assert status.ams[0].temp == 26.1  # "26.1" in the frame
    assert status.ams[0].trays[0].nozzle_temp_max == 230  # "230" in the frame
    assert status.vt_trays[0].state is None  # WS omits state/exists for vt_tray
    assert status.active_tray is not None
    assert (status.active_tray.ams_id, status.active_tray.tray_id) == (0, 1)
    connect = ws_frames("ws_printer_connect_events.json")[1]
    assert connect["data"]["ams"] is None
    early = PrinterStatus.from_json(connect["data"], printer_id=1)
    assert early.ams == ()
    assert early.state == "unknown"
    assert early.bed_temp is None
    unreachable = PrinterStatus.from_json(load_json("bambuddy/printer_status_unreachable.json"))
    assert not unreachable.connected
    assert unreachable.slots() == ()
    with pytest.raises(ProtocolError):
        PrinterStatus.from_json({"connected": True})


def test_status_with_ams_ht_external_right_and_bad_entries() -> None:
    status = PrinterStatus.from_json(
        {
            "id": 3,
            "state": None,
            "tray_now": "128",
            "ams": [
                {
                    "id": 128,
                    "humidity": "30",
                    "temp": "31.5",
                    "tray": [{"id": 0, "tray_type": "PLA"}],
                },
                {"id": "bad", "tray": []},
                {"id": 1, "tray": [{"id": None}, {"id": "2", "tray_type": "PETG", "state": 11}]},
            ],
            "vt_tray": [{"id": 254, "tray_type": ""}, {"id": 255, "tray_type": "TPU"}],
            "hms_errors": [{"code": 1}],
            "temperatures": "broken",
        }
    )
    assert status.state is None
    assert [unit.id for unit in status.ams] == [128, 1]
    assert status.ams[0].is_ams_ht
    assert status.ams[0].humidity == 30
    assert [(t.ams_id, t.tray_id, t.global_tray_id) for t in status.slots()] == [
        (128, 0, 128),
        (1, 2, 6),
        (255, 0, 254),
        (255, 1, 255),
    ]
    assert [t.label for t in status.slots()] == ["HT-A", "B3", "Ext", "Ext2"]
    assert status.active_tray is status.slots()[0]
    assert status.hms_error_count == 1
    assert status.bed_temp is None
    assert status.slots()[2].is_empty


@pytest.mark.parametrize(
    ("address", "global_id"),
    [
        ((0, 0), 0),
        ((3, 3), 15),
        ((6, 1), 25),
        ((128, 0), 128),
        ((135, 0), 135),
        ((255, 0), 254),
        ((255, 1), 255),
    ],
)
def test_slot_addressing_round_trip(address: tuple[int, int], global_id: int) -> None:
    assert global_tray_id(*address) == global_id
    assert slot_from_global_tray_id(global_id) == address
    assert slot_label(0, 1) == "A2"


def test_tray_zero_tags_are_no_tags() -> None:
    status = PrinterStatus.from_json(
        {
            "id": 1,
            "ams": [{"id": 0, "tray": [{"id": 0, "tag_uid": "0000000000000000", "tray_uuid": ""}]}],
        }
    )
    tray = status.slots()[0]
    assert tray.tag_uid is None
    assert tray.tray_uuid is None
    assert tray.remain == -1


def test_filaman_spool_from_capture() -> None:
    spool = FilamanSpool.from_json(load_json("filaman/spool_get.json"))
    assert spool.id == 1
    assert spool.filament_id == 1
    assert spool.rfid_uid == "04:F5:02:3A:11:22:33"
    assert (spool.initial_total_weight_g, spool.empty_spool_weight_g) == (1250.0, 250.0)
    assert spool.remaining_weight_g == 1000.0
    assert spool.created_at == datetime(2026, 11, 24, 11, 38, 23, tzinfo=UTC)
    filament = spool.filament
    assert filament.designation == "PLA Basic"
    assert filament.material_subgroup == "Basic"
    assert filament.manufacturer is not None
    assert filament.manufacturer.name == "Bambu Lab"
    assert filament.color_hexes == ("#00AE42",)
    listed = [FilamanSpool.from_json(s) for s in load_json("filaman/spools_list.json")["items"]]
    assert {s.id for s in listed} == {1, 2}
    with pytest.raises(ProtocolError):
        FilamanSpool.from_json({"id": 3})


def test_filament_colors_ordered_by_position() -> None:
    spool = FilamanSpool.from_json(
        {
            "id": 1,
            "filament": {
                "id": 2,
                "manufacturer": None,
                "colors": [
                    {"position": 3, "color": {"hex_code": "#0000FF"}},
                    {"position": 1, "color": {"hex_code": "#FF0000"}},
                    {"position": 2, "color": {"hex_code": "#00FF00"}},
                    {"position": 4, "color": None},
                    {"color": {"hex_code": "#FFFFFF"}},
                ],
            },
        }
    )
    assert spool.filament.color_hexes == ("#FF0000", "#00FF00", "#0000FF", "#FFFFFF")
    assert spool.filament.manufacturer is None


def test_filaman_small_models_from_capture() -> None:
    statuses = [SpoolStatus.from_json(s) for s in load_json("filaman/spool_statuses.json")]
    assert [s.key for s in statuses] == ["new", "opened", "drying", "active", "empty", "archived"]
    me = Me.from_json(load_json("filaman/me.json"))
    assert me.is_superadmin
    assert me.can("anything")
    assert "spool_events:create_consumption" in me.permissions
    viewer = Me.from_json({"id": 2, "roles": ["viewer"], "permissions": ["spools:read"]})
    assert not viewer.can("spool_events:create_consumption")
    health = DriverHealth.from_json(load_json("filaman/printer_driver_health.json"))
    assert (health.running, health.connected, health.sync_enabled) == (False, False, None)
    running = DriverHealth.from_json(
        {"running": True, "connected": True, "sync_enabled": "enabled"}
    )
    assert running.sync_enabled is True
    event = SpoolEvent.from_json(load_json("filaman/spool_consumption.json"))
    assert event.delta_weight_g == -12.4
    assert event.aggregation_count == 1
    merged = SpoolEvent.from_json(load_json("filaman/spool_events.json")["items"][0])
    assert merged.aggregation_count == 2
    assert merged.event_at is not None
    assert param_dict(load_json("filaman/spool_printer_params_get.json")) == {
        "bambu_idx": "GFA00",
        "bambu_nozzle_temp_max": "230",
        "bambu_nozzle_temp_min": "190",
    }
    assert param_dict([{"param_key": "a"}, {"param_value": "1"}, "x"]) == {}
    sse = SseEvent.from_json({"event": "printer_status", "printer_id": 3, "connected": True})
    assert (sse.event, sse.printer_id) == ("printer_status", 3)


def test_filaman_printer_hides_driver_config() -> None:
    printer = FilamanPrinter.from_json(load_json("filaman/printer_get.json"))
    assert printer.driver_key == "bambuddy"
    assert printer.bambuddy_printer_id == 1
    assert printer.bambuddy_url == "http://127.0.0.1:9"
    assert printer.driver_config["api_key"] == "x"
    secret = FilamanPrinter.from_json(
        {"id": 1, "driver_config": {"api_key": "bb_SECRETSECRET", "printer_id": "2"}}
    )
    assert "SECRETSECRET" not in repr(secret)
    assert secret.bambuddy_printer_id == 2
    listed = FilamanPrinter.from_json(load_json("filaman/printers_list.json")["items"][0])
    assert listed.driver_config == {}


def test_printer_params_export_merges_spool_over_filament() -> None:
    params = PrinterParams.from_json(
        {
            "printer_id": 1,
            "printer_name": "P1S",
            "driver_key": "bambuddy",
            "filament_params": {
                "1": [
                    {"param_key": "bambu_nozzle_temp_min", "param_value": "200"},
                    {"param_key": "bambu_idx", "param_value": "GFL99"},
                ]
            },
            "spool_params": {
                "5": [{"param_key": "bambu_nozzle_temp_min", "param_value": "190"}],
                "x": [],
            },
        }
    )
    assert params.for_spool(5, 1) == {"bambu_nozzle_temp_min": "190", "bambu_idx": "GFL99"}
    assert params.for_spool(6, 1) == {"bambu_nozzle_temp_min": "200", "bambu_idx": "GFL99"}
    assert params.for_spool(6, 9) == {}
    assert list(params.spool_params) == [5]
