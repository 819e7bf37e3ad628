"""WebSocket frames → typed events, from every captured frame and hand-made edge cases."""

from __future__ import annotations

import logging

import pytest

from custom_components.filaman_bambuddy.api.events import (
    ArchiveEvent,
    InventoryChangedEvent,
    MissingSpoolAssignmentEvent,
    PlateNotEmptyEvent,
    PongEvent,
    PrintCompleteEvent,
    PrinterStatusEvent,
    PrintStartEvent,
    SpoolAssignmentChangedEvent,
    SpoolAssignmentVerifiedEvent,
    SpoolAutoAssignedEvent,
    SpoolUsageLoggedEvent,
    UnknownEvent,
    UnknownTagEvent,
    UsageItem,
    parse_ws_event,
)

from .conftest import ws_frames

CAPTURED = [
    "ws_assignment_events.json",
    "ws_initial_two_printers.json",
    "ws_inventory_events.json",
    "ws_print_complete.json",
    "ws_print_failed_events.json",
    "ws_print_lifecycle_events.json",
    "ws_print_start.json",
    "ws_printer_connect_events.json",
    "ws_printer_offline_online_events.json",
    "ws_printer_status_finish.json",
    "ws_printer_status_initial.json",
    "ws_printer_status_offline.json",
    "ws_printer_status_running.json",
    "ws_spool_assignment_changed.json",
    "ws_spool_assignment_verified.json",
    "ws_spool_auto_assigned.json",
    "ws_spool_usage_logged.json",
]


@pytest.mark.parametrize("name", CAPTURED)
def test_every_captured_frame_parses_to_a_typed_event(name: str) -> None:
    for frame in ws_frames(name):
        event = parse_ws_event(frame)
        assert not isinstance(event, UnknownEvent), frame["type"]
        assert event.type == frame["type"]
        assert event.raw is frame


def test_printer_status_event() -> None:
    event = parse_ws_event(ws_frames("ws_printer_status_offline.json")[0])
    assert isinstance(event, PrinterStatusEvent)
    assert event.printer_id == 1
    assert event.status.printer_id == 1
    assert not event.status.connected


def test_print_lifecycle_events() -> None:
    events = [parse_ws_event(f) for f in ws_frames("ws_print_lifecycle_events.json")]
    start = next(e for e in events if isinstance(e, PrintStartEvent))
    assert start.filename == "/data/Metadata/plate_1.gcode"
    assert start.subtask_name == "Benchy"
    assert start.remaining_time_s == 2520
    complete = next(e for e in events if isinstance(e, PrintCompleteEvent))
    assert (complete.status, complete.subtask_name, complete.legacy_weights) == (
        "completed",
        "Benchy",
        None,
    )
    usage = events[-1]
    assert isinstance(usage, SpoolUsageLoggedEvent)
    assert usage.usage[0] == UsageItem(1, 100.0, 10, 0, 0, "PLA", 2.0, None, "#FFFFFF")
    assert usage.usage[1].cost is None


def test_print_start_mapping() -> None:
    event = parse_ws_event(
        {"type": "print_start", "printer_id": 2, "data": {"ams_mapping": [0, "1", None, 254]}}
    )
    assert isinstance(event, PrintStartEvent)
    assert event.ams_mapping == (0, 1, 254)
    none = parse_ws_event({"type": "print_start", "printer_id": 2, "data": {"ams_mapping": None}})
    assert isinstance(none, PrintStartEvent)
    assert none.ams_mapping is None


@pytest.mark.parametrize(
    ("weight_used", "expected"),
    [(12.5, 12.5), ("7", 7.0), ({"0-1": 3.5, "0-2": "1.5", "x": "bad"}, {"0-1": 3.5, "0-2": 1.5})],
)
def test_print_complete_legacy_weights(weight_used: object, expected: object) -> None:
    event = parse_ws_event(
        {
            "type": "print_complete",
            "printer_id": 1,
            "data": {"status": "failed", "weight_used": weight_used},
        }
    )
    assert isinstance(event, PrintCompleteEvent)
    assert event.status == "failed"
    assert event.legacy_weights == expected


