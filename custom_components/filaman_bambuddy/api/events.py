"""Typed Bambuddy WebSocket events (API.md §9.3).

:func:`parse_ws_event` never raises for a JSON object. A frame of a known type
whose payload is malformed (e.g. ``printer_status`` without a ``printer_id``) is
logged once at debug level and returned as :class:`UnknownEvent`, so a single
odd frame can never end a live session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import logging
from typing import Any

from ._coerce import (
    JsonObject,
    as_object,
    bool_or,
    objects,
    opt_float,
    opt_int,
    opt_str,
    required_int,
    to_float,
    to_int,
)
from .errors import ProtocolError
from .models_bambuddy import PrinterStatus

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WsEvent:
    """Any WebSocket event: its ``type``, the printer it concerns and the frame."""

    type: str
    printer_id: int | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UnknownEvent(WsEvent):
    """A type this client does not model, or a known type with a malformed payload."""


@dataclass(frozen=True, slots=True)
class PongEvent(WsEvent):
    """Answer to our ``{"type": "ping"}``."""


@dataclass(frozen=True, slots=True)
class PrinterStatusEvent(WsEvent):
    """A full status snapshot: replace the printer's state, never merge."""

    status: PrinterStatus


@dataclass(frozen=True, slots=True)
class PrintStartEvent(WsEvent):
    """A print started; ``remaining_time_s`` is in seconds (unlike the status)."""

    filename: str | None
    subtask_name: str | None
    remaining_time_s: int | None
    ams_mapping: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class MissingSlot:
    """A tray a starting print uses that has no spool assigned."""

    slot: str | None
    profile: str | None
    color: str | None


@dataclass(frozen=True, slots=True)
class MissingSpoolAssignmentEvent(WsEvent):
    printer_name: str | None
    missing_slots: tuple[MissingSlot, ...]


@dataclass(frozen=True, slots=True)
class PrintCompleteEvent(WsEvent):
    """A print ended (``completed``/``failed``/``aborted``).

    Current servers send no grams here. Legacy servers put ``weight_used`` into
    ``data`` as a float or as ``{"<ams>-<tray>": grams}``: that is ``legacy_weights``.
    """

    status: str | None
    filename: str | None
    subtask_name: str | None
    legacy_weights: float | dict[str, float] | None


@dataclass(frozen=True, slots=True)
class UsageItem:
    """Grams one tray consumed in a print (already applied to the Bambuddy spool)."""

    spool_id: int
    weight_used: float
    percent_used: int | None
    ams_id: int | None
    tray_id: int | None
    material: str | None
    cost: float | None
    slot_id: int | None
    color: str | None


@dataclass(frozen=True, slots=True)
class SpoolUsageLoggedEvent(WsEvent):
    """Wake-up after a print's usage rows were written; carries no row ids."""

    usage: tuple[UsageItem, ...]


@dataclass(frozen=True, slots=True)
class InventoryChangedEvent(WsEvent):
    """Someone wrote to Bambuddy's inventory over REST (no ids)."""


@dataclass(frozen=True, slots=True)
class SpoolAssignmentChangedEvent(WsEvent):
    ams_id: int
    tray_id: int


@dataclass(frozen=True, slots=True)
class SpoolAutoAssignedEvent(WsEvent):
    ams_id: int
    tray_id: int
    spool_id: int


@dataclass(frozen=True, slots=True)
class SpoolAssignmentVerifiedEvent(WsEvent):
    """Read-back after a slot configure; ``verified`` false on timeout."""

    ams_id: int
    tray_id: int
    slot: str | None
    verified: bool
    kprofile_applied: bool
    saw_tray: bool
    printer_name: str | None = None


@dataclass(frozen=True, slots=True)
class UnknownTagEvent(WsEvent):
    """An RFID tag Bambuddy did not match nor store."""

    ams_id: int | None
    tray_id: int | None
    tag_uid: str | None
    tray_uuid: str | None
    tray_type: str | None
    tray_color: str | None
    tray_sub_brands: str | None


@dataclass(frozen=True, slots=True)
class ArchiveEvent(WsEvent):
    """``archive_created`` / ``archive_updated``."""

    archive_id: int | None
    filename: str | None
    print_name: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class PlateNotEmptyEvent(WsEvent):
    printer_name: str | None
    message: str | None


def _data(frame: JsonObject) -> JsonObject:
    return as_object(frame.get("data"), "event data")


