"""Location-following rules (plan_pass is pure): loaded, unloaded, moved in FilaMan, no loops."""

from __future__ import annotations

import json

from custom_components.filaman_bambuddy.api.filaman import FilamanClient
from custom_components.filaman_bambuddy.inventory.locations import (
    FollowState,
    LocationFollower,
    Move,
    Placed,
    plan_pass,
    slot_identifier,
    slot_location_name,
)
from simulators.filaman import FilamanSimulator

A1, A2 = (0, 0), (0, 1)
SHELF, L_A1, L_A2 = 7, 101, 102
LOCATIONS = {A1: L_A1, A2: L_A2}


def test_names_and_identifiers_are_the_plugins() -> None:
    assert slot_identifier("3", (0, 1)) == "bambuddy_3_0_1"
    assert slot_location_name("P1S", (0, 1)) == "P1S - AMS A2"
    assert slot_location_name("P1S", (129, 0)) == "P1S - AMS HT-B"
    assert slot_location_name("P1S", (255, 0)) == "P1S - ext. Slot 1"


def test_a_loaded_spool_moves_in_and_goes_back_when_it_leaves() -> None:
    state = FollowState()
    plan = plan_pass(state, assigned={A1: 5}, locations=LOCATIONS, spools={5: SHELF})
    assert plan.moves == [Move(5, L_A1, A1, loaded=True)]
    assert state.placed == {5: Placed(A1, SHELF)}
    state.acted, state.seen = {A1: 5}, {5: L_A1}
    # Nothing changed: nothing to do, however often it runs.
    assert plan_pass(state, assigned={A1: 5}, locations=LOCATIONS, spools={5: L_A1}).moves == []
    # The slot is emptied: back to the shelf.
    plan = plan_pass(state, assigned={}, locations=LOCATIONS, spools={5: L_A1})
    assert plan.moves == [Move(5, SHELF, A1, loaded=False)]
    assert state.placed == {}


def test_a_spool_the_user_moved_elsewhere_meanwhile_stays_there() -> None:
    state = FollowState(placed={5: Placed(A1, SHELF)}, acted={A1: 5}, seen={5: L_A1})
    plan = plan_pass(state, assigned={}, locations=LOCATIONS, spools={5: 9})
    assert plan.moves == []
    assert state.placed == {}


def test_a_move_in_filaman_to_a_slot_location_assigns_it_once() -> None:
    state = FollowState(placed={5: Placed(A1, SHELF)}, acted={A1: 5}, seen={5: L_A1, 6: SHELF})
    plan = plan_pass(state, assigned={A1: 5}, locations=LOCATIONS, spools={5: L_A1, 6: L_A1})
    assert plan.assign == {6: A1}
    assert plan.moves == []
    assert state.placed[6] == Placed(A1, SHELF)
    state.seen = {5: L_A1, 6: L_A1}
    # Bambuddy now holds 6 in A1: 5 goes back to the shelf, 6 is already where it belongs.
    plan = plan_pass(state, assigned={A1: 6}, locations=LOCATIONS, spools={5: L_A1, 6: L_A1})
    assert plan.moves == [Move(5, SHELF, A1, loaded=False)]
    assert plan.assign == {}
    assert state.placed == {6: Placed(A1, SHELF)}


def test_our_own_moves_are_no_news_and_the_first_pass_assigns_nothing() -> None:
    state = FollowState()
    plan = plan_pass(state, assigned={}, locations=LOCATIONS, spools={5: L_A1})
    assert plan.assign == {}  # the first pass has nothing to compare with
    state.seen = {5: L_A1}
    assert plan_pass(state, assigned={}, locations=LOCATIONS, spools={5: L_A1}).assign == {}


def test_a_spool_moving_from_one_slot_to_another_keeps_where_it_came_from() -> None:
    state = FollowState(placed={5: Placed(A1, SHELF)}, acted={A1: 5}, seen={5: L_A1})
    plan = plan_pass(state, assigned={A2: 5}, locations=LOCATIONS, spools={5: L_A1})
    assert plan.moves == [Move(5, L_A2, A2, loaded=True)]
    assert state.placed == {5: Placed(A2, SHELF)}


def test_a_slot_without_location_waits_for_it() -> None:
    state = FollowState()
    plan = plan_pass(state, assigned={(1, 0): 5}, locations=LOCATIONS, spools={5: None})
    assert plan.missing == {(1, 0)}
    assert plan.moves == []


def test_state_round_trips() -> None:
    state = FollowState(placed={5: Placed(A1, None)}, acted={A1: 5}, seen={5: L_A1, 6: None})
    assert FollowState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert FollowState.from_dict(FollowState().to_dict()) == FollowState()


async def test_a_pass_that_changes_nothing_writes_nothing(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    """Every sync ends in a pass: on a Pi's SD card only a pass that changed something writes."""
    slot_location = filaman_sim.add_location("X1C - AMS A1", slot_identifier("b1", A1))
    filament = filaman_sim.add_filament(filaman_sim.add_manufacturer("Bambu Lab"), "PLA")
    spool = filaman_sim.add_spool(filament)
    saved: list[dict[str, object]] = []
    follower = LocationFollower(
        filaman,
        owner="b1",
        printer_name="X1C",
        state=FollowState(),
        save=lambda state: saved.append(state.to_dict()),
    )
    on_shelf = {spool: None}
    await follower.follow({}, on_shelf, [A1])
    assert len(saved) == 1  # the first pass: where FilaMan's spools are
    await follower.follow({}, dict(on_shelf), [A1])
    assert len(saved) == 1
    await follower.follow({A1: spool}, on_shelf, [A1])  # loaded: moved to the slot's location
    assert len(saved) == 2
    assert saved[-1]["placed"] == [{"spool": spool, "slot": [0, 0], "return_to": None}]
    await follower.follow({A1: spool}, {spool: slot_location}, [A1])
    assert len(saved) == 2  # what the last pass left, seen again
