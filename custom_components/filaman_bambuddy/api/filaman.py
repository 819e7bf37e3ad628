"""REST client for FilaMan 1.2.20 (API.md §1-§7).

Authentication is ``Authorization: ApiKey <key>``. FilaMan lets a ``session_id``
cookie override the API key (and then demands CSRF tokens on writes), so the
client must never carry cookies. It sets no cookies itself and FilaMan sets none
for API-key requests; when the injected session may hold FilaMan cookies from
elsewhere, give this client a session built with ``aiohttp.DummyCookieJar()``
(in Home Assistant: ``async_create_clientsession(hass, cookie_jar=DummyCookieJar())``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
import logging
from typing import Any

import aiohttp
from yarl import URL

from . import filaman_sse
from ._coerce import as_object, objects, to_int
from ._http import ApiClient, JsonHttp, Parsed
from .errors import IncompleteListingError, ProtocolError, ServerError
from .models_filaman import (
    ChangeMarks,
    DriverHealth,
    FilamanLocation,
    FilamanPlugin,
    FilamanPrinter,
    FilamanSpool,
    Filament,
    Me,
    PrinterParams,
    SpoolEvent,
    SpoolStatus,
    SseEvent,
    param_dict,
)

_LOGGER = logging.getLogger(__name__)

PAGE_SIZE = 200
MAX_PAGE_SIZE = 200
EVENT_PAGE_SIZE = 100
LISTING_ATTEMPTS = 3
PRIMARY_PROXY_ATTEMPTS = 4


class FilamanClient(ApiClient):
    """Typed async access to one FilaMan server. Nothing is retried except complete
    re-reads of a listing that changed while it was being paged."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str | URL,
        api_key: str,
        *,
        request_timeout: float = 15,
    ) -> None:
        self._session = session
        self._http = JsonHttp(
            session,
            base_url,
            headers={"Authorization": f"ApiKey {api_key}", "Accept": "application/json"},
            request_timeout=request_timeout,
            service="FilaMan",
            secrets=(api_key,),
        )
        self._request_timeout = request_timeout
        # The pages of each listing's last complete read, reused while unchanged.
        self._listing_pages: dict[str, dict[int, Parsed[_Page[Any]]]] = {}
        self._params_exports: dict[int, Parsed[PrinterParams]] = {}
        # The newest version of each filament, shared by all its spools (parsing may write
        # here from a worker thread: a race between two listings costs a copy, no more).
        self._filaments: dict[int, Filament] = {}

    async def _all_pages[T](
        self, path: str, parse: Callable[[Mapping[str, Any]], T], **params: str | int
    ) -> list[T]:
        """Every item of a paged listing, read again if it changed while paging."""
        for attempt in range(1, LISTING_ATTEMPTS + 1):
            try:
                return await self._read_pages(path, params, parse)
            except IncompleteListingError as err:
                if attempt == LISTING_ATTEMPTS:
                    raise
                _LOGGER.debug("%s; reading the listing again", err)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read_pages[T](
        self,
        path: str,
        params: Mapping[str, str | int],
        parse: Callable[[Mapping[str, Any]], T],
    ) -> list[T]:
        """One complete read of a listing, each page parsed as it arrives.

        Parsing per page lets a page's raw JSON die young (5,000 raw spools held to
        the end filled the garbage collector's oldest generation), and a page whose
        body is unchanged since the last complete read is not parsed again, so an
        idle sync builds no new models. A malformed item still fails the listing
        only once it is known to be complete, as when all items were parsed at the end.
        """
        listing = f"{path}?{sorted(params.items())}"
        previous = self._listing_pages.get(listing, {})
        pages: dict[int, Parsed[_Page[T]]] = {}
        items: dict[int, T | _Unparsable] = {}
        total: int | None = None
        page = 1
        while True:
            answer = await self._http.request_reusing(
                "GET",
                path,
                partial(_parse_page, parse, path, page),
                params={
                    **params,
                    "page": page,
                    "page_size": PAGE_SIZE,
                    "sort_by": "id",
                    "sort_order": "asc",
                },
                previous=previous.get(page),
            )
            pages[page] = answer
            page_total = answer.value.total
            if total is None:
                total = page_total
            elif page_total != total:
                raise IncompleteListingError(
                    f"FilaMan {path}: total changed from {total} to {page_total} while paging"
                )
            known = len(items)
            items.update(answer.value.items)
            # Stop when complete, or when a page brought nothing new (it would loop forever).
            if len(items) >= total or len(items) == known:
                break
            page += 1
        if len(items) != total:
            raise IncompleteListingError(
                f"FilaMan {path}: read {len(items)} distinct items, server reports {total}"
            )
        self._listing_pages[listing] = pages
        # Parsing an unparsable item again raises its error, with a fresh traceback.
        return [
            parse(value.item) if isinstance(value, _Unparsable) else value
            for value in items.values()
        ]

    # --- identity -----------------------------------------------------------------

    async def me(self) -> Me:
        """The key's user, roles and permissions (401 for a bad key)."""
        return Me.from_json(await self._get_object("/me"))

    # --- spools -------------------------------------------------------------------

    async def spools(self, include_archived: bool = False) -> list[FilamanSpool]:
        """Every spool, from all pages; returns only when the listing is complete.

        Raises :class:`IncompleteListingError` if the listing kept changing while
        it was read: callers may decide deletions only from a returned list.
        """
        return await self._all_pages(
            "/spools",
            partial(FilamanSpool.from_json, filaments=self._filaments),
            include_archived="true" if include_archived else "false",
        )

    async def spool(self, spool_id: int) -> FilamanSpool:
        """One spool (archived ones too)."""
        data = await self._get_object(f"/spools/{spool_id}")
        return FilamanSpool.from_json(data, filaments=self._filaments)

    async def spool_statuses(self) -> list[SpoolStatus]:
        return [SpoolStatus.from_json(item) for item in await self._get_list("/spools/statuses")]

    async def add_consumption(
        self, spool_id: int, grams: float, event_at: datetime, note: str | None = None
    ) -> SpoolEvent:
        """Debit ``grams`` (> 0) from a spool at ``event_at`` (timezone-aware).

        Never retried: FilaMan has no idempotency key, so a retry could debit twice.
        On :class:`ApiConnectionError` with ``request_sent`` true the debit may or
        may not have been applied. A merge into a recent consumption returns that
        event (same ``id``, ``aggregation_count > 1``).
        """
        if not grams > 0:
            raise ValueError("grams must be positive (FilaMan deducts any sign)")
        if event_at.tzinfo is None or event_at.utcoffset() is None:
            raise ValueError("event_at must be timezone-aware")
        body: dict[str, Any] = {"delta_weight_g": grams, "event_at": event_at.isoformat()}
        if note is not None:
            body["note"] = note
        data = await self._http.request("POST", f"/spools/{spool_id}/consumptions", json_body=body)
        return SpoolEvent.from_json(as_object(data, "consumption event"))

    async def spool_events(
        self, spool_id: int, *, page_size: int = EVENT_PAGE_SIZE
    ) -> AsyncGenerator[SpoolEvent]:
        """The spool's events, newest ``event_at`` first, read one page at a time.

        Pages are fetched only as the caller iterates, so stopping early (e.g. at
        the first event older than a window) saves the remaining requests; close
        the generator (``contextlib.aclosing``) when breaking out of it. An event
        that shifts onto the next page while paging is yielded once. Needs
        ``spool_events:read``; an unknown spool is :class:`NotFoundError`.
        """
        path = f"/spools/{spool_id}/events"
        seen: set[int] = set()
        page = 1
        while True:
            total, events = await self._event_page(path, page, page_size)
            fresh = 0
            for event in events:
                if event.id in seen:
                    continue
                seen.add(event.id)
                fresh += 1
                yield event
            # Stop at the end, or when a page brought nothing new (it would loop forever).
            if fresh == 0 or page * page_size >= total:
                return
            page += 1

    async def recent_events(self, page_size: int = EVENT_PAGE_SIZE) -> list[SpoolEvent]:
        """The newest events of all spools (``/spools/all-events``, newest ``event_at`` first).

        FilaMan's change stream names no spool; these name the spools a hint was about
        (measurements, adjustments, consumptions, status changes). Needs ``spool_events:read``.
        """
        _, events = await self._event_page("/spools/all-events", 1, page_size)
        return events

    async def _event_page(
        self, path: str, page: int, page_size: int
    ) -> tuple[int, list[SpoolEvent]]:
        """One page of an event listing: the server's total and the page's events."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        envelope = await self._get_object(path, page=page, page_size=page_size)
        total = to_int(envelope.get("total"))
        page_items = envelope.get("items")
        if total is None or not isinstance(page_items, list):
            raise ProtocolError(f"FilaMan {path} page {page}: not a paging envelope")
        return total, [SpoolEvent.from_json(item) for item in objects(page_items)]

    # --- printers -------------------------------------------------------------------

    # --- locations ---------------------------------------------------------------

    async def locations(self) -> list[FilamanLocation]:
        """Every location (any authenticated key may read them)."""
        return await self._all_pages("/locations", FilamanLocation.from_json)

    async def create_location(
        self, name: str, identifier: str, custom_fields: Mapping[str, Any] | None = None
    ) -> FilamanLocation:
        """A new location; needs ``locations:create`` (admins have it, the ``user`` role not)."""
        body = {"name": name, "identifier": identifier, "custom_fields": custom_fields}
        data = await self._http.request("POST", "/locations", json_body=body)
        return FilamanLocation.from_json(as_object(data, "created location"))

    async def move_spool(self, spool_id: int, location_id: int | None, note: str) -> SpoolEvent:
        """Move a spool (a ``move_location`` event); ``None`` takes it out of every location."""
        body = {"location_id": location_id, "note": note}
        data = await self._http.request("POST", f"/spools/{spool_id}/move", json_body=body)
        return SpoolEvent.from_json(as_object(data, "move event"))

    async def printers(self) -> list[FilamanPrinter]:
        """Every printer, from all pages (list entries have no ``driver_config``)."""
        return await self._all_pages("/printers", FilamanPrinter.from_json)

    async def printer(self, printer_id: int) -> FilamanPrinter:
        """One printer with its ``driver_config`` (holds a Bambuddy key: never log it)."""
        return FilamanPrinter.from_json(await self._get_object(f"/printers/{printer_id}"))

    async def plugins(self) -> list[FilamanPlugin]:
        """Installed plugins; needs ``admin:plugins_manage`` (the admin role): 403 otherwise."""
        items = await self._get_list("/admin/system/plugins")
        return [FilamanPlugin.from_json(item) for item in items]

    async def driver_health(self, printer_id: int, refresh: bool = False) -> DriverHealth:
        """Whether FilaMan's own driver (e.g. its Bambuddy plugin) runs for the printer.

        Drivers run in FilaMan's primary worker; on newer releases another worker proxies the
        question and may fail with 503 ``primary_proxy_failed``: transient, so asked again
        (each request lands on some worker), and never read as an answer.
        """
        params = {"refresh": 1} if refresh else {}
        for attempt in range(1, PRIMARY_PROXY_ATTEMPTS + 1):
            try:
                data = await self._get_object(f"/printers/{printer_id}/driver/health", **params)
            except ServerError as err:
                if attempt == PRIMARY_PROXY_ATTEMPTS or err.status != 503:
                    raise
                continue
            return DriverHealth.from_json(data)
        raise AssertionError("unreachable")  # pragma: no cover

    async def params_export(self, printer_id: int) -> PrinterParams:
        """All spool and filament params of one FilaMan printer in one call.

        An unchanged export returns the very same object as the last call, so callers
        may skip work derived from it (``is``).
        """
        path = f"/printers/{printer_id}/params/export"

        def parse(data: Any) -> PrinterParams:  # pure: may run on a worker thread
            return PrinterParams.from_json(as_object(data, path))

        export = await self._http.request_reusing(
            "GET", path, parse, params={}, previous=self._params_exports.get(printer_id)
        )
        self._params_exports[printer_id] = export
        return export.value

    async def spool_printer_params(self, spool_id: int, printer_id: int) -> dict[str, str]:
        """Spool-level params for one printer (``param_key`` → string value)."""
        items = await self._get_list(f"/spools/{spool_id}/printer-params", printer_id=printer_id)
        return param_dict([item for item in items if _for_printer(item, printer_id)])

    async def filament_printer_params(self, filament_id: int, printer_id: int) -> dict[str, str]:
        """Filament-level params for one printer (``param_key`` → string value)."""
        items = await self._get_list(
            f"/filaments/{filament_id}/printer-params", printer_id=printer_id
        )
        return param_dict([item for item in items if _for_printer(item, printer_id)])

    # --- noticing changes ---------------------------------------------------------

    async def change_marks(self) -> ChangeMarks:
        """What changes with any edit that leaves a trace every FilaMan worker sees: the newest
        spool event and the number of events, the number of active spools and the newest id.

        Two one-item pages; a change of any of them means something changed.
        """
        events, spools = await asyncio.gather(
            self._http.request("GET", "/spools/all-events", params={"page": 1, "page_size": 1}),
            self._http.request("GET", "/spools", params={"page": 1, "page_size": 1}),
        )
        return ChangeMarks.from_pages(events, spools)

    def change_stream(self) -> AsyncGenerator[SseEvent]:
        """One change stream: the hints of the worker it lands on (see ``filaman_sse.stream``)."""
        return filaman_sse.stream(
            self._session, self._http.base_url, connect_timeout=self._request_timeout
        )

    # --- change stream ------------------------------------------------------------

    def events(
        self,
        *,
        reconnect_every: float = 600.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> AsyncGenerator[SseEvent]:
        """FilaMan change hints (see :func:`filaman_sse.events`)."""
        return filaman_sse.events(
            self._session,
            self._http.base_url,
            reconnect_every=reconnect_every,
            connect_timeout=self._request_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )


@dataclass(frozen=True, slots=True)
class _Unparsable:
    """A listed item whose parsing failed; it fails the listing only once that is complete."""

    item: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Page[T]:
    """One parsed page of a listing: the server's total and its items by id, in order.

    ``items`` is never changed once built. A dict, not a tuple of pairs: a 5,000-spool
    listing would otherwise keep 5,000 more long-lived objects for the garbage collector.
    """

    total: int
    items: Mapping[int, T | _Unparsable]


def _parse_page[T](
    parse: Callable[[Mapping[str, Any]], T], path: str, page: int, data: Any
) -> _Page[T]:
    envelope = as_object(data, path)
    total = to_int(envelope.get("total"))
    page_items = envelope.get("items")
    if total is None or not isinstance(page_items, list):
        raise ProtocolError(f"FilaMan {path} page {page}: not a paging envelope")
    items = [(to_int(item.get("id")), item) for item in objects(page_items)]
    return _Page(
        total,
        {
            item_id: _parse_or_keep_error(parse, item)
            for item_id, item in items
            if item_id is not None
        },
    )


def _parse_or_keep_error[T](
    parse: Callable[[Mapping[str, Any]], T], item: Mapping[str, Any]
) -> T | _Unparsable:
    try:
        return parse(item)
    except Exception:
        return _Unparsable(item)


def _for_printer(item: Mapping[str, Any], printer_id: int) -> bool:
    owner = to_int(item.get("printer_id"))
    return owner is None or owner == printer_id
