"""Chaos soak: 200 prints on two printers while servers, sockets and the entries misbehave.

One slot of each printer holds a Bambu RFID spool that Bambuddy created by itself (world.py).
At the end every gram Bambuddy logged was debited in FilaMan exactly once (every spool ends up
linked, the RFID ones by adoption), each RFID tag has one active Bambuddy spool, Bambuddy's
inventory matches FilaMan, and unloading leaves no task or socket behind.
Seed: ``CHAOS_SEED`` or random (printed). Marked slow (``script/test --fast`` skips it).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
import functools
import os
import random
import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.filaman_bambuddy.const import (
    CONF_BAMBUDDY_API_KEY,
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_URL,
    CONF_PRINTER_ID,
    CONF_RECONNECT_INTERVAL,
    CONF_SYNC_INTERVAL,
    DOMAIN,
)
from custom_components.filaman_bambuddy.consumption.ledger import EntryState
from custom_components.filaman_bambuddy.consumption.processor import ConsumptionProcessor
from custom_components.filaman_bambuddy.hub import DATA_HUBS
from simulators.bambuddy import slots

from .world import RFID_SLOT, SLOTS, START_REMAINING_G, World, chaos_world

PRINTS = 200
RELOAD_AT = (70, 140)  # print numbers after which Home Assistant reloads both entries
FAULT_CHANCE = 0.25  # per print
SETTLE_LIMIT_S = 120.0
# Sub-second processor timings through its own constructor options (defaults are minutes).
FAST_PROCESSOR = functools.partial(
    ConsumptionProcessor, retry_base=0.05, retry_cap=0.5, settle_time=0.3
)

pytestmark = pytest.mark.slow


def chaos_seed() -> int:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
    print(f"\nchaos soak: CHAOS_SEED={seed}")
    return seed


def entry_for(world: World, printer_id: int) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Printer {printer_id}",
        unique_id=f"CHAOS{printer_id}",
        data={
            CONF_BAMBUDDY_URL: world.bambuddy.url,
            CONF_BAMBUDDY_API_KEY: world.bambuddy_key,
            CONF_PRINTER_ID: printer_id,
            CONF_FILAMAN_URL: world.proxy_url,
            CONF_FILAMAN_API_KEY: world.filaman_key,
        },
        options={CONF_SYNC_INTERVAL: 300, CONF_RECONNECT_INTERVAL: 1},
    )


class Chaos:
    """Random faults, each a short coroutine; counts what it injected."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.injected: Counter[str] = Counter()
        self._faults: dict[str, Callable[[], Awaitable[None]]] = {
            "websocket_drop": self._websocket_drop,
            "bambuddy_restart": self._bambuddy_restart,
            "bambuddy_500": self._bambuddy_500,
            "filaman_500": self._filaman_500,
            "filaman_down": self._filaman_down,
            "filaman_answer_lost": self._answer_lost,
            "sse_drop": self._sse_drop,
            "latency_spike": self._latency_spike,
        }

    async def maybe(self) -> None:
        if self.rng.random() < FAULT_CHANCE:
            name = self.rng.choice(sorted(self._faults))
            self.injected[name] += 1
            await self._faults[name]()

    async def _websocket_drop(self) -> None:
        self.world.bambuddy.drop_websockets()

    async def _bambuddy_restart(self) -> None:
        await self.world.bambuddy.restart()

    async def _bambuddy_500(self) -> None:
        path = self.rng.choice([r"/inventory/usage", r"/inventory/spools", r"/auth/ws-token"])
        self.world.bambuddy.fail_next(
            "GET" if "ws-token" not in path else "POST", path, 500, count=self.rng.randint(1, 4)
        )

    async def _filaman_500(self) -> None:
        path = self.rng.choice([r"/consumptions$", r"/spools/\d+/events", r"/spools$"])
        self.world.filaman.fail_next("*", path, 500, count=self.rng.randint(1, 4))

    async def _filaman_down(self) -> None:
        self.world.filaman.down = True
        await asyncio.sleep(self.rng.uniform(0.1, 1.0))
        self.world.filaman.down = False

    async def _answer_lost(self) -> None:
        self.world.proxy.lose_next_answers += 1

    async def _sse_drop(self) -> None:
        self.world.filaman.drop_sse()

    async def _latency_spike(self) -> None:
        self.world.filaman.latency = self.world.bambuddy.latency = self.rng.uniform(0.05, 0.4)
        await asyncio.sleep(self.rng.uniform(0.2, 0.8))
        self.world.filaman.latency = self.world.bambuddy.latency = 0.0

    def clear(self) -> None:
        world = self.world
        world.filaman.down = False
        world.filaman.latency = world.bambuddy.latency = 0.0
        world.filaman._fail_rules.clear()
        world.bambuddy.faults.rules.clear()
        world.proxy.lose_next_answers = 0


