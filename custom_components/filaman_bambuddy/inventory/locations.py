"""FilaMan knows where each spool is: a loaded spool sits at its slot's FilaMan location.

Every AMS slot of a printer has a FilaMan location, named and identified the way FilaMan's own
Bambuddy plugin names them, so users switching from it keep theirs: ``"{printer} - AMS A1"``,
``"{printer} - AMS HT-A"``, ``"{printer} - ext. Slot 1"``, identifier
``bambuddy_{FilaMan printer id}_{ams}_{tray}`` (a printer with no FilaMan twin uses
``b{Bambuddy printer id}`` in its place). One pass of :class:`LocationFollower` brings FilaMan and
Bambuddy into one picture, in three rules (:func:`plan_pass`, pure):

1. **Loaded.** A slot that got a FilaMan spool since the last pass (by the card, the select,
   Bambuddy's UI, RFID…) moves that spool to the slot's location, created when missing. Where it
   was before is remembered.
2. **Unloaded.** A spool this integration placed in a slot that no longer holds it goes back to
   where it was before, if it is still at the slot's location (a user who moved it elsewhere
   meanwhile has the last word).
3. **Moved in FilaMan.** A spool the user moved in FilaMan, since the last pass, to a slot's
   location is assigned to that slot in Bambuddy.

No loop: rule 1 acts only on a changed assignment and rule 3 only on a changed location, and a
pass records the assignments and locations it leaves behind (its own moves included), so its own
work is never news to the next pass. The record survives restarts (:class:`FollowState`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import logging
from typing import Any

from ..api.errors import ApiError, MissingPermissionError
from ..api.filaman import FilamanClient
from ..api.models_bambuddy import EXTERNAL_AMS_ID, FIRST_AMS_HT_ID

_LOGGER = logging.getLogger(__name__)

type Slot = tuple[int, int]
# The marker FilaMan's UI reads in custom_fields: "…_plugin" would hide the location from its
# spool forms, and a user must be able to move a spool into a slot there (rule 3).
MANAGED_BY = {"managed_by": "home_assistant"}


def slot_identifier(owner: str, slot: Slot) -> str:
    """``bambuddy_{owner}_{ams}_{tray}``: ``owner`` is the FilaMan printer id (or ``b{id}``)."""
    return f"bambuddy_{owner}_{slot[0]}_{slot[1]}"


def slot_location_name(printer_name: str, slot: Slot) -> str:
    """ "P1S - AMS A1", "P1S - AMS HT-A", "P1S - ext. Slot 1" (the plugin's names)."""
    ams_id, tray_id = slot
    if ams_id == EXTERNAL_AMS_ID:
        return f"{printer_name} - ext. Slot {tray_id + 1}"
    if ams_id >= FIRST_AMS_HT_ID:
        return f"{printer_name} - AMS HT-{chr(ord('A') + ams_id - FIRST_AMS_HT_ID)}"
    return f"{printer_name} - AMS {chr(ord('A') + ams_id)}{tray_id + 1}"


@dataclass(frozen=True, slots=True)
class Placed:
    """A spool this integration moved into a slot's location, and where it came from."""

    slot: Slot
    return_to: int | None


@dataclass(slots=True)
class FollowState:
    """What the last pass left behind (saved between passes and restarts)."""

    placed: dict[int, Placed] = field(default_factory=dict)
    acted: dict[Slot, int] = field(default_factory=dict)
    """Slot → the FilaMan spool it held at the last pass."""
    seen: dict[int, int | None] | None = None
    """FilaMan spool → its location at the last pass; ``None`` before the first pass."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "placed": [
                {"spool": spool, "slot": list(place.slot), "return_to": place.return_to}
                for spool, place in sorted(self.placed.items())
            ],
            "acted": [{"slot": list(slot), "spool": spool} for slot, spool in self.acted.items()],
            "seen": None if self.seen is None else {str(k): v for k, v in self.seen.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FollowState:
        seen = data.get("seen")
        return cls(
            placed={
                int(item["spool"]): Placed(
                    (int(item["slot"][0]), int(item["slot"][1])),
                    None if item.get("return_to") is None else int(item["return_to"]),
                )
                for item in data.get("placed") or ()
            },
            acted={
                (int(item["slot"][0]), int(item["slot"][1])): int(item["spool"])
                for item in data.get("acted") or ()
            },
            seen=None
            if seen is None
            else {int(k): None if v is None else int(v) for k, v in seen.items()},
        )


@dataclass(frozen=True, slots=True)
class Move:
    spool_id: int
    to: int | None
    slot: Slot
    loaded: bool
    """True: into the slot's location; False: back out of it."""


@dataclass(slots=True)
class PassPlan:
    moves: list[Move] = field(default_factory=list)
    assign: dict[int, Slot] = field(default_factory=dict)
    """FilaMan spool → the slot whose location the user moved it to (rule 3)."""
    missing: set[Slot] = field(default_factory=set)
    """Newly loaded slots without a location (it could not be created): tried next pass."""


def plan_pass(
    state: FollowState,
    *,
    assigned: Mapping[Slot, int],
    locations: Mapping[Slot, int],
    spools: Mapping[int, int | None],
) -> PassPlan:
    """The moves and assignments one pass makes (see the module docstring); changes ``state``.

    ``assigned``: slot → the FilaMan spool Bambuddy has assigned there; ``locations``: slot →
    its FilaMan location (the ones that exist); ``spools``: FilaMan spool → its location.
    """
    plan = PassPlan()
    slot_of_location = {location: slot for slot, location in locations.items()}
    # 2. Unloaded: our spools whose slot holds another (or none) now; one that went into
    # another slot is rule 1's (and keeps where it came from).
    holding = set(assigned.values())
    for spool_id, place in list(state.placed.items()):
        if assigned.get(place.slot) == spool_id or spool_id in holding:
            continue
        del state.placed[spool_id]
        location = locations.get(place.slot)
        if location is not None and spools.get(spool_id) == location:
            plan.moves.append(Move(spool_id, place.return_to, place.slot, loaded=False))
    # 3. Moved in FilaMan, to a slot's location, since the last pass.
    if state.seen is not None:
        for spool_id, location in spools.items():
            slot = slot_of_location.get(location) if location is not None else None
            if (
                slot is None
                or state.seen.get(spool_id, location) == location
                or assigned.get(slot) == spool_id
            ):
                continue
            plan.assign[spool_id] = slot
            state.placed[spool_id] = Placed(slot, state.seen.get(spool_id))
    # 1. Loaded: what each slot holds that it did not at the last pass.
    for slot, spool_id in assigned.items():
        if state.acted.get(slot) == spool_id or spool_id not in spools:
            continue
        location = locations.get(slot)
        if location is None:
            plan.missing.add(slot)
            continue
        here = spools[spool_id]
        earlier = state.placed.get(spool_id)
        if earlier is None or earlier.slot != slot:
            # From another slot of ours it goes back where it was before that one.
            before = earlier.return_to if earlier is not None else here
            state.placed[spool_id] = Placed(slot, before if before != location else None)
        if here != location:
            plan.moves.append(Move(spool_id, location, slot, loaded=True))
    return plan


class LocationFollower:
    """Passes of the rules above for one printer, against FilaMan (HA-free)."""

    def __init__(
        self,
        filaman: FilamanClient,
        *,
        owner: str,
        printer_name: str,
        state: FollowState,
        save: Callable[[FollowState], None],
    ) -> None:
        self._filaman = filaman
        self.owner = owner
        self._printer_name = printer_name
        self.state = state
        self._save = save
        self.missing_permission: str | None = None
        """The FilaMan permission the key lacks for following (locations stay as they are)."""

    async def follow(
        self, assigned: Mapping[Slot, int], spools: Mapping[int, int | None], slots: list[Slot]
    ) -> dict[int, Slot]:
        """One pass: moves done in FilaMan; returns the assignments to make in Bambuddy (rule 3).

        ``slots``: every slot of the printer (its locations are looked up by identifier).
        Raises ``ApiError`` when FilaMan cannot be read. A move or a new location FilaMan
        refuses is tried again at the next pass; a missing permission is not an error but
        ``missing_permission`` (what it blocks waits for a pass after it was granted).
        """
        wanted = {slot_identifier(self.owner, slot): slot for slot in slots}
        locations = {
            wanted[location.identifier]: location.id
            for location in await self._filaman.locations()
            if location.identifier in wanted
        }
        blocked = await self._create_missing(assigned, locations)
        before = (dict(self.state.placed), dict(self.state.acted), self.state.seen)
        spools = dict(spools)
        plan = plan_pass(self.state, assigned=assigned, locations=locations, spools=spools)
        retry = set(plan.missing)
        for move in plan.moves:
            if blocked is None:
                try:
                    await self._move(move)
                except MissingPermissionError as err:
                    blocked = err.permission
                except ApiError as err:
                    _LOGGER.debug("Could not move FilaMan spool %s: %s", move.spool_id, err)
                else:
                    spools[move.spool_id] = move.to
                    continue
            # Not moved: the next pass tries again.
            if move.loaded:
                retry.add(move.slot)
            else:
                self.state.placed[move.spool_id] = Placed(move.slot, move.to)
        self.missing_permission = blocked
        self.state.acted = {slot: spool for slot, spool in assigned.items() if slot not in retry}
        self.state.seen = spools
        if (self.state.placed, self.state.acted, self.state.seen) != before:
            # Every sync ends in a pass; a Pi's SD card need not be written when none moved.
            self._save(self.state)
        return plan.assign

    async def _create_missing(
        self, assigned: Mapping[Slot, int], locations: dict[Slot, int]
    ) -> str | None:
        """Create the locations newly loaded slots need; the permission that is missing, if."""
        for slot, spool_id in sorted(assigned.items()):
            if slot in locations or self.state.acted.get(slot) == spool_id:
                continue
            try:
                created = await self._filaman.create_location(
                    slot_location_name(self._printer_name, slot),
                    slot_identifier(self.owner, slot),
                    {**MANAGED_BY},
                )
            except MissingPermissionError as err:
                return err.permission
            locations[slot] = created.id
        return None

    async def _move(self, move: Move) -> None:
        label = slot_location_name(self._printer_name, move.slot).removeprefix(
            f"{self._printer_name} - "
        )
        verb = "loaded into" if move.loaded else "taken out of"
        note = f"Home Assistant: {verb} {self._printer_name} {label}"
        await self._filaman.move_spool(move.spool_id, move.to, note)
        _LOGGER.info("FilaMan spool %s %s %s %s", move.spool_id, verb, self._printer_name, label)
