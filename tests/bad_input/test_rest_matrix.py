"""Every client call against every kind of bad answer: each gets its defined ApiError, nothing else.

Defined outcomes:
* HTTP 400/409/422 → RejectedError, 401 → AuthenticationError, 403 → AuthenticationError
  (MissingPermissionError when the body names the permission), 404 → NotFoundError,
  500 → ServerError;
* no answer in time → ApiTimeoutError; connection reset → ApiConnectionError;
* a 200 whose body is not JSON, or JSON of the wrong shape, or huge junk → ProtocolError
  (bodies that merely lack optional fields may parse into a model with defaults);
* never any other exception (KeyError, TypeError, ValueError …), which would crash a caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import json
import threading
from typing import Any

import aiohttp
import pytest

from custom_components.filaman_bambuddy.api import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BambuddyClient,
    FilamanClient,
    MissingPermissionError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    ServerError,
    _http,
)
from custom_components.filaman_bambuddy.api.models_bambuddy import UsageRow

from .raw_server import RawServer, Reply

TIMEOUT_S = 0.2
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPOOL = {"material": "PLA", "label_weight": 1000, "core_weight": 250}

type Call = Callable[[BambuddyClient, FilamanClient], Awaitable[object]]

CALLS: dict[str, Call] = {
    "bambuddy.auth_status": lambda b, f: b.auth_status(),
    "bambuddy.verify_key": lambda b, f: b.verify_key(),
    "bambuddy.verify_write_access": lambda b, f: b.verify_write_access(),
    "bambuddy.ws_token": lambda b, f: b.ws_token(),
    "bambuddy.printers": lambda b, f: b.printers(),
    "bambuddy.printer": lambda b, f: b.printer(1),
    "bambuddy.printer_status": lambda b, f: b.printer_status(1),
    "bambuddy.spools": lambda b, f: b.spools(),
    "bambuddy.spool": lambda b, f: b.spool(1),
    "bambuddy.create_spool": lambda b, f: b.create_spool(SPOOL),
    "bambuddy.patch_spool": lambda b, f: b.patch_spool(1, {"rgba": "FFFFFFFF"}),
    "bambuddy.delete_spool": lambda b, f: b.delete_spool(1),
    "bambuddy.assignments": lambda b, f: b.assignments(1),
    "bambuddy.assign": lambda b, f: b.assign(1, 1, 0, 0),
    "bambuddy.unassign": lambda b, f: b.unassign(1, 0, 0),
    "bambuddy.usage": lambda b, f: b.usage(10, 1),
    "bambuddy.spoolman_settings": lambda b, f: b.spoolman_settings(),
    "filaman.me": lambda b, f: f.me(),
    "filaman.spools": lambda b, f: f.spools(),
    "filaman.spool": lambda b, f: f.spool(1),
    "filaman.spool_statuses": lambda b, f: f.spool_statuses(),
    "filaman.printers": lambda b, f: f.printers(),
    "filaman.printer": lambda b, f: f.printer(1),
    "filaman.driver_health": lambda b, f: f.driver_health(1),
    "filaman.params_export": lambda b, f: f.params_export(1),
    "filaman.spool_printer_params": lambda b, f: f.spool_printer_params(1, 1),
    "filaman.filament_printer_params": lambda b, f: f.filament_printer_params(1, 1),
    "filaman.add_consumption": lambda b, f: f.add_consumption(1, 2.5, NOW, "note"),
}


def _json(status: int, body: object) -> Reply:
    return Reply(status=status, body=json.dumps(body).encode())


# name → (reply, the exception it must raise, or None when a typed value may come back too)
BAD: dict[str, tuple[Reply, type[ApiError] | None]] = {
    "malformed_json": (Reply(body=b'{"id": 1, "name": '), ProtocolError),
    "not_json": (Reply(body=b"<html>Bad Gateway</html>", content_type="text/html"), ProtocolError),
    "binary_junk": (Reply(body=bytes(range(256)), content_type="application/octet-stream"),
                    ProtocolError),
    "json_scalar": (_json(200, "hello"), ProtocolError),
    "json_null": (_json(200, None), ProtocolError),
    "list_of_scalars": (_json(200, [1, "two", None]), ProtocolError),
    "wrong_field_types": (
        _json(200, {"id": "abc", "name": 5, "items": "x", "total": "y", "token": 7,
                    "status": [], "data": "z", "spool_id": {}}),
        None,
    ),
    "missing_fields": (_json(200, {}), None),
    "empty_body": (Reply(body=b""), None),
    "huge_junk": (Reply(body=b"[" + b"1," * 500_000 + b"1]"), ProtocolError),
    # No text encoding: the body is read as UTF-8, JSON's own charset.
    "charset_base64": (Reply(body=b"[]", charset="base64"), None),
    "charset_unknown": (Reply(body=b'{"id": 1}', charset="no-such-charset"), None),
    "http_400": (_json(400, {"detail": "Bad request"}), RejectedError),
    "http_401": (_json(401, {"detail": "Invalid API key"}), AuthenticationError),
    "http_403": (_json(403, {"detail": "Forbidden"}), AuthenticationError),
    "http_403_permission": (
        _json(403, {"detail": "API key does not have 'can_manage_inventory' permission"}),
        MissingPermissionError,
    ),
    "http_404": (_json(404, {"detail": "Not Found"}), NotFoundError),
    "http_409": (_json(409, {"detail": {"code": "conflict", "message": "Conflict"}}),
                 RejectedError),
    "http_422": (_json(422, {"detail": [{"loc": ["body", "x"], "msg": "bad"}]}), RejectedError),
    "http_500": (Reply(status=500, body=b"Internal Server Error", content_type="text/plain"),
                 ServerError),
    "timeout": (Reply(delay=TIMEOUT_S * 3), ApiTimeoutError),
    "connection_reset": (Reply(reset=True), ApiConnectionError),
}  # fmt: skip

# Outcomes a call defines differently on purpose.
SPECIAL: dict[tuple[str, str], str] = {
    # A 422 to the empty write probe is how Bambuddy says "this key may write".
    ("bambuddy.verify_write_access", "http_422"): "returns",
}
# Calls that ignore the body of a successful answer: any 2xx is success for them.
BODY_IGNORED = ("bambuddy.delete_spool", "bambuddy.unassign", "bambuddy.verify_write_access")
SHAPE_PROBLEMS = ("huge_junk", "json_null", "json_scalar", "list_of_scalars")
SPECIAL |= {(call, bad): "returns" for call in BODY_IGNORED for bad in SHAPE_PROBLEMS}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("call", sorted(CALLS))
async def test_bad_answer_has_a_defined_outcome(
    call: str, bad: str, raw_server: RawServer, session: aiohttp.ClientSession
) -> None:
    reply, expected = BAD[bad]
    raw_server.reply = reply
    bambuddy = BambuddyClient(session, raw_server.url, "bb_" + "k" * 43, request_timeout=TIMEOUT_S)
    filaman = FilamanClient(session, raw_server.url, "uak.1." + "s" * 43, request_timeout=TIMEOUT_S)
    outcome: Any
    try:
        outcome = await CALLS[call](bambuddy, filaman)
    except ApiError as err:
        outcome = err
    # Anything else (KeyError, TypeError, ...) propagates and fails the test: a crash.
    assert raw_server.requests, "the call never reached the server"
    if SPECIAL.get((call, bad)) == "returns":
        assert not isinstance(outcome, ApiError), outcome
    elif expected is not None:
        assert isinstance(outcome, expected), f"{call} on {bad}: {outcome!r}"
    assert "k" * 43 not in repr(outcome)
    assert "s" * 43 not in repr(outcome)


async def test_bambuddy_126_tag_conflict_is_read_once(
    raw_server: RawServer, session: aiohttp.ClientSession
) -> None:
    """1.2.6's structured 409 (#3110): the holder is named, the code kept, nothing resent."""
    raw_server.reply = _json(409, {"detail": {
        "code": "tag_already_linked", "message": "Tag UID is already linked to spool 42",
        "spool_id": 42, "field": "tag_uid"}})  # fmt: skip
    bambuddy = BambuddyClient(session, raw_server.url, "bb_" + "k" * 43)
    with pytest.raises(RejectedError) as refused:
        await bambuddy.patch_spool(7, {"tag_uid": "A1B2C3D4E5F60708"})
    assert refused.value.code == "tag_already_linked"
    assert refused.value.detail == "Tag UID is already linked to spool 42"
    assert len(raw_server.requests) == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_an_oversized_answer_is_refused_unread(
    chunked: bool,
    raw_server: RawServer,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the cap the answer is a ProtocolError, whether its size was declared or not."""
    monkeypatch.setattr(_http, "MAX_ANSWER_BYTES", 100_000)
    raw_server.reply = Reply(body=b"[" + b"1," * 200_000 + b"1]", chunked=chunked)
    bambuddy = BambuddyClient(session, raw_server.url, "bb_" + "k" * 43)
    with pytest.raises(ProtocolError, match="too large"):
        await bambuddy.spools()
    raw_server.reply = Reply(body=b"[]", chunked=chunked)
    assert await bambuddy.spools() == []  # the same session goes on working


@pytest.mark.parametrize("key", ["bb_abc\x00def", "bb_abc\ndef", "bb_\x7f"])
async def test_a_key_no_header_can_carry_is_invalid_auth(
    key: str, raw_server: RawServer, session: aiohttp.ClientSession
) -> None:
    bambuddy = BambuddyClient(session, raw_server.url, key)
    filaman = FilamanClient(session, raw_server.url, key.replace("bb_", "uak.1."))
    with pytest.raises(AuthenticationError) as refused:
        await bambuddy.printers()
    assert "\x00" not in str(refused.value)
    with pytest.raises(AuthenticationError):
        await filaman.spools()
    assert raw_server.requests == []  # nothing was sent


async def test_a_large_usage_list_is_built_off_the_event_loop(
    raw_server: RawServer, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = {"id": 1, "spool_id": 2, "printer_id": 1, "print_name": "x" * 200,
           "weight_used": 1.5, "percent_used": 1, "status": "completed",
           "created_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    body = json.dumps([row | {"id": n} for n in range(10_000)]).encode()
    assert len(body) >= _http.OFF_LOOP_MIN_BYTES
    raw_server.reply = Reply(body=body)
    threads: set[int] = set()
    build = UsageRow.from_json

    def spying_build(data: Any) -> UsageRow:
        threads.add(threading.get_ident())
        return build(data)

    monkeypatch.setattr(UsageRow, "from_json", staticmethod(spying_build))
    rows = await BambuddyClient(session, raw_server.url, "bb_" + "k" * 43).usage(10_000)
    assert len(rows) == 10_000
    assert threads
    assert threading.get_ident() not in threads