def test_assignment_events() -> None:
    changed = parse_ws_event(ws_frames("ws_spool_assignment_changed.json")[0])
    assert isinstance(changed, SpoolAssignmentChangedEvent)
    assert (changed.printer_id, changed.ams_id, changed.tray_id) == (1, 0, 1)
    auto = parse_ws_event(ws_frames("ws_spool_auto_assigned.json")[0])
    assert isinstance(auto, SpoolAutoAssignedEvent)
    assert (auto.ams_id, auto.tray_id, auto.spool_id) == (0, 0, 1)
    verified = parse_ws_event(ws_frames("ws_spool_assignment_verified.json")[0])
    assert isinstance(verified, SpoolAssignmentVerifiedEvent)
    assert (verified.slot, verified.verified, verified.kprofile_applied, verified.saw_tray) == (
        "A2",
        True,
        True,
        False,
    )
    assert verified.printer_name == "Fake P1S"


def test_simple_and_uncaptured_events() -> None:
    assert isinstance(parse_ws_event({"type": "pong"}), PongEvent)
    inventory = parse_ws_event({"type": "inventory_changed"})
    assert isinstance(inventory, InventoryChangedEvent)
    assert inventory.printer_id is None
    missing = parse_ws_event(
        {
            "type": "missing_spool_assignment",
            "printer_id": 1,
            "printer_name": "X1C",
            "missing_slots": [{"slot": "A2", "profile": "Bambu PLA Basic", "color": "#FFFFFF"}],
        }
    )
    assert isinstance(missing, MissingSpoolAssignmentEvent)
    assert missing.missing_slots[0].slot == "A2"
    tag = parse_ws_event(
        {
            "type": "unknown_tag",
            "printer_id": 1,
            "ams_id": 0,
            "tray_id": 2,
            "tag_uid": "AABBCCDD11223344",
            "tray_uuid": None,
            "tray_type": "PLA",
            "tray_color": "FF0000FF",
            "tray_sub_brands": "PLA Basic",
            "tray_count": 1,
        }
    )
    assert isinstance(tag, UnknownTagEvent)
    assert (tag.ams_id, tag.tray_id, tag.tag_uid) == (0, 2, "AABBCCDD11223344")
    archive = parse_ws_event(
        {
            "type": "archive_created",
            "data": {
                "id": 9,
                "printer_id": 1,
                "filename": "a.3mf",
                "print_name": "A",
                "status": "completed",
            },
        }
    )
    assert isinstance(archive, ArchiveEvent)
    assert (archive.printer_id, archive.archive_id, archive.status) == (1, 9, "completed")
    updated = parse_ws_event({"type": "archive_updated", "data": {"id": 9}})
    assert isinstance(updated, ArchiveEvent)
    assert updated.printer_id is None
    plate = parse_ws_event(
        {"type": "plate_not_empty", "printer_id": 1, "printer_name": "X", "message": "clear it"}
    )
    assert isinstance(plate, PlateNotEmptyEvent)
    assert plate.message == "clear it"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "queue_item_added", "printer_id": 1},
        {"type": 5},
        {},
        {"type": "spoolbuddy_weight"},
    ],
)
def test_unknown_types(frame: dict[str, object]) -> None:
    event = parse_ws_event(frame)
    assert type(event) is UnknownEvent


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "printer_status", "data": {"connected": True}},  # no printer_id
        {"type": "printer_status", "printer_id": 1, "data": None},
        {"type": "print_complete", "printer_id": 1, "data": "x"},
        {"type": "spool_assignment_changed", "printer_id": 1, "ams_id": "a", "tray_id": 0},
        {"type": "spool_auto_assigned", "printer_id": 1, "ams_id": 0, "tray_id": 0},
        {"type": "spool_assignment_verified", "printer_id": 1, "tray_id": 0},
        {"type": "archive_created"},
    ],
)
def test_malformed_known_types_become_unknown_with_one_debug_line(
    frame: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, "custom_components.filaman_bambuddy.api.events"):
        event = parse_ws_event(frame)
    assert type(event) is UnknownEvent
    assert event.type == frame["type"]
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.DEBUG


def test_usage_items_without_grams_are_skipped() -> None:
    event = parse_ws_event(
        {
            "type": "spool_usage_logged",
            "printer_id": 1,
            "usage": [{"spool_id": 1}, {"spool_id": "2", "weight_used": "3.5"}, "x"],
        }
    )
    assert isinstance(event, SpoolUsageLoggedEvent)
    assert [(item.spool_id, item.weight_used) for item in event.usage] == [(2, 3.5)]
