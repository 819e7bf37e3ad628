"""What Bambuddy does by itself on AMS reports and at print end (AUTOMATION.md, internal mode).

The whole of `main.py:on_ams_change` lives here, in its order, so one reading follows a tray
from the printer's report to the assignment Bambuddy keeps:

1. **Trigger** (§0): the callback runs when the hash of the merged AMS state (unit, tray,
   `tray_type`, `tag_uid`, `remain`) or of the external trays' identity changed, or on the first
   report after a connect. Other pushes only broadcast the snapshot.
2. **Auto-unlink** (§3): every assignment of the printer is checked against its live tray, rows
   1-8 of the table, also during prints and in Spoolman mode.
3. **Per-tray pass** (§1, §2, §4), internal mode, AMS units only: an assigned tray gets the
   remain% weight sync (not during a print); an unassigned Bambu-RFID tray is matched by tag,
   else linked to an untagged look-alike, else auto-created (`auto_add_unknown_rfid`, default on)
   and assigned; another valid tag is announced as `unknown_tag`.

The usage tracker (§5) is here too: a print start snapshots the printer's assignments, and the
print end books each tray's grams to the snapshot spool unless the live assignment is newer
than the print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
import hashlib
import math
from typing import TYPE_CHECKING, Any

from .printer import EXTERNAL_AMS_ID, LOADED_STATE, Printer, Tray, global_tray_id
from .state import Assignment, Spool, utc_now

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

SETTING_AUTO_ADD_RFID = "auto_add_unknown_rfid"
# "Bambu Lab - Plastic High Temp", the first `Bambu Lab%` row of the default spool catalogue.
BAMBU_CORE_WEIGHT = 216
DEFAULT_TRAY_WEIGHT = 1000
COLOUR_DISTANCE = 50.0
EMPTY_STATES = (9, 10)
# `slicer_filament_name` for the presets the simulator's trays carry (Bambuddy's built-in table).
PRESET_NAMES = {
    "GFA00": "Bambu PLA Basic",
    "GFA01": "Bambu PLA Matte",
    "GFG02": "Bambu PETG HF",
    "GFB00": "Bambu ABS",
    "GFL99": "Generic PLA",
    "GFG99": "Generic PETG",
}


# --- tags (spool_tag_matcher.py) ---------------------------------------------------------


def _hex(value: str | None) -> str:
    return "".join(char for char in (value or "") if char in "0123456789abcdefABCDEF").upper()


def norm_tag_uid(value: str | None) -> str:
    """Hex only, upper case, the last 16; all zeros means no tag."""
    tag = _hex(value)[-16:]
    return "" if set(tag) <= {"0"} else tag


def norm_tray_uuid(value: str | None) -> str:
    """Hex only, upper case, the first 32; all zeros means no tag."""
    uuid = _hex(value)[:32]
    return "" if set(uuid) <= {"0"} else uuid


def is_valid_tag(tray: Tray) -> bool:
    return bool(norm_tag_uid(tray.tag_uid) or norm_tray_uuid(tray.tray_uuid))


def is_bambu_tag(tray: Tray) -> bool:
    """A Bambu `tray_uuid`, or any valid tag on a slot with a preset (third-party tags too)."""
    return bool(norm_tray_uuid(tray.tray_uuid)) or (is_valid_tag(tray) and bool(tray.tray_info_idx))


def _active_by_id(sim: BambuddySimulator) -> list[Spool]:
    """Active spools in SQLite's rowid order (no ORDER BY: the lowest id wins)."""
    return [s for _, s in sorted(sim.db.spools.items()) if s.archived_at is None]


def _upper(spool: Spool, column: str) -> str:
    return str(spool.fields.get(column) or "").upper()


def _fuzzy_uid_match(candidate: str, uid: str) -> bool:
    if candidate == uid or candidate.endswith(uid) or uid.endswith(candidate):
        return True
    if len(candidate) == len(uid) and candidate[1:] == uid[1:]:
        return True
    return len(uid) == 8 and len(candidate) >= 8 and candidate[1:8] == uid[1:8]


