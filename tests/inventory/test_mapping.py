"""FilaMan spool → Bambuddy fields (mapping.py is pure: no I/O here)."""

from __future__ import annotations

import pytest

from custom_components.filaman_bambuddy.api.models_filaman import FilamanSpool
from custom_components.filaman_bambuddy.inventory.mapping import (
    SpoolParams,
    desired_spool,
    normalize_rgba,
    parse_temperature,
)

from .conftest import captured_filaman_spool, filaman_spool

NOT_NULL = ("material", "label_weight", "weight_used", "weight_locked", "note")


def test_captured_spool_maps_every_field() -> None:
    desired = desired_spool(filaman_spool())
    assert desired.filaman_id == 1
    assert dict(desired.fields) == {
        "material": "PLA",
        "subtype": "Basic",
        "brand": "Bambu Lab",
        "color_name": "Bambu Green",
        "rgba": "00AE42FF",
        "label_weight": 1000,
        "core_weight": 250,
        "weight_used": 0.0,
        "weight_locked": True,
        "note": "filaman:1",
        "tag_uid": "04F5023A112233",
        "cost_per_kg": 19.99,
    }
    assert desired.problems == ()


def test_net_label_weight_from_gross_minus_tare() -> None:
    spool = filaman_spool(
        initial_total_weight_g=1250.0, empty_spool_weight_g=250.0, remaining_weight_g=800.0
    )
    fields = desired_spool(spool).fields
    assert fields["label_weight"] == 1000
    assert fields["core_weight"] == 250
    assert fields["weight_used"] == 200.0


def test_null_initial_total_uses_filament_raw_weight() -> None:
    spool = filaman_spool(
        initial_total_weight_g=None,
        remaining_weight_g=500.0,
        filament={"raw_material_weight_g": 750.0},
    )
    fields = desired_spool(spool).fields
    assert fields["label_weight"] == 750
    assert fields["weight_used"] == 250.0


def test_null_tare_uses_filament_raw_weight_and_default_tare() -> None:
    spool = filaman_spool(
        empty_spool_weight_g=None,
        filament={"raw_material_weight_g": 500.0, "default_spool_weight_g": 180.0},
        remaining_weight_g=500.0,
    )
    fields = desired_spool(spool).fields
    assert fields["label_weight"] == 500
    assert fields["core_weight"] == 180


def test_no_tare_anywhere_leaves_core_weight_out() -> None:
    spool = filaman_spool(empty_spool_weight_g=None, filament={"default_spool_weight_g": None})
    assert "core_weight" not in desired_spool(spool).fields


def test_gross_not_above_tare_falls_back_to_raw_weight() -> None:
    spool = filaman_spool(
        initial_total_weight_g=200.0,
        empty_spool_weight_g=250.0,
        remaining_weight_g=100.0,
        filament={"raw_material_weight_g": 1000.0},
    )
    assert desired_spool(spool).fields["label_weight"] == 1000


def test_nothing_known_uses_remaining_then_bambuddy_default() -> None:
    unknown = {"raw_material_weight_g": None}
    with_remaining = filaman_spool(
        initial_total_weight_g=None, remaining_weight_g=640.0, filament=unknown
    )
    assert desired_spool(with_remaining).fields["label_weight"] == 640
    assert desired_spool(with_remaining).fields["weight_used"] == 0.0
    nothing = filaman_spool(initial_total_weight_g=None, remaining_weight_g=None, filament=unknown)
    assert desired_spool(nothing).fields["label_weight"] == 1000


def test_label_never_below_remaining() -> None:
    spool = filaman_spool(
        initial_total_weight_g=1100.0, empty_spool_weight_g=250.0, remaining_weight_g=900.0
    )
    fields = desired_spool(spool).fields
    assert fields["label_weight"] == 900
    assert fields["weight_used"] == 0.0
    fractional = filaman_spool(
        initial_total_weight_g=1249.0, empty_spool_weight_g=250.0, remaining_weight_g=999.6
    )
    fields = desired_spool(fractional).fields
    assert fields["label_weight"] == 1000
    assert fields["weight_used"] == pytest.approx(0.4)
    assert isinstance(fields["label_weight"], int)


