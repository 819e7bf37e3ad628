"""Old Bambuddy servers: grams in print_complete, no usage endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging

import pytest

from custom_components.filaman_bambuddy.api.events import PrintCompleteEvent, parse_ws_event
from custom_components.filaman_bambuddy.consumption import processor as processor_module
from custom_components.filaman_bambuddy.consumption.intake import legacy_slots

from .conftest import FULL, World, settle

T0 = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _print_complete(world: World) -> PrintCompleteEvent:
    frame = next(f for f in reversed(world.frames) if f["type"] == "print_complete")
    event = parse_ws_event(frame)
    assert isinstance(event, PrintCompleteEvent)
    return event


def _without_usage_endpoint(world: World) -> None:
    world.bsim.fail_next("GET", r"/inventory/usage$", status=404, count=10_000)


async def test_dict_weights_debit_each_slot_once_per_print(world: World) -> None:
    _without_usage_endpoint(world)
    clock = Clock()
    processor = world.processor(clock=clock)
    await processor.start()
    await processor.wait_idle()
    assert processor.usage_supported is False
    slots = {(0, 0): world.bspool_a, (0, 1): world.bspool_b}

    await world.bsim.run_print(
        world.printer_id, "Cube", grams={(0, 0): 12.5, (0, 1): 3.2}, legacy_weights="dict"
    )
    event = _print_complete(world)
    await processor.handle_legacy_print_complete(event, slots)
    clock.now += timedelta(seconds=2)
    await processor.handle_legacy_print_complete(event, slots)  # delivered twice
    await processor.wait_idle()
    assert world.deltas(world.fspool_a) == [-12.5]
    assert world.deltas(world.fspool_b) == [-3.2]
    (first,) = world.fsim.consumption_events(world.fspool_a)
    assert first.event_at == T0

    clock.now += timedelta(hours=2)  # the same job printed again later
    await world.bsim.run_print(
        world.printer_id, "Cube", grams={(0, 0): 12.5, (0, 1): 3.2}, legacy_weights="dict"
    )
    await processor.handle_legacy_print_complete(_print_complete(world), slots)
    await processor.wait_idle()
    assert world.deltas(world.fspool_a) == [-12.5, -12.5]
    assert world.remaining(world.fspool_a) == FULL - 25.0
    assert world.remaining(world.fspool_b) == FULL - 3.2 - 3.2  # as FilaMan adds them
    assert len(world.prints) == 2


async def test_float_weight_needs_exactly_one_mapped_slot(world: World) -> None:
    _without_usage_endpoint(world)
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(
        world.printer_id, "Two colours", grams={(0, 0): 4.0, (0, 1): 1.0}, legacy_weights="float"
    )
    event = _print_complete(world)
    await processor.handle_legacy_print_complete(
        event, {(0, 0): world.bspool_a, (0, 1): world.bspool_b}
    )
    await processor.wait_idle()
    assert world.posts() == 0  # a total cannot be split between two spools

    await processor.handle_legacy_print_complete(event, {(0, 0): world.bspool_a})
    await processor.wait_idle()
    assert world.deltas(world.fspool_a) == [-5.0]


async def test_legacy_weights_are_ignored_when_usage_rows_exist(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(
        world.printer_id, "Cube", grams={(0, 0): 12.5}, legacy_weights="dict"
    )
    await processor.handle_legacy_print_complete(_print_complete(world), {(0, 0): world.bspool_a})
    await processor.wait_idle()
    assert world.posts() == 0
    assert processor.usage_supported is True


async def test_a_legacy_event_before_any_usage_read_asks_bambuddy_first(world: World) -> None:
    """The first usage read failed, so whether Bambuddy keeps usage rows is unknown: the
    event's grams are taken only once Bambuddy says it keeps none."""
    world.bsim.fail_next("GET", r"/inventory/usage$", status=500)
    processor = world.processor(retry_base=60.0)
    await processor.start()
    await processor.wait_idle()
    assert processor.usage_supported is None
    _without_usage_endpoint(world)
    await world.bsim.run_print(world.printer_id, "Cube", grams={(0, 0): 2.0}, legacy_weights="dict")
    await processor.handle_legacy_print_complete(_print_complete(world), {(0, 0): world.bspool_a})
    await processor.wait_idle()
    assert processor.usage_supported is False
    assert world.deltas(world.fspool_a) == [-2.0]


async def test_a_legacy_event_is_ignored_once_bambuddy_says_it_keeps_usage_rows(
    world: World,
) -> None:
    """A server with usage rows: its rows are the debits, never the event's grams."""
    await world.bsim.run_print(world.printer_id, "Cube", grams={(0, 0): 2.0}, legacy_weights="dict")
    world.bsim.fail_next("GET", r"/inventory/usage$", status=500)
    processor = world.processor(retry_base=60.0)
    await processor.start()
    await processor.wait_idle()
    assert processor.usage_supported is None
    await processor.handle_legacy_print_complete(_print_complete(world), {(0, 0): world.bspool_a})
    assert processor.usage_supported is True
    await settle(processor)
    assert world.deltas(world.fspool_a) == []  # the row predates the first start: history
    assert processor.entries() == []


def test_legacy_slot_addresses_that_name_no_slot_are_ignored() -> None:
    weights = {"0-1": 2.0, "x": 1.0, "1-2-3": 1.0, "a-b": 1.0, "0-0": 0.0}
    assert legacy_slots(weights, {(0, 1): 7}) == {(0, 1): (7, 2.0)}


async def test_more_rows_since_the_last_run_than_the_largest_page_are_said(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the largest page, rows older than it would be missed: at least it is logged."""
    monkeypatch.setattr(processor_module, "MAX_PAGE_LIMIT", 2)
    processor = world.processor(page_limit=2)
    await processor.start()
    await processor.wait_idle()
    await processor.close()
    for name in ("One", "Two", "Three"):
        await world.bsim.run_print(world.printer_id, name, grams={(0, 0): 1.0})
    again = world.processor(page_limit=2, store=world.store)
    with caplog.at_level(logging.WARNING):
        await again.start()
        await again.wait_idle()
    assert [r for r in caplog.records if "older ones may be missed" in r.getMessage()]


async def test_a_legacy_event_is_taken_when_bambuddy_cannot_say(world: World) -> None:
    """Only an old server puts grams into print_complete; when even the question fails, the
    grams are taken rather than lost (a server with usage rows never sends them)."""
    world.bsim.fail_next("GET", r"/inventory/usage$", status=500)
    processor = world.processor(retry_base=60.0)
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, "Cube", grams={(0, 0): 2.0}, legacy_weights="dict")
    world.bsim.fail_next("GET", r"/inventory/usage$", status=500)
    await processor.handle_legacy_print_complete(_print_complete(world), {(0, 0): world.bspool_a})
    assert processor.usage_supported is None  # the probe failed as well
    await processor.wait_idle()
    assert world.deltas(world.fspool_a) == [-2.0]