def _printer_status(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    if printer_id is None:
        raise ProtocolError("printer_status without printer_id")
    status = PrinterStatus.from_json(_data(frame), printer_id=printer_id)
    return PrinterStatusEvent(kind, printer_id, frame, status)


def _print_start(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    data = _data(frame)
    mapping = data.get("ams_mapping")
    ams_mapping = (
        tuple(tray for tray in (to_int(item) for item in mapping) if tray is not None)
        if isinstance(mapping, list)
        else None
    )
    return PrintStartEvent(
        kind,
        printer_id,
        frame,
        filename=opt_str(data, "filename"),
        subtask_name=opt_str(data, "subtask_name"),
        remaining_time_s=opt_int(data, "remaining_time"),
        ams_mapping=ams_mapping,
    )


def _missing_assignment(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    slots = tuple(
        MissingSlot(opt_str(item, "slot"), opt_str(item, "profile"), opt_str(item, "color"))
        for item in objects(frame.get("missing_slots"))
    )
    return MissingSpoolAssignmentEvent(
        kind, printer_id, frame, opt_str(frame, "printer_name"), slots
    )


def _legacy_weights(value: Any) -> float | dict[str, float] | None:
    if isinstance(value, Mapping):
        weights = {str(key): to_float(grams) for key, grams in value.items()}
        return {key: grams for key, grams in weights.items() if grams is not None}
    return to_float(value)


def _print_complete(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    data = _data(frame)
    return PrintCompleteEvent(
        kind,
        printer_id,
        frame,
        status=opt_str(data, "status"),
        filename=opt_str(data, "filename"),
        subtask_name=opt_str(data, "subtask_name"),
        legacy_weights=_legacy_weights(data.get("weight_used")),
    )


def _usage_item(item: JsonObject) -> UsageItem | None:
    spool_id = to_int(item.get("spool_id"))
    weight = to_float(item.get("weight_used"))
    if spool_id is None or weight is None:
        _LOGGER.debug("Skipping a spool_usage_logged item without spool_id or weight_used")
        return None
    return UsageItem(
        spool_id=spool_id,
        weight_used=weight,
        percent_used=opt_int(item, "percent_used"),
        ams_id=opt_int(item, "ams_id"),
        tray_id=opt_int(item, "tray_id"),
        material=opt_str(item, "material"),
        cost=opt_float(item, "cost"),
        slot_id=opt_int(item, "slot_id"),
        color=opt_str(item, "color"),
    )


def _usage_logged(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    items = (_usage_item(item) for item in objects(frame.get("usage")))
    usage = tuple(item for item in items if item is not None)
    return SpoolUsageLoggedEvent(kind, printer_id, frame, usage)


def _assignment_changed(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    return SpoolAssignmentChangedEvent(
        kind,
        printer_id,
        frame,
        ams_id=required_int(frame, "ams_id", kind),
        tray_id=required_int(frame, "tray_id", kind),
    )


def _auto_assigned(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    return SpoolAutoAssignedEvent(
        kind,
        printer_id,
        frame,
        ams_id=required_int(frame, "ams_id", kind),
        tray_id=required_int(frame, "tray_id", kind),
        spool_id=required_int(frame, "spool_id", kind),
    )


def _assignment_verified(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    return SpoolAssignmentVerifiedEvent(
        kind,
        printer_id,
        frame,
        ams_id=required_int(frame, "ams_id", kind),
        tray_id=required_int(frame, "tray_id", kind),
        slot=opt_str(frame, "slot"),
        verified=bool_or(frame, "verified", False),
        kprofile_applied=bool_or(frame, "kprofile_applied", False),
        saw_tray=bool_or(frame, "saw_tray", False),
        printer_name=opt_str(frame, "printer_name"),
    )


def _unknown_tag(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    return UnknownTagEvent(
        kind,
        printer_id,
        frame,
        ams_id=opt_int(frame, "ams_id"),
        tray_id=opt_int(frame, "tray_id"),
        tag_uid=opt_str(frame, "tag_uid"),
        tray_uuid=opt_str(frame, "tray_uuid"),
        tray_type=opt_str(frame, "tray_type"),
        tray_color=opt_str(frame, "tray_color"),
        tray_sub_brands=opt_str(frame, "tray_sub_brands"),
    )


def _archive(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    data = _data(frame)
    return ArchiveEvent(
        kind,
        printer_id if printer_id is not None else opt_int(data, "printer_id"),
        frame,
        archive_id=opt_int(data, "id"),
        filename=opt_str(data, "filename"),
        print_name=opt_str(data, "print_name"),
        status=opt_str(data, "status"),
    )


def _plate_not_empty(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
    return PlateNotEmptyEvent(
        kind, printer_id, frame, opt_str(frame, "printer_name"), opt_str(frame, "message")
    )


def _simple(
    event_class: type[PongEvent | InventoryChangedEvent],
) -> Callable[[str, int | None, JsonObject], WsEvent]:
    def build(kind: str, printer_id: int | None, frame: JsonObject) -> WsEvent:
        return event_class(kind, printer_id, frame)

    return build


_PARSERS: dict[str, Callable[[str, int | None, JsonObject], WsEvent]] = {
    "printer_status": _printer_status,
    "print_start": _print_start,
    "missing_spool_assignment": _missing_assignment,
    "print_complete": _print_complete,
    "spool_usage_logged": _usage_logged,
    "inventory_changed": _simple(InventoryChangedEvent),
    "spool_assignment_changed": _assignment_changed,
    "spool_auto_assigned": _auto_assigned,
    "spool_assignment_verified": _assignment_verified,
    "unknown_tag": _unknown_tag,
    "archive_created": _archive,
    "archive_updated": _archive,
    "plate_not_empty": _plate_not_empty,
    "pong": _simple(PongEvent),
}


def parse_ws_event(frame: Mapping[str, Any]) -> WsEvent:
    """Turn one decoded WebSocket frame into a typed event; never raises."""
    kind = frame.get("type")
    kind = kind if isinstance(kind, str) else ""
    printer_id = to_int(frame.get("printer_id"))
    parser = _PARSERS.get(kind)
    if parser is None:
        return UnknownEvent(kind, printer_id, frame)
    try:
        return parser(kind, printer_id, frame)
    except ProtocolError as err:
        _LOGGER.debug("Ignoring a malformed %r event: %s", kind, err)
        return UnknownEvent(kind, printer_id, frame)
