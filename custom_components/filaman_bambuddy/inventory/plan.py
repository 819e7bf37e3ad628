"""Desired vs actual Bambuddy spools → the writes that reconcile them (pure).

Rules (seed §15/§16 bugs we must not repeat):

* The diff is against Bambuddy's **current** state and a PATCH carries only the
  fields that differ, compared tolerantly (floats to 0.005, blank = ``None``,
  colours and tags case-insensitively), so a second sync makes no writes.
* A linked Bambuddy spool (``note == "filaman:<id>"``) is deleted only when the
  FilaMan listing was complete (``listed_filaman_ids`` is not ``None``) and its
  FilaMan spool is not in it (archived or gone). Nothing decides a delete from a
  failed write: deletes are planned before any write happens.
* Spools without a ``filaman:`` note are never touched by a normal sync, with one
  exception: an unlinked spool that holds a FilaMan spool's RFID tag (Bambuddy
  created it from the tray, or wrote the tag onto it) *is* that spool's twin and
  is adopted: our note and the mapped fields are written into it instead of
  creating a second holder of the tag, which Bambuddy would never let keep the
  slot (:mod:`.rfid`). Conflicting tags are not guessed: the plan lists them
  (:attr:`SyncPlan.conflicts`) and writes those spools' twins without the tag.
* Several Bambuddy spools for one FilaMan spool (two links, or a link and an
  adopted tag holder) are reduced to one: the one assigned to a slot wins, then
  an active one, then the lowest id (the one Bambuddy's own tag lookup returns).
  The others are **archived**, never deleted, so no usage history is lost, and
  only when the assignments are known and the listing is complete. Archived
  surplus twins stay as they are.
* A twin that a user archived in Bambuddy while its FilaMan spool is still
  active is **restored** (un-archived) and patched rather than recreated: that
  keeps its Bambuddy id, slot assignments and usage history, and FilaMan stays
  the single source of truth for which spools exist.
* FilaMan reuses the smallest free id after a permanent delete (seed bug 17),
  so ``filaman:N`` can come to name a different spool. A twin created clearly
  before its FilaMan spool (``ID_REUSE_MARGIN`` allows for clock skew between
  the two servers) was made for the earlier spool: it is deleted like any
  orphan (complete listing only) and a fresh twin is created, so the new spool
  does not inherit the old one's slot assignments and usage history. Twins
  made by FilaMan's own plugin are judged the same way: they too are created
  after their spool.
* Mass-deletion guard: a listing can be complete and still wrong (the
  integration pointed at a fresh or different FilaMan). Twins whose FilaMan
  spool is missing are then **withheld**, not deleted, when

  - the listing has no active spool at all while linked twins exist, or
  - the run would delete more than half of the linked twins, and there are at
    least ``MASS_DELETE_MIN_LINKED`` of them (below that, one cleanup session
    in FilaMan can legitimately remove half).

  Replaced twins of reused ids count as deletions. The plan says why
  (:attr:`SyncPlan.guard`) and also holds back the creates that would replace a
  withheld twin (they would only duplicate its link); duplicates are still
  removed, as their kept twin stays. ``allow_mass_delete`` lifts the guard for a sync the
  user confirmed; Full resync never applies it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
import math
from typing import Any, Literal, Self

from ..api.models_bambuddy import BambuddySpool
from .mapping import DesiredSpool
from .rfid import RfidMatches, TagConflict, match_tags

FLOAT_TOLERANCE = 0.005
ID_REUSE_MARGIN = timedelta(seconds=120)
MASS_DELETE_MIN_LINKED = 20
MASS_DELETE_MAX_SHARE = 0.5
CASE_INSENSITIVE_FIELDS = frozenset({"rgba", "tag_uid", "tray_uuid"})
TAG_FIELDS = ("tag_uid", "tray_uuid")

DeleteReason = Literal["filaman_spool_gone", "filaman_id_reused", "full_resync"]


@dataclass(frozen=True, slots=True)
class SpoolCreate:
    filaman_id: int
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SpoolUpdate:
    """Bring an existing twin in line: restore it first if archived, then PATCH ``changes``.

    ``adopt``: the spool was not linked to this FilaMan spool yet (an RFID tag holder);
    ``changes`` then carries our note.
    """

    bambuddy_id: int
    filaman_id: int
    changes: Mapping[str, Any]
    restore: bool = False
    adopt: bool = False


@dataclass(frozen=True, slots=True)
class SpoolArchive:
    """A surplus twin: archived (keeps its assignments and usage history), never deleted."""

    bambuddy_id: int
    filaman_id: int


@dataclass(frozen=True, slots=True)
class SpoolDelete:
    bambuddy_id: int
    filaman_id: int | None
    reason: DeleteReason


@dataclass(frozen=True, slots=True)
class SyncPlan:
    creates: tuple[SpoolCreate, ...] = ()
    updates: tuple[SpoolUpdate, ...] = ()
    deletes: tuple[SpoolDelete, ...] = ()
    unchanged: int = 0
    kept_links: Mapping[int, int] = field(default_factory=dict)
    """FilaMan id → Bambuddy id of every twin this plan keeps (updated or unchanged)."""
    withheld_deletes: tuple[SpoolDelete, ...] = ()
    """Deletes the mass-deletion guard held back (see :attr:`guard`)."""
    guard: str | None = None
    """Why deletes were withheld, for the user; ``None`` when nothing was."""
    archives: tuple[SpoolArchive, ...] = ()
    conflicts: tuple[TagConflict, ...] = ()
    """RFID tags the plan did not act on (see :mod:`.rfid`)."""

    @property
    def write_count(self) -> int:
        return len(self.creates) + len(self.updates) + len(self.deletes) + len(self.archives)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def values_equal(key: str, wanted: Any, actual: Any) -> bool:
    """Whether Bambuddy's ``actual`` value already is what we would send."""
    if type(wanted) is type(actual) and wanted == actual:
        return True  # the common case, and every rule below agrees with it
    if _blank(wanted) or _blank(actual):
        return _blank(wanted) and _blank(actual)
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and wanted == actual
    if isinstance(wanted, int | float):
        if not isinstance(actual, int | float):
            return False
        return math.isclose(float(wanted), float(actual), rel_tol=0.0, abs_tol=FLOAT_TOLERANCE)
    wanted_text = str(wanted).strip()
    actual_text = str(actual).strip()
    if key in CASE_INSENSITIVE_FIELDS:
        return wanted_text.upper() == actual_text.upper()
    return wanted_text == actual_text