def spool_by_tag(sim: BambuddySimulator, tray: Tray) -> Spool | None:
    """§2: `tray_uuid`, then `tag_uid` exact, then `tag_uid` fuzzy; archived never match."""
    uuid, uid = norm_tray_uuid(tray.tray_uuid), norm_tag_uid(tray.tag_uid)
    active = _active_by_id(sim)
    for column, wanted in (("tray_uuid", uuid), ("tag_uid", uid)):
        if wanted:
            found = next((s for s in active if _upper(s, column) == wanted), None)
            if found is not None:
                return found
    if len(uid) < 8:
        return None
    candidates = [
        s
        for s in active
        if _upper(s, "tag_uid").endswith(uid)
        or _upper(s, "tag_uid").endswith(uid[-8:])
        or (len(uid) == 8 and uid[1:] in _upper(s, "tag_uid"))
    ][:100]
    return next((s for s in candidates if _fuzzy_uid_match(_upper(s, "tag_uid"), uid)), None)


def parsed_material(tray: Tray) -> tuple[str, str | None]:
    """`create_spool_from_tray`'s (material, subtype) from `tray_sub_brands` and `tray_id_name`."""
    tray_type = tray.tray_type or "PLA"
    sub_brands = (tray.tray_sub_brands or "").strip()
    words = sub_brands.split()
    subtype: str | None = None
    if not words:
        material = tray_type
    elif words[0] == tray_type and len(words) > 1:
        material, subtype = tray_type, " ".join(words[1:])
    else:
        material = sub_brands
    name = tray.tray_id_name or ""
    if name.startswith("A05-M"):
        subtype = "Dual Color"
    elif "-M" in name:
        subtype = "Gradient"
    elif "-T" in name:
        subtype = "Tri Color"
    return material, subtype


def untagged_match(sim: BambuddySimulator, tray: Tray) -> Spool | None:
    """§1 `find_matching_untagged_spool`: same material/colour, Bambu or no brand, no tag."""
    if not tray.tray_type or not tray.tray_color:
        return None
    material, subtype = parsed_material(tray)
    candidates: list[tuple[bool, datetime, int, Spool]] = []
    for spool in _active_by_id(sim):
        fields = spool.fields
        brand = fields.get("brand")
        spool_subtype = fields.get("subtype")
        if fields.get("tag_uid") is not None or fields.get("tray_uuid") is not None:
            continue
        if spool.material.upper() != material.upper() or _upper(spool, "rgba") != (
            tray.tray_color.upper()
        ):
            continue
        if brand is not None and "bambu" not in str(brand).lower():
            continue
        if subtype is None:
            if spool_subtype is not None:
                continue
            exact = True
        elif spool_subtype is None:
            exact = False
        elif str(spool_subtype).lower() == subtype.lower():
            exact = True
        else:
            continue
        created = spool.created_at.replace(microsecond=0)
        candidates.append((not exact, created, spool.id, spool))
    return min(candidates, key=lambda c: c[:3])[3] if candidates else None


def link_tag(spool: Spool, tray: Tray) -> None:
    """§1 `link_tag_to_inventory_spool`: the raw tags onto the spool, nothing else of its data."""
    fields = spool.fields
    if norm_tag_uid(tray.tag_uid):
        fields["tag_uid"] = tray.tag_uid
    if norm_tray_uuid(tray.tray_uuid):
        fields["tray_uuid"] = tray.tray_uuid
    fields["data_origin"], fields["tag_type"] = "rfid_linked", "bambulab"
    if not fields.get("slicer_filament"):
        fields["slicer_filament"] = tray.tray_info_idx
    if not fields.get("slicer_filament_name"):
        fields["slicer_filament_name"] = PRESET_NAMES.get(tray.tray_info_idx or "")
    spool.updated_at = utc_now()


def spool_from_tray(sim: BambuddySimulator, tray: Tray) -> Spool:
    """§1 `create_spool_from_tray` (a new `rfid_auto` row)."""
    material, subtype = parsed_material(tray)
    rgba = tray.tray_color or "FFFFFFFF"
    label = DEFAULT_TRAY_WEIGHT
    remain = tray.remain if 0 <= tray.remain <= 100 else 100
    if rgba[6:8] == "00":
        color_name: str | None = "Clear"
    elif tray.tray_id_name and "-" not in tray.tray_id_name:
        color_name = tray.tray_id_name
    else:
        color_name = None
    return sim.add_spool(
        material=material,
        subtype=subtype,
        rgba=rgba,
        color_name=color_name,
        brand="Bambu Lab",
        label_weight=label,
        core_weight=BAMBU_CORE_WEIGHT,
        weight_used=round(label * (100 - remain) / 100, 1),
        slicer_filament=tray.tray_info_idx or None,
        slicer_filament_name=PRESET_NAMES.get(tray.tray_info_idx or "")
        or tray.tray_sub_brands
        or None,
        nozzle_temp_min=tray.nozzle_temp_min or None,
        nozzle_temp_max=tray.nozzle_temp_max or None,
        tag_uid=norm_tag_uid(tray.tag_uid) or None,
        tray_uuid=norm_tray_uuid(tray.tray_uuid) or None,
        data_origin="rfid_auto",
        tag_type="bambulab",
    )


