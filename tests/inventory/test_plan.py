"""Desired vs actual Bambuddy spools → writes (plan.py is pure: no I/O here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from custom_components.filaman_bambuddy.api.models_bambuddy import BambuddySpool
from custom_components.filaman_bambuddy.inventory.mapping import DesiredSpool, desired_spool
from custom_components.filaman_bambuddy.inventory.plan import (
    ID_REUSE_MARGIN,
    MASS_DELETE_MIN_LINKED,
    LinkedTwins,
    SpoolArchive,
    SpoolCreate,
    SpoolDelete,
    SpoolUpdate,
    SyncPlan,
    changed_fields,
    has_duplicate_links,
    made_for_earlier_spool,
    mass_deletion_reason,
    plan_full_resync,
    plan_sync,
    values_equal,
)

from .conftest import filaman_spool

ARCHIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def want(filaman_id: int, **overrides: Any) -> DesiredSpool:
    return desired_spool(filaman_spool(id=filaman_id, **overrides))


def twin(bambuddy_id: int, desired: DesiredSpool, **fields: Any) -> BambuddySpool:
    """A Bambuddy spool holding exactly the desired values (then ``fields`` applied)."""
    values = {key: value for key, value in desired.fields.items() if value is not None}
    return BambuddySpool(id=bambuddy_id, **(values | fields))


def unlinked(bambuddy_id: int, note: str | None = None) -> BambuddySpool:
    return BambuddySpool(id=bambuddy_id, material="PETG", note=note)


def plan(
    desired: list[DesiredSpool],
    actual: list[BambuddySpool],
    *,
    listed: set[int] | None = None,
    assigned: set[int] | None = None,
    listing_known: bool = True,
) -> SyncPlan:
    listed_ids = listed if listed is not None else {item.filaman_id for item in desired}
    return plan_sync(
        desired,
        actual,
        listed_filaman_ids=listed_ids if listing_known else None,
        assigned_bambuddy_ids=assigned if assigned is not None else set(),
    )


def apply(plan_: SyncPlan, actual: list[BambuddySpool]) -> list[BambuddySpool]:
    """What Bambuddy holds after the plan's writes all succeeded."""
    by_id = {spool.id: spool for spool in actual}
    for delete in plan_.deletes:
        by_id.pop(delete.bambuddy_id)
    for update in plan_.updates:
        spool = by_id[update.bambuddy_id]
        archived_at = None if update.restore else spool.archived_at
        by_id[spool.id] = replace(spool, archived_at=archived_at, **update.changes)
    for archive in plan_.archives:
        by_id[archive.bambuddy_id] = replace(by_id[archive.bambuddy_id], archived_at=ARCHIVED_AT)
    next_id = max(by_id, default=0) + 1
    for offset, create in enumerate(plan_.creates):
        by_id[next_id + offset] = BambuddySpool(id=next_id + offset, **create.fields)
    return list(by_id.values())


def test_missing_twin_is_created_without_nulls() -> None:
    desired = want(7, filament={"material_subgroup": None})
    result = plan([desired], [])
    assert result.creates == (SpoolCreate(7, desired.create_body()),)
    assert None not in result.creates[0].fields.values()
    assert (result.updates, result.deletes, result.unchanged) == ((), (), 0)


def test_identical_twin_is_unchanged() -> None:
    desired = want(1)
    result = plan([desired], [twin(10, desired)])
    assert result.write_count == 0
    assert result.unchanged == 1
    assert result.kept_links == {1: 10}


def test_tolerant_comparison_makes_no_writes() -> None:
    desired = want(1, remaining_weight_g=800.0)
    actual = twin(
        10,
        desired,
        weight_used=200.004,
        rgba="00ae42ff",
        tag_uid="04f5023a112233",
        subtype="Basic ",
        cost_per_kg=19.990000001,
    )
    assert plan([desired], [actual]).write_count == 0


def test_blank_and_none_are_equal_but_values_are_not() -> None:
    assert values_equal("subtype", None, "")
    assert values_equal("subtype", "", None)
    assert not values_equal("subtype", None, "Basic")
    assert not values_equal("brand", "Bambu Lab", "bambu lab")
    assert values_equal("rgba", "00AE42FF", "00ae42ff")
    assert not values_equal("weight_locked", True, 1)
    assert not values_equal("weight_used", 1.0, "1.0")
    assert values_equal("label_weight", 1000, 1000.0)
    assert not values_equal("weight_used", 10.0, 10.01)


