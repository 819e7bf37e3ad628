"""The demo printer (`--seed-demo`): one X1C, two AMS units with a mix of filaments.

Slot A1 holds a Bambu RFID spool (Jade White, the tag FilaMan's demo spool carries): as on a
real Bambuddy with its default settings, Bambuddy creates and assigns its own spool for it the
moment the printer reports it, before the integration is even set up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

# (ams_id, tray_id, tray_type, tray_sub_brands, tray_color, remain%); missing slots stay empty.
# (tag_uid, tray_uuid) of the RFID trays; FilaMan's demo spool "04:A1:7C:9B:44:55:66" is A1's.
DEMO_RFID = {(0, 0): ("04A17C9B445566", "7D3F0E2A9C4B11EEB0A1C2D3E4F50607")}
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
        tag_uid, tray_uuid = DEMO_RFID.get((ams_id, tray_id), (None, None))
        sim.set_tray(
            printer_id,
            ams_id,
            tray_id,
            tray_type=tray_type,
            tray_sub_brands=sub_brands,
            tray_color=color,
            remain=remain,
            tag_uid=tag_uid,
            tray_uuid=tray_uuid,
            tray_info_idx="GFA00" if tray_uuid else None,
        )
    return printer_id
