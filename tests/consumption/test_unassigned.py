"""Trays a print draws from with no spool assigned: the case machine (unassigned.py is pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json

import pytest

from custom_components.filaman_bambuddy.consumption.ledger import EntryState, Ledger
from custom_components.filaman_bambuddy.consumption.unassigned import (
    CaseState,
    PrintContext,
    TrayCase,
    TrayCases,
    estimate_grams,
    known_text,
    manual_key,
    slot_from_label,
    tray_colour,
)

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PRINT = PrintContext(job="Benchy", started_at=T0, mapped=True)


@pytest.mark.parametrize(
    ("label", "slot"),
    [
        ("A1", (0, 0)),
        ("D4", (3, 3)),
        ("Ext-L", (255, 0)),
        ("Ext-R", (255, 1)),
        ("HT-A", (128, 0)),
        ("HT-B", (129, 0)),
        ("Lite-2", (6, 1)),
        ("Z9", None),
        ("", None),
        (None, None),
    ],
)
def test_bambuddy_slot_labels(label: str | None, slot: tuple[int, int] | None) -> None:
    assert slot_from_label(label) == slot


def test_tray_colour_and_unknown_text() -> None:
    assert tray_colour("00ae42ff") == "#00AE42"
    assert tray_colour("#00AE42") == "#00AE42"
    assert tray_colour("Unknown") is None
    assert tray_colour(None) is None
    assert known_text("Unknown") is None
    assert known_text(" PLA ") == "PLA"


def test_a_case_from_open_to_unrecorded() -> None:
    cases = TrayCases({})
    case = cases.open(PRINT, (0, 2), material=None, color=None)
    assert case is not None
    assert case.case_id == "0-2-20261201T100000"
    # The warning names the same tray: no second case, but what it knows is kept.
    assert cases.open(PRINT, (0, 2), material="PLA", color="#FF0000") is None
    assert cases.cases[case.case_id].material == "PLA"
    cases.progress(42.0)
    ended = cases.print_ended("failed", T0 + timedelta(minutes=30))
    assert [c.state for c in ended] == [CaseState.ENDED]
    booked, unrecorded = cases.usage_step({(0, 0)})
    assert booked == []
    assert [c.state for c in unrecorded] == [CaseState.UNRECORDED]
    assert unrecorded[0].progress == 42.0
    assert cases.unrecorded() == unrecorded
    assert cases.take(case.case_id) == unrecorded[0]
    assert cases.take(case.case_id) is None


def test_a_closed_case_opens_again_when_the_tray_is_unassigned_again() -> None:
    """Unassigned or refilled without a spool mid-print: its grams are at stake again."""
    cases = TrayCases({})
    assert cases.open(PRINT, (0, 0), material="PLA", color=None) is not None
    assert cases.close_printing((0, 0)) is not None
    assert cases.close_printing((0, 0)) is None
    assert cases.open(PRINT, (0, 0), material="PLA", color=None) is not None
    later = PrintContext("Next", T0 + timedelta(hours=1), mapped=True)
    assert cases.open(later, (0, 0), material="PLA", color=None) is None  # one open per slot


def test_an_ended_case_is_not_opened_again_by_a_late_report() -> None:
    cases = TrayCases({})
    case = cases.open(PRINT, (0, 0), material="PLA", color=None)
    assert case is not None
    cases.print_ended("completed", T0)
    assert cases.open(PRINT, (0, 0), material="PLA", color=None) is None
    assert cases.cases[case.case_id].state is CaseState.ENDED


def test_a_tray_bambuddy_booked_after_all_closes() -> None:
    cases = TrayCases({})
    cases.open(PRINT, (0, 1), material="PETG", color=None)
    cases.print_ended("completed", T0)
    booked, unrecorded = cases.usage_step({(0, 1)})
    assert [c.slot for c in booked] == [(0, 1)]
    assert unrecorded == []
    assert cases.cases == {}
    assert cases.usage_step(None) == ([], [])


def test_estimates() -> None:
    case = TrayCase("x", (0, 0), "Benchy", T0, print_status="completed")
    assert estimate_grams(case, 30.0, 10.0) == 20.0
    assert estimate_grams(case, 30.0, 30.0) is None
    assert estimate_grams(case, None, 0.0) is None
    failed = TrayCase("y", (0, 0), "Benchy", T0, print_status="failed", progress=50.0)
    assert estimate_grams(failed, 30.0, 5.0) == 10.0


def test_cases_and_manual_entries_round_trip_through_the_ledger() -> None:
    ledger = Ledger(7)
    cases = TrayCases(ledger.tray_cases)
    case = cases.open(PRINT, (255, 0), material="PLA", color="#FFFFFF")
    assert case is not None
    cases.print_ended("completed", T0 + timedelta(minutes=5))
    cases.usage_step(None)
    restored = Ledger.from_dict(json.loads(json.dumps(ledger.to_dict())), 7)
    assert restored.tray_cases == ledger.tray_cases
    unrecorded = restored.tray_cases[case.case_id]
    entry = restored.add_manual(unrecorded, 42, 12.5, T0)
    assert entry is not None
    assert entry.key == manual_key(7, case.case_id) == f"bambuddy:7:manual:{case.case_id}"
    assert (entry.filaman_spool_id, entry.grams, entry.state) == (42, 12.5, EntryState.PENDING)
    assert entry.event_at == unrecorded.ended_at
    assert entry.note == "Bambuddy: Benchy (Ext, recorded by hand)"
    assert entry.announced
    assert restored.add_manual(unrecorded, 42, 12.5, T0) is None  # never twice
