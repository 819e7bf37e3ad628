"""REST client for Bambuddy 1.2.5.2 (API.md §1-§9.1).

Paths follow the server's trailing-slash rules exactly (``/printers/`` needs the
slash, ``/inventory/*`` must not have it): the wrong form is a 404, not a redirect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
import hashlib
import logging
from typing import Any

import aiohttp
from yarl import URL

from ._coerce import as_object
from ._http import ApiClient, JsonHttp, Parsed, json_array_items, json_with_source
from .bambuddy_ws import BambuddyWebSocket
from .errors import ApiError, RejectedError
from .models_bambuddy import (
    Assignment,
    AuthStatus,
    BambuddySettings,
    BambuddySpool,
    PrintArchive,
    Printer,
    PrinterStatus,
    UsageRow,
)

_LOGGER = logging.getLogger(__name__)

_SPOOLS = "/inventory/spools"

# NOT NULL spool columns: sending null for them is an HTTP 500 (API.md §4.2).
NOT_NULL_SPOOL_FIELDS = frozenset(
    {"material", "label_weight", "core_weight", "weight_used", "weight_locked"}
)


def _check_spool_fields(fields: Mapping[str, Any]) -> None:
    nulls = sorted(key for key in NOT_NULL_SPOOL_FIELDS if key in fields and fields[key] is None)
    if nulls:
        raise ValueError(f"Bambuddy rejects null for {', '.join(nulls)} with HTTP 500")


@dataclass(frozen=True, slots=True)
class _KnownSpools:
    """Spool models by id, each with the fingerprint of the JSON text it was parsed from."""

    models: dict[int, BambuddySpool] = field(default_factory=dict)
    fingerprints: dict[int, bytes] = field(default_factory=dict)

    def add(self, spool: BambuddySpool, fingerprint: bytes) -> None:
        self.models[spool.id] = spool
        self.fingerprints[spool.id] = fingerprint

    def forget(self, spool_id: int) -> None:
        self.models.pop(spool_id, None)
        self.fingerprints.pop(spool_id, None)

    def unchanged(self, item: Any, fingerprint: bytes) -> BambuddySpool | None:
        """The model of ``item`` if it was parsed from exactly the same text."""
        spool_id = item.get("id") if isinstance(item, Mapping) else None
        if isinstance(spool_id, int) and self.fingerprints.get(spool_id) == fingerprint:
            return self.models[spool_id]
        return None

    def copy(self) -> _KnownSpools:
        return _KnownSpools(dict(self.models), dict(self.fingerprints))


@dataclass(frozen=True, slots=True)
class _SpoolListing:
    """One parsed spool listing: its models in order, and what it knows for the next read."""

    spools: tuple[BambuddySpool, ...]
    known: _KnownSpools


def _fingerprint(source: str) -> bytes:
    return hashlib.blake2b(source.encode(), digest_size=16).digest()


def _parse_spools(
    previous: _SpoolListing | None, answers: _KnownSpools, items: Iterable[tuple[Any, str]]
) -> _SpoolListing:
    """The spool listing's models, built anew only for the spools that changed.

    An item whose text is exactly as in the ``previous`` listing, or as in the answer to
    one of our own writes (``answers``), is that model again, not parsed; an item that
    parses equal to an answer is the answer's model too. So a listing where a few spools
    changed costs little more than its decoding, and only the spools that really changed
    become new long-lived objects (each of which brings the garbage collector's slow full
    pass nearer). Runs on a worker thread for a large listing: nothing here is shared.
    """
    spools: list[BambuddySpool] = []
    known = _KnownSpools()
    for item, source in items:
        fingerprint = _fingerprint(source)
        spool = previous.known.unchanged(item, fingerprint) if previous is not None else None
        if spool is None:
            spool = answers.unchanged(item, fingerprint)
        if spool is None:
            spool = BambuddySpool.from_json(as_object(item, _SPOOLS))
            answer = answers.models.get(spool.id)
            if answer == spool:
                spool = answer
        spools.append(spool)
        known.add(spool, fingerprint)
    return _SpoolListing(tuple(spools), known)


def _spool_answer(what: str, answer: tuple[Any, str]) -> tuple[BambuddySpool, bytes]:
    data, source = answer
    return BambuddySpool.from_json(as_object(data, what)), _fingerprint(source)


class BambuddyClient(ApiClient):
    """Typed async access to one Bambuddy server, authenticated by ``X-API-Key``.

    ``api_key`` may be ``None`` for servers with auth disabled (then any key passes,
    so a key cannot be validated: check :meth:`auth_status`). Every call has a
    ``request_timeout``; nothing is retried here.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str | URL,
        api_key: str | None,
        *,
        request_timeout: float = 15,
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["X-API-Key"] = api_key
        self._http = JsonHttp(
            session,
            base_url,
            headers=headers,
            request_timeout=request_timeout,
            service="Bambuddy",
            secrets=(api_key,),
        )
        self._session = session
        self._request_timeout = request_timeout
        # The last spool listing per include_archived flag, reused while unchanged.
        self._spool_listings: dict[str, Parsed[_SpoolListing]] = {}
        # The spools our own requests for one spool (mostly writes) were answered with
        # since the last complete listing.
        self._answers = _KnownSpools()

    # --- auth -----------------------------------------------------------------

    async def auth_status(self) -> AuthStatus:
        """Whether auth is enabled (public endpoint; no key needed)."""
        return AuthStatus.from_json(await self._get_object("/auth/status"))

    async def keys_are_printer_scoped(self) -> bool:
        """Whether this Bambuddy limits API keys to chosen printers (1.2.6, #1727): then a
        printer outside a key's scope answers 404, as if it did not exist. Public endpoint;
        an unreadable version counts as an older server."""
        try:
            data = await self._get_object("/updates/version")
        except ApiError:
            return False
        return version_tuple(data.get("version")) >= SCOPED_KEYS_SINCE

    async def verify_key(self) -> None:
        """Prove the key can read (``can_read_status``) with a real read.

        ``/auth/me`` cannot be used: it claims full admin for any key. Raises
        :class:`AuthenticationError` or :class:`MissingPermissionError`.
        """
        await self._get_list("/printers/")

    async def verify_write_access(self) -> None:
        """Prove the key may write inventory (``can_manage_inventory``) without writing.

        Posts an empty spool: the scope dependency answers 403 before body
        validation, so a 422 (``material`` missing) means the key may write.
        Raises :class:`MissingPermissionError`/:class:`AuthenticationError` otherwise.
        """
        try:
            created = await self._http.request("POST", _SPOOLS, json_body={})
        except RejectedError as err:
            if err.status == 422:
                return
            raise
        # A server that accepted an empty spool created one: remove it again.
        if isinstance(created, Mapping) and isinstance(created.get("id"), int):
            _LOGGER.debug("Write probe created spool %s; deleting it", created["id"])
            await self.delete_spool(created["id"])

    async def ws_token(self) -> str | None:
        """Mint a WebSocket token (60 min, reusable). Auth-disabled servers also return one."""
        data = as_object(await self._http.request("POST", "/auth/ws-token"), "/auth/ws-token")
        token = data.get("token")
        return token if isinstance(token, str) and token else None

    def connect_websocket(
        self,
        token: str | None,
        *,
        ping_interval: float = 30.0,
        pong_timeout: float = 10.0,
    ) -> BambuddyWebSocket:
        """A not-yet-connected WebSocket; use ``async with`` to open it."""
        return BambuddyWebSocket(
            self._session,
            self._http.base_url,
            token,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            connect_timeout=self._request_timeout,
        )

    # --- printers ---------------------------------------------------------------

    async def printers(self) -> list[Printer]:
        """Every printer Bambuddy manages, by name."""
        return [Printer.from_json(item) for item in await self._get_list("/printers/")]

    async def printer(self, printer_id: int) -> Printer:
        return Printer.from_json(await self._get_object(f"/printers/{printer_id}"))

    async def printer_status(self, printer_id: int) -> PrinterStatus:
        """The live status snapshot (``remaining_time`` in minutes)."""
        return PrinterStatus.from_json(await self._get_object(f"/printers/{printer_id}/status"))

    # --- spools -----------------------------------------------------------------

    async def spools(self, include_archived: bool = True) -> list[BambuddySpool]:
        """All inventory spools (archived ones too by default, so links are never missed)."""
        # A large listing is decoded and parsed off the event loop, an unchanged one not at all.
        flag = "true" if include_archived else "false"
        previous = self._spool_listings.get(flag)
        listing = await self._http.request_reusing(
            "GET",
            _SPOOLS,
            partial(_parse_spools, previous.value if previous else None, self._answers.copy()),
            params={"include_archived": flag},
            previous=previous,
            decode=json_array_items,
        )
        self._spool_listings[flag] = listing
        if include_archived and listing is not previous:
            self._answers = _KnownSpools()  # the listing shows them all now
        return list(listing.value.spools)

    async def spool(self, spool_id: int) -> BambuddySpool:
        return await self._spool_answer("GET", f"{_SPOOLS}/{spool_id}", "spool")

    async def create_spool(self, fields: Mapping[str, Any]) -> BambuddySpool:
        """Create a spool (``material`` required). Raises ``ValueError`` for NOT NULL nulls."""
        _check_spool_fields(fields)
        return await self._spool_answer("POST", _SPOOLS, "created spool", dict(fields))

    async def patch_spool(self, spool_id: int, changes: Mapping[str, Any]) -> BambuddySpool:
        """Partial update. Send ``weight_locked`` with ``weight_used`` (else it becomes true)."""
        _check_spool_fields(changes)
        path = f"{_SPOOLS}/{spool_id}"
        return await self._spool_answer("PATCH", path, "patched spool", dict(changes))

    async def restore_spool(self, spool_id: int) -> BambuddySpool:
        """Un-archive a spool; it keeps its id, slot assignments and usage history."""
        return await self._spool_answer("POST", f"{_SPOOLS}/{spool_id}/restore", "restored spool")

    async def archive_spool(self, spool_id: int) -> BambuddySpool:
        """Archive a spool; it keeps its slot assignments and usage history."""
        return await self._spool_answer("POST", f"{_SPOOLS}/{spool_id}/archive", "archived spool")

    async def _spool_answer(
        self, method: str, path: str, what: str, body: Any = None
    ) -> BambuddySpool:
        """The spool one request answered with, remembered with its text so the next
        listing reuses its model."""
        spool, fingerprint = await self._http.request_parsed(
            method, path, partial(_spool_answer, what), json_body=body, decode=json_with_source
        )
        self._answers.add(spool, fingerprint)
        return spool

    async def delete_spool(self, spool_id: int) -> None:
        """Hard delete, including the spool's slot assignments."""
        await self._http.request("DELETE", f"{_SPOOLS}/{spool_id}", allow_empty=True)
        self._answers.forget(spool_id)

    # --- assignments --------------------------------------------------------------

    async def assignments(self, printer_id: int | None = None) -> list[Assignment]:
        """Slot assignments (``configured`` is always false in this list)."""
        params = {} if printer_id is None else {"printer_id": printer_id}
        items = await self._get_list("/inventory/assignments", **params)
        return [Assignment.from_json(item) for item in items]

    async def assign(self, spool_id: int, printer_id: int, ams_id: int, tray_id: int) -> Assignment:
        """Bind a spool to a slot; Bambuddy configures the AMS slot over MQTT."""
        body = {
            "spool_id": spool_id,
            "printer_id": printer_id,
            "ams_id": ams_id,
            "tray_id": tray_id,
        }
        data = await self._http.request("POST", "/inventory/assignments", json_body=body)
        return Assignment.from_json(as_object(data, "assignment"))

    async def unassign(self, printer_id: int, ams_id: int, tray_id: int) -> None:
        """Remove a slot binding (database only: the printer slot keeps its settings)."""
        await self._http.request(
            "DELETE", f"/inventory/assignments/{printer_id}/{ams_id}/{tray_id}", allow_empty=True
        )

    # --- usage and settings -------------------------------------------------------

    async def usage(self, limit: int = 100, printer_id: int | None = None) -> list[UsageRow]:
        """Newest-first usage rows; ``id`` is the only stable cursor."""
        params: dict[str, str | int] = {"limit": limit}
        if printer_id is not None:
            params["printer_id"] = printer_id
        # Up to 10,000 rows for a past-prints request: built off the loop when that large.
        return await self._get_models("/inventory/usage", UsageRow.from_json, **params)

    async def archives(self, printer_id: int, limit: int = 10) -> list[PrintArchive]:
        """The printer's newest print archives (``/archives/`` needs its trailing slash)."""
        items = await self._get_list("/archives/", printer_id=printer_id, limit=limit)
        return [PrintArchive.from_json(item) for item in items]

    async def spoolman_settings(self) -> BambuddySettings:
        """Spoolman mode: when enabled Bambuddy reports no ``spool_usage_logged``."""
        return BambuddySettings.from_json(await self._get_object("/settings/spoolman"))


# Bambuddy's first release whose API keys reach only the printers chosen for them (#1727).
SCOPED_KEYS_SINCE = (1, 2, 6)


def version_tuple(text: object) -> tuple[int, ...]:
    """``"1.2.5.2"`` → ``(1, 2, 5, 2)``; anything unreadable → ``()`` (older than all)."""
    if not isinstance(text, str):
        return ()
    parts: list[int] = []
    for part in text.strip().lstrip("v").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