def test_only_changed_fields_are_patched() -> None:
    desired = want(1, filament={"material_subgroup": "Matte"})
    actual = twin(10, desired, subtype="Basic", brand="Bambu Lab")
    result = plan([desired], [actual])
    assert result.updates == (SpoolUpdate(10, 1, {"subtype": "Matte"}),)


def test_weight_change_is_sent_with_weight_locked() -> None:
    desired = want(1, remaining_weight_g=600.0)
    actual = twin(10, desired, weight_used=0.0)
    (update,) = plan([desired], [actual]).updates
    assert update.changes == {"weight_used": 400.0, "weight_locked": True}


def test_unlocked_twin_is_locked() -> None:
    desired = want(1)
    (update,) = plan([desired], [twin(10, desired, weight_locked=False)]).updates
    assert update.changes == {"weight_locked": True}


def test_cleared_value_is_patched_to_none() -> None:
    desired = want(1, filament={"manufacturer_color_name": None})
    (update,) = plan([desired], [twin(10, desired, color_name="Bambu Green")]).updates
    assert update.changes == {"color_name": None}


def test_fields_left_out_are_not_touched() -> None:
    desired = want(1, rfid_uid=None, colors=["#nothex"])
    actual = twin(10, desired, tag_uid="AABBCCDD", rgba="FF0000FF", slicer_filament="GFA00")
    assert plan([desired], [actual]).write_count == 0


def test_gone_filaman_spool_deletes_its_twin() -> None:
    keep = want(1)
    result = plan([keep], [twin(10, keep), twin(11, want(2))], listed={1})
    assert result.deletes == (SpoolDelete(11, 2, "filaman_spool_gone"),)


def test_unknown_listing_deletes_nothing() -> None:
    keep = want(1)
    actual = [twin(10, keep), twin(11, want(2)), twin(12, keep)]
    result = plan([keep], actual, listing_known=False)
    assert result.deletes == ()
    assert result.unchanged == 1


def test_listed_but_unmappable_spool_keeps_its_twin() -> None:
    result = plan([], [twin(11, want(2))], listed={2})
    assert result.write_count == 0


def test_unlinked_spools_are_never_touched() -> None:
    actual = [
        unlinked(20),
        unlinked(21, "my own spool"),
        unlinked(22, "filaman:abc"),
        unlinked(23, "filaman:5 spare"),
        unlinked(24, "FILAMAN:5"),
    ]
    result = plan([], actual, listed=set())
    assert result.write_count == 0
    assert result.unchanged == 0


def test_duplicates_keep_the_assigned_one() -> None:
    desired = want(1)
    actual = [twin(10, desired), twin(11, desired), twin(12, desired)]
    result = plan([desired], actual, assigned={11})
    # Surplus twins are archived, never deleted: their usage history stays.
    assert result.archives == (SpoolArchive(10, 1), SpoolArchive(12, 1))
    assert result.deletes == ()
    assert result.kept_links == {1: 11}


def test_duplicates_keep_the_lowest_id_otherwise() -> None:
    desired = want(1)
    result = plan([desired], [twin(12, desired), twin(10, desired)])
    assert result.archives == (SpoolArchive(12, 1),)
    assert result.kept_links == {1: 10}


def test_duplicates_prefer_an_active_twin_over_an_archived_one() -> None:
    desired = want(1)
    actual = [twin(10, desired, archived_at=ARCHIVED_AT), twin(11, desired)]
    result = plan([desired], actual)
    assert result.kept_links == {1: 11}
    assert result.write_count == 0  # the surplus twin is archived already: it stays so


def test_duplicates_stay_when_assignments_are_unknown() -> None:
    desired = want(1)
    actual = [twin(10, desired), twin(11, desired, brand="Other")]
    result = plan_sync([desired], actual, listed_filaman_ids={1}, assigned_bambuddy_ids=None)
    assert (result.deletes, result.archives) == ((), ())
    assert result.unchanged == 1
    assert has_duplicate_links(actual)
    assert not has_duplicate_links([twin(10, desired), unlinked(11)])


def test_linked_twins_keep_listing_order_and_count_every_twin() -> None:
    one, two = want(1), want(2)
    actual = [twin(12, two), twin(10, one), unlinked(13), twin(11, one), twin(14, one)]
    links = LinkedTwins.of(actual)
    assert [spool.id for spool in links.twins(1)] == [10, 11, 14]
    assert [spool.id for spool in links.twins(2)] == [12]
    assert links.twins(3) == []
    assert links.count() == 4
    assert list(links.more) == [1]  # only the duplicates get a list of their own


def test_archived_twin_of_an_active_spool_is_restored() -> None:
    desired = want(1)
    result = plan([desired], [twin(10, desired, archived_at=ARCHIVED_AT)])
    assert result.updates == (SpoolUpdate(10, 1, {}, restore=True),)
    assert result.creates == ()


