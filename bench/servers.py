"""The two simulators a bench phase runs against, filled with N FilaMan spools."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
import re

from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_NUMBER = re.compile(r"/\d+(?=/|$)")
# A few filament shapes, so the mapping does real work (colours, tares, net weights).
_FILAMENTS = (
    ("Bambu Lab", "PLA", "Basic", "#00AE42", 250.0),
    ("Bambu Lab", "PETG", "HF", "#FF6A13", 250.0),
    ("Polymaker", "PLA", "Matte", "#1E90FF", 180.0),
    ("Polymaker", "ASA", None, "#222222", 180.0),
    ("Prusament", "PETG", "Galaxy", "#5B2C6F", 201.0),
)


@dataclass
class Servers:
    """Running simulators, their keys, and the ids the bench needs."""

    bambuddy: BambuddySimulator
    filaman: FilamanSimulator
    bambuddy_key: str
    filaman_key: str
    printer_id: int
    spool_ids: list[int]
    filament_ids: list[int]

    @property
    def bambuddy_url(self) -> str:
        assert self.bambuddy.url is not None
        return self.bambuddy.url

    def clear_logs(self) -> None:
        self.bambuddy.request_log.clear()
        self.filaman.request_log.clear()

    def requests(self) -> dict[str, int]:
        """Requests since the last clear, by server, method and path shape."""
        counts: Counter[str] = Counter()
        for server, log in (
            ("Bambuddy", self.bambuddy.request_log),
            ("FilaMan", self.filaman.request_log),
        ):
            for method, path in log:
                counts[f"{server} {method} {path_shape(path)}"] += 1
        return dict(sorted(counts.items()))

    def bambuddy_writes(self) -> int:
        return sum(1 for method, _ in self.bambuddy.request_log if method in WRITE_METHODS)

    async def stop(self) -> None:
        await self.bambuddy.stop()
        await self.filaman.stop()


def path_shape(path: str) -> str:
    """``/api/v1/inventory/spools/17`` → ``/inventory/spools/{id}``."""
    return _NUMBER.sub("/{id}", path.removeprefix("/api/v1"))


async def start_servers(spool_count: int) -> Servers:
    """Both simulators on loopback: one printer with an AMS, ``spool_count`` FilaMan spools.

    FilaMan runs as its image runs it (four workers, each with its own change stream)."""
    bambuddy = BambuddySimulator(ws_usage_delay=0.0, assign_verify_delay=0.01)
    filaman = FilamanSimulator()
    await bambuddy.start(host="127.0.0.1", port=0)
    await filaman.start(host="127.0.0.1", port=0)
    printer_id = bambuddy.add_printer("Bench X1C", ams_units=1, external=1)
    manufacturers: dict[str, int] = {}
    filaments: list[int] = []
    for maker, material, subgroup, colour, tare in _FILAMENTS:
        if maker not in manufacturers:
            manufacturers[maker] = filaman.add_manufacturer(maker, empty_spool_weight_g=tare)
        filaments.append(
            filaman.add_filament(
                manufacturers[maker], material, subgroup, color_hex=colour, price=24.99
            )
        )
    spool_ids = [
        filaman.add_spool(
            filaments[index % len(filaments)],
            initial_total_weight_g=1250.0,
            empty_spool_weight_g=_FILAMENTS[index % len(_FILAMENTS)][4],
            # Large enough that no bench debit ever empties a spool.
            remaining_weight_g=900.0 - (index % 400),
            rfid_uid=f"04F5023A{index:08X}" if index % 3 == 0 else None,
        )
        for index in range(spool_count)
    ]
    return Servers(
        bambuddy=bambuddy,
        filaman=filaman,
        bambuddy_key=bambuddy.create_api_key(),
        filaman_key=filaman.create_api_key(),
        printer_id=printer_id,
        spool_ids=spool_ids,
        filament_ids=filaments,
    )
