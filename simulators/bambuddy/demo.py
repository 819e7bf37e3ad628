"""The demo printer (`--seed-demo`): one X1C, two AMS units with a mix of filaments."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

# (ams_id, tray_id, tray_type, tray_sub_brands, tray_color, remain%); missing slots stay empty.
DEMO_TRAYS = (
    (0, 0, "PLA", "PLA Basic", "FFFFFFFF", 80),
    (0, 1, "PLA", "PLA Matte", "000000FF", 45),
    (0, 2, "PETG", "PETG HF", "C12E1FFF", 100),
    (1, 0, "ABS", "ABS", "00AE42FF", 60),
    (1, 2, "PLA", "PLA Silk", "F4A925FF", 25),
    (1, 3, "PETG", "PETG Translucent", "0A6CD6FF", 90),
    (255, 0, "PLA", "", "FF6A13FF", 0),
)


def seed_demo(sim: BambuddySimulator) -> int:
    """Add "Workshop X1C" with its trays loaded; returns the printer id."""
    printer_id = sim.add_printer("Workshop X1C", model="X1C", ams_units=2, external=1)
    for ams_id, tray_id, tray_type, sub_brands, color, remain in DEMO_TRAYS:
        sim.set_tray(
            printer_id,
            ams_id,
            tray_id,
            tray_type=tray_type,
            tray_sub_brands=sub_brands,
            tray_color=color,
            remain=remain,
        )
    return printer_id
