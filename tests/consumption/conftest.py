"""Both simulators on loopback, two linked spools in slots (0,0) and (0,1), and helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.consumption import (
    ConsumptionProcessor,
    DebitRecord,
    LedgerStore,
    MemoryLedgerStore,
    PrintUsage,
)
from simulators.bambuddy import BambuddySimulator
from simulators.bambuddy.simulator import VERSIONS
from simulators.filaman import FilamanSimulator

FULL = 1000.0  # net grams of a fresh FilaMan spool (1250 gross - 250 tare)


@dataclass
class World:
    bsim: BambuddySimulator
    fsim: FilamanSimulator
    session: aiohttp.ClientSession
    bambuddy: BambuddyClient
    filaman: FilamanClient
    printer_id: int
    filament_id: int
    fspool_a: int
    fspool_b: int
    bspool_a: int
    bspool_b: int
    store: MemoryLedgerStore = field(default_factory=MemoryLedgerStore)
    debits: list[DebitRecord] = field(default_factory=list)
    prints: list[PrintUsage] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    processors: list[ConsumptionProcessor] = field(default_factory=list)

    def processor(
        self,
        *,
        store: LedgerStore | None = None,
        filaman: FilamanClient | None = None,
        **options: Any,
    ) -> ConsumptionProcessor:
        options = {"retry_base": 0.02, "retry_cap": 0.1, "settle_time": 0.0} | options
        processor = ConsumptionProcessor(
            self.bambuddy,
            filaman or self.filaman,
            self.printer_id,
            store or self.store,
            on_debit=self.debits.append,
            on_print=self.prints.append,
            **options,
        )
        self.processors.append(processor)
        return processor

    def filaman_client(self, key: str | None = None, timeout: float = 5.0) -> FilamanClient:
        return FilamanClient(
            self.session,
            self.fsim.url,
            key or self.fsim.create_api_key(),
            request_timeout=timeout,
        )

    async def linked_spool(self, slot: tuple[int, int], note: str | None) -> int:
        """A Bambuddy spool with ``note``, assigned to ``slot`` of the printer."""
        fields: dict[str, Any] = {"material": "PLA", "label_weight": 1000, "core_weight": 250}
        if note is not None:
            fields["note"] = note
        spool = await self.bambuddy.create_spool(fields)
        await self.bambuddy.assign(spool.id, self.printer_id, *slot)
        return spool.id

    def posts(self) -> int:
        """Consumption POSTs FilaMan has seen."""
        return sum(
            1
            for method, path in self.fsim.request_log
            if method == "POST" and path.endswith("/consumptions")
        )

    def remaining(self, spool_id: int) -> float | None:
        return self.fsim.spool(spool_id).remaining_weight_g

    def deltas(self, spool_id: int) -> list[float | None]:
        return [event.delta_weight_g for event in self.fsim.consumption_events(spool_id)]


async def wait_until(condition: Callable[[], bool], within: float = 3.0) -> None:
    """Poll a condition that changes without a wake (retry timers, callbacks)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def drained(processor: ConsumptionProcessor, within: float = 3.0) -> None:
    """Wait until nothing is owed (retries run on timers) and that run has ended."""
    await wait_until(lambda: processor.pending_count == 0, within)
    await processor.wait_idle()


async def settle(processor: ConsumptionProcessor, reason: str = "test") -> None:
    await processor.wake(reason)
    await processor.wait_idle()


@pytest.fixture(params=VERSIONS)
async def world(socket_enabled: None, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """Every consumption test runs against Bambuddy 1.2.5.2 and 1.2.6."""
    bsim = BambuddySimulator(ws_usage_delay=0.0, version=request.param)
    fsim = FilamanSimulator()
    await bsim.start()
    await fsim.start()
    session = aiohttp.ClientSession()
    assert bsim.url is not None
    bambuddy = BambuddyClient(session, bsim.url, bsim.create_api_key())
    filaman = FilamanClient(session, fsim.url, fsim.create_api_key(), request_timeout=5)
    printer_id = bsim.add_printer("Workshop X1C")
    manufacturer = fsim.add_manufacturer("Bambu Lab")
    filament = fsim.add_filament(manufacturer, "PLA")
    fspool_a = fsim.add_spool(filament)
    fspool_b = fsim.add_spool(filament)
    world = World(
        bsim, fsim, session, bambuddy, filaman, printer_id, filament, fspool_a, fspool_b, 0, 0
    )
    world.bspool_a = await world.linked_spool((0, 0), f"filaman:{fspool_a}")
    world.bspool_b = await world.linked_spool((0, 1), f"filaman:{fspool_b}")
    broadcast = bsim.broadcast

    def capture(event: dict[str, Any]) -> None:
        world.frames.append(event)
        broadcast(event)

    bsim.broadcast = capture  # type: ignore[method-assign]
    try:
        yield world
    finally:
        for processor in world.processors:
            await processor.close()
        await session.close()
        await bsim.stop()
        await fsim.stop()