# --- the trigger (bambu_mqtt.py) ---------------------------------------------------------


def ams_hash(printer: Printer) -> str:
    """What `_handle_ams_data` hashes, plus the external trays' identity."""
    parts = [
        f"{unit.id}:{tray.id}:{tray.tray_type or ''}:{tray.tag_uid or ''}:{tray.remain}"
        for unit in printer.ams
        for tray in unit.trays
    ]
    parts += [
        f"vt{tray.id}:{tray.tray_type}:{tray.tray_color}:{tray.tag_uid}:{tray.tray_uuid}:"
        f"{tray.tray_info_idx}"
        for tray in printer.vt_tray
    ]
    return hashlib.md5("|".join(parts).encode(), usedforsecurity=False).hexdigest()


def report(sim: BambuddySimulator, printer: Printer) -> None:
    """One status report from the printer: the automation runs only if the AMS changed."""
    digest = ams_hash(printer)
    if not printer.connected or digest == printer.ams_hash:
        sim.publish_status(printer)
        return
    printer.ams_hash = digest
    on_ams_change(sim, printer)


def on_ams_change(sim: BambuddySimulator, printer: Printer) -> None:
    print_active = printer.id in sim.usage_sessions  # taken before anything else (§0 step 1)
    sim.publish_status(printer)
    auto_unlink(sim, printer)
    if sim.db.spoolman_enabled:
        return
    for unit in printer.ams:
        for tray in unit.trays:
            _tray_pass(sim, printer, unit.id, tray, print_active=print_active)


def _tray_pass(
    sim: BambuddySimulator, printer: Printer, ams_id: int, tray: Tray, *, print_active: bool
) -> None:
    slot = (printer.id, ams_id, tray.id)
    if not tray.tray_type:
        sim.unknown_tag_seen.pop(slot, None)
        return
    assignment = sim.db.assignment_at(printer.id, ams_id, tray.id)
    if assignment is not None:
        if not print_active:
            remain_sync(sim, assignment, tray)
        return
    if is_bambu_tag(tray):
        spool = spool_by_tag(sim, tray)
        if spool is None:
            spool = untagged_match(sim, tray)
            if spool is not None:
                link_tag(spool, tray)
        if spool is None and sim.auto_add_unknown_rfid:
            spool = spool_from_tray(sim, tray)
        if spool is not None:
            sim.unknown_tag_seen.pop(slot, None)
            auto_assign(sim, printer, ams_id, tray, spool)
            return
    if is_valid_tag(tray):
        _unknown_tag(sim, printer, ams_id, tray)


def auto_assign(
    sim: BambuddySimulator, printer: Printer, ams_id: int, tray: Tray, spool: Spool
) -> Assignment:
    """`auto_assign_spool`: delete the slot's row, insert a new one (new id, new time)."""
    old = sim.db.assignment_at(printer.id, ams_id, tray.id)
    if old is not None:
        del sim.db.assignments[old.id]
    assignment = Assignment(
        id=sim.db.next_id("assignment"),
        spool_id=spool.id,
        printer_id=printer.id,
        ams_id=ams_id,
        tray_id=tray.id,
        fingerprint_color=tray.tray_color or "",
        fingerprint_type=tray.tray_type or "",
        created_at=utc_now(),
    )
    sim.db.assignments[assignment.id] = assignment
    sim.broadcast(
        {
            "type": "spool_auto_assigned",
            "printer_id": printer.id,
            "ams_id": ams_id,
            "tray_id": tray.id,
            "spool_id": spool.id,
        }
    )
    return assignment


def _unknown_tag(sim: BambuddySimulator, printer: Printer, ams_id: int, tray: Tray) -> None:
    slot = (printer.id, ams_id, tray.id)
    tags = (tray.tag_uid, tray.tray_uuid)
    if sim.unknown_tag_seen.get(slot) == tags:
        return
    sim.unknown_tag_seen[slot] = tags
    unit = printer.unit(ams_id)
    sim.broadcast(
        {
            "type": "unknown_tag",
            "printer_id": printer.id,
            "ams_id": ams_id,
            "tray_id": tray.id,
            "tag_uid": tray.tag_uid,
            "tray_uuid": tray.tray_uuid,
            "tray_type": tray.tray_type,
            "tray_color": tray.tray_color,
            "tray_sub_brands": tray.tray_sub_brands,
            "tray_count": len(unit.trays) if unit else 0,
        }
    )