def changed_fields(desired: DesiredSpool, actual: BambuddySpool) -> dict[str, Any]:
    """The desired fields whose Bambuddy value differs."""
    changes = {
        key: value
        for key, value in desired.fields.items()
        if not values_equal(key, value, getattr(actual, key, None))
    }
    if "weight_used" in changes and "weight_locked" in desired.fields:
        # A PATCH with weight_used but without weight_locked auto-locks: always say it.
        changes["weight_locked"] = desired.fields["weight_locked"]
    return changes


def _keeper(twins: Sequence[BambuddySpool], assigned: Collection[int]) -> BambuddySpool:
    """Assigned to a slot first, then active, then the lowest id."""
    return min(twins, key=lambda spool: (spool.id not in assigned, spool.archived, spool.id))


def made_for_earlier_spool(twin: BambuddySpool, desired: DesiredSpool) -> bool:
    """Whether ``twin`` was created clearly before the FilaMan spool now holding its id.

    Both times are UTC (Bambuddy's naive values are read as UTC); an unknown time
    never counts as reuse.
    """
    if twin.created_at is None or desired.created_at is None:
        return False
    return twin.created_at < desired.created_at - ID_REUSE_MARGIN


@dataclass(frozen=True, slots=True)
class LinkedTwins:
    """Bambuddy spools by the FilaMan id in their note (unlinked spools left out).

    Nearly every id has exactly one twin, so the first twin of each id sits in one flat
    dict and only the rare further ones get a list. A list per id would be thousands of
    containers alive through the whole plan, and whichever a garbage collection meets
    then are promoted to its oldest generation: every sync would bring the collector's
    slow full pass (100+ ms on a Home Assistant heap) nearer.
    """

    first: dict[int, BambuddySpool]
    more: dict[int, list[BambuddySpool]]

    @classmethod
    def of(cls, actual: Iterable[BambuddySpool]) -> Self:
        first: dict[int, BambuddySpool] = {}
        more: dict[int, list[BambuddySpool]] = {}
        for spool in actual:
            filaman_id = spool.filaman_id
            if filaman_id is None:
                continue
            if filaman_id in first:
                more.setdefault(filaman_id, []).append(spool)
            else:
                first[filaman_id] = spool
        return cls(first, more)

    def twins(self, filaman_id: int) -> list[BambuddySpool]:
        """The twins of one FilaMan id, in listing order (a fresh list)."""
        first = self.first.get(filaman_id)
        if first is None:
            return []
        return [first, *self.more.get(filaman_id, ())]

    def count(self) -> int:
        """How many Bambuddy spools are linked at all."""
        return len(self.first) + sum(len(extra) for extra in self.more.values())


