"""A print from start to usage tracking, in the event order of a real Bambuddy (API.md §10).

print_start → printer_status RUNNING (progress steps) → printer_status FINISH/FAILED →
print_complete (status only) → after `ws_usage_delay`: usage rows + spool_usage_logged.

Each status step is an AMS report: the falling remain% runs Bambuddy's automation (auto-unlink,
RFID auto-assign) during the print, and the usage tracker books each slot's grams to the spool
`automation.charged_spool` picks (AUTOMATION.md §5).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from . import automation
from .printer import Printer, PrintJob, global_tray_id
from .state import PrintArchive, Spool, UsageRow, utc_now

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

GCODE_FILE = "/data/Metadata/plate_1.gcode"
ESTIMATED_MINUTES = 42
TOTAL_LAYERS = 100
# Progress points reported while printing; a failed print stops early, like the capture.
COMPLETED_STEPS = (1.0, 40.0, 90.0)
FAILED_STEPS = (1.0, 30.0)
FAILED_AT = 31.0


@dataclass(frozen=True)
class PrintRequest:
    """What to print and how it ends."""

    name: str
    grams: dict[tuple[int, int], float]
    status: str
    duration: float
    slot_ids: dict[tuple[int, int], int]
    legacy_weights: Literal["float", "dict"] | None
    mapped: bool = True
    """The print was sent with an AMS mapping (a slicer or Bambuddy print); a print started at
    the printer itself has none, and Bambuddy then warns about nothing (§6)."""
    booked: dict[tuple[int, int], float | list[float]] | None = None
    """What Bambuddy's usage tracker books per slot when that is not what the print used: its
    known bugs (a failed flow calibration booking 1 kg per loaded spool, Bambuddy #3081; a
    print without a 3MF charged 207 g for 1.6 g, #2843). ``None``: it books ``grams``.
    A list: the print's filaments drawn from that one slot (1.2.6 books a row per filament,
    #3230; 1.2.5.2 one row for their sum)."""
    has_3mf: bool = True
    """The print came with a 3MF, so its archive carries the slicer's estimate (``grams``)."""

    def ams_mapping(self) -> list[int] | None:
        """`print_start.data.ams_mapping`: the global tray ids the print draws from."""
        return [global_tray_id(*slot) for slot in self.grams] if self.mapped else None


async def run_print(sim: BambuddySimulator, printer: Printer, request: PrintRequest) -> None:
    succeeded = request.status == "completed"
    steps = COMPLETED_STEPS if succeeded else FAILED_STEPS
    pause = request.duration / (len(steps) + 1)
    start_remain = _remain_before(printer, request.grams)

    printer.job = PrintJob(
        state="RUNNING",
        current_print=request.name,
        subtask_name=request.name,
        gcode_file=GCODE_FILE,
        progress=steps[0],
        remaining_time=ESTIMATED_MINUTES,
        layer_num=0,
        total_layers=TOTAL_LAYERS,
        stg_cur=0,
        stg_cur_name="Printing",
        current_plate_id=1,
        cover_url=f"/api/v1/printers/{printer.id}/cover",
    )
    printer.bed, printer.bed_target, printer.nozzle, printer.nozzle_target = (
        55.0,
        55.0,
        220.0,
        220.0,
    )
    if request.grams:
        printer.tray_now = global_tray_id(*next(iter(request.grams)))
    if not sim.db.spoolman_enabled:
        automation.start_session(sim, printer)
    # Auto-archive (on by default) keeps the print with its 3MF's filament estimate.
    archive = PrintArchive(
        id=sim.db.next_id("archive"),
        printer_id=printer.id,
        print_name=request.name,
        filament_used_grams=(
            round(sum(request.grams.values()), 2) if request.grams and request.has_3mf else None
        ),
        status="printing",
        started_at=utc_now().replace(microsecond=0),
    )
    sim.db.archives.append(archive)
    sim.broadcast(
        {
            "type": "print_start",
            "printer_id": printer.id,
            "data": {
                "filename": GCODE_FILE,
                "subtask_name": request.name,
                "remaining_time": ESTIMATED_MINUTES * 60,  # seconds here, minutes in status
                "raw_data": printer.raw_push_status(),
                "ams_mapping": request.ams_mapping(),
            },
        }
    )
    # Bambuddy's print-start handler, right after the print_start frame (Spoolman mode too:
    # its slot assignments count as assigned there, and the simulator keeps none of those).
    automation.warn_missing_assignments(sim, printer, request.ams_mapping() or [])
    for progress in steps:
        _advance(printer, request, start_remain, progress)
        automation.report(sim, printer)
        await asyncio.sleep(pause)

    final_progress = 100.0 if succeeded else FAILED_AT
    _advance(printer, request, start_remain, final_progress)
    job = printer.job
    job.state = "FINISH" if succeeded else "FAILED"
    job.remaining_time = 0
    job.stg_cur, job.stg_cur_name, job.cover_url = 255, None, None
    job.awaiting_plate_clear = succeeded
    printer.bed_target = printer.nozzle_target = 0.0
    printer.tray_now = 255
    archive.status = request.status
    archive.completed_at = utc_now().replace(microsecond=0)
    automation.report(sim, printer)
    sim.broadcast(
        {
            "type": "print_complete",
            "printer_id": printer.id,
            "data": _complete_data(printer, request),
        }
    )
    if sim.newer_than_1_2_5:
        # 1.2.6 (#1898): clients are asked how the print came out; nothing else happens here.
        sim.broadcast(
            {
                "type": "print_confirm_request",
                "printer_id": printer.id,
                "data": {"archive_id": archive.id, "print_name": request.name},
            }
        )
    if request.legacy_weights is not None:
        automation.end_session(sim, printer)
        return  # old servers had no usage tracker
    await asyncio.sleep(sim.ws_usage_delay)
    log_usage(sim, printer, request)


def _complete_data(printer: Printer, request: PrintRequest) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": request.status,
        "filename": GCODE_FILE,
        "subtask_name": request.name,
        "timelapse_was_active": False,
    }
    if request.legacy_weights == "float":
        data |= {"printer_id": printer.id, "weight_used": round(sum(request.grams.values()), 2)}
    elif request.legacy_weights == "dict":
        weights = {f"{ams}-{tray}": grams for (ams, tray), grams in request.grams.items()}
        data |= {"printer_id": printer.id, "weight_used": weights}
    return data