def remain_sync(sim: BambuddySimulator, assignment: Assignment, tray: Tray) -> None:
    """§4: raise `weight_used` to the remain% figure; never lowers, skips locked spools."""
    spool = sim.db.spools.get(assignment.spool_id)
    if spool is None or spool.fields.get("weight_locked") or not 1 <= tray.remain <= 100:
        return
    new = round((spool.fields.get("label_weight") or 1000) * (100 - tray.remain) / 100, 1)
    if new > float(spool.fields["weight_used"]) + 1:
        spool.fields["weight_used"] = new
        spool.updated_at = utc_now()


# --- auto-unlink (§3) --------------------------------------------------------------------


def colors_similar(first: str | None, second: str | None) -> bool:
    """Identical, or both ≥ 6 hex chars within a Euclidean RGB distance of 50 (alpha ignored)."""
    if first == second:
        return True
    if not first or not second or len(first) < 6 or len(second) < 6:
        return False
    try:
        a = [int(first[i : i + 2], 16) for i in (0, 2, 4)]
        b = [int(second[i : i + 2], 16) for i in (0, 2, 4)]
    except ValueError:
        return False
    return math.dist(a, b) <= COLOUR_DISTANCE


def _live_tray(printer: Printer, assignment: Assignment) -> Tray | None:
    return printer.tray_at(assignment.ams_id, assignment.tray_id)


def _raw_type(tray: Tray) -> str:
    """The merged state's `tray_type`: a removed spool reads as `""`."""
    return (tray.tray_type or "") if tray.loaded else ""


def _raw_color(tray: Tray) -> str:
    return (tray.tray_color or "") if tray.loaded else ""


def keeps_assignment(
    sim: BambuddySimulator, printer: Printer, assignment: Assignment
) -> tuple[bool, str | None]:
    """Rows 1-8: (keep?, log line of an unlink)."""
    tray = _live_tray(printer, assignment)
    label = f"spool {assignment.spool_id} AMS{assignment.ams_id}-T{assignment.tray_id}"
    if tray is None:
        if assignment.ams_id == EXTERNAL_AMS_ID:
            return True, None  # row 1: external data may not have arrived yet
        return False, f"Auto-unlink: {label} — tray not found in AMS data (slot empty?)"
    spool = sim.db.spools.get(assignment.spool_id)
    fields: dict[str, Any] = spool.fields if spool is not None else {}
    uuid = norm_tray_uuid(tray.tray_uuid) if tray.loaded else ""
    if uuid:
        raw_uid = tray.tag_uid or ""
        same = str(fields.get("tray_uuid") or "").upper() == (tray.tray_uuid or "").upper() or (
            bool(fields.get("tag_uid"))
            and bool(norm_tag_uid(raw_uid))
            and str(fields["tag_uid"]).upper() == raw_uid.upper()
        )
        if same:  # row 3
            assignment.fingerprint_color = _raw_color(tray)
            assignment.fingerprint_type = _raw_type(tray)
            return True, None
        return False, (  # row 4
            f"Auto-unlink: {label} — different Bambu Lab spool detected (uuid={tray.tray_uuid})"
        )
    live_type, live_color = _raw_type(tray), _raw_color(tray)
    loaded = tray.state == LOADED_STATE or (tray.state not in EMPTY_STATES and bool(live_type))
    if not assignment.fingerprint_type and loaded:  # row 5: pre-assigned empty slot filled
        assignment.fingerprint_type, assignment.fingerprint_color = live_type, live_color
        if spool is not None:
            sim.configure_assigned_slot(printer, assignment.ams_id, assignment.tray_id, spool)
        return True, None
    mismatch = not colors_similar(live_color, assignment.fingerprint_color) or (
        live_type.upper() != assignment.fingerprint_type.upper()
    )
    if not mismatch:  # row 8
        return True, None
    tray_matches_spool = colors_similar(live_color, fields.get("rgba") or "FFFFFFFF") and (
        live_type.upper() == str(fields.get("material") or "").upper()
    )
    if tray_matches_spool:  # row 6
        assignment.fingerprint_type, assignment.fingerprint_color = live_type, live_color
        return True, None
    return False, (  # row 7
        f"Auto-unlink: {label} — fingerprint mismatch (cur={live_color}/{live_type} "
        f"fp={assignment.fingerprint_color}/{assignment.fingerprint_type} "
        f"spool={fields.get('rgba')}/{fields.get('material')})"
    )


