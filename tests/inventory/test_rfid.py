"""RFID adoption, merging and conflicts in the sync plan (pure: rfid.py and plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from custom_components.filaman_bambuddy.api.models_bambuddy import BambuddySpool
from custom_components.filaman_bambuddy.inventory.mapping import DesiredSpool, desired_spool
from custom_components.filaman_bambuddy.inventory.plan import (
    SpoolArchive,
    SpoolCreate,
    needs_assignments,
    plan_sync,
    tag_matches,
)
from custom_components.filaman_bambuddy.inventory.rfid import (
    TagConflict,
    bambuddy_tags,
    tag_uid,
    tray_uuid,
)

from .conftest import filaman_spool

TAG = "A1B2C3D4E5F60708"
UUID = "0123456789ABCDEF0123456789ABCDEF"


def want(filaman_id: int, rfid: str | None = TAG, **overrides: Any) -> DesiredSpool:
    return desired_spool(filaman_spool(id=filaman_id, rfid_uid=rfid, **overrides))


def rfid_auto(bambuddy_id: int, material: str = "PLA", **fields: Any) -> BambuddySpool:
    """A spool Bambuddy created by itself from an RFID tray (AUTOMATION.md §1)."""
    values: dict[str, Any] = {
        "material": material,
        "brand": "Bambu Lab",
        "tag_uid": TAG,
        "tray_uuid": UUID,
        "data_origin": "rfid_auto",
    }
    return BambuddySpool(id=bambuddy_id, **(values | fields))


def twin(bambuddy_id: int, desired: DesiredSpool, **fields: Any) -> BambuddySpool:
    values = {key: value for key, value in desired.fields.items() if value is not None}
    return BambuddySpool(id=bambuddy_id, **(values | fields))


def plan(
    desired: list[DesiredSpool], actual: list[BambuddySpool], assigned: set[int] | None = None
) -> Any:
    return plan_sync(
        desired,
        actual,
        listed_filaman_ids={item.filaman_id for item in desired},
        assigned_bambuddy_ids=assigned,
    )


def test_tags_normalise_like_bambuddy() -> None:
    assert tag_uid("a1:b2:c3:d4:e5:f6:07:08") == TAG
    assert tag_uid("0000000000000000") is None
    assert tray_uuid(UUID.lower() + "FF") == UUID
    assert bambuddy_tags(rfid_auto(1)) == {TAG, UUID}
    assert bambuddy_tags(BambuddySpool(id=2, material="PLA")) == frozenset()


def test_unlinked_tag_holder_is_adopted_not_duplicated() -> None:
    desired = want(7)
    result = plan([desired], [rfid_auto(3)], assigned={3})
    assert result.creates == ()
    (update,) = result.updates
    assert (update.bambuddy_id, update.filaman_id, update.adopt) == (3, 7, True)
    assert update.changes["note"] == "filaman:7"
    assert update.changes["weight_locked"] is True  # FilaMan's weight from now on
    assert "tag_uid" not in update.changes  # it already holds the tag
    assert result.kept_links == {7: 3}


def test_adoption_by_tray_uuid_from_a_32_digit_filaman_tag() -> None:
    desired = want(7, rfid=UUID.lower())
    assert desired.fields["tray_uuid"] == UUID
    result = plan([desired], [rfid_auto(3, tag_uid=None)])
    assert [u.bambuddy_id for u in result.updates] == [3]


def test_adoption_needs_no_assignments_when_no_twin_exists() -> None:
    result = plan([want(7)], [rfid_auto(3)], assigned=None)
    assert [u.bambuddy_id for u in result.updates] == [3]
    assert needs_assignments([rfid_auto(3)], tag_matches([want(7)], [rfid_auto(3)]))
    assert not needs_assignments([rfid_auto(3)], tag_matches([want(7, rfid=None)], [rfid_auto(3)]))


def test_duplicate_install_is_merged_onto_the_assigned_holder() -> None:
    """An existing install: our twin (11) and Bambuddy's spool (3) share the tag; 3 has the slot."""
    desired = want(7)
    ours = twin(11, desired)
    result = plan([desired], [rfid_auto(3), ours], assigned={3})
    assert result.kept_links == {7: 3}
    assert [(u.bambuddy_id, u.adopt) for u in result.updates] == [(3, True)]
    assert result.archives == (SpoolArchive(11, 7),)
    assert result.deletes == ()


def test_merge_keeps_our_twin_when_it_holds_the_slot() -> None:
    desired = want(7)
    result = plan([desired], [rfid_auto(3), twin(11, desired)], assigned={11})
    assert result.kept_links == {7: 11}
    assert result.archives == (SpoolArchive(3, 7),)


def test_no_merge_without_assignments() -> None:
    desired = want(7)
    result = plan([desired], [rfid_auto(3), twin(11, desired)], assigned=None)
    assert result.kept_links == {7: 11}
    assert (result.archives, result.updates) == ((), ())


def test_archived_holder_is_not_adopted() -> None:
    archived = rfid_auto(3, archived_at=datetime(2026, 1, 1, tzinfo=UTC))
    result = plan([want(7)], [archived])
    assert [c.filaman_id for c in result.creates] == [7]


def test_one_tag_on_two_filaman_spools_is_a_conflict() -> None:
    first, second = want(7), want(8, rfid="a1b2c3d4e5f60708")
    result = plan([first, second], [rfid_auto(3)])
    assert result.conflicts == (TagConflict("shared_tag", TAG, (7, 8), (3,)),)
    assert result.updates == ()  # Bambuddy's spool is not guessed onto either
    assert [c.filaman_id for c in result.creates] == [7, 8]
    assert all("tag_uid" not in c.fields for c in result.creates)


def test_tag_holder_of_another_material_is_a_conflict() -> None:
    result = plan([want(7)], [rfid_auto(3, material="PETG")])
    assert result.conflicts == (TagConflict("material_mismatch", TAG, (7,), (3,)),)
    assert result.creates == (SpoolCreate(7, result.creates[0].fields),)
    assert "tag_uid" not in result.creates[0].fields


def test_tag_held_by_another_filaman_spools_twin_is_a_conflict() -> None:
    """Bambuddy wrote the tray's tag onto a look-alike twin of another FilaMan spool."""
    other = want(9, rfid=None)
    result = plan([want(7), other], [twin(4, other, tag_uid=TAG)])
    assert result.conflicts == (TagConflict("held_by_other", TAG, (7, 9), (4,)),)
    assert "tag_uid" not in next(c for c in result.creates if c.filaman_id == 7).fields


def test_plain_spools_make_no_rfid_work() -> None:
    desired = want(7, rfid=None)
    result = plan([desired], [twin(10, desired), rfid_auto(3)])
    assert result.conflicts == ()
    assert result.write_count == 0


def test_a_spool_carrying_its_tag_in_both_fields_owns_it_once() -> None:
    """One FilaMan spool is never "sharing" a tag with itself."""
    desired = want(7)
    both = DesiredSpool(7, {**desired.fields, "tag_uid": TAG, "tray_uuid": TAG})
    matches = tag_matches([both], [rfid_auto(3, tray_uuid=None)])
    assert matches.conflicts == ()
    assert matches.adopt == {7: (3,)}
