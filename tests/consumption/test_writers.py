"""Another tool deducting the same prints: named from what was seen, never doubled (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json

from custom_components.filaman_bambuddy.api.models_filaman import (
    FilamanPlugin,
    FilamanPrinter,
    SpoolEvent,
)
from custom_components.filaman_bambuddy.consumption.ledger import Ledger, WriterChoice
from custom_components.filaman_bambuddy.consumption.writers import (
    OtherWriter,
    writers_in_events,
    writers_in_plugins,
)

from .conftest import FULL, World, drained, settle

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SERIAL = "01S00A000000001"


def consumption(
    event_id: int, spool: int, at: datetime, source: str, grams: float = 5.0
) -> SpoolEvent:
    return SpoolEvent(event_id, spool, "print_consumption", at, -grams, None, None, source)


def test_another_sources_consumption_near_our_print_names_the_tool() -> None:
    events = [
        consumption(1, 12, T0 + timedelta(minutes=2), "bambu_usage", 14.2),
        consumption(2, 12, T0 + timedelta(minutes=3), "bambu_usage"),  # one writer per source
        consumption(3, 12, T0, "ui"),  # ours, or a person's by hand: never evidence
        consumption(4, 13, T0, "other_tool"),  # a spool we did not debit
        consumption(5, 12, T0 - timedelta(hours=2), "late_tool"),  # not near our print
        SpoolEvent(6, 12, "measurement", T0, None, None, None, "scale"),
    ]
    (writer,) = writers_in_events(events, [(12, T0)])
    assert writer.key == "bambu_usage"
    assert writer.name == "Bambu Usage Tracking"
    assert writer.evidence == "spool #12: 14.2 g, 2026-12-01 12:02 UTC (bambu_usage)"
    assert writer.evidence_id == "event:1"
    assert writer.seen_at == T0 + timedelta(minutes=2)
    assert writers_in_events(events, []) == []


def plugin(key: str, **fields: object) -> FilamanPlugin:
    return FilamanPlugin.from_json({"plugin_key": key, "name": key.title(), "is_active": True,
                                    **fields})  # fmt: skip


def bambu_printer(serial: str, active: bool = True) -> FilamanPrinter:
    config = {"serial": serial, "host": "10.0.0.9"}
    return FilamanPrinter.from_json(
        {"id": 4, "name": "X1C", "is_active": active, "driver_key": "bambulab",
         "driver_config": config}
    )  # fmt: skip


def test_an_installed_tracker_of_this_printer_names_the_tool() -> None:
    tracker = plugin("bambu_usage", capabilities={"tracks_consumption": True,
                                                  "requires_driver": "bambulab"})  # fmt: skip
    driver = plugin("bambulab", driver_key="bambulab", plugin_type="driver")
    unrelated = plugin("filamentdb_import", plugin_type="import")
    loose = plugin("mystery", capabilities={"tracks_consumption": True})  # names no printer
    found = writers_in_plugins([tracker, driver, unrelated, loose], [bambu_printer(SERIAL)], SERIAL)
    assert [(w.key, w.name) for w in found] == [
        ("bambu_usage", "Bambu Usage Tracking"),
        ("bambulab", "FilaMan's Bambu Lab driver"),
    ]
    assert "FilaMan printer 'X1C'" in found[0].evidence
    # Another printer's serial, an inactive printer or plugin, or no serial: nothing.
    assert writers_in_plugins([tracker], [bambu_printer("OTHER")], SERIAL) == []
    assert writers_in_plugins([tracker], [bambu_printer(SERIAL, active=False)], SERIAL) == []
    capabilities = {"tracks_consumption": True, "requires_driver": "bambulab"}
    inactive = plugin("bambu_usage", is_active=False, capabilities=capabilities)
    assert writers_in_plugins([inactive], [bambu_printer(SERIAL)], SERIAL) == []
    assert writers_in_plugins([tracker], [bambu_printer(SERIAL)], None) == []


def test_the_users_decision_is_kept_and_new_evidence_asks_again() -> None:
    ledger = Ledger(1)
    seen = OtherWriter("bambu_usage", "Bambu Usage Tracking", "spool #12", "event:1", T0)
    assert ledger.note_writer(seen, T0)
    assert not ledger.note_writer(seen, T0)  # asked already
    assert [r.key for r in ledger.undecided_writers()] == ["bambu_usage"]
    ledger.decide_writer("bambu_usage", WriterChoice.US, T0 + timedelta(hours=1))
    assert ledger.undecided_writers() == []
    assert not ledger.note_writer(seen, T0 + timedelta(hours=2))  # the old evidence
    newer = OtherWriter("bambu_usage", "Bambu Usage Tracking", "spool #12", "event:9",
                        T0 + timedelta(hours=3))  # fmt: skip
    assert ledger.note_writer(newer, T0 + timedelta(hours=3))  # it deducted again after all
    ledger.decide_writer("bambu_usage", WriterChoice.THEM, T0 + timedelta(hours=4))
    assert ledger.yielded_to() is not None
    assert not ledger.note_writer(newer, T0 + timedelta(hours=5))
    restored = Ledger.from_dict(json.loads(json.dumps(ledger.to_dict())), 1)
    assert restored.writers == ledger.writers


# --- through the debit queue, against both simulators -------------------------------------------


async def test_a_tool_that_deducted_first_stops_our_debit_before_it_doubles(
    world: World,
) -> None:
    """Bambu Usage Tracking books the print at its end, before Bambuddy's usage row comes."""
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.fsim.record_consumption(world.fspool_a, 12.5, source="bambu_usage", note="Benchy")
    await world.bsim.run_print(world.printer_id, "Benchy", grams={(0, 0): 12.5})
    await settle(processor)
    assert world.posts() == 0  # not doubled
    assert [r.name for r in processor.other_writers().values()] == ["Bambu Usage Tracking"]
    assert processor.owed_grams().queued == 12.5
    await world.bsim.run_print(world.printer_id, "Clip", grams={(0, 1): 2.0})
    await settle(processor)
    assert world.posts() == 0  # paused for the whole printer until the user decides

    # The user turned the tracker off for this printer: what waited is deducted, once.
    await processor.decide_writer("bambu_usage", WriterChoice.US)
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-12.5, -12.5]  # the tracker's, then ours
    assert world.deltas(world.fspool_b) == [-2.0]


async def test_letting_the_other_tool_write_skips_this_printers_prints(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.fsim.record_consumption(world.fspool_a, 12.5, source="bambu_usage")
    await world.bsim.run_print(world.printer_id, "Benchy", grams={(0, 0): 12.5})
    await settle(processor)
    assert await processor.decide_writer("bambu_usage", WriterChoice.THEM) == 12.5
    await settle(processor)
    await world.bsim.run_print(world.printer_id, "Clip", grams={(0, 1): 2.0})
    await settle(processor)
    assert world.posts() == 0
    assert {entry.reason for entry in processor.entries()} == {"other_writer:bambu_usage"}
    assert processor.owed_grams().total == 0
    assert world.remaining(world.fspool_b) == FULL