def has_duplicate_links(actual: Sequence[BambuddySpool]) -> bool:
    """Whether any FilaMan spool has more than one Bambuddy twin (then assignments matter)."""
    return bool(LinkedTwins.of(actual).more)


def tag_matches(desired: Sequence[DesiredSpool], actual: Sequence[BambuddySpool]) -> RfidMatches:
    """RFID adoptions and conflicts of this plan (:func:`.rfid.match_tags`)."""
    owners: dict[str, tuple[int, ...]] = {}
    materials: dict[int, str] = {}
    for item in desired:
        for key in TAG_FIELDS:
            if key in item.fields:
                tag = str(item.fields[key])
                if item.filaman_id not in owners.get(tag, ()):
                    owners[tag] = (*owners.get(tag, ()), item.filaman_id)
                materials[item.filaman_id] = str(item.fields.get("material") or "")
    return match_tags(owners, materials, actual) if owners else RfidMatches()


def needs_assignments(actual: Sequence[BambuddySpool], rfid: RfidMatches) -> bool:
    """Whether the plan may have to choose between several twins of one FilaMan spool."""
    return bool(rfid.adopt) or has_duplicate_links(actual)


def mass_deletion_reason(*, listed: int, linked: int, removing: int) -> str | None:
    """Why removing ``removing`` of ``linked`` twins looks like a wrong listing, or ``None``.

    ``listed``: active spools in the complete FilaMan listing; ``linked``: Bambuddy
    spools with a ``filaman:`` link; ``removing``: twins whose FilaMan spool is missing.
    """
    if removing <= 0:
        return None
    advice = (
        "Check that the integration points at the right FilaMan server. If those spools "
        "really were archived or deleted in FilaMan, confirm the deletion or run Full resync."
    )
    if listed == 0:
        return (
            f"FilaMan lists no active spools, but {linked} Bambuddy spools are linked to it: "
            f"deleted none of them. {advice}"
        )
    if linked >= MASS_DELETE_MIN_LINKED and removing > linked * MASS_DELETE_MAX_SHARE:
        return (
            f"This sync would delete {removing} of {linked} linked Bambuddy spools "
            f"(more than {MASS_DELETE_MAX_SHARE:.0%}): deleted none of them. {advice}"
        )
    return None