def test_remaining_null_means_nothing_used() -> None:
    assert desired_spool(filaman_spool(remaining_weight_g=None)).fields["weight_used"] == 0.0


def test_weight_used_rounded_to_hundredths() -> None:
    fields = desired_spool(filaman_spool(remaining_weight_g=123.456)).fields
    assert fields["weight_used"] == 876.54


def test_empty_spool_is_fully_used() -> None:
    fields = desired_spool(filaman_spool(remaining_weight_g=0.0)).fields
    assert fields["weight_used"] == 1000.0


@pytest.mark.parametrize(
    ("hex_code", "rgba"),
    [
        ("#00AE42", "00AE42FF"),
        ("#00ae42", "00AE42FF"),
        ("00AE42", "00AE42FF"),
        (" #00ae42 ", "00AE42FF"),
        ("#abc", "AABBCCFF"),
        ("#abcd", "AABBCCDD"),
        ("#00AE4280", "00AE4280"),
        ("#GGHHII", None),
        ("#12345", None),
        ("#1234567", None),
        ("#00AE42FF00", None),
        ("", None),
        ("#", None),
        ("red", None),
        (None, None),
    ],
)
def test_normalize_rgba(hex_code: str | None, rgba: str | None) -> None:
    assert normalize_rgba(hex_code) == rgba


def test_no_colour_is_white() -> None:
    assert desired_spool(filaman_spool(colors=[])).fields["rgba"] == "FFFFFFFF"


def test_invalid_colour_is_left_out_and_reported() -> None:
    desired = desired_spool(filaman_spool(colors=["#XYZXYZ"]))
    assert "rgba" not in desired.fields
    assert any("invalid colour" in problem for problem in desired.problems)


def test_first_colour_by_position() -> None:
    data_colors = [
        {"id": 1, "position": 2, "color": {"id": 1, "hex_code": "#FF0000"}},
        {"id": 2, "position": 1, "color": {"id": 2, "hex_code": "#0000ff"}},
    ]
    data = captured_filaman_spool()
    data["filament"]["colors"] = data_colors
    spool = FilamanSpool.from_json(data)
    assert desired_spool(spool).fields["rgba"] == "0000FFFF"


@pytest.mark.parametrize(
    ("rfid_uid", "tag"),
    [
        ("04:F5:02:3A:11:22:33", {"tag_uid": "04F5023A112233"}),
        ("04f5023a112233", {"tag_uid": "04F5023A112233"}),
        ("04 F5 02 3A", {"tag_uid": "04F5023A"}),
        ("0102030405060708090A", {"tag_uid": "030405060708090A"}),
        # A Bambu tray_uuid (32 hex digits) is the tag Bambuddy matches first.
        (
            "01234567-89ab-cdef-0123-456789abcdef",
            {"tray_uuid": "0123456789ABCDEF0123456789ABCDEF"},
        ),
        ("00:00:00:00", {}),
        ("zz:yy", {}),
        ("", {}),
        (None, {}),
    ],
)
def test_rfid_uid_becomes_the_tag_field_bambuddy_matches(
    rfid_uid: str | None, tag: dict[str, str]
) -> None:
    fields = desired_spool(filaman_spool(rfid_uid=rfid_uid)).fields
    assert {key: fields[key] for key in ("tag_uid", "tray_uuid") if key in fields} == tag


def test_no_rfid_leaves_tag_out() -> None:
    assert "tag_uid" not in desired_spool(filaman_spool(rfid_uid=None)).fields


def test_spool_level_temperatures_win() -> None:
    params = SpoolParams(
        spool={"bambu_nozzle_temp_min": "200", "bambu_nozzle_temp_max": "230"},
        filament={"bambu_nozzle_temp_min": "190", "bambu_nozzle_temp_max": "220"},
    )
    fields = desired_spool(filaman_spool(), params).fields
    assert (fields["nozzle_temp_min"], fields["nozzle_temp_max"]) == (200, 230)


