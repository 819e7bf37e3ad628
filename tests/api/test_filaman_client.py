"""FilamanClient against the FilaMan simulator over loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
    IncompleteListingError,
    MissingPermissionError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    ServerError,
)
from custom_components.filaman_bambuddy.api.filaman import PAGE_SIZE, FilamanClient
from simulators.filaman import FilamanSimulator

PRINT_END = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def seed_filament(sim: FilamanSimulator) -> int:
    maker = sim.add_manufacturer("Bambu Lab")
    return sim.add_filament(
        maker,
        "PLA",
        "Basic",
        designation="PLA Basic",
        color_hex=["#FF0000", "#00FF00"],
        manufacturer_color_name="Red/Green",
    )


def envelope(items: list[Any], total: int, page: int = 1) -> dict[str, Any]:
    return {"items": items, "page": page, "page_size": PAGE_SIZE, "total": total}


async def test_me_and_bad_keys(
    filaman: FilamanClient, filaman_sim: FilamanSimulator, session: aiohttp.ClientSession
) -> None:
    me = await filaman.me()
    assert me.can("spool_events:create_consumption")
    assert not me.is_superadmin
    bad = FilamanClient(session, filaman_sim.url, "uak.999.wrong")
    with pytest.raises(AuthenticationError) as rejected:
        await bad.me()
    assert rejected.value.status == 401
    assert "Authentication required" in str(rejected.value)
    assert ("GET", "/api/v1/me") in filaman_sim.request_log


async def test_spools_statuses_and_one_spool(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament = seed_filament(filaman_sim)
    first = filaman_sim.add_spool(filament, rfid_uid="04:F5:02:3A:11:22:33")
    second = filaman_sim.add_spool(filament, initial_total_weight_g=None, remaining_weight_g=500)
    archived = filaman_sim.add_spool(filament)
    filaman_sim.archive_spool(archived)
    spools = await filaman.spools()
    assert sorted(s.id for s in spools) == [first, second]
    assert sorted(s.id for s in await filaman.spools(include_archived=True)) == [
        first,
        second,
        archived,
    ]
    spool = await filaman.spool(first)
    assert spool.rfid_uid == "04:F5:02:3A:11:22:33"
    assert spool.remaining_weight_g == 1000.0
    assert spool.filament.color_hexes == ("#FF0000", "#00FF00")
    assert spool.filament.manufacturer is not None
    assert (await filaman.spool(second)).initial_total_weight_g is None
    statuses = {status.key: status.id for status in await filaman.spool_statuses()}
    assert (await filaman.spool(archived)).status_id == statuses["archived"]
    with pytest.raises(NotFoundError) as missing:
        await filaman.spool(999)
    assert missing.value.status == 404
    assert "Spool not found" in str(missing.value)


async def test_pagination_reads_every_page(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament = seed_filament(filaman_sim)
    ids = {filaman_sim.add_spool(filament) for _ in range(PAGE_SIZE * 2 + 5)}
    filaman_sim.request_log.clear()
    assert {spool.id for spool in await filaman.spools()} == ids
    assert filaman_sim.request_log.count(("GET", "/api/v1/spools")) == 3


async def test_listing_that_changes_while_paging_is_read_again(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament = seed_filament(filaman_sim)
    ids = [filaman_sim.add_spool(filament) for _ in range(PAGE_SIZE + 1)]
    first_page = [filaman_sim.spool_json(spool_id) for spool_id in ids[:PAGE_SIZE]]
    # Page 1 claims 204 spools, the real page 2 says 201: re-read from scratch.
    filaman_sim.fail_next("GET", r"/spools$", 200, body=envelope(first_page, PAGE_SIZE + 4))
    assert sorted(spool.id for spool in await filaman.spools()) == ids


async def test_listing_that_never_settles_raises(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament = seed_filament(filaman_sim)
    first, second = (filaman_sim.spool_json(filaman_sim.add_spool(filament)) for _ in range(2))
    for _attempt in range(3):
        filaman_sim.fail_next("GET", r"/spools$", 200, body=envelope([first], 300))
        filaman_sim.fail_next("GET", r"/spools$", 200, body=envelope([second], 301, page=2))
    with pytest.raises(IncompleteListingError, match="total changed from 300 to 301"):
        await filaman.spools()
    assert filaman_sim.request_log.count(("GET", "/api/v1/spools")) == 6


async def test_listing_without_progress_raises(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    spool_json = filaman_sim.spool_json(filaman_sim.add_spool(seed_filament(filaman_sim)))
    filaman_sim.fail_next("GET", r"/spools$", 200, count=6, body=envelope([spool_json], 2))
    with pytest.raises(IncompleteListingError, match="read 1 distinct items"):
        await filaman.spools()


async def test_listing_with_a_short_last_page_raises(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filaman_sim.fail_next("GET", r"/spools$", 200, count=3, body=envelope([], 5))
    with pytest.raises(IncompleteListingError, match="read 0 distinct items"):
        await filaman.spools()


async def test_listing_with_a_failing_page_raises(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament = seed_filament(filaman_sim)
    ids = [filaman_sim.add_spool(filament) for _ in range(PAGE_SIZE + 1)]
    first_page = [filaman_sim.spool_json(spool_id) for spool_id in ids[:PAGE_SIZE]]
    filaman_sim.fail_next("GET", r"/spools$", 200, body=envelope(first_page, PAGE_SIZE + 1))
    filaman_sim.fail_next("GET", r"/spools$", 500)
    with pytest.raises(ServerError):
        await filaman.spools()


async def test_listing_that_is_not_an_envelope(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filaman_sim.fail_next("GET", r"/spools$", 200, body=[1, 2])
    with pytest.raises(ProtocolError, match="object"):
        await filaman.spools()
    filaman_sim.fail_next("GET", r"/printers$", 200, body={"items": None, "total": 1})
    with pytest.raises(ProtocolError, match="envelope"):
        await filaman.printers()


async def test_consumption(filaman: FilamanClient, filaman_sim: FilamanSimulator) -> None:
    spool_id = filaman_sim.add_spool(seed_filament(filaman_sim))
    event = await filaman.add_consumption(spool_id, 12.4, PRINT_END, note="Benchy A1")
    assert event.spool_id == spool_id
    assert event.event_type == "print_consumption"
    assert event.delta_weight_g == -12.4
    assert event.event_at == PRINT_END
    assert event.note == "Benchy A1"
    assert event.aggregation_count == 1
    assert (await filaman.spool(spool_id)).remaining_weight_g == pytest.approx(987.6)
    merged = await filaman.add_consumption(spool_id, 2.6, PRINT_END + timedelta(minutes=1))
    assert merged.id == event.id
    assert merged.aggregation_count == 2
    assert merged.delta_weight_g == pytest.approx(-15.0)
    with pytest.raises(ValueError, match="positive"):
        await filaman.add_consumption(spool_id, -1, PRINT_END)
    with pytest.raises(ValueError, match="aware"):
        await filaman.add_consumption(spool_id, 1, datetime(2026, 1, 1))
    with pytest.raises(NotFoundError):
        await filaman.add_consumption(999, 1, PRINT_END)


async def test_consumption_is_never_retried(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    spool_id = filaman_sim.add_spool(seed_filament(filaman_sim))
    filaman_sim.fail_next("POST", r"/consumptions$", 500)
    with pytest.raises(ServerError):
        await filaman.add_consumption(spool_id, 5, PRINT_END)
    assert filaman_sim.request_log.count(("POST", f"/api/v1/spools/{spool_id}/consumptions")) == 1
    assert filaman_sim.consumption_events(spool_id) == []


async def test_missing_permission(
    filaman_sim: FilamanSimulator, session: aiohttp.ClientSession
) -> None:
    viewer = FilamanClient(session, filaman_sim.url, filaman_sim.create_api_key(role="viewer"))
    spool_id = filaman_sim.add_spool(seed_filament(filaman_sim))
    await viewer.spool(spool_id)
    with pytest.raises(MissingPermissionError) as denied:
        await viewer.add_consumption(spool_id, 1, PRINT_END)
    assert denied.value.permission == "spool_events:create_consumption"
    assert denied.value.status == 403


async def test_printers_health_and_params(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filament = seed_filament(filaman_sim)
    spool_id = filaman_sim.add_spool(filament)
    bound = filaman_sim.add_printer(
        "P1S",
        driver_key="bambuddy",
        driver_config={
            "bambuddy_url": "http://bambuddy:8000",
            "api_key": "bb_SECRET",
            "printer_id": 3,
            "sync_enabled": "enabled",
        },
        driver_running=True,
    )
    plain = filaman_sim.add_printer("Ender")
    printers = await filaman.printers()
    assert {(p.id, p.name, p.driver_key) for p in printers} == {
        (bound, "P1S", "bambuddy"),
        (plain, "Ender", None),
    }
    printer = await filaman.printer(bound)
    assert printer.bambuddy_printer_id == 3
    assert printer.bambuddy_url == "http://bambuddy:8000"
    assert "bb_SECRET" not in repr(printer)
    assert (await filaman.driver_health(bound, refresh=True)).running
    idle = await filaman.driver_health(plain)
    assert (idle.running, idle.connected) == (False, False)

    filaman_sim.set_printer_params(
        bound, filament_id=filament, params={"bambu_idx": "GFA00", "bambu_nozzle_temp_min": "200"}
    )
    filaman_sim.set_printer_params(
        bound, spool_id=spool_id, params={"bambu_nozzle_temp_min": "190"}
    )
    filaman_sim.set_printer_params(plain, spool_id=spool_id, params={"bambu_nozzle_temp_min": "1"})
    assert await filaman.spool_printer_params(spool_id, bound) == {"bambu_nozzle_temp_min": "190"}
    assert await filaman.filament_printer_params(filament, bound) == {
        "bambu_idx": "GFA00",
        "bambu_nozzle_temp_min": "200",
    }
    export = await filaman.params_export(bound)
    assert export.printer_id == bound
    assert export.for_spool(spool_id, filament) == {
        "bambu_idx": "GFA00",
        "bambu_nozzle_temp_min": "190",
    }
    with pytest.raises(NotFoundError):
        await filaman.printer(999)


async def test_printer_listing_pages(filaman: FilamanClient, filaman_sim: FilamanSimulator) -> None:
    ids = {filaman_sim.add_printer(f"P{index:03d}") for index in range(PAGE_SIZE + 1)}
    assert {printer.id for printer in await filaman.printers()} == ids


async def test_error_bodies(filaman: FilamanClient, filaman_sim: FilamanSimulator) -> None:
    filaman_sim.fail_next(
        "GET",
        r"/driver/health$",
        400,
        body={"detail": {"code": "driver_not_running", "message": "Driver is not running"}},
    )
    with pytest.raises(RejectedError) as not_running:
        await filaman.driver_health(1)
    assert (not_running.value.status, not_running.value.detail) == (400, "Driver is not running")
    filaman_sim.fail_next(
        "POST",
        r"/consumptions$",
        422,
        body={
            "detail": [
                {
                    "type": "missing",
                    "loc": ["body", "delta_weight_g"],
                    "msg": "Field required",
                    "input": {},
                }
            ]
        },
    )
    with pytest.raises(RejectedError) as invalid:
        await filaman.add_consumption(1, 1, PRINT_END)
    assert invalid.value.detail == "body.delta_weight_g: Field required"
    filaman_sim.fail_next(
        "GET", r"/me$", 403, body={"code": "csrf_failed", "message": "CSRF token mismatch"}
    )
    with pytest.raises(AuthenticationError, match="CSRF") as csrf:
        await filaman.me()
    assert not isinstance(csrf.value, MissingPermissionError)
    filaman_sim.fail_next("GET", r"/me$", 409, body={"detail": {"code": "conflict"}})
    with pytest.raises(RejectedError) as coded:
        await filaman.me()
    assert coded.value.detail == "conflict"
    filaman_sim.fail_next("GET", r"/me$", 429, body="slow down")
    with pytest.raises(RejectedError) as limited:
        await filaman.me()
    assert limited.value.detail == "HTTP 429"
    filaman_sim.fail_next("GET", r"/me$", 200, body="a JSON string")
    with pytest.raises(ProtocolError, match="expected a JSON object"):
        await filaman.me()
    filaman_sim.fail_next("GET", r"/me$", 500)  # plain-text body
    with pytest.raises(ServerError) as server:
        await filaman.me()
    assert server.value.status == 500
    filaman_sim.fail_next("GET", r"/me$", 200, body={"email": "no id"})
    with pytest.raises(ProtocolError, match="'id'"):
        await filaman.me()


async def test_timeouts_and_unreachable(
    session: aiohttp.ClientSession, filaman_sim: FilamanSimulator, filaman_key: str
) -> None:
    client = FilamanClient(session, filaman_sim.url, filaman_key, request_timeout=0.1)
    filaman_sim.latency = 0.3
    with pytest.raises(ApiTimeoutError):
        await client.me()
    filaman_sim.latency = 0
    filaman_sim.down = True
    with pytest.raises(ApiConnectionError) as down:
        await client.me()
    assert down.value.request_sent
    filaman_sim.down = False
    url = filaman_sim.url
    await filaman_sim.stop()
    with pytest.raises(ApiConnectionError) as refused:
        await FilamanClient(session, url, filaman_key).me()
    assert not refused.value.request_sent


def record_spaced_consumptions(sim: FilamanSimulator, spool_id: int, count: int) -> None:
    """``count`` separate print_consumption events, 10 minutes apart (no aggregation)."""
    for index in range(count):
        sim.record_consumption(
            spool_id, 1.0 + index, event_at=PRINT_END + timedelta(minutes=10 * index)
        )


async def test_spool_events_newest_first_across_pages(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    spool_id = filaman_sim.add_spool(seed_filament(filaman_sim))
    record_spaced_consumptions(filaman_sim, spool_id, 5)
    expected = [event.id for event in filaman_sim.events(spool_id)]
    assert len(expected) == 6  # five consumptions and the new → opened status change
    filaman_sim.request_log.clear()

    events = [event async for event in filaman.spool_events(spool_id, page_size=2)]

    assert [event.id for event in events] == expected
    assert [event.event_at for event in events] == sorted(
        (event.event_at for event in events if event.event_at is not None), reverse=True
    )
    assert events[0].event_type == "print_consumption"
    assert events[0].delta_weight_g == -5.0
    assert filaman_sim.request_log.count(("GET", f"/api/v1/spools/{spool_id}/events")) == 3


async def test_spool_events_reads_pages_only_as_needed(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    spool_id = filaman_sim.add_spool(seed_filament(filaman_sim))
    record_spaced_consumptions(filaman_sim, spool_id, 5)
    filaman_sim.request_log.clear()
    listing = filaman.spool_events(spool_id, page_size=2)
    first = await anext(listing)
    await listing.aclose()
    assert first.id == filaman_sim.events(spool_id)[0].id
    assert filaman_sim.request_log == [("GET", f"/api/v1/spools/{spool_id}/events")]


async def test_spool_events_yield_a_shifted_event_once(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    spool_id = filaman_sim.add_spool(seed_filament(filaman_sim))
    record_spaced_consumptions(filaman_sim, spool_id, 3)
    expected = [event.id for event in filaman_sim.events(spool_id)]
    listing = filaman.spool_events(spool_id, page_size=2)
    seen = [(await anext(listing)).id, (await anext(listing)).id]
    # A newer event pushes everything one place down: page 2 starts with a seen event.
    filaman_sim.record_consumption(spool_id, 9.0, event_at=PRINT_END + timedelta(hours=2))
    seen += [event.id async for event in listing]
    assert seen == expected


async def test_spool_events_errors(filaman: FilamanClient, filaman_sim: FilamanSimulator) -> None:
    spool_id = filaman_sim.add_spool(seed_filament(filaman_sim))
    with pytest.raises(NotFoundError):
        await anext(filaman.spool_events(999))
    for bad_size in (0, 201):
        with pytest.raises(ValueError, match="page_size"):
            await anext(filaman.spool_events(spool_id, page_size=bad_size))
    filaman_sim.fail_next("GET", r"/events$", 200, body={"items": None, "total": 1})
    with pytest.raises(ProtocolError, match="envelope"):
        await anext(filaman.spool_events(spool_id))
    # A server that keeps answering the same page must not be read forever.
    record_spaced_consumptions(filaman_sim, spool_id, 1)
    newest = filaman_sim.events(spool_id)[0]
    stuck = envelope([{"id": newest.id, "spool_id": spool_id, "event_type": "x"}], 50)
    filaman_sim.fail_next("GET", r"/events$", 200, count=2, body=stuck)
    filaman_sim.request_log.clear()
    events = [event async for event in filaman.spool_events(spool_id, page_size=1)]
    assert [event.id for event in events] == [newest.id]
    assert len(filaman_sim.request_log) == 2


async def test_recent_events_reads_the_newest_page_of_all_spools(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    first = filaman_sim.add_spool(seed_filament(filaman_sim))
    second = filaman_sim.add_spool(seed_filament(filaman_sim))
    record_spaced_consumptions(filaman_sim, first, 2)
    record_spaced_consumptions(filaman_sim, second, 2)
    filaman_sim.request_log.clear()

    events = await filaman.recent_events(page_size=3)

    assert len(events) == 3
    assert {event.spool_id for event in events} <= {first, second}
    assert [event.event_at for event in events] == sorted(
        (event.event_at for event in events if event.event_at is not None), reverse=True
    )
    assert filaman_sim.request_log == [("GET", "/api/v1/spools/all-events")]


async def test_recent_events_errors(filaman: FilamanClient, filaman_sim: FilamanSimulator) -> None:
    for bad_size in (0, 201):
        with pytest.raises(ValueError, match="page_size"):
            await filaman.recent_events(page_size=bad_size)
    filaman_sim.fail_next("GET", r"/all-events$", 200, body={"items": None, "total": 1})
    with pytest.raises(ProtocolError, match="envelope"):
        await filaman.recent_events()
    filaman_sim.fail_next("GET", r"/all-events$", 200, body=[])
    with pytest.raises(ProtocolError):
        await filaman.recent_events()


async def test_change_marks_move_with_every_change_every_worker_shares(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    """Two one-item pages: events (a new one, a merged one) and spools (new, archived)."""
    filament = seed_filament(filaman_sim)
    spool = filaman_sim.add_spool(filament)
    filaman_sim.request_log.clear()
    empty = await filaman.change_marks()
    assert (empty.events, empty.newest_event, empty.spools, empty.newest_spool) == (
        0,
        None,
        1,
        spool,
    )
    assert sorted(filaman_sim.request_log) == [
        ("GET", "/api/v1/spools"),
        ("GET", "/api/v1/spools/all-events"),
    ]
    filaman_sim.record_consumption(spool, 5.0, event_at=PRINT_END)
    weighed = await filaman.change_marks()
    assert weighed.events == 2  # the consumption, and the spool's new -> opened
    assert weighed.newest_event is not None
    filaman_sim.record_consumption(spool, 2.0, event_at=PRINT_END + timedelta(minutes=1))
    merged = await filaman.change_marks()
    assert merged.events == 2  # aggregated into the same event ...
    assert merged != weighed  # ... which moved on
    new = filaman_sim.add_spool(filament)
    assert (await filaman.change_marks()).newest_spool == new
    filaman_sim.archive_spool(new)
    assert (await filaman.change_marks()).spools == 1
    filaman_sim.edit_spool(spool, purchase_price=9.99)  # a field edit leaves no mark
    assert await filaman.change_marks() == await filaman.change_marks()


async def test_change_marks_refuse_what_is_not_a_page(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    filaman_sim.fail_next("GET", r"/all-events$", 200, body={"items": []})
    with pytest.raises(ProtocolError, match="paging envelopes"):
        await filaman.change_marks()


async def test_driver_health_asks_again_when_a_worker_cannot_reach_the_primary(
    filaman: FilamanClient, filaman_sim: FilamanSimulator
) -> None:
    """Newer FilaMan: a worker that is not the primary may answer 503 primary_proxy_failed."""
    printer = filaman_sim.add_printer("P1S", driver_key="bambuddy", driver_running=True)
    filaman_sim.fail_next(
        "GET",
        r"/driver/health$",
        503,
        count=2,
        body={"detail": {"code": "primary_proxy_failed", "message": "no primary"}},
    )
    assert (await filaman.driver_health(printer)).running
    filaman_sim.fail_next("GET", r"/driver/health$", 503, count=4)
    with pytest.raises(ServerError):
        await filaman.driver_health(printer)
    filaman_sim.fail_next("GET", r"/driver/health$", 500)
    with pytest.raises(ServerError):
        await filaman.driver_health(printer)  # not a proxy failure: not asked again
