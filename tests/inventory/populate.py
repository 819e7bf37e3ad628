"""A varied FilaMan inventory for the runner tests (built through the simulator's controls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from custom_components.filaman_bambuddy.api.models_bambuddy import BambuddySpool
from custom_components.filaman_bambuddy.api.models_filaman import FilamanSpool
from custom_components.filaman_bambuddy.inventory.mapping import (
    DesiredSpool,
    SpoolParams,
    desired_spool,
)
from simulators.bambuddy import BambuddySimulator
from simulators.filaman import FilamanSimulator

WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})


@dataclass
class Inventory:
    """Ids of what :func:`populate` created."""

    printer_id: int
    active: list[int] = field(default_factory=list)
    archived: list[int] = field(default_factory=list)


def populate(sim: FilamanSimulator, count: int = 50, archived: int = 2) -> Inventory:
    """``count`` active spools of varied shape (plus ``archived`` archived ones)."""
    bambu = sim.add_manufacturer("Bambu Lab")
    poly = sim.add_manufacturer("Polymaker", empty_spool_weight_g=180.0)
    filaments = [
        sim.add_filament(bambu, "PLA", "Basic", color_hex="#00AE42",
                         manufacturer_color_name="Bambu Green", price=19.99),
        sim.add_filament(bambu, "PETG", "HF", color_hex="#abc"),
        sim.add_filament(poly, "PLA", "Matte", color_hex=["#FF0000", "#00FF00"],
                         raw_material_weight_g=750.0, price=30.0),
        sim.add_filament(poly, "TPU", None, color_hex="#00000080", raw_material_weight_g=500.0),
        sim.add_filament(bambu, "ABS", None, color_hex="#XYZ"),
        sim.add_filament(poly, "ASA", "Galaxy", color_hex="#123456",
                         raw_material_weight_g=None, default_spool_weight_g=None),
        sim.add_filament(bambu, "PLA-CF", "Carbon", color_hex="#222"),
    ]  # fmt: skip
    printer_id = sim.add_printer("X1C", driver_key="bambuddy")
    sim.set_printer_params(
        printer_id,
        filament_id=filaments[0],
        params={"bambu_nozzle_temp_min": "190", "bambu_nozzle_temp_max": "220"},
    )
    inventory = Inventory(printer_id=printer_id)
    for index in range(count + archived):
        spool_id = sim.add_spool(
            filaments[index % len(filaments)],
            initial_total_weight_g=None if index % 5 == 1 else 1250.0,
            empty_spool_weight_g=180.0 if index % 7 == 3 else 250.0,
            remaining_weight_g=(None, 1000.0 - 7.25 * index, 123.456)[index % 3],
            rfid_uid=f"04:F5:02:3A:11:22:{index:02X}" if index % 4 == 0 else None,
            purchase_price=20.0 + index / 10 if index % 6 == 0 else None,
            status="empty" if index % 10 == 9 else "opened",
        )
        if index % 4 == 1:
            sim.set_printer_params(
                printer_id,
                spool_id=spool_id,
                params={"bambu_nozzle_temp_min": "205", "bambu_nozzle_temp_max": "225"},
            )
        if index % 13 == 5:
            sim.set_printer_params(
                printer_id, spool_id=spool_id, params={"bambu_nozzle_temp_max": "hot"}
            )
        if index >= count:
            sim.archive_spool(spool_id)
            inventory.archived.append(spool_id)
        else:
            inventory.active.append(spool_id)
    return inventory


def expected(sim: FilamanSimulator, spool_id: int, printer_id: int | None) -> DesiredSpool:
    """What the mapping should produce for a simulator spool, params included."""
    spool = FilamanSpool.from_json(sim.spool_json(spool_id))
    params = None
    if printer_id is not None:
        spool_rows = sim.state.spool_params(spool_id, printer_id)
        filament_rows = sim.state.filament_params(spool.filament_id, printer_id)
        params = SpoolParams(
            spool={row.param_key: row.param_value or "" for row in spool_rows},
            filament={row.param_key: row.param_value or "" for row in filament_rows},
        )
    return desired_spool(spool, params)


def bambuddy_spools(sim: BambuddySimulator) -> list[BambuddySpool]:
    """Every spool the Bambuddy simulator holds, as the client would parse it."""
    return [BambuddySpool.from_json(spool.to_json()) for spool in sim.db.spools.values()]


def linked(sim: BambuddySimulator) -> dict[int, list[BambuddySpool]]:
    by_link: dict[int, list[BambuddySpool]] = {}
    for spool in bambuddy_spools(sim):
        if spool.filaman_id is not None:
            by_link.setdefault(spool.filaman_id, []).append(spool)
    return by_link


def writes(log: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(method, path) for method, path in log if method in WRITE_METHODS]


def spool_json(sim: BambuddySimulator, bambuddy_id: int) -> dict[str, Any]:
    return sim.db.spools[bambuddy_id].to_json()
