"""FilaMan spool → the Bambuddy spool fields we want (pure; seed §7 "correct" column).

Field policy:

* Always sent, never ``None`` (Bambuddy answers ``null`` with HTTP 500):
  ``material``, ``label_weight``, ``weight_used``, ``weight_locked``, ``note``;
  ``core_weight`` whenever a tare is known.
* Owned by FilaMan, ``None`` clears them in Bambuddy: ``subtype``, ``brand``,
  ``color_name``.
* Sent only when known, otherwise left as they are in Bambuddy: ``rgba`` (an
  invalid colour is omitted rather than sent: Bambuddy would reject it with 422),
  the RFID tag (``tag_uid``, or ``tray_uuid`` for a 32-digit Bambu tag, see
  :mod:`.rfid`; Bambuddy links RFID tags onto spools by itself, and clearing them
  on every sync would fight it), ``nozzle_temp_min/max`` and ``cost_per_kg``.
* Never sent: ``slicer_filament``/``slicer_filament_name`` (a preset chosen in
  Bambuddy wins), ``archived_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
import math
import re
from typing import Any

from ..api.models_bambuddy import link_note
from ..api.models_filaman import FilamanSpool
from .rfid import filaman_tag_fields

FALLBACK_MATERIAL = "PLA"
MATERIAL_MAX_LENGTH = 50  # Bambuddy validates 1-50 characters
DEFAULT_LABEL_WEIGHT = 1000  # Bambuddy's own default when nothing is known
NO_COLOUR_RGBA = "FFFFFFFF"
WEIGHT_DECIMALS = 2

PARAM_NOZZLE_TEMP_MIN = "bambu_nozzle_temp_min"
PARAM_NOZZLE_TEMP_MAX = "bambu_nozzle_temp_max"

_HEX = re.compile(r"[0-9A-Fa-f]+")


@dataclass(frozen=True, slots=True)
class DesiredSpool:
    """What the Bambuddy twin of one FilaMan spool should look like.

    ``fields`` holds exactly the Bambuddy fields to compare and send; a field that
    is absent is left alone in Bambuddy.
    """

    filaman_id: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    """Data problems worth a (deduplicated) log line, e.g. a missing material."""
    created_at: datetime | None = None
    """When FilaMan created the spool: tells a reused id's new spool from the old one."""

    def create_body(self) -> dict[str, Any]:
        """The POST body: ``None`` values are Bambuddy's defaults anyway, so leave them out."""
        return {key: value for key, value in self.fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class SpoolParams:
    """The printer params of one spool for the chosen FilaMan printer (strings, as stored)."""

    spool: Mapping[str, str] = field(default_factory=dict)
    filament: Mapping[str, str] = field(default_factory=dict)


def normalize_rgba(hex_code: str | None) -> str | None:
    """FilaMan ``#RRGGBB`` (or shorthand / 8-digit) → Bambuddy ``RRGGBBAA``; ``None`` if invalid."""
    if hex_code is None:
        return None
    text = hex_code.strip().removeprefix("#")
    if not _HEX.fullmatch(text):
        return None
    if len(text) in (3, 4):
        text = "".join(char * 2 for char in text)
    if len(text) == 6:
        text += "FF"
    return text.upper() if len(text) == 8 else None


def rgba_for(color_hexes: tuple[str, ...]) -> str | None:
    """First colour by position; no colour at all is white, an invalid one is ``None``."""
    if not color_hexes:
        return NO_COLOUR_RGBA
    return normalize_rgba(color_hexes[0])


def _positive(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value > 0 else None


def label_weight(spool: FilamanSpool) -> int:
    """Net filament grams when the spool was full, never below what is left."""
    gross = spool.initial_total_weight_g
    tare = spool.empty_spool_weight_g
    net = _positive(gross - tare) if gross is not None and tare is not None else None
    if net is None:
        net = _positive(spool.filament.raw_material_weight_g)
    remaining = _positive(spool.remaining_weight_g)
    if net is None:
        net = remaining if remaining is not None else float(DEFAULT_LABEL_WEIGHT)
    label = round(net)
    if remaining is not None and label < remaining:
        label = math.ceil(remaining)
    return label


def weight_used(label: int, remaining_weight_g: float | None) -> float:
    """Consumed grams as Bambuddy counts them; unknown remaining counts as full."""
    if remaining_weight_g is None or not math.isfinite(remaining_weight_g):
        return 0.0
    return round(max(0.0, label - remaining_weight_g), WEIGHT_DECIMALS)


def core_weight(spool: FilamanSpool) -> int | None:
    """The tare (empty spool) in grams: the spool's, else the filament's default."""
    for tare in (spool.empty_spool_weight_g, spool.filament.default_spool_weight_g):
        if tare is not None and math.isfinite(tare) and tare >= 0:
            return round(tare)
    return None


def parse_temperature(value: str | None) -> int | None:
    """A param value such as ``"220"`` or ``"220.0"``; anything unparsable is ``None``."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return round(number) if math.isfinite(number) and number > 0 else None


def nozzle_temperature(params: SpoolParams, key: str) -> int | None:
    """Spool-level param for the chosen printer, else the filament-level one."""
    for level in (params.spool, params.filament):
        temperature = parse_temperature(level.get(key))
        if temperature is not None:
            return temperature
    return None


def cost_per_kg(spool: FilamanSpool, label: int) -> float | None:
    """Spool purchase price per net kg, else filament price per its nominal net kg."""
    price = spool.purchase_price
    net_g: float | None = label
    if price is None:
        price = spool.filament.price
        net_g = _positive(spool.filament.raw_material_weight_g) or label
    if price is None or not math.isfinite(price) or price < 0 or not net_g or net_g <= 0:
        return None
    return round(price / (net_g / 1000), 2)


def material(spool: FilamanSpool) -> str | None:
    """``filament.material_type`` (Bambuddy allows 50 characters); ``None`` if absent."""
    value = (spool.filament.material_type or "").strip()
    return value[:MATERIAL_MAX_LENGTH] or None


def _text(value: str | None) -> str | None:
    """Empty and blank strings mean "not set"."""
    if value is None:
        return None
    return value.strip() or None


def desired_spool(spool: FilamanSpool, params: SpoolParams | None = None) -> DesiredSpool:
    """The Bambuddy fields for one (not archived) FilaMan spool."""
    problems: list[str] = []
    label = label_weight(spool)
    manufacturer = spool.filament.manufacturer
    material_type = material(spool)
    if material_type is None:
        # Bambuddy requires a material: null would be an HTTP 500.
        problems.append(f"no material type; sending {FALLBACK_MATERIAL}")
        material_type = FALLBACK_MATERIAL
    fields: dict[str, Any] = {
        "material": material_type,
        "subtype": _text(spool.filament.material_subgroup),
        "brand": _text(manufacturer.name) if manufacturer is not None else None,
        "color_name": _text(spool.filament.manufacturer_color_name),
        "label_weight": label,
        "weight_used": weight_used(label, spool.remaining_weight_g),
        "weight_locked": True,
        "note": link_note(spool.id),
    }
    optional: dict[str, Any] = {
        "rgba": rgba_for(spool.filament.color_hexes),
        "core_weight": core_weight(spool),
        "cost_per_kg": cost_per_kg(spool, label),
    }
    if params is not None:
        optional["nozzle_temp_min"] = nozzle_temperature(params, PARAM_NOZZLE_TEMP_MIN)
        optional["nozzle_temp_max"] = nozzle_temperature(params, PARAM_NOZZLE_TEMP_MAX)
    fields.update({key: value for key, value in optional.items() if value is not None})
    fields.update(filaman_tag_fields(spool.rfid_uid))
    if "rgba" not in fields:
        colour = spool.filament.color_hexes[0]
        problems.append(f"invalid colour {colour!r}; leaving Bambuddy's colour as it is")
    return DesiredSpool(
        filaman_id=spool.id,
        fields=fields,
        problems=tuple(problems),
        created_at=spool.created_at,
    )
