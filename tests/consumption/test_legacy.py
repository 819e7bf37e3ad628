"""Old Bambuddy servers: grams in print_complete, no usage endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.filaman_bambuddy.api.events import PrintCompleteEvent, parse_ws_event

from .conftest import FULL, World

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
