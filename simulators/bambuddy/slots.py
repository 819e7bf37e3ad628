"""Slot assignments through the REST API: upsert, configure over "MQTT", read-back (API.md §6).

What Bambuddy does to assignments by itself on AMS reports is in automation.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import automation
from .printer import DEFAULT_PRESET, MATERIAL_PRESETS, Printer, Tray, slot_label
from .state import Assignment, Spool, iso_seconds, utc_now

if TYPE_CHECKING:
    from .simulator import BambuddySimulator


def assignment_json(
    sim: BambuddySimulator, assignment: Assignment, *, configured: bool, pending_config: bool
) -> dict[str, Any]:
    printer = sim.printers.get(assignment.printer_id)
    spool = sim.db.spools.get(assignment.spool_id)
    return {
        "id": assignment.id,
        "spool_id": assignment.spool_id,
        "printer_id": assignment.printer_id,
        "printer_name": printer.name if printer else None,
        "ams_id": assignment.ams_id,
        "tray_id": assignment.tray_id,
        "fingerprint_color": assignment.fingerprint_color,
        "fingerprint_type": assignment.fingerprint_type,
        "created_at": iso_seconds(assignment.created_at),
        "spool": spool.to_json() if spool else None,
        "configured": configured,
        "pending_config": pending_config,
        "ams_label": None,
    }


def upsert_assignment(
    sim: BambuddySimulator,
    spool: Spool,
    printer_id: int,
    ams_id: int,
    tray_id: int,
    *,
    tray: Tray | None,
) -> Assignment:
    """Insert or update the slot's row (unique per slot); fingerprint = live tray."""
    loaded = tray is not None and tray.loaded
    fingerprint_color = (tray.tray_color or "") if tray is not None and loaded else ""
    fingerprint_type = (tray.tray_type or "") if tray is not None and loaded else ""
    assignment = sim.db.assignment_at(printer_id, ams_id, tray_id)
    if assignment is None:
        assignment = Assignment(
            id=sim.db.next_id("assignment"),
            spool_id=spool.id,
            printer_id=printer_id,
            ams_id=ams_id,
            tray_id=tray_id,
            fingerprint_color=fingerprint_color,
            fingerprint_type=fingerprint_type,
            created_at=utc_now(),
        )
        sim.db.assignments[assignment.id] = assignment
    else:
        assignment.spool_id = spool.id
        assignment.fingerprint_color = fingerprint_color
        assignment.fingerprint_type = fingerprint_type
    return assignment


def assign_spool(
    sim: BambuddySimulator, spool: Spool, printer_id: int, ams_id: int, tray_id: int
) -> dict[str, Any]:
    """POST /inventory/assignments after validation (API.md §6 steps 1-4)."""
    printer = sim.printers.get(printer_id)
    tray = printer.tray_at(ams_id, tray_id) if printer else None
    assignment = upsert_assignment(sim, spool, printer_id, ams_id, tray_id, tray=tray)
    pending = printer is None or not printer.connected or tray is None or not tray.loaded
    sim.broadcast(
        {
            "type": "spool_assignment_changed",
            "printer_id": printer_id,
            "ams_id": ams_id,
            "tray_id": tray_id,
        }
    )
    if printer is not None and not pending:
        configure_slot(sim, printer, ams_id, tray_id, spool)
    return assignment_json(sim, assignment, configured=not pending, pending_config=pending)


def configure_slot(
    sim: BambuddySimulator,
    printer: Printer,
    ams_id: int,
    tray_id: int,
    spool: Spool,
    *,
    report_now: bool = True,
) -> None:
    """The MQTT ams_filament_setting as the printer applies it, its next report, the read-back.

    ``report_now=False`` from inside an automation pass: the printer's report follows it.
    """
    tray = printer.tray_at(ams_id, tray_id)
    if tray is None:
        return
    fields = spool.fields
    preset, low, high = MATERIAL_PRESETS.get(spool.material.upper(), DEFAULT_PRESET)
    tray.tray_info_idx = fields["slicer_filament"] or preset
    tray.tray_type = spool.material
    tray.tray_sub_brands = " ".join(
        part for part in (fields["brand"], spool.material, fields["subtype"]) if part
    )
    tray.tray_color = fields["rgba"] or "FFFFFFFF"
    tray.nozzle_temp_min = fields["nozzle_temp_min"] or low
    tray.nozzle_temp_max = fields["nozzle_temp_max"] or high
    if report_now:
        automation.report(sim, printer)
    else:
        sim.later(0.0, lambda: automation.report(sim, printer))
    event = {
        "type": "spool_assignment_verified",
        "printer_id": printer.id,
        "printer_name": printer.name,
        "ams_id": ams_id,
        "tray_id": tray_id,
        "slot": slot_label(ams_id, tray_id),
        "verified": True,
        "kprofile_applied": True,
        "saw_tray": False,
    }
    sim.later(sim.assign_verify_delay, lambda: sim.broadcast(event))


def unassign(sim: BambuddySimulator, printer_id: int, ams_id: int, tray_id: int) -> bool:
    """Delete the slot's assignment row (no MQTT: the slot keeps its settings)."""
    assignment = sim.db.assignment_at(printer_id, ams_id, tray_id)
    if assignment is None:
        return False
    del sim.db.assignments[assignment.id]
    sim.broadcast(
        {
            "type": "spool_assignment_changed",
            "printer_id": printer_id,
            "ams_id": ams_id,
            "tray_id": tray_id,
        }
    )
    return True
