"""BambuddyClient against the Bambuddy simulator over loopback."""

from __future__ import annotations

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.bambuddy import BambuddyClient
from custom_components.filaman_bambuddy.api.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
    MissingPermissionError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    ServerError,
)
from simulators.bambuddy import BambuddySimulator

SPOOL = {
    "material": "PLA",
    "subtype": "Basic",
    "brand": "Bambu Lab",
    "color_name": "Jade White",
    "rgba": "FFFFFFFF",
    "label_weight": 1000,
    "core_weight": 250,
    "weight_used": 0,
    "note": "filaman:7",
    "slicer_filament": "GFA00",
}


def client_with(
    session: aiohttp.ClientSession, sim: BambuddySimulator, key: str | None, timeout: float = 2
) -> BambuddyClient:
    assert sim.url is not None
    return BambuddyClient(session, sim.url, key, request_timeout=timeout)


async def test_auth_status_and_key_checks(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator, session: aiohttp.ClientSession
) -> None:
    status = await bambuddy.auth_status()
    assert status.auth_enabled
    assert not status.requires_setup
    await bambuddy.verify_key()
    await bambuddy.verify_write_access()
    assert not bambuddy_sim.db.spools  # the write probe created nothing

    with pytest.raises(AuthenticationError) as bad_key:
        await client_with(session, bambuddy_sim, "bb_wrong").verify_key()
    assert bad_key.value.status == 401
    assert not isinstance(bad_key.value, MissingPermissionError)
    with pytest.raises(AuthenticationError):
        await client_with(session, bambuddy_sim, None).printers()

    read_only = bambuddy_sim.create_api_key(can_manage_inventory=False)
    await client_with(session, bambuddy_sim, read_only).verify_key()
    with pytest.raises(MissingPermissionError) as no_write:
        await client_with(session, bambuddy_sim, read_only).verify_write_access()
    assert no_write.value.permission == "can_manage_inventory"
    assert no_write.value.status == 403

    write_only = bambuddy_sim.create_api_key(can_read_status=False)
    with pytest.raises(MissingPermissionError) as no_read:
        await client_with(session, bambuddy_sim, write_only).verify_key()
    assert no_read.value.permission == "can_read_status"


async def test_auth_disabled_server(session: aiohttp.ClientSession, socket_enabled: None) -> None:
    sim = BambuddySimulator(auth_enabled=False)
    await sim.start()
    try:
        client = client_with(session, sim, None)
        assert not (await client.auth_status()).auth_enabled
        await client.verify_key()
        await client_with(session, sim, "bb_garbage").verify_write_access()
        assert await client.ws_token()  # still minted
    finally:
        await sim.stop()


