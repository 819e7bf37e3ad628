"""Every branch of the debit queue (consumption/debit.py), each against both simulators.

The happy paths and the crash cases live in test_processor.py; these are the remaining ways a
debit can go: each ends with the grams debited exactly once, or held for the user, never lost.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from custom_components.filaman_bambuddy.api.events import (
    PrintCompleteEvent,
    SpoolUsageLoggedEvent,
    parse_ws_event,
)
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.consumption import EntryState, MemoryLedgerStore
from custom_components.filaman_bambuddy.consumption.debit import landed_event
from custom_components.filaman_bambuddy.consumption.ledger import Probe

from .conftest import FULL, World, drained, settle, wait_until
from .test_processor import CrashAfterPostStore

EVENTS = r"/spools/\d+/events"


def bambuddy_spool_path(spool_id: int) -> str:
    return rf"/inventory/spools/{spool_id}$"


async def test_held_grams_of_a_deleted_bambuddy_spool_follow_its_stored_link(
    world: World,
) -> None:
    """Held after a refusal, then the Bambuddy spool is deleted: the link the ledger saw
    before still names the FilaMan spool, and the next start debits it there, once."""
    first = world.processor()
    await first.start()
    await first.wait_idle()
    await world.bsim.run_print(world.printer_id, "One", grams={(0, 0): 1.0})
    await settle(first)  # learns bspool_a -> fspool_a
    world.fsim.fail_next("POST", r"/consumptions$", status=422)
    await world.bsim.run_print(world.printer_id, "Two", grams={(0, 0): 4.0})
    await settle(first)
    assert first.awaiting_link_grams == 4.0
    await first.close()
    await world.bambuddy.delete_spool(world.bspool_a)

    again = world.processor()
    await again.start()
    await drained(again)
    assert world.remaining(world.fspool_a) == FULL - 5.0
    assert again.awaiting_link_grams == 0


async def test_bambuddy_failing_while_held_grams_are_relinked_is_retried(world: World) -> None:
    unlinked = await world.linked_spool((0, 2), None)
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 2): 3.0})
    await settle(processor)
    assert processor.awaiting_link_grams == 3.0

    # The user writes the link into Bambuddy; reading it fails once.
    await world.bambuddy.patch_spool(unlinked, {"note": f"filaman:{world.fspool_b}"})
    world.bsim.fail_next("GET", bambuddy_spool_path(unlinked), status=500)
    await settle(processor)
    assert processor.last_error is not None
    await wait_until(lambda: world.deltas(world.fspool_b) == [-3.0])  # the retry timer's run
    assert processor.awaiting_link_grams == 0


async def test_bambuddy_failing_while_a_debit_finds_its_spool_is_retried(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.bsim.fail_next("GET", bambuddy_spool_path(world.bspool_a), status=502)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 2.0})
    await settle(processor)
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-2.0]


async def test_legacy_grams_of_a_slot_without_a_spool_are_skipped(world: World) -> None:
    """An old server's print_complete names a slot nothing was assigned to: no Bambuddy spool
    any link could ever name, so nothing can be debited (and nothing waits for ever)."""
    world.bsim.fail_next("GET", r"/inventory/usage$", status=404, count=10_000)
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, "Cube", grams={(0, 0): 2.0}, legacy_weights="dict")
    frame = next(f for f in reversed(world.frames) if f["type"] == "print_complete")
    event = parse_ws_event(frame)
    assert isinstance(event, PrintCompleteEvent)
    await world.bambuddy.unassign(world.printer_id, 0, 0)
    await processor.handle_legacy_print_complete(event, {})  # A1 has no spool now
    await processor.wait_idle()
    (entry,) = processor.entries()
    assert (entry.state, entry.reason) == (EntryState.SKIPPED, "unlinked")
    assert world.posts() == 0


async def test_an_in_flight_debit_waits_out_the_settle_time_before_reconciling(
    world: World,
) -> None:
    """A 503 may still be applied: the debit is looked for only once FilaMan had time."""
    processor = world.processor(settle_time=0.3)
    await processor.start()
    await processor.wait_idle()
    world.fsim.fail_next("POST", r"/consumptions$", status=503)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 5.0})
    await settle(processor)
    (entry,) = processor.entries()
    assert entry.state is EntryState.IN_FLIGHT
    await settle(processor)  # too early: nothing is read or sent
    assert world.posts() == 1
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-5.0]
    assert world.posts() == 2


async def test_an_in_flight_debit_whose_spool_was_deleted_is_held(world: World) -> None:
    crashing = CrashAfterPostStore()
    first = world.processor(store=crashing)
    await first.start()
    await first.wait_idle()
    world.fsim.fail_next("POST", r"/consumptions$", status=503)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 6.0})
    await settle(first)
    await first.close()
    world.fsim.delete_spool_permanent(world.fspool_a)

    second = world.processor(store=MemoryLedgerStore(crashing.data))
    await second.start()
    await second.wait_idle()
    (entry,) = second.entries()
    assert entry.state is EntryState.AWAITING_LINK
    assert second.awaiting_link_grams == 6.0
    await second.link_spool(world.bspool_a, world.fspool_b)
    await drained(second)
    assert world.deltas(world.fspool_b) == [-6.0]


async def test_filaman_failing_while_an_in_flight_debit_is_reconciled_is_retried(
    world: World,
) -> None:
    crashing = CrashAfterPostStore()
    first = world.processor(store=crashing)
    await first.start()
    await first.wait_idle()
    world.fsim.fail_next("POST", r"/consumptions$", status=503)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 7.0})
    await settle(first)
    await first.close()

    world.fsim.fail_next("GET", EVENTS, status=500)
    second = world.processor(store=MemoryLedgerStore(crashing.data))
    await second.start()
    await drained(second)
    assert world.deltas(world.fspool_a) == [-7.0]
    assert world.posts() == 2


class FilamanGoesAwayOnInFlightSave(MemoryLedgerStore):
    """FilaMan stops listening right after the in_flight record is saved, before the POST."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.stopped = False

    async def save(self, data: dict[str, object]) -> None:
        await super().save(data)
        entries = data.get("entries")
        assert isinstance(entries, list)
        if not self.stopped and any(e["state"] == EntryState.IN_FLIGHT for e in entries):
            self.stopped = True
            await self.world.fsim.stop()


