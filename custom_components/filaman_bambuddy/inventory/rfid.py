"""Which Bambuddy spool already *is* a FilaMan spool's twin, by its RFID tag (pure).

Bambuddy creates spools by itself: when a printer reports a Bambu RFID tray that no spool
carries, it creates an unlinked ``rfid_auto`` spool and assigns it to the slot, and it removes
any other assignment from that slot (``shared/reference/bambuddy/AUTOMATION.md`` §1-§3). A
second spool with the same tag, linked by our note, would never keep the slot, so the usage
tracker would book every print to Bambuddy's spool and FilaMan would never see the grams.

So before the sync creates a twin it looks for an active Bambuddy spool that holds the FilaMan
spool's tag:

* **unlinked, same material**: it is *adopted*: the planner writes our note and the mapped
  fields into it instead of creating another spool (:attr:`RfidMatches.adopt`);
* **linked to another FilaMan spool**, **a different material**, or **one tag on several
  FilaMan spools**: not guessed. A :class:`TagConflict` names it (a repair issue in Home
  Assistant) and the FilaMan spool's twin is kept without the tag (:attr:`RfidMatches.untagged`),
  so the sync never creates a second active holder of a tag.

Tags are compared the way Bambuddy normalises them: hex digits only, upper case, ``tag_uid``
the last 16, ``tray_uuid`` the first 32, all zeros meaning no tag. A FilaMan ``rfid_uid`` of 32
or more hex digits is a Bambu ``tray_uuid``; a shorter one is an NFC ``tag_uid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import re
from typing import Literal

from ..api.models_bambuddy import BambuddySpool

TAG_UID_LENGTH = 16
TRAY_UUID_LENGTH = 32

ConflictKind = Literal["shared_tag", "material_mismatch", "held_by_other"]


_NOT_HEX = re.compile(r"[^0-9a-fA-F]+")


def _hex(value: str | None) -> str:
    return _NOT_HEX.sub("", value).upper() if value else ""


def _real(tag: str) -> str | None:
    return tag if tag and set(tag) != {"0"} else None


def tag_uid(value: str | None) -> str | None:
    """A ``tag_uid`` as Bambuddy compares it, ``None`` when there is no tag."""
    return _real(_hex(value)[-TAG_UID_LENGTH:])


def tray_uuid(value: str | None) -> str | None:
    """A ``tray_uuid`` as Bambuddy compares it, ``None`` when there is no tag."""
    return _real(_hex(value)[:TRAY_UUID_LENGTH])


def filaman_tag_fields(rfid_uid: str | None) -> dict[str, str]:
    """The Bambuddy tag field a FilaMan ``rfid_uid`` fills: ``tray_uuid`` or ``tag_uid``."""
    digits = _hex(rfid_uid)
    if len(digits) >= TRAY_UUID_LENGTH:
        uuid = tray_uuid(digits)
        return {"tray_uuid": uuid} if uuid else {}
    uid = tag_uid(digits)
    return {"tag_uid": uid} if uid else {}


def bambuddy_tags(spool: BambuddySpool) -> frozenset[str]:
    """Every tag a Bambuddy spool holds, normalised."""
    return frozenset(tag for tag in (tag_uid(spool.tag_uid), tray_uuid(spool.tray_uuid)) if tag)


@dataclass(frozen=True, slots=True)
class TagConflict:
    """An RFID tag the sync will not act on by itself; the user decides."""

    kind: ConflictKind
    tag: str
    filaman_ids: tuple[int, ...]
    bambuddy_ids: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        """Stable identity (for a repair issue id): kind and tag."""
        return f"{self.kind}_{self.tag.lower()}"


@dataclass(frozen=True, slots=True)
class RfidMatches:
    adopt: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    """FilaMan id → unlinked active Bambuddy spools that hold its tag (same material)."""
    untagged: frozenset[int] = frozenset()
    """FilaMan ids whose tag is in conflict: their twin is written without it."""
    conflicts: tuple[TagConflict, ...] = ()


def match_tags(
    owners: Mapping[str, tuple[int, ...]],
    materials: Mapping[int, str],
    actual: Sequence[BambuddySpool],
) -> RfidMatches:
    """Adoptions and conflicts between FilaMan's tags and Bambuddy's active tag holders.

    ``owners``: each normalised FilaMan tag → the FilaMan ids carrying it; ``materials``:
    their material types. Everything here is kept in flat dicts of ids: a list per tag,
    alive while thousands of spools are matched, is what a young garbage collection
    promotes to the oldest generation, bringing its slow full pass nearer on every sync.
    """
    holders: dict[str, tuple[int, ...]] = {}
    tagged: dict[int, BambuddySpool] = {}
    for spool in actual:
        if not spool.archived:
            for tag in bambuddy_tags(spool):
                holders[tag] = (*holders.get(tag, ()), spool.id)
                tagged[spool.id] = spool
    if not holders or not owners:
        return RfidMatches()

    conflicts: list[TagConflict] = []
    untagged: set[int] = set()
    adopt: dict[int, list[int]] = {}
    for tag in sorted(owners):
        found = [tagged[bambuddy_id] for bambuddy_id in sorted(holders.get(tag, ()))]
        if len(owners[tag]) > 1:
            ids = tuple(sorted(owners[tag]))
            conflicts.append(TagConflict("shared_tag", tag, ids, tuple(s.id for s in found)))
            untagged.update(ids)
            continue
        filaman_id = owners[tag][0]
        for spool in found:
            if spool.filaman_id == filaman_id:
                continue  # its own twin
            if spool.filaman_id is not None:
                conflicts.append(
                    TagConflict("held_by_other", tag, (filaman_id, spool.filaman_id), (spool.id,))
                )
                untagged.add(filaman_id)
            elif spool.material.strip().upper() != materials[filaman_id].strip().upper():
                conflicts.append(TagConflict("material_mismatch", tag, (filaman_id,), (spool.id,)))
                untagged.add(filaman_id)
            elif spool.id not in adopt.get(filaman_id, ()):
                adopt.setdefault(filaman_id, []).append(spool.id)
    return RfidMatches(
        adopt={
            filaman_id: tuple(ids)
            for filaman_id, ids in adopt.items()
            if filaman_id not in untagged
        },
        untagged=frozenset(untagged),
        conflicts=tuple(conflicts),
    )