async def test_printers_and_status(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    first = bambuddy_sim.add_printer("Workshop X1C", model="X1C", ams_units=1, ams_ht=1)
    bambuddy_sim.add_printer("Attic P1S", model="P1S")
    bambuddy_sim.set_tray(first, 0, 1, tray_type="PETG", tray_color="FF0000FF", remain=55)
    printers = await bambuddy.printers()
    assert [p.name for p in printers] == ["Attic P1S", "Workshop X1C"]
    printer = await bambuddy.printer(first)
    assert (printer.id, printer.model) == (first, "X1C")
    status = await bambuddy.printer_status(first)
    assert status.printer_id == first
    assert status.connected
    tray = status.tray(0, 1)
    assert tray is not None
    assert (tray.tray_type, tray.remain, tray.tray_color) == ("PETG", 55, "FF0000FF")
    assert status.tray(128, 0) is not None
    assert status.tray(255, 0) is not None
    with pytest.raises(NotFoundError) as missing:
        await bambuddy.printer_status(99)
    assert missing.value.status == 404


async def test_spool_crud(bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator) -> None:
    created = await bambuddy.create_spool(SPOOL)
    assert created.filaman_id == 7
    assert created.material == "PLA"
    fetched = await bambuddy.spool(created.id)
    assert fetched == created
    patched = await bambuddy.patch_spool(
        created.id, {"weight_used": 12.5, "weight_locked": False, "note": "filaman:8"}
    )
    assert patched.weight_used == 12.5
    assert not patched.weight_locked
    assert patched.filaman_id == 8
    other = await bambuddy.create_spool({"material": "PETG"})
    assert {s.id for s in await bambuddy.spools()} == {created.id, other.id}
    await bambuddy.delete_spool(other.id)
    assert [s.id for s in await bambuddy.spools(include_archived=False)] == [created.id]
    with pytest.raises(NotFoundError):
        await bambuddy.spool(other.id)
    with pytest.raises(ValueError, match="material"):
        await bambuddy.patch_spool(created.id, {"material": None})
    with pytest.raises(ValueError, match="weight_used"):
        await bambuddy.create_spool({"material": "PLA", "weight_used": None})


async def test_restore_spool_keeps_id_and_assignment(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    printer_id = bambuddy_sim.add_printer("X1C")
    spool = await bambuddy.create_spool(SPOOL)
    await bambuddy.assign(spool.id, printer_id, 0, 0)
    bambuddy_sim.db.spools[spool.id].archived_at = bambuddy_sim.db.spools[spool.id].created_at
    assert (await bambuddy.spool(spool.id)).archived

    restored = await bambuddy.restore_spool(spool.id)

    assert restored.id == spool.id
    assert not restored.archived
    assert restored.filaman_id == 7
    assert [s.id for s in await bambuddy.spools(include_archived=False)] == [spool.id]
    assert [a.spool_id for a in await bambuddy.assignments(printer_id)] == [spool.id]
    assert await bambuddy.restore_spool(spool.id) == restored  # already active: no harm
    with pytest.raises(NotFoundError):
        await bambuddy.restore_spool(999)


async def test_archived_spools_are_listed_by_default(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    spool = await bambuddy.create_spool(SPOOL)
    bambuddy_sim.db.spools[spool.id].archived_at = bambuddy_sim.db.spools[spool.id].created_at
    assert [s.id for s in await bambuddy.spools()] == [spool.id]
    assert (await bambuddy.spools())[0].archived
    assert await bambuddy.spools(include_archived=False) == []


async def test_assignments_usage_and_settings(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    printer_id = bambuddy_sim.add_printer("X1C")
    bambuddy_sim.set_tray(printer_id, 0, 0, tray_type="PLA")
    spool = await bambuddy.create_spool(SPOOL)
    assignment = await bambuddy.assign(spool.id, printer_id, 0, 0)
    assert (assignment.spool_id, assignment.ams_id, assignment.tray_id) == (spool.id, 0, 0)
    assert assignment.configured
    listed = await bambuddy.assignments()
    assert [(a.printer_id, a.ams_id, a.tray_id) for a in listed] == [(printer_id, 0, 0)]
    assert listed[0].spool is not None
    assert await bambuddy.assignments(printer_id=printer_id + 1) == []

    await bambuddy_sim.run_print(printer_id, "Benchy", grams={(0, 0): 12.3})
    rows = await bambuddy.usage(limit=10)
    assert [(r.spool_id, r.weight_used, r.print_name) for r in rows] == [(spool.id, 12.3, "Benchy")]
    assert await bambuddy.usage(printer_id=printer_id + 1) == []

    await bambuddy.unassign(printer_id, 0, 0)
    assert await bambuddy.assignments() == []
    with pytest.raises(NotFoundError):
        await bambuddy.unassign(printer_id, 0, 0)
    with pytest.raises(NotFoundError):
        await bambuddy.assign(999, printer_id, 0, 1)

    settings = await bambuddy.spoolman_settings()
    assert not settings.spoolman_enabled  # "false" is a string on the wire
    bambuddy_sim.set_spoolman_mode(True)
    assert (await bambuddy.spoolman_settings()).spoolman_enabled


async def test_rejections_map_to_rejected_error(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    with pytest.raises(RejectedError) as invalid:
        await bambuddy.create_spool({"rgba": "not-a-colour"})
    assert invalid.value.status == 422
    assert "material" in invalid.value.detail
    bambuddy_sim.fail_next(
        "POST", r"/inventory/assignments$", 400, body={"detail": "Cannot assign an archived spool"}
    )
    with pytest.raises(RejectedError) as archived:
        await bambuddy.assign(1, 1, 0, 0)
    assert (archived.value.status, archived.value.detail) == (
        400,
        "Cannot assign an archived spool",
    )
    bambuddy_sim.fail_next(
        "PATCH",
        r"/inventory/spools/",
        409,
        body={"detail": {"code": "tag_in_use", "message": "Tag in use"}},
    )
    with pytest.raises(RejectedError) as conflict:
        await bambuddy.patch_spool(1, {"tag_uid": "AA"})
    assert (conflict.value.status, conflict.value.detail) == (409, "Tag in use")
    bambuddy_sim.fail_next(
        "GET",
        r"/printers/$",
        403,
        body={"detail": "API keys cannot be used for administrative operations"},
    )
    with pytest.raises(AuthenticationError) as admin_only:
        await bambuddy.printers()
    assert not isinstance(admin_only.value, MissingPermissionError)
    assert admin_only.value.status == 403


async def test_server_errors_and_bad_payloads(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    bambuddy_sim.fail_next("GET", r"/inventory/spools$", 500)
    with pytest.raises(ServerError) as server:
        await bambuddy.spools()
    assert server.value.status == 500
    bambuddy_sim.fail_next(
        "GET",
        r"/inventory/spools$",
        503,
        body={"detail": "Authentication service temporarily unavailable"},
    )
    with pytest.raises(ServerError, match="temporarily unavailable"):
        await bambuddy.spools()
    bambuddy_sim.fail_next("GET", r"/inventory/spools$", 200, body="<html>not json</html>")
    with pytest.raises(ProtocolError, match="not JSON"):
        await bambuddy.spools()
    bambuddy_sim.fail_next("GET", r"/inventory/spools$", 200, body={"items": []})
    with pytest.raises(ProtocolError, match="array"):
        await bambuddy.spools()
    bambuddy_sim.fail_next("GET", r"/inventory/spools$", 200, body=[{"material": "PLA"}])
    with pytest.raises(ProtocolError, match="'id'"):
        await bambuddy.spools()
    bambuddy_sim.fail_next("GET", r"/printers/1/status$", 200, body=[1, 2])
    with pytest.raises(ProtocolError, match="object"):
        await bambuddy.printer_status(1)
    bambuddy_sim.fail_next("GET", r"/inventory/spools/1$", 200, body="")
    with pytest.raises(ProtocolError, match="empty"):
        await bambuddy.spool(1)
    bambuddy_sim.fail_next("GET", r"/printers/$", 302, body={"detail": "moved"})
    with pytest.raises(ProtocolError, match="redirected"):
        await bambuddy.printers()
    bambuddy_sim.fail_next("POST", r"/auth/ws-token$", 200, body={"token": None})
    assert await bambuddy.ws_token() is None


async def test_timeout_and_unreachable(
    session: aiohttp.ClientSession, bambuddy_sim: BambuddySimulator, bambuddy_key: str
) -> None:
    slow = client_with(session, bambuddy_sim, bambuddy_key, timeout=0.1)
    bambuddy_sim.latency = 0.3
    with pytest.raises(ApiTimeoutError) as timed_out:
        await slow.printers()
    assert timed_out.value.status is None
    assert timed_out.value.request_sent
    bambuddy_sim.latency = 0
    bambuddy_sim.down = True
    with pytest.raises(ApiConnectionError) as down:
        await slow.printers()
    assert not isinstance(down.value, ApiTimeoutError)
    bambuddy_sim.down = False
    assert bambuddy_sim.url is not None
    url = bambuddy_sim.url
    await bambuddy_sim.stop()
    with pytest.raises(ApiConnectionError) as refused:
        await BambuddyClient(session, url, bambuddy_key).printers()
    assert not refused.value.request_sent
    assert "cannot connect" in str(refused.value)


async def test_write_probe_cleans_up_after_a_lenient_server(
    bambuddy: BambuddyClient, bambuddy_sim: BambuddySimulator
) -> None:
    spool = await bambuddy.create_spool(SPOOL)
    bambuddy_sim.fail_next("POST", r"/inventory/spools$", 200, body={"id": spool.id})
    await bambuddy.verify_write_access()
    assert await bambuddy.spools() == []
    bambuddy_sim.fail_next("POST", r"/inventory/spools$", 400, body={"detail": "odd"})
    with pytest.raises(RejectedError):
        await bambuddy.verify_write_access()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://bambuddy:8000", "http://bambuddy:8000/api/v1/printers/"),
        ("http://bambuddy:8000/", "http://bambuddy:8000/api/v1/printers/"),
        ("http://bambuddy:8000/api/v1/", "http://bambuddy:8000/api/v1/printers/"),
        ("https://h/proxy/?x=1#f", "https://h/proxy/api/v1/printers/"),
    ],
)
def test_base_url_normalisation(given: str, expected: str) -> None:
    client = BambuddyClient(None, given, "bb_x")  # type: ignore[arg-type]
    assert str(client._http.url("/printers/")) == expected
    assert "bb_x" not in repr(client)


@pytest.mark.parametrize("bad", ["bambuddy:8000", "ftp://h", "/relative"])
def test_base_url_must_be_http(bad: str) -> None:
    with pytest.raises(ValueError, match="http"):
        BambuddyClient(None, bad, None)  # type: ignore[arg-type]