def _remain_before(
    printer: Printer, grams: dict[tuple[int, int], float]
) -> dict[tuple[int, int], int]:
    remain: dict[tuple[int, int], int] = {}
    for slot in grams:
        tray = printer.tray_at(*slot)
        if tray is not None:
            remain[slot] = tray.remain
    return remain


def _advance(
    printer: Printer,
    request: PrintRequest,
    start_remain: dict[tuple[int, int], int],
    progress: float,
) -> None:
    """Move the job to `progress` % and lower the trays' remain% accordingly."""
    printer.job.progress = progress
    printer.job.layer_num = int(progress * TOTAL_LAYERS / 100) if progress > 1 else 0
    share = progress / 100 if request.status == "completed" else progress / FAILED_AT
    for slot, before in start_remain.items():
        tray = printer.tray_at(*slot)
        if tray is None or before < 0:
            continue  # unknown remain (-1) stays unknown
        used_percent = request.grams[slot] / 10  # remain% is relative to a 1 kg spool
        tray.remain = max(0, round(before - used_percent * min(share, 1.0)))


def _book(
    sim: BambuddySimulator,
    printer: Printer,
    request: PrintRequest,
    *,
    spool: Spool,
    slot: tuple[int, int],
    consumed: float,
    now: datetime,
) -> dict[str, Any]:
    """One usage row (and the spool's weight_used); returns the event's usage item."""
    fields = spool.fields
    fields["weight_used"] = float(fields["weight_used"]) + consumed
    spool.last_used = spool.updated_at = now
    label = spool.label_weight
    percent = round(consumed / label * 100) if label else 0
    cost_per_kg = fields["cost_per_kg"]
    cost = round(cost_per_kg * consumed / 1000, 2) if cost_per_kg is not None else None
    sim.db.usage.append(
        UsageRow(
            id=sim.db.next_id("usage"),
            spool_id=spool.id,
            printer_id=printer.id,
            print_name=request.name,
            weight_used=round(consumed, 1),
            percent_used=percent,
            status=request.status,
            cost=cost,
            created_at=now.replace(microsecond=0),
        )
    )
    rgba = fields["rgba"]
    return {
        "spool_id": spool.id,
        "weight_used": round(consumed, 1),
        "percent_used": percent,
        "ams_id": slot[0],
        "tray_id": slot[1],
        "material": spool.material,
        "cost": cost,
        "slot_id": request.slot_ids.get(slot),
        "color": f"#{rgba[:6].upper()}" if rgba else None,
    }


def log_usage(sim: BambuddySimulator, printer: Printer, request: PrintRequest) -> None:
    """Bambuddy's usage tracker at print end (API.md §10): rows, spool update, one event.

    Only slots with a spool (snapshot or live assignment) count; rows are written even when
    no WebSocket client listens. `weight_locked` and `archived_at` are ignored (§5).
    """
    session = automation.end_session(sim, printer)
    if sim.db.spoolman_enabled:
        return  # Bambuddy debits Spoolman instead and logs nothing itself
    now = utc_now()
    usage: list[dict[str, Any]] = []
    booked = request.grams if request.booked is None else request.booked
    for (ams_id, tray_id), amounts in booked.items():
        spool_id = automation.charged_spool(sim, printer, (ams_id, tray_id), session)
        spool = sim.db.spools.get(spool_id) if spool_id is not None else None
        filaments = amounts if isinstance(amounts, list) else [amounts]
        if not sim.newer_than_1_2_5:
            filaments = [sum(filaments)]  # one row per spool (#3230 split it in 1.2.6)
        for consumed in filaments:
            if spool is None or consumed <= 0:
                continue
            usage.append(
                _book(
                    sim, printer, request,
                    spool=spool, slot=(ams_id, tray_id), consumed=consumed, now=now,
                )
            )  # fmt: skip
    if usage:
        sim.broadcast({"type": "spool_usage_logged", "printer_id": printer.id, "usage": usage})
