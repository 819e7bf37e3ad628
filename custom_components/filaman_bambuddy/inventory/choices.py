"""Which FilaMan spools fit an AMS slot, best first (pure).

Every place a user picks a spool for a slot uses this one ranking: the repair that catches an
unassigned tray, the dashboard card's picker, and the slot's select entity. Best first:

1. the spool whose RFID tag the tray carries (Bambuddy would keep no other there);
2. the tray's material;
3. spools not loaded in another slot, and spools with filament left;
4. the nearest colour.

An empty or unknown tray has no material or colour to match: the order then falls to the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import math

from ..api.models_filaman import FilamanSpool
from .mapping import rgba_for
from .rfid import filaman_tag_fields, tag_uid, tray_uuid


@dataclass(frozen=True, slots=True)
class SlotTray:
    """What the printer reports about the slot being filled."""

    material: str | None = None
    color: str | None = None
    """``#RRGGBB`` or ``RRGGBBAA``."""
    tag_uid: str | None = None
    tray_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class SpoolChoice:
    """One FilaMan spool offered for a slot."""

    spool_id: int
    name: str
    """Maker, filament and colour name, e.g. "Bambu Lab PLA Basic Jade White"."""
    material: str | None
    color: str | None
    """``#RRGGBB``."""
    remaining_g: float | None
    loaded_in: str | None
    """Where the spool is loaded already (another slot), e.g. "P1S A2"."""
    rfid_match: bool
    material_match: bool

    @property
    def option(self) -> str:
        """A stable one-line name (no grams: it must not change with every print)."""
        return spool_option(self.spool_id, self.name)

    @property
    def label(self) -> str:
        """The option with what a person picks by: grams left and where it is loaded."""
        parts = [self.option]
        if self.remaining_g is not None:
            parts.append(f"{self.remaining_g:.0f} g")
        if self.loaded_in:
            parts.append(f"in {self.loaded_in}")
        return " · ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.spool_id,
            "name": self.name,
            "material": self.material,
            "color": self.color,
            "remaining_g": self.remaining_g,
            "loaded_in": self.loaded_in,
            "rfid_match": self.rfid_match,
            "material_match": self.material_match,
        }


def spool_name(spool: FilamanSpool) -> str:
    """ "Bambu Lab PLA Basic Jade White" from maker, designation and colour name."""
    filament = spool.filament
    parts = [
        filament.manufacturer.name if filament.manufacturer else None,
        filament.designation or filament.material_type,
        filament.manufacturer_color_name,
    ]
    return " ".join(part for part in parts if part) or f"#{spool.id}"


def spool_option(spool_id: int, name: str) -> str:
    """ "#42 Bambu Lab PLA Basic Jade White": the id first, so an automation can find it."""
    prefix = f"#{spool_id}"
    return name if name == prefix else f"{prefix} {name}"


def _rgb(color: str | None) -> tuple[int, int, int] | None:
    text = (color or "").strip().removeprefix("#")
    if len(text) < 6:
        return None
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        return None


def colour_distance(first: str | None, second: str | None) -> float:
    """Euclidean RGB distance (0 to 442); unknown colours are as far as can be."""
    a, b = _rgb(first), _rgb(second)
    if a is None or b is None:
        return math.inf
    return math.dist(a, b)


def _tray_tags(tray: SlotTray) -> set[str]:
    return {tag for tag in (tag_uid(tray.tag_uid), tray_uuid(tray.tray_uuid)) if tag}


def _same_material(spool: FilamanSpool, material: str | None) -> bool:
    mine = (spool.filament.material_type or "").strip().upper()
    return bool(mine) and mine == (material or "").strip().upper()


def rank_spools(
    spools: Iterable[FilamanSpool],
    tray: SlotTray,
    *,
    loaded_in: Mapping[int, str] | None = None,
) -> list[SpoolChoice]:
    """Every spool as a :class:`SpoolChoice`, best fit for ``tray`` first (module docstring).

    ``loaded_in``: FilaMan spool id → the other slot it is loaded in.
    """
    tags = _tray_tags(tray)
    loaded = loaded_in or {}
    ranked: list[tuple[tuple[object, ...], SpoolChoice]] = []
    for spool in spools:
        colour = rgba_for(spool.filament.color_hexes)
        hex_colour = f"#{colour[:6]}" if colour else None
        rfid = bool(tags) and bool(tags & set(filaman_tag_fields(spool.rfid_uid).values()))
        material = _same_material(spool, tray.material)
        choice = SpoolChoice(
            spool_id=spool.id,
            name=spool_name(spool),
            material=spool.filament.material_type,
            color=hex_colour,
            remaining_g=spool.remaining_weight_g,
            loaded_in=loaded.get(spool.id),
            rfid_match=rfid,
            material_match=material,
        )
        empty = spool.remaining_weight_g is not None and spool.remaining_weight_g <= 0
        key = (
            not rfid,
            not material,
            choice.loaded_in is not None,
            empty,
            round(colour_distance(tray.color, hex_colour), 1),
            spool.id,
        )
        ranked.append((key, choice))
    ranked.sort(key=lambda pair: pair[0])
    return [choice for _key, choice in ranked]


def fitting_spools(
    spools: Iterable[FilamanSpool],
    tray: SlotTray,
    *,
    loaded_in: Mapping[int, str] | None = None,
    limit: int,
) -> list[SpoolChoice]:
    """The spools that fit the tray, best first, at most ``limit``: the RFID holder and the
    tray's material; any spool when the tray names no material (empty, or not reported)."""
    ranked = rank_spools(spools, tray, loaded_in=loaded_in)
    if tray.material:
        ranked = [choice for choice in ranked if choice.rfid_match or choice.material_match]
    return ranked[:limit]


def search(choices: Iterable[SpoolChoice], query: str) -> list[SpoolChoice]:
    """The choices every word of ``query`` appears in (id, name, material or colour), in order."""
    words = query.casefold().split()
    if not words:
        return list(choices)
    found: list[SpoolChoice] = []
    for choice in choices:
        text = f"#{choice.spool_id} {choice.name} {choice.material or ''} {choice.color or ''}"
        text = text.casefold()
        if all(word in text for word in words):
            found.append(choice)
    return found
