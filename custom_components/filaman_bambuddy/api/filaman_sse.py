"""FilaMan's change stream (``GET /api/v1/events/stream``, API.md §8).

The stream is unauthenticated, carries no ids, sends no keep-alives and silently
stops feeding slow clients. So this iterator sets no read timeout, reconnects
every ``reconnect_every`` seconds to notice dead links, reconnects with capped
exponential backoff after failures, and yields a synthetic
``SseEvent(event="connected")`` after each (re)connect so callers resync.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
import json
import logging
from typing import Any

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from ._http import api_url, connection_error, error_for_status, normalize_base_url
from .errors import ApiError, ProtocolError
from .models_filaman import SSE_CONNECTED, SseEvent

_LOGGER = logging.getLogger(__name__)

STREAM_PATH = "/events/stream"


def parse_sse_data(data: str) -> SseEvent | None:
    """The event in one SSE ``data`` payload, or ``None`` if it is not a JSON object."""
    try:
        payload: Any = json.loads(data)
    except ValueError, RecursionError:  # a hostile nesting depth is junk, not a crash
        _LOGGER.debug("Skipping an SSE message that is not JSON")
        return None
    if not isinstance(payload, dict):
        _LOGGER.debug("Skipping an SSE message that is not a JSON object")
        return None
    return SseEvent.from_json(payload)


# FilaMan's hints are a few dozen bytes; a message larger than this is dropped unread, so an
# unauthenticated stream that never ends its message cannot make the parser grow for ever.
MAX_MESSAGE_CHARS = 64 * 1024


class _SseParser:
    """Collects ``data:`` lines until a blank line ends the message; ignores the rest."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._size = 0
        self._oversized = False

    def feed(self, line: str) -> SseEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            data, oversized = "\n".join(self._data), self._oversized
            self._data, self._size, self._oversized = [], 0, False
            if oversized:
                _LOGGER.debug("Skipped an SSE message over %s characters", MAX_MESSAGE_CHARS)
                return None
            return parse_sse_data(data) if data else None
        if line.startswith(":"):
            return None  # comment, e.g. ": connected"
        name, _, value = line.partition(":")
        if name == "data" and not self._oversized:
            self._size += len(value)
            if self._size > MAX_MESSAGE_CHARS:
                self._data, self._oversized = [], True  # drop it and what follows of it
            else:
                self._data.append(value.removeprefix(" "))
        return None


class _Connection:
    """How one stream ended: ``expired`` = our periodic reconnect, else the server closed."""

    def __init__(self) -> None:
        self.expired = False


async def events(
    session: aiohttp.ClientSession,
    base_url: str | URL,
    *,
    reconnect_every: float = 600.0,
    connect_timeout: float = 15.0,
    backoff_initial: float = 1.0,
    backoff_max: float = 60.0,
) -> AsyncGenerator[SseEvent]:
    """Yield FilaMan change hints forever; stop by cancelling or ``aclose()``.

    Failures are logged once (warning) until the stream is back (info).
    """
    url = api_url(normalize_base_url(base_url), STREAM_PATH)
    backoff = backoff_initial
    failing = False
    while True:
        connection = _Connection()
        try:
            # aclosing: the response is released at once when our consumer stops.
            async with aclosing(
                _one_connection(session, url, connection, reconnect_every, connect_timeout)
            ) as stream:
                async for event in stream:
                    if event.event == SSE_CONNECTED:
                        if failing:
                            _LOGGER.info("FilaMan event stream is back")
                            failing = False
                    else:
                        backoff = backoff_initial
                    yield event
        except ApiError as err:
            if not failing:
                _LOGGER.warning("FilaMan event stream unavailable (%s); retrying", err)
                failing = True
            else:
                _LOGGER.debug("FilaMan event stream still unavailable (%s)", err)
        else:
            if connection.expired:
                backoff = backoff_initial
                continue
            _LOGGER.debug("FilaMan closed the event stream; reconnecting")
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, backoff_max)


async def stream(
    session: aiohttp.ClientSession, base_url: str | URL, *, connect_timeout: float = 15.0
) -> AsyncGenerator[SseEvent]:
    """The events of one connection, ``connected`` first, until the server ends it.

    Raises ``ApiError`` when it cannot be opened or breaks. For a pool of streams whose
    owner decides when to open new ones (FilaMan's workers each have their own stream).
    """
    url = api_url(normalize_base_url(base_url), STREAM_PATH)
    async with aclosing(
        _one_connection(session, url, _Connection(), None, connect_timeout)
    ) as events_of_one:
        async for event in events_of_one:
            yield event


async def _one_connection(
    session: aiohttp.ClientSession,
    url: URL,
    connection: _Connection,
    reconnect_every: float | None,
    connect_timeout: float,
) -> AsyncGenerator[SseEvent]:
    """Events of one HTTP stream, until the server ends it or ``reconnect_every`` passes."""
    what = "FilaMan GET /events/stream"
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=None)
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    try:
        async with asyncio.timeout(connect_timeout):
            response = await session.get(url, headers=headers, timeout=timeout)
    except (aiohttp.ClientError, TimeoutError) as err:
        raise connection_error(err, what) from None
    async with response:
        if response.status != 200:
            raise error_for_status(response.status, None, what)
        yield SseEvent(event=SSE_CONNECTED, printer_id=None)
        parser = _SseParser()
        deadline = None if reconnect_every is None else loop.time() + reconnect_every
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    raw = await response.content.readline()
            except TimeoutError:
                _LOGGER.debug("Reconnecting the FilaMan event stream to detect dead links")
                connection.expired = True
                return
            except aiohttp.ClientError as err:
                raise connection_error(err, what) from None
            except (HttpProcessingError, ValueError) as err:
                # A line longer than aiohttp's read limit (512 KB): LineTooLong, or
                # ValueError in older aiohttp releases.
                raise ProtocolError(f"{what}: a line over the read limit ({err!s:.80})") from None
            if not raw:
                return
            event = parser.feed(raw.decode("utf-8", errors="replace"))
            if event is not None:
                yield event