def auto_unlink(sim: BambuddySimulator, printer: Printer) -> None:
    """Check every assignment of the printer; commit the removals, then one event each."""
    removed: list[Assignment] = []
    for assignment in sorted(sim.db.assignments.values(), key=lambda a: a.id):
        if assignment.printer_id != printer.id:
            continue
        keep, log = keeps_assignment(sim, printer, assignment)
        if not keep:
            del sim.db.assignments[assignment.id]
            removed.append(assignment)
            sim.automation_log.append(log or "")
    for assignment in removed:
        sim.broadcast(
            {
                "type": "spool_assignment_changed",
                "printer_id": printer.id,
                "ams_id": assignment.ams_id,
                "tray_id": assignment.tray_id,
            }
        )


# --- usage tracker (§5) ------------------------------------------------------------------


@dataclass
class PrintSession:
    """`usage_tracker._active_sessions[printer_id]`: lost when Bambuddy restarts."""

    started_at: datetime
    assignments: dict[tuple[int, int], int] = field(default_factory=dict)


def start_session(sim: BambuddySimulator, printer: Printer) -> None:
    sim.usage_sessions[printer.id] = PrintSession(
        started_at=utc_now(),
        assignments={
            (a.ams_id, a.tray_id): a.spool_id
            for a in sim.db.assignments.values()
            if a.printer_id == printer.id
        },
    )


def end_session(sim: BambuddySimulator, printer: Printer) -> PrintSession | None:
    return sim.usage_sessions.pop(printer.id, None)


def charged_spool(
    sim: BambuddySimulator, printer: Printer, slot: tuple[int, int], session: PrintSession | None
) -> int | None:
    """`_resolve_spool_id_for_tray`: the snapshot's spool unless a newer live assignment."""
    live = sim.db.assignment_at(printer.id, *slot)
    snapshot = session.assignments.get(slot) if session is not None else None
    if snapshot is None:
        return live.spool_id if live is not None else None
    if live is None or live.spool_id == snapshot:
        return snapshot
    assert session is not None
    # created_at is stored to the second: a change in the start's own second counts as older.
    if live.created_at.replace(microsecond=0) >= session.started_at:
        sim.automation_log.append(
            f"[UsageTracker] Assignment changed during print for printer {printer.id} "
            f"AMS{slot[0]}-T{slot[1]}: snapshot spool {snapshot} -> live spool {live.spool_id}"
        )
        return live.spool_id
    return snapshot


def missing_slot_label(global_tray: int) -> str:
    """`_slot_label_from_global_tray` of `spool_assignment_notifications.py`."""
    if global_tray == 254:
        return "Ext-L"
    if global_tray == 255:
        return "Ext-R"
    if global_tray >= 128:
        return f"HT-{chr(65 + global_tray - 128)}"
    if 24 <= global_tray <= 27:
        return f"Lite-{global_tray % 4 + 1}"
    return f"{chr(65 + global_tray // 4)}{global_tray % 4 + 1}"


def _slot_of_global_tray(global_tray: int) -> tuple[int, int]:
    if global_tray in (254, 255):
        return EXTERNAL_AMS_ID, global_tray - 254
    if global_tray >= 128:
        return global_tray, 0
    return global_tray // 4, global_tray % 4


def warn_missing_assignments(
    sim: BambuddySimulator, printer: Printer, ams_mapping: list[int]
) -> None:
    """§6 ``missing_spool_assignment`` (`notify_missing_spool_assignments_on_print_start`).

    Only the trays of the print's mapping count (a print with no mapping warns about nothing);
    one warning lists every unassigned one, by global tray id. Profile and colour come from the
    live tray as the printer reports it (`tray_color` is raw ``RRGGBBAA``), else ``"Unknown"``.
    """
    assigned = {
        global_tray_id(a.ams_id, a.tray_id)
        for a in sim.db.assignments.values()
        if a.printer_id == printer.id
    }
    missing = []
    for global_tray in sorted({tray for tray in ams_mapping if tray >= 0} - assigned):
        tray = printer.tray_at(*_slot_of_global_tray(global_tray))
        missing.append(
            {
                "slot": missing_slot_label(global_tray),
                "profile": (tray.tray_sub_brands or tray.tray_type or "Unknown")
                if tray
                else "Unknown",
                "color": (tray.tray_color or "Unknown") if tray else "Unknown",
            }
        )
    if missing:
        sim.broadcast(
            {
                "type": "missing_spool_assignment",
                "printer_id": printer.id,
                "printer_name": printer.name,
                "missing_slots": missing,
            }
        )