def plan_sync(
    desired: Sequence[DesiredSpool],
    actual: Sequence[BambuddySpool],
    *,
    listed_filaman_ids: Collection[int] | None,
    assigned_bambuddy_ids: Collection[int] | None = None,
    allow_mass_delete: bool = False,
    rfid: RfidMatches | None = None,
) -> SyncPlan:
    """Plan a normal sync.

    ``desired``: mapped FilaMan spools. ``actual``: every Bambuddy spool, archived
    ones included. ``listed_filaman_ids``: every id of a complete, successful
    FilaMan listing of non-archived spools, or ``None`` when that listing is not
    known to be complete (then nothing is deleted or archived). ``assigned_bambuddy_ids``:
    Bambuddy spools assigned to a slot, or ``None`` when unknown (then several twins
    of one FilaMan spool are kept and only the chosen one is updated; an RFID holder
    is adopted only where no linked twin exists). ``allow_mass_delete``: skip the
    mass-deletion guard (module docstring). ``rfid``: :func:`tag_matches` of these
    listings, when the caller has it already.
    """
    wanted = {item.filaman_id: item for item in desired}
    links = LinkedTwins.of(actual)
    if rfid is None:
        rfid = tag_matches(desired, actual)
    by_id = {spool.id: spool for spool in actual}
    can_delete = listed_filaman_ids is not None
    can_merge = can_delete and assigned_bambuddy_ids is not None
    listed = set(listed_filaman_ids or ())
    assigned = set(assigned_bambuddy_ids or ())
    creates: list[SpoolCreate] = []
    updates: list[SpoolUpdate] = []
    deletes: list[SpoolDelete] = []
    archives: list[SpoolArchive] = []
    kept: dict[int, int] = {}
    unchanged = 0

    # No container per spool lives through the loop (see LinkedTwins): with thousands
    # of spools, every one a collection meets here is promoted to the oldest generation.
    for filaman_id in sorted(links.first.keys() | rfid.adopt.keys()):
        twins = links.twins(filaman_id)
        if can_delete and filaman_id not in listed:
            deletes += [SpoolDelete(s.id, filaman_id, "filaman_spool_gone") for s in twins]
            continue
        item = wanted.get(filaman_id)
        if item is None:
            continue  # listed but not mappable, or listing unknown: leave it alone
        current = twins
        if any(made_for_earlier_spool(s, item) for s in twins):
            current = [s for s in twins if not made_for_earlier_spool(s, item)]
            if can_delete:
                deletes += [
                    SpoolDelete(s.id, filaman_id, "filaman_id_reused")
                    for s in twins
                    if made_for_earlier_spool(s, item)
                ]
        if not current or can_merge:
            # Bambuddy's own holder of the tag joins the twins; choosing between a linked
            # twin and it needs the assignments.
            current = current + [
                by_id[bambuddy_id] for bambuddy_id in rfid.adopt.get(filaman_id, ())
            ]
        if not current:
            continue  # only twins of the id's earlier spool: a fresh one is created below
        keeper = _keeper(current, assigned)
        kept[filaman_id] = keeper.id
        if can_merge:
            archives += [
                SpoolArchive(s.id, filaman_id)
                for s in current
                if s is not keeper and not s.archived
            ]
        changes = changed_fields(_without_tag(item, rfid), keeper)
        adopt = keeper.filaman_id != filaman_id
        if changes or keeper.archived:
            updates.append(
                SpoolUpdate(keeper.id, filaman_id, changes, restore=keeper.archived, adopt=adopt)
            )
        else:
            unchanged += 1

    for filaman_id in sorted(wanted.keys() - kept.keys()):
        item = _without_tag(wanted[filaman_id], rfid)
        creates.append(SpoolCreate(filaman_id, item.create_body()))

    withheld: list[SpoolDelete] = []
    guard = None
    if not allow_mass_delete:
        guard = mass_deletion_reason(
            listed=len(listed),
            linked=links.count(),
            removing=len(deletes),
        )
        if guard is not None:
            withheld, deletes = deletes, []
            replacing = {d.filaman_id for d in withheld if d.reason == "filaman_id_reused"}
            creates = [c for c in creates if c.filaman_id not in replacing]

    return SyncPlan(
        creates=tuple(creates),
        updates=tuple(updates),
        deletes=tuple(deletes),
        unchanged=unchanged,
        kept_links=kept,
        withheld_deletes=tuple(withheld),
        guard=guard,
        archives=tuple(archives),
        conflicts=rfid.conflicts,
    )


def _without_tag(item: DesiredSpool, rfid: RfidMatches) -> DesiredSpool:
    """The desired twin, minus its RFID tag when that tag is in conflict."""
    if item.filaman_id not in rfid.untagged:
        return item
    fields = {key: value for key, value in item.fields.items() if key not in TAG_FIELDS}
    return replace(item, fields=fields)


def plan_full_resync(desired: Sequence[DesiredSpool], actual: Sequence[BambuddySpool]) -> SyncPlan:
    """Delete every Bambuddy spool (unlinked ones too, as the seed does), create all anew.

    Assignments and Bambuddy usage history of the deleted spools are lost; only
    ever run this on an explicit user request.
    """
    return SyncPlan(
        creates=tuple(
            SpoolCreate(item.filaman_id, item.create_body())
            for item in sorted(desired, key=lambda item: item.filaman_id)
        ),
        deletes=tuple(
            SpoolDelete(spool.id, spool.filaman_id, "full_resync")
            for spool in sorted(actual, key=lambda spool: spool.id)
        ),
    )