async def test_a_debit_whose_connection_never_opened_goes_back_to_pending(
    world: World,
) -> None:
    """Refused at connect, the POST provably never reached FilaMan: no reconciling needed."""
    store = FilamanGoesAwayOnInFlightSave(world)
    host, port = "127.0.0.1", int(str(world.fsim.url).rsplit(":", 1)[1])
    # A fresh connection per request, as after an idle pause: the POST must connect anew.
    fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    processor = world.processor(
        store=store, filaman=FilamanClient(fresh, world.fsim.url, world.fsim.create_api_key())
    )
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 8.0})
    await settle(processor)
    assert store.stopped
    (entry,) = processor.entries()
    assert (entry.state, entry.probe) == (EntryState.PENDING, None)
    await world.fsim.start(host, port)
    await drained(processor)
    assert world.deltas(world.fspool_a) == [-8.0]
    assert world.posts() == 1
    await processor.close()
    await fresh.close()


async def test_a_debit_of_a_spool_deleted_meanwhile_is_held(world: World) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    world.fsim.fail_next("POST", r"/consumptions$", status=404)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 9.0})
    await settle(processor)
    (entry,) = processor.entries()
    assert entry.state is EntryState.AWAITING_LINK
    assert world.deltas(world.fspool_a) == []


async def test_a_slot_whose_assignment_cannot_be_read_leaves_the_grams_held(
    world: World,
) -> None:
    """The row's Bambuddy spool is gone and nothing was learnt of it; the event's slot is the
    last clue, and its assignment cannot be read (404): the grams are held, not guessed."""
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    await world.bsim.run_print(world.printer_id, grams={(0, 1): 2.5})
    event = parse_ws_event(world.frames[-1])
    assert isinstance(event, SpoolUsageLoggedEvent)
    await world.bambuddy.delete_spool(world.bspool_b)
    world.bsim.fail_next("GET", r"/inventory/assignments", status=404, count=10)
    await processor.wake("spool_usage_logged", event)
    await processor.wait_idle()
    (entry,) = processor.entries()
    assert entry.slot == (0, 1)
    assert entry.state is EntryState.AWAITING_LINK
    assert world.posts() == 0


async def test_without_event_access_a_debit_is_reconciled_by_weight(world: World) -> None:
    """A key that may debit but not read events: the probe is the remaining weight."""
    crashing = CrashAfterPostStore()
    first = world.processor(store=crashing)
    await first.start()
    await first.wait_idle()
    world.fsim.fail_next("GET", EVENTS, status=403, count=10)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 10.0})
    await settle(first)  # applied, but "done" never reached the disk
    await first.close()
    saved = crashing.data
    assert saved is not None
    (probe,) = [e["probe"] for e in saved["entries"]]  # type: ignore[index]
    assert probe["remaining_g"] == FULL

    second = world.processor(store=MemoryLedgerStore(saved))
    await second.start()
    await drained(second)
    assert world.posts() == 1  # the weight dropped by our grams: landed, not sent again
    assert world.remaining(world.fspool_a) == FULL - 10.0


def test_a_weight_probe_proves_nothing_by_events() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    assert landed_event(Probe(at - timedelta(minutes=6), None, FULL), [], 5.0, "note") is None


async def test_a_debit_whose_remaining_weight_cannot_be_read_is_still_done(
    world: World,
) -> None:
    processor = world.processor()
    await processor.start()
    await processor.wait_idle()
    # The spool is read before the debit (is the booking plausible?) and after it.
    world.fsim.fail_next("GET", r"/spools/\d+$", status=500, after=1)
    await world.bsim.run_print(world.printer_id, grams={(0, 0): 3.5})
    await settle(processor)
    (debit,) = world.debits
    assert (debit.grams, debit.remaining_after) == (3.5, None)
    assert processor.entries()[0].state is EntryState.DONE
    assert world.posts() == 1
