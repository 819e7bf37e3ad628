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
import heapq
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


def _distance(a: tuple[int, int, int] | None, b: tuple[int, int, int] | None) -> float:
    return math.inf if a is None or b is None else math.dist(a, b)


def colour_distance(first: str | None, second: str | None) -> float:
    """Euclidean RGB distance (0 to 442); unknown colours are as far as can be."""
    return _distance(_rgb(first), _rgb(second))


def _tray_tags(tray: SlotTray) -> set[str]:
    return {tag for tag in (tag_uid(tray.tag_uid), tray_uuid(tray.tray_uuid)) if tag}


def _material_key(material: str | None) -> str:
    return (material or "").strip().upper()


@dataclass(frozen=True, slots=True)
class _SpoolFacts:
    """What the ranking reads of one version of a spool, worked out once."""

    spool: FilamanSpool
    name: str
    material: str
    """Upper-cased, ``""`` when FilaMan names none."""
    color: str | None
    """``#RRGGBB``."""
    rgb: tuple[int, int, int] | None
    tag: str | None
    empty: bool

    @classmethod
    def of(cls, spool: FilamanSpool) -> _SpoolFacts:
        colour = rgba_for(spool.filament.color_hexes)
        hex_colour = f"#{colour[:6]}" if colour else None
        remaining = spool.remaining_weight_g
        return cls(
            spool=spool,
            name=spool_name(spool),
            material=_material_key(spool.filament.material_type),
            color=hex_colour,
            rgb=_rgb(hex_colour),
            tag=next(iter(filaman_tag_fields(spool.rfid_uid).values()), None),
            empty=remaining is not None and remaining <= 0,
        )

    def ranks_like(self, other: _SpoolFacts) -> bool:
        """Whether every fact a ranking or an option reads is the same (grams left aside)."""
        return (self.name, self.material, self.color, self.tag, self.empty) == (
            other.name,
            other.material,
            other.color,
            other.tag,
            other.empty,
        )


class SpoolIndex:
    """FilaMan's listing prepared for ranking; never changed once built.

    Every slot's select ranks after FilaMan's listing changed, so at thousands of spools the
    ranking must not work out every spool's name and colour each time: :meth:`updated` works
    them out only for spools it has not seen as that object (the clients hand unchanged spools
    back as the same objects), and spools are grouped by material and tag so a slot with a
    known material looks only at the spools that can fit it.
    """

    def __init__(
        self,
        facts: dict[int, _SpoolFacts] | None = None,
        generation: int = 0,
        groups: tuple[dict[str, list[int]], dict[str, int]] | None = None,
    ) -> None:
        self._facts = facts or {}
        self.generation = generation
        """Changes when any ranking or option could: a spool added, removed or renamed, a tag,
        a colour, a material, or a spool running empty. Weighings alone leave it."""
        if groups is None:
            groups = {}, {}
            for spool_id, fact in self._facts.items():
                groups[0].setdefault(fact.material, []).append(spool_id)
                if fact.tag:
                    groups[1][fact.tag] = spool_id
        self._groups = groups

    @classmethod
    def of(cls, spools: Iterable[FilamanSpool]) -> SpoolIndex:
        return cls().updated({spool.id: spool for spool in spools})

    def updated(self, spools: Mapping[int, FilamanSpool]) -> SpoolIndex:
        """The index of the listing as it is now (``self`` when nothing changed). Pure, so
        it may run on a worker thread while the loop ranks with ``self``."""
        changed = len(spools) != len(self._facts)
        new_objects = changed
        facts: dict[int, _SpoolFacts] = {}
        for spool_id, spool in spools.items():
            known = self._facts.get(spool_id)
            if known is not None and known.spool is spool:
                facts[spool_id] = known
                continue
            fresh = _SpoolFacts.of(spool)
            new_objects = True
            changed = changed or known is None or not known.ranks_like(fresh)
            facts[spool_id] = fresh
        if not new_objects:
            return self
        if not changed:
            return SpoolIndex(facts, self.generation, self._groups)
        return SpoolIndex(facts, self.generation + 1)

    def rank(
        self,
        tray: SlotTray,
        *,
        loaded_in: Mapping[int, str] | None = None,
        limit: int | None = None,
    ) -> list[SpoolChoice]:
        """Every spool, best fit for ``tray`` first (module docstring); with ``limit``, only
        those that fit (the RFID holder and the tray's material; any spool when the tray names
        no material), at most that many.

        ``loaded_in``: FilaMan spool id → the other slot it is loaded in.
        """
        tags = _tray_tags(tray)
        material = _material_key(tray.material)
        loaded = loaded_in or {}
        candidates: Iterable[_SpoolFacts] = self._facts.values()
        if limit is not None and material:
            by_material, by_tag = self._groups
            holders = [by_tag[tag] for tag in tags if tag in by_tag]
            fitting = dict.fromkeys((*holders, *by_material.get(material, ())))
            candidates = [self._facts[spool_id] for spool_id in fitting]
        rgb = _rgb(tray.color)
        keyed = []
        for fact in candidates:
            spool_id = fact.spool.id
            key = (
                fact.tag not in tags,
                not material or fact.material != material,
                spool_id in loaded,
                fact.empty,
                round(_distance(rgb, fact.rgb), 1),
                spool_id,
            )
            keyed.append((key, fact))
        best = sorted(keyed) if limit is None else heapq.nsmallest(limit, keyed)
        return [_choice(fact, loaded.get(fact.spool.id), tags, material) for _key, fact in best]


def _choice(fact: _SpoolFacts, loaded_in: str | None, tags: set[str], material: str) -> SpoolChoice:
    return SpoolChoice(
        spool_id=fact.spool.id,
        name=fact.name,
        material=fact.spool.filament.material_type,
        color=fact.color,
        remaining_g=fact.spool.remaining_weight_g,
        loaded_in=loaded_in,
        rfid_match=fact.tag in tags,
        material_match=bool(material) and fact.material == material,
    )


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
