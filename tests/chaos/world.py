"""The soak's world: both simulators, a FilaMan proxy, two printers with four linked slots each."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field

from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .proxy import AnswerLosingProxy

SLOTS = ((0, 0), (0, 1), (0, 2), (0, 3))
START_REMAINING_G = 5000.0  # far more than 200 prints take, so no debit is ever clamped


@dataclass
class World:
    bambuddy: BambuddySimulator
    filaman: FilamanSimulator
    proxy: AnswerLosingProxy
    proxy_url: str
    bambuddy_key: str
    filaman_key: str
    printers: list[int]
    filaman_spools: list[int]
    # printer id -> slot -> FilaMan spool loaded there
    loaded: dict[int, dict[tuple[int, int], int]] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def chaos_world() -> AsyncIterator[World]:
    bambuddy = BambuddySimulator(ws_usage_delay=0.02, assign_verify_delay=0.01)
    filaman = FilamanSimulator()
    await bambuddy.start(host="127.0.0.1", port=0)
    await filaman.start(host="127.0.0.1", port=0)
    proxy = AnswerLosingProxy(filaman.url)
    proxy_url = await proxy.start()
    try:
        printers = [bambuddy.add_printer(name, ams_units=1, external=1) for name in ("A1", "B2")]
        maker = filaman.add_manufacturer("Bambu Lab")
        filament = filaman.add_filament(maker, "PLA", "Basic", color_hex="#00AE42")
        spools = [
            filaman.add_spool(
                filament,
                initial_total_weight_g=START_REMAINING_G + 250.0,
                empty_spool_weight_g=250.0,
            )
            for _ in range(len(printers) * len(SLOTS))
        ]
        yield World(
            bambuddy=bambuddy,
            filaman=filaman,
            proxy=proxy,
            proxy_url=proxy_url,
            bambuddy_key=bambuddy.create_api_key(),
            filaman_key=filaman.create_api_key(),
            printers=printers,
            filaman_spools=spools,
        )
    finally:
        await bambuddy.stop()
        await proxy.stop()
        await filaman.stop()