def test_archived_twin_of_a_gone_spool_is_deleted() -> None:
    keep = want(2)
    actual = [twin(10, want(1), archived_at=ARCHIVED_AT), twin(11, keep)]
    result = plan([keep], actual)
    assert result.deletes == (SpoolDelete(10, 1, "filaman_spool_gone"),)


# --- mass-deletion guard -----------------------------------------------------------------


def linked_twins(count: int, first_filaman_id: int = 1) -> list[BambuddySpool]:
    return [twin(100 + n, want(n)) for n in range(first_filaman_id, first_filaman_id + count)]


def test_empty_listing_withholds_every_delete() -> None:
    actual = [*linked_twins(2), twin(50, want(3), archived_at=ARCHIVED_AT), unlinked(60)]
    result = plan([], actual, listed=set())
    assert result.write_count == 0
    assert [(d.bambuddy_id, d.reason) for d in result.withheld_deletes] == [
        (101, "filaman_spool_gone"),
        (102, "filaman_spool_gone"),
        (50, "filaman_spool_gone"),
    ]
    assert result.guard is not None
    assert "FilaMan lists no active spools" in result.guard
    assert "3 Bambuddy spools are linked" in result.guard
    assert "right FilaMan server" in result.guard


def test_empty_listing_without_linked_twins_is_no_alarm() -> None:
    result = plan([], [unlinked(60)], listed=set())
    assert (result.guard, result.withheld_deletes) == (None, ())


def test_confirmed_mass_delete_deletes() -> None:
    actual = linked_twins(2)
    result = plan_sync([], actual, listed_filaman_ids=set(), allow_mass_delete=True)
    assert [d.bambuddy_id for d in result.deletes] == [101, 102]
    assert (result.guard, result.withheld_deletes) == (None, ())


def test_deleting_more_than_half_of_many_twins_is_withheld() -> None:
    actual = linked_twins(MASS_DELETE_MIN_LINKED)
    kept = [want(n) for n in range(1, 10)]  # 9 of 20 stay: 11 would go
    result = plan(kept, actual)
    assert result.deletes == ()
    assert len(result.withheld_deletes) == 11
    assert result.guard is not None
    assert "would delete 11 of 20 linked Bambuddy spools" in result.guard
    assert result.unchanged == 9  # the kept twins are still reconciled


def test_deleting_half_or_deleting_among_few_twins_goes_ahead() -> None:
    half = plan([want(n) for n in range(1, 11)], linked_twins(MASS_DELETE_MIN_LINKED))
    assert (len(half.deletes), half.guard) == (10, None)
    few = linked_twins(MASS_DELETE_MIN_LINKED - 1)
    most = plan([want(1)], few)
    assert (len(most.deletes), most.guard) == (MASS_DELETE_MIN_LINKED - 2, None)


def test_guard_still_removes_duplicates() -> None:
    actual = [*linked_twins(MASS_DELETE_MIN_LINKED), twin(199, want(1))]
    result = plan([want(1)], actual)
    assert result.deletes == ()
    assert result.archives == (SpoolArchive(199, 1),)
    assert len(result.withheld_deletes) == MASS_DELETE_MIN_LINKED - 1
    assert result.guard is not None


def test_mass_deletion_reason_counts() -> None:
    assert mass_deletion_reason(listed=0, linked=0, removing=0) is None
    assert mass_deletion_reason(listed=0, linked=1, removing=1) is not None
    assert mass_deletion_reason(listed=5, linked=20, removing=10) is None
    assert mass_deletion_reason(listed=5, linked=20, removing=11) is not None
    assert mass_deletion_reason(listed=5, linked=19, removing=18) is None


def test_second_plan_after_applying_the_first_makes_no_writes() -> None:
    desired = [
        want(1),
        want(2, remaining_weight_g=333.333),
        want(3, initial_total_weight_g=None, colors=["#abc", "#fff"]),
        want(4, rfid_uid="aa-bb-cc", filament={"manufacturer": None}),
        want(5, purchase_price=None, filament={"price": 12.34, "raw_material_weight_g": 800}),
    ]
    actual = [
        twin(10, desired[0], brand="Old"),
        twin(11, desired[1], weight_used=0.0, weight_locked=False, archived_at=ARCHIVED_AT),
        twin(12, desired[3]),
        twin(13, want(99)),
        twin(14, desired[0]),
        unlinked(15),
    ]
    first = plan(desired, actual, assigned={14})
    assert first.write_count > 0
    after = apply(first, actual)
    second = plan(desired, after)
    assert second.write_count == 0
    assert second.unchanged == len(desired)
    assert sorted(s.filaman_id for s in after if s.filaman_id and not s.archived) == [1, 2, 3, 4, 5]
    assert [s.id for s in after if s.archived] == [10]  # the surplus twin of FilaMan spool 1


