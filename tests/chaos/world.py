"""The soak's world: both simulators, a FilaMan proxy, two printers with four linked slots each.

Slot A4 of each printer holds a Bambu RFID spool from the start, so Bambuddy has created its
own spool for it before the integration is set up; the FilaMan spool meant for it carries the
same tag (the integration must adopt Bambuddy's spool, never duplicate it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field

from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

from .proxy import AnswerLosingProxy

SLOTS = ((0, 0), (0, 1), (0, 2), (0, 3))
RFID_SLOT = (0, 3)
START_REMAINING_G = 5000.0  # far more than 200 prints take, so no debit is ever clamped


def rfid_tags(printer_index: int) -> tuple[str, str]:
    """(tag_uid, tray_uuid) of the RFID spool in the printer's RFID slot."""
    return f"{printer_index + 1:016X}", f"{printer_index + 1:032X}"


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
    # FilaMan spool id -> the tray_uuid of the RFID spool it is
    rfid: dict[int, str] = field(default_factory=dict)


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
        spools: list[int] = []
        rfid: dict[int, str] = {}
        for index, _printer_id in enumerate(printers):
            tag_uid, tray_uuid = rfid_tags(index)
            for slot in SLOTS:
                spools.append(
                    filaman.add_spool(
                        filament,
                        initial_total_weight_g=START_REMAINING_G + 250.0,
                        empty_spool_weight_g=250.0,
                        rfid_uid=tag_uid if slot == RFID_SLOT else None,
                    )
                )
                if slot == RFID_SLOT:
                    rfid[spools[-1]] = tray_uuid
        for index, printer_id in enumerate(printers):
            tag_uid, tray_uuid = rfid_tags(index)
            bambuddy.set_tray(
                printer_id,
                *RFID_SLOT,
                tray_type="PLA",
                tray_sub_brands="PLA Basic",
                tray_color="00AE42FF",
                tray_info_idx="GFA00",
                tag_uid=tag_uid,
                tray_uuid=tray_uuid,
                remain=100,
            )
        yield World(
            bambuddy=bambuddy,
            filaman=filaman,
            proxy=proxy,
            proxy_url=proxy_url,
            bambuddy_key=bambuddy.create_api_key(),
            filaman_key=filaman.create_api_key(),
            printers=printers,
            filaman_spools=spools,
            rfid=rfid,
        )
    finally:
        await bambuddy.stop()
        await proxy.stop()
        await filaman.stop()