def twin_of(world: World, filaman_id: int) -> object:
    note = f"filaman:{filaman_id}"
    return next(s for s in world.bambuddy.db.spools.values() if s.fields.get("note") == note)


def link_map(world: World) -> dict[int, int]:
    """Bambuddy spool id → FilaMan spool id, from the notes."""
    links: dict[int, int] = {}
    for spool in world.bambuddy.db.spools.values():
        note = str(spool.fields.get("note") or "")
        if note.startswith("filaman:"):
            links[spool.id] = int(note.removeprefix("filaman:"))
    return links


def debited_grams(world: World, filaman_id: int) -> float:
    """Everything FilaMan recorded as print consumption (aggregated events sum up)."""
    return -sum(
        event.delta_weight_g or 0.0 for event in world.filaman.consumption_events(filaman_id)
    )


async def settle(hass: HomeAssistant, entries: list[MockConfigEntry], world: World) -> None:
    """Until every usage row Bambuddy wrote is in a ledger and nothing is owed any more."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    newest = {
        pid: max((r.id for r in world.bambuddy.db.usage if r.printer_id == pid), default=0)
        for pid in world.printers
    }
    while time.monotonic() < deadline:
        processors = {
            e.runtime_data.consumption.printer_id: e.runtime_data.consumption for e in entries
        }
        if all(
            (p.cursor or 0) >= newest[pid] and p.pending_count == 0 for pid, p in processors.items()
        ):
            return
        for processor in processors.values():
            await processor.wake("soak settle")
        await asyncio.sleep(0.2)
    pytest.fail(
        "consumption did not settle: "
        + repr([e.runtime_data.consumption.snapshot() for e in entries])
    )


async def test_chaos_soak(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = chaos_seed()
    rng = random.Random(seed)
    monkeypatch.setattr(
        "custom_components.filaman_bambuddy.ConsumptionProcessor",
        FAST_PROCESSOR,
    )
    started = time.monotonic()
    async with chaos_world() as world:
        entries = [entry_for(world, printer_id) for printer_id in world.printers]
        for entry in entries:
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await entries[0].runtime_data.hub.inventory.async_sync("soak start")
        # Load and assign the slots: four FilaMan spools per printer.
        spools = iter(world.filaman_spools)
        for printer_id in world.printers:
            world.loaded[printer_id] = {}
            for ams_id, tray_id in SLOTS:
                filaman_id = next(spools)
                if (ams_id, tray_id) != RFID_SLOT:  # the RFID spool is in since the start
                    world.bambuddy.set_tray(printer_id, ams_id, tray_id, tray_type="PLA")
                slots.assign_spool(
                    world.bambuddy,
                    twin_of(world, filaman_id),  # type: ignore[arg-type]
                    printer_id,
                    ams_id,
                    tray_id,
                )
                world.loaded[printer_id][(ams_id, tray_id)] = filaman_id
        for entry in entries:
            await entry.runtime_data.consumption.wait_idle()

        chaos = Chaos(world, rng)
        running: dict[int, asyncio.Task[None]] = {}
        for number in range(1, PRINTS + 1):
            printer_id = rng.choice(world.printers)
            if (previous := running.get(printer_id)) is not None:
                await previous  # one print at a time per printer
            used = rng.sample(SLOTS, rng.randint(1, len(SLOTS)))
            grams = {slot: round(rng.uniform(0.3, 15.0), 1) for slot in used}
            status = rng.choice(["completed"] * 6 + ["failed", "aborted"])
            running[printer_id] = world.bambuddy.start_print(
                printer_id, f"Soak {number}", grams, status=status
            )
            await chaos.maybe()
            if number in RELOAD_AT:
                chaos.injected["ha_entry_reload"] += 1
                for entry in entries:
                    assert await hass.config_entries.async_reload(entry.entry_id)
                await hass.async_block_till_done()
            await asyncio.sleep(rng.uniform(0.0, 0.05))
        await asyncio.gather(*running.values())
        chaos.clear()
        await settle(hass, entries, world)

        # --- no gram lost, none twice ---------------------------------------------------
        links = link_map(world)
        # Every row is a linked spool's: the RFID spools Bambuddy created were adopted.
        assert {row.spool_id for row in world.bambuddy.db.usage} <= links.keys()
        for filaman_id, tray_uuid in world.rfid.items():
            holders = [
                spool
                for spool in world.bambuddy.db.spools.values()
                if spool.archived_at is None and spool.fields.get("tray_uuid") == tray_uuid
            ]
            assert [links.get(spool.id) for spool in holders] == [filaman_id], holders
        expected: dict[int, float] = defaultdict(float)
        linked_rows = 0
        for row in world.bambuddy.db.usage:
            if row.spool_id in links:
                expected[links[row.spool_id]] += row.weight_used
                linked_rows += 1
        debited = {spool: debited_grams(world, spool) for spool in world.filaman_spools}
        ledger_rows: Counter[int | None] = Counter()
        for entry in entries:
            # No false hold for review either: every booking of a normal print was debited.
            assert entry.runtime_data.consumption.held_for_review() == {}
            for item in entry.runtime_data.consumption.entries():
                assert item.state is EntryState.DONE, item
                ledger_rows[item.usage_id] += 1
        total_expected = sum(expected.values())
        total_debited = sum(debited.values())
        print(
            f"chaos soak: seed {seed}, {PRINTS} prints, {len(world.bambuddy.db.usage)} usage rows "
            f"({linked_rows} linked), faults {dict(sorted(chaos.injected.items()))}, "
            f"answers lost after apply {world.proxy.lost_answers}, grams expected "
            f"{total_expected:.1f} vs debited {total_debited:.1f}, "
            f"{time.monotonic() - started:.1f} s"
        )
        assert sum(chaos.injected.values()) > 10
        assert max(ledger_rows.values()) == 1, "a usage row was taken twice"
        # (The ledger prunes old finished entries, so it need not hold all rows by now.)
        for spool in world.filaman_spools:
            assert debited[spool] == pytest.approx(expected.get(spool, 0.0), abs=0.01), spool
            remaining = world.filaman.spool(spool).remaining_weight_g
            assert remaining == pytest.approx(START_REMAINING_G - debited[spool], abs=0.01)

        # --- Bambuddy's inventory is FilaMan's ------------------------------------------
        runner = entries[0].runtime_data.hub.inventory
        await runner.async_sync("soak check")
        final = await runner.async_sync("soak check")
        assert final.complete, final
        assert (final.created, final.updated, final.deleted) == (0, 0, 0), final
        assert sorted(link_map(world).values()) == sorted(world.filaman_spools)

        # --- nothing left running -------------------------------------------------------
        for entry in entries:
            assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert all(entry.state is ConfigEntryState.NOT_LOADED for entry in entries)
        assert not hass.data.get(DATA_HUBS)
        for _ in range(50):
            # FilaMan notices a closed stream only when it writes to it (it sends no keep-alives).
            world.filaman.publish_event({"event": "soak_probe"})
            if (
                not world.bambuddy.hub.clients
                and not world.proxy.open_requests
                and world.filaman.bus.stream_count == 0
            ):
                break
            await asyncio.sleep(0.02)
        assert not world.bambuddy.hub.clients, "a Bambuddy WebSocket is still open"
        assert not world.proxy.open_requests, "a FilaMan request or SSE stream is still open"
        assert world.filaman.bus.stream_count == 0, "a FilaMan SSE stream is still open"