def test_filament_level_temperatures_fill_gaps_and_bad_values() -> None:
    params = SpoolParams(
        spool={"bambu_nozzle_temp_min": "hot"},
        filament={"bambu_nozzle_temp_min": "190.0", "bambu_nozzle_temp_max": "220"},
    )
    fields = desired_spool(filaman_spool(), params).fields
    assert (fields["nozzle_temp_min"], fields["nozzle_temp_max"]) == (190, 220)


def test_unknown_temperatures_are_left_out() -> None:
    params = SpoolParams(spool={"bambu_nozzle_temp_max": "n/a"}, filament={})
    fields = desired_spool(filaman_spool(), params).fields
    assert "nozzle_temp_min" not in fields
    assert "nozzle_temp_max" not in fields
    assert "nozzle_temp_min" not in desired_spool(filaman_spool(), None).fields


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("220", 220), (" 215 ", 215), ("219.6", 220), ("", None), ("abc", None), ("-5", None),
     ("nan", None), (None, None)],
)  # fmt: skip
def test_parse_temperature(value: str | None, parsed: int | None) -> None:
    assert parse_temperature(value) == parsed


def test_cost_from_purchase_price_per_net_kg() -> None:
    spool = filaman_spool(
        purchase_price=20.0,
        initial_total_weight_g=750.0,
        empty_spool_weight_g=250.0,
        remaining_weight_g=300.0,
    )
    assert desired_spool(spool).fields["cost_per_kg"] == 40.0


def test_cost_from_filament_price_per_nominal_net_kg() -> None:
    spool = filaman_spool(
        purchase_price=None, filament={"price": 15.0, "raw_material_weight_g": 750}
    )
    assert desired_spool(spool).fields["cost_per_kg"] == 20.0


def test_no_price_leaves_cost_out() -> None:
    spool = filaman_spool(purchase_price=None, filament={"price": None})
    assert "cost_per_kg" not in desired_spool(spool).fields


@pytest.mark.parametrize("material_type", [None, "", "   "])
def test_missing_material_falls_back_to_pla_and_is_reported(material_type: str | None) -> None:
    desired = desired_spool(filaman_spool(filament={"material_type": material_type}))
    assert desired.fields["material"] == "PLA"
    assert any("no material" in problem for problem in desired.problems)


def test_long_material_is_cut_to_bambuddys_limit() -> None:
    desired = desired_spool(filaman_spool(filament={"material_type": "X" * 80}))
    assert desired.fields["material"] == "X" * 50


def test_optional_texts_clear_in_bambuddy() -> None:
    spool = filaman_spool(
        filament={"material_subgroup": None, "manufacturer_color_name": " ", "manufacturer": None}
    )
    fields = desired_spool(spool).fields
    assert fields["subtype"] is None
    assert fields["color_name"] is None
    assert fields["brand"] is None
    body = desired_spool(spool).create_body()
    assert "subtype" not in body
    assert "brand" not in body


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"initial_total_weight_g": None, "empty_spool_weight_g": None, "remaining_weight_g": None},
        {"filament": {"material_type": None, "raw_material_weight_g": None}},
        {"remaining_weight_g": -5.0},
        {"colors": ["bogus"]},
    ],
)
def test_not_null_fields_are_never_null(overrides: dict[str, object]) -> None:
    fields = desired_spool(filaman_spool(**overrides)).fields  # type: ignore[arg-type]
    for key in NOT_NULL:
        assert fields[key] is not None
    assert fields.get("core_weight", 0) is not None
    assert fields["weight_used"] >= 0
    assert fields["weight_locked"] is True


def test_slicer_preset_is_never_sent() -> None:
    params = SpoolParams(spool={"bambu_slicer_setting_id": "GFA00"}, filament={})
    fields = desired_spool(filaman_spool(), params).fields
    assert "slicer_filament" not in fields
    assert "slicer_filament_name" not in fields
