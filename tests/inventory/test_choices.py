"""Which FilaMan spools fit a slot, best first (choices.py is pure)."""

from __future__ import annotations

from custom_components.filaman_bambuddy.api.models_filaman import FilamanSpool
from custom_components.filaman_bambuddy.inventory.choices import (
    SlotTray,
    SpoolIndex,
    colour_distance,
    spool_name,
)

from .conftest import filaman_spool

GREEN_PLA = SlotTray(material="PLA", color="00AE42FF")


def pla(spool_id: int, colour: str, **fields: object) -> FilamanSpool:
    return filaman_spool(id=spool_id, colors=[colour], filament={"material_type": "PLA"}, **fields)


def test_rfid_then_material_then_free_and_full_spools_then_colour() -> None:
    tagged = filaman_spool(
        id=9, colors=["#FF0000"], filament={"material_type": "PETG"}, rfid_uid="04:F5:02:3A"
    )
    near = pla(2, "#00B040")
    exact_but_loaded = pla(3, "#00AE42")
    exact = pla(4, "#00AE42")
    empty_exact = pla(5, "#00AE42", remaining_weight_g=0.0)
    petg = filaman_spool(id=1, colors=["#00AE42"], filament={"material_type": "PETG"})
    tray = SlotTray(material="PLA", color="00AE42FF", tag_uid="04F5023A")
    ranked = SpoolIndex.of([petg, near, exact_but_loaded, exact, empty_exact, tagged]).rank(
        tray, loaded_in={3: "P1S A2"}
    )
    assert [choice.spool_id for choice in ranked] == [9, 4, 2, 5, 3, 1]
    assert ranked[0].rfid_match
    assert not ranked[0].material_match
    assert ranked[4].loaded_in == "P1S A2"
    assert ranked[4].label.endswith("· in P1S A2")
    assert ranked[3].remaining_g == 0.0


def test_fitting_spools_are_the_tray_material_capped_and_all_for_an_empty_tray() -> None:
    spools = [pla(index, "#00AE42") for index in range(1, 6)]
    petg = filaman_spool(id=6, colors=["#00AE42"], filament={"material_type": "PETG"})
    everything = [*spools, petg]
    assert [c.spool_id for c in SpoolIndex.of(everything).rank(GREEN_PLA, limit=3)] == [1, 2, 3]
    assert 6 not in [c.spool_id for c in SpoolIndex.of(everything).rank(GREEN_PLA, limit=10)]
    assert len(SpoolIndex.of(everything).rank(SlotTray(), limit=10)) == 6


def test_names_options_and_labels() -> None:
    spool = filaman_spool(id=42, remaining_weight_g=812.4)
    (choice,) = SpoolIndex.of([spool]).rank(SlotTray())
    assert choice.name == spool_name(spool)
    assert choice.option == f"#42 {choice.name}"
    assert choice.label == f"#42 {choice.name} · 812 g"
    assert choice.as_dict()["id"] == 42
    bare = filaman_spool(
        id=7,
        filament={
            "manufacturer": None,
            "designation": None,
            "material_type": None,
            "manufacturer_color_name": None,
        },
    )
    assert spool_name(bare) == "#7"
    assert SpoolIndex.of([bare]).rank(SlotTray())[0].option == "#7"


def test_colour_distance() -> None:
    assert colour_distance("#000000", "FFFFFFFF") > 440
    assert colour_distance("#00AE42", "00AE42FF") == 0
    assert colour_distance(None, "#000000") == float("inf")
    assert colour_distance("#GGGGGG", "#000000") == float("inf")
    assert colour_distance("#12", "#000000") == float("inf")


def test_the_index_ranks_as_a_fresh_one_after_every_kind_of_change() -> None:
    tray = SlotTray(material="PLA", color="00AE42FF", tag_uid="04F5023A")
    listing = {
        spool.id: spool for spool in (pla(1, "#00AE42"), pla(2, "#FF0000"), pla(3, "#00B040"))
    }
    index = SpoolIndex.of(listing.values())
    # A PETG spool carrying the tray's tag is the RFID holder: it fits although its material
    # is not the tray's, so the material group alone is not enough.
    listing[4] = filaman_spool(
        id=4, colors=["#FFFFFF"], filament={"material_type": "PETG"}, rfid_uid="04:F5:02:3A"
    )
    listing[2] = pla(2, "#00AE42", remaining_weight_g=0.0)
    del listing[3]
    index = index.updated(listing)
    for limit in (None, 2, 10):
        fresh = SpoolIndex.of(listing.values()).rank(tray, loaded_in={1: "P1S A2"}, limit=limit)
        assert index.rank(tray, loaded_in={1: "P1S A2"}, limit=limit) == fresh
    assert [c.spool_id for c in index.rank(tray, limit=10)] == [4, 1, 2]


def test_generation_moves_only_when_a_ranking_could() -> None:
    """Selects re-rank on a new generation: a weighing (a new spool object, same facts) must
    not cost thousands of spools a ranking, a rename, a new spool or one running empty must."""
    listing = {spool.id: spool for spool in (pla(1, "#00AE42"), pla(2, "#FF0000"))}
    index = SpoolIndex.of(listing.values())
    start = index.generation
    assert index.updated(dict(listing)) is index  # the same spools: nothing to redo
    listing[1] = pla(1, "#00AE42", remaining_weight_g=321.0)
    index = index.updated(listing)
    assert index.generation == start
    assert index.rank(SlotTray())[0].remaining_g == 321.0  # the grams shown are the new ones
    listing[1] = pla(1, "#00AE42", remaining_weight_g=0.0)
    index = index.updated(listing)
    assert index.generation == start + 1
    listing[2] = filaman_spool(
        id=2,
        colors=["#FF0000"],
        filament={"material_type": "PLA", "manufacturer_color_name": "Cherry"},
    )
    index = index.updated(listing)
    assert index.generation == start + 2
    listing[5] = pla(5, "#000000")
    index = index.updated(listing)
    assert index.generation == start + 3
    del listing[5]
    index = index.updated(listing)
    assert index.generation == start + 4