def test_changed_fields_reports_nothing_for_an_exact_twin() -> None:
    desired = want(3)
    assert changed_fields(desired, twin(1, desired)) == {}


def test_full_resync_deletes_everything_and_creates_all() -> None:
    desired = [want(2), want(1)]
    actual = [twin(10, desired[0]), unlinked(11), twin(12, want(9), archived_at=ARCHIVED_AT)]
    result = plan_full_resync(desired, actual)
    assert [(d.bambuddy_id, d.reason) for d in result.deletes] == [
        (10, "full_resync"),
        (11, "full_resync"),
        (12, "full_resync"),
    ]
    assert [c.filaman_id for c in result.creates] == [1, 2]
    assert result.updates == ()


# --- FilaMan id reuse --------------------------------------------------------------------

SPOOL_CREATED = datetime(2026, 11, 24, 11, 38, 23, tzinfo=UTC)  # the captured spool's created_at


def made(seconds_after_spool: float) -> datetime:
    return SPOOL_CREATED + timedelta(seconds=seconds_after_spool)


def test_twin_of_an_earlier_spool_with_the_same_id_is_replaced() -> None:
    desired = want(1)
    old = twin(10, desired, created_at=made(-ID_REUSE_MARGIN.total_seconds() - 1))
    result = plan([desired], [old], assigned={10})
    assert result.deletes == (SpoolDelete(10, 1, "filaman_id_reused"),)
    assert result.creates == (SpoolCreate(1, desired.create_body()),)
    assert result.updates == ()
    assert result.kept_links == {}
    assert result.guard is None


def test_twin_made_around_or_after_its_spool_is_kept() -> None:
    desired = want(1)
    for seconds in (-ID_REUSE_MARGIN.total_seconds(), -60, 0, 3600):
        result = plan([desired], [twin(10, desired, created_at=made(seconds))])
        assert (result.write_count, result.kept_links) == (0, {1: 10}), seconds
    unknown = want(1, created_at=None)
    result = plan([unknown], [twin(10, unknown, created_at=made(-86400))])
    assert (result.write_count, result.kept_links) == (0, {1: 10})


def test_reuse_is_judged_across_naive_bambuddy_and_aware_filaman_times() -> None:
    desired = want(1, created_at="2026-11-24T13:38:23+02:00")  # 11:38:23 UTC
    naive = {"id": 10, "material": "PLA", "note": "filaman:1", "created_at": "2026-11-24T11:30:00"}
    early = BambuddySpool.from_json(naive)
    near = replace(early, id=11, created_at=made(-90))
    assert made_for_earlier_spool(early, desired)
    assert not made_for_earlier_spool(near, desired)


def test_new_twin_wins_over_an_assigned_twin_of_the_earlier_spool() -> None:
    desired = want(1)
    old = twin(10, desired, created_at=made(-86400), archived_at=ARCHIVED_AT)
    new = twin(11, desired, created_at=made(5))
    result = plan([desired], [old, new], assigned={10})
    assert result.deletes == (SpoolDelete(10, 1, "filaman_id_reused"),)
    assert (result.creates, result.updates) == ((), ())
    assert result.kept_links == {1: 11}


def test_unknown_listing_keeps_the_old_twin_but_never_patches_it() -> None:
    desired = want(1)
    old = twin(10, desired, brand="Old", created_at=made(-86400))
    result = plan([desired], [old], listing_known=False)
    assert (result.deletes, result.updates) == ((), ())
    assert [c.filaman_id for c in result.creates] == [1]


def test_reused_ids_count_for_the_mass_deletion_guard() -> None:
    desired = [want(n) for n in range(1, MASS_DELETE_MIN_LINKED + 1)]
    actual = [twin(100 + d.filaman_id, d, created_at=made(-86400)) for d in desired]
    result = plan(desired, actual)
    assert result.write_count == 0  # neither deleted nor replaced by a duplicate link
    assert {d.reason for d in result.withheld_deletes} == {"filaman_id_reused"}
    assert len(result.withheld_deletes) == MASS_DELETE_MIN_LINKED
    assert result.guard is not None
    confirmed = plan_sync(
        desired, actual, listed_filaman_ids=set(range(1, 21)), allow_mass_delete=True
    )
    assert (len(confirmed.deletes), len(confirmed.creates)) == (20, 20)
