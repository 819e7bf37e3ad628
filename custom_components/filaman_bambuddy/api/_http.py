"""One JSON-over-HTTP helper for both clients: URLs, timeouts and error mapping.

Status codes and the servers' real error bodies are translated here, once:
Bambuddy ``{"detail": "text"}``, FilaMan ``{"detail": {"code", "message"}}``,
FastAPI 422 ``{"detail": [{"loc", "msg"}]}`` and FilaMan's CSRF ``{"code", "message"}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
import hashlib
import json
import logging
import re
from typing import Any

import aiohttp
from yarl import URL

from ._coerce import as_list, as_object
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    MissingPermissionError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    ServerError,
)

_LOGGER = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# Bodies above this are decoded (and parsed) on a worker thread: a 5,000-spool Bambuddy
# listing is ~4 MB and takes tens of ms, which would stall Home Assistant's event loop.
# Smaller ones (a 200-item FilaMan page is ~0.3 MB, ~1 ms) stay inline: a thread hop
# per small answer is waste.
OFF_LOOP_MIN_BYTES = 1_000_000
# No answer either server sends comes near this (a 5,000-spool Bambuddy listing is ~8 MB); a
# larger one is refused before it is read whole, so a broken or hostile server cannot make
# Home Assistant hold hundreds of megabytes.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_MAX_DETAIL_CHARS = 300
# Bambuddy: "API key does not have 'can_manage_inventory' permission";
# FilaMan: "Permission 'spools:edit' required".
_PERMISSION = re.compile(r"permission", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUOTED = re.compile(r"'([A-Za-z0-9_.:-]+)'")

type QueryValue = str | int | float
type Query = Mapping[str, QueryValue]
# Turns a successful body into what a parser gets: ``decode(text, what, status)``.
type Decode = Callable[[str, str, int], Any]


def normalize_base_url(base_url: str | URL) -> URL:
    """Server root without query, fragment, trailing slash or a pasted ``/api/v1``."""
    url = URL(str(base_url).strip())
    if not url.absolute or url.scheme not in ("http", "https"):
        raise ValueError("base URL must be an absolute http(s) URL")
    path = url.path.rstrip("/")
    path = path.removesuffix(API_PREFIX).rstrip("/")
    return url.with_path(path or "/").with_query(None).with_fragment(None)


def api_url(base_url: URL, path: str) -> URL:
    """``base + /api/v1 + path``, keeping the path's trailing slash exactly as given."""
    return base_url.with_path(base_url.path.rstrip("/") + API_PREFIX + path)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _validation_summary(items: list[Any]) -> str:
    parts = []
    for item in items:
        if isinstance(item, Mapping):
            loc = item.get("loc")
            where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
            msg = str(item.get("msg", "invalid"))
            parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "validation error"


def describe_error_body(body: Any) -> tuple[str, str | None]:
    """A readable one-line detail and the machine code, from either server's error body."""
    if isinstance(body, Mapping):
        detail = body.get("detail", body)
        if isinstance(detail, str):
            return detail, None
        if isinstance(detail, list):
            return _validation_summary(detail), "validation_error"
        if isinstance(detail, Mapping):
            code = detail.get("code")
            message = detail.get("message")
            code_text = code if isinstance(code, str) else None
            if isinstance(message, str):
                return message, code_text
            if code_text:
                return code_text, code_text
    return "", None


def _permission_in(detail: str) -> str | None:
    if not _PERMISSION.search(detail):
        return None
    match = _QUOTED.search(detail)
    return match.group(1) if match else None


def error_for_status(status: int, body: Any, what: str) -> ApiError:
    """The exception for an unsuccessful HTTP status and its decoded body."""
    detail, code = describe_error_body(body)
    detail = detail[:_MAX_DETAIL_CHARS]
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status == 401:
        return AuthenticationError(message, status=status)
    if status == 403:
        permission = _permission_in(detail)
        if permission is not None:
            return MissingPermissionError(message, permission=permission, status=status)
        return AuthenticationError(message, status=status)
    if status == 404:
        return NotFoundError(message, status=status)
    if status >= 500:
        return ServerError(message, status=status)
    if 400 <= status < 500:
        return RejectedError(
            message, status=status, detail=detail or code or f"HTTP {status}", code=code
        )
    if 300 <= status < 400:
        return ProtocolError(f"{what}: redirected (HTTP {status}); check the URL", status=status)
    return ProtocolError(message, status=status)


def connection_error(err: BaseException, what: str) -> ApiConnectionError:
    """Map an aiohttp/asyncio transport failure; the text never includes a URL."""
    if isinstance(err, TimeoutError):
        return ApiTimeoutError(f"{what}: timed out")
    if isinstance(err, aiohttp.ClientConnectorError):
        reason = err.os_error.strerror or type(err.os_error).__name__
        return ApiConnectionError(f"{what}: cannot connect ({reason})", request_sent=False)
    return ApiConnectionError(f"{what}: connection failed ({type(err).__name__})")


def decode_json(text: str, what: str, status: int | None = None) -> Any:
    """Parse a JSON body or raise :class:`ProtocolError`."""
    try:
        return json.loads(text)
    except ValueError, RecursionError:  # a hostile nesting depth is not JSON we can use either
        raise ProtocolError(f"{what}: response is not JSON", status=status) from None


_JSON_DECODER = json.JSONDecoder()
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def json_array_items(text: str, what: str, status: int | None = None) -> Iterator[tuple[Any, str]]:
    """The items of a JSON array body, each decoded and with its own source text,
    one at a time as they are asked for.

    Same grammar as :func:`decode_json`, but only one raw item is alive at a time: a
    5,000-spool listing decoded whole is 10,000 dicts and lists that a garbage collection
    during the parse promotes to the oldest generation, bringing the slow full pass closer.
    The source lets a parser tell an item that did not change since the last read.
    """

    def malformed() -> ProtocolError:
        return ProtocolError(f"{what}: response is not JSON", status=status)

    position = _after_space(text, 0)
    if not text.startswith("[", position):
        data = decode_json(text, what, status)  # not JSON at all, or JSON of another shape
        raise ProtocolError(f"{what}: expected a JSON array, got {type(data).__name__}")
    position = _after_space(text, position + 1)
    closed = text.startswith("]", position)
    while not closed:
        start = position
        try:
            item, position = _JSON_DECODER.raw_decode(text, position)
        except ValueError, RecursionError:
            raise malformed() from None
        yield item, text[start:position]
        position = _after_space(text, position)
        closed = text.startswith("]", position)
        if not closed:
            if not text.startswith(",", position):
                raise malformed()
            position = _after_space(text, position + 1)
    if _after_space(text, position + 1) != len(text):
        raise malformed()  # something after the array


def json_with_source(text: str, what: str, status: int | None = None) -> tuple[Any, str]:
    """A body decoded as by :func:`decode_json`, with its source text (as an array item's)."""
    return decode_json(text, what, status), text.strip(" \t\n\r")


def _after_space(text: str, position: int) -> int:
    """Where JSON whitespace from ``position`` on ends."""
    space = _JSON_SPACE.match(text, position)
    return space.end() if space else position  # the pattern matches the empty string anyway


async def off_loop[**P, T](
    heavy: bool, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """``func(*args)`` on the default executor when ``heavy``, else right here.

    Only for pure work on data nothing else holds (freshly decoded JSON, frozen models):
    the event loop keeps running meanwhile.
    """
    if heavy:
        return await asyncio.to_thread(func, *args, **kwargs)
    return func(*args, **kwargs)


def _unchanged(data: Any) -> Any:
    return data


@dataclass(frozen=True, slots=True)
class Parsed[T]:
    """A parsed answer and the digest of the body it came from (see ``request_reusing``)."""

    value: T
    digest: bytes


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    encoding: str
    what: str

    @property
    def heavy(self) -> bool:
        return len(self.body) >= OFF_LOOP_MIN_BYTES

    def text(self) -> str:
        """The body as text: its declared charset when that is a text encoding, else UTF-8
        (the only charset JSON has; a charset such as ``base64`` is no text encoding)."""
        try:
            return self.body.decode(self.encoding, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def digest(self) -> bytes:
        digest = hashlib.sha256(self.body)
        digest.update(self.encoding.encode())
        return digest.digest()


class JsonHttp:
    """Sends JSON requests below ``<base>/api/v1`` with fixed headers and a timeout.

    No retries happen here: callers decide, because some writes (FilaMan
    consumptions) have no idempotency.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str | URL,
        *,
        headers: Mapping[str, str],
        request_timeout: float,
        service: str,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.session = session
        self.base_url = normalize_base_url(base_url)
        self.headers = dict(headers)
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.service = service
        self.secrets = tuple(secret for secret in secrets if secret)
        self.on_key_rejected: Callable[[], None] | None = None
        """Called when the server answers 401: the key was revoked or changed."""
        # A key no HTTP header may carry (a control character, say from a bad paste) can
        # never be valid: say so as the server would, instead of failing inside aiohttp.
        self._unsendable_key = any(_CONTROL.search(value) for value in self.headers.values())

    def url(self, path: str) -> URL:
        return api_url(self.base_url, path)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        json_body: Any = None,
        allow_empty: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON (``None`` for an allowed empty body)."""
        return await self.request_parsed(
            method, path, _unchanged, params=params, json_body=json_body, allow_empty=allow_empty
        )

    async def request_parsed[T](
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Query | None = None,
        json_body: Any = None,
        allow_empty: bool = False,
        decode: Decode = decode_json,
    ) -> T:
        """Send one request; return ``parse(decode(body))`` (``decode`` as for
        :meth:`request_reusing`).

        A large body is decoded and parsed on a worker thread, so ``parse`` must be pure
        (build models from its argument, touch nothing shared).
        """
        answer = await self._send(method, path, params=params, json_body=json_body)
        return await off_loop(
            answer.heavy, self._decode_and_parse, answer, allow_empty, parse, decode
        )

    async def request_reusing[T](
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Query | None = None,
        previous: Parsed[T] | None = None,
        decode: Decode = decode_json,
    ) -> Parsed[T]:
        """Like :meth:`request_parsed`, but a successful body identical to the one
        ``previous`` came from returns ``previous`` without decoding it again.

        For big listings read over and over while they rarely change: an idle sync of
        5,000 spools then builds no new models, which saves the decoding and keeps
        the garbage collector's full passes (100+ ms on a Home Assistant heap) rare.
        ``parse`` must return something immutable, as its result is handed out again.
        ``decode(text, what, status)`` turns a successful body into what ``parse`` gets
        (:func:`json_array_items` hands over an array's items one at a time).
        """
        answer = await self._send(method, path, params=params, json_body=None)
        return await off_loop(
            answer.heavy, self._parse_unless_unchanged, answer, parse, previous, decode
        )

    async def _send(
        self, method: str, path: str, *, params: Query | None, json_body: Any
    ) -> _Answer:
        what = f"{self.service} {method} {path}"
        if self._unsendable_key:
            raise AuthenticationError(f"{what}: the API key holds characters no key has")
        try:
            async with self.session.request(
                method,
                self.url(path),
                params=params,
                json=json_body,
                headers=self.headers,
                timeout=self.timeout,
                # Never follow redirects: they could carry the key to another origin.
                allow_redirects=False,
            ) as response:
                body = await _read_capped(response, what)
                # JSON is UTF-8 unless the server says otherwise.
                answer = _Answer(response.status, body, response.charset or "utf-8", what)
        except (aiohttp.ClientError, TimeoutError) as err:
            failure = connection_error(err, what)
            _LOGGER.debug("%s", failure)
            raise failure from None
        if answer.status == 401 and self.on_key_rejected is not None:
            # Whichever request notices first (a sync, a usage poll): the user is asked at once.
            self.on_key_rejected()
        return answer

    def _parse_unless_unchanged[T](
        self,
        answer: _Answer,
        parse: Callable[[Any], T],
        previous: Parsed[T] | None,
        decode: Decode,
    ) -> Parsed[T]:
        digest = answer.digest()
        if previous is not None and previous.digest == digest and 200 <= answer.status < 300:
            return previous
        return Parsed(self._decode_and_parse(answer, False, parse, decode), digest)

    def _decode_and_parse[T](
        self,
        answer: _Answer,
        allow_empty: bool,
        parse: Callable[[Any], T],
        decode: Decode,
    ) -> T:
        text = answer.text()
        try:
            data = self._decode(answer.status, text, answer.what, allow_empty, decode)
        except ApiError as err:
            _LOGGER.debug("%s", redact(str(err), self.secrets))
            raise
        return parse(data)

    def _decode(
        self,
        status: int,
        text: str,
        what: str,
        allow_empty: bool,
        decode: Decode,
    ) -> Any:
        if 200 <= status < 300:
            if not text.strip():
                if allow_empty:
                    return None
                raise ProtocolError(f"{what}: empty response", status=status)
            return decode(text, what, status)
        try:
            body: Any = json.loads(text) if text.strip() else None
        except ValueError, RecursionError:
            body = None
        error = error_for_status(status, body, what)
        if self.secrets:
            error.args = (redact(str(error), self.secrets),)
        raise error


async def _read_capped(response: aiohttp.ClientResponse, what: str) -> bytes:
    """The whole body, refused (``ProtocolError``) once it is larger than MAX_ANSWER_BYTES."""
    declared = response.content_length
    if declared is not None and declared > MAX_ANSWER_BYTES:
        raise ProtocolError(f"{what}: an answer of {declared:,} bytes is too large")
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ProtocolError(
                f"{what}: an answer of over {MAX_ANSWER_BYTES:,} bytes is too large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


class ApiClient:
    """What both servers' clients share: the transport, its base URL and typed GETs."""

    _http: JsonHttp

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._http.base_url)!r})"

    @property
    def base_url(self) -> URL:
        """The normalised server root (no trailing slash)."""
        return self._http.base_url

    def on_key_rejected(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever the server rejects the key (HTTP 401)."""
        self._http.on_key_rejected = callback

    async def _get_object(self, path: str, **params: str | int) -> Mapping[str, Any]:
        return as_object(await self._http.request("GET", path, params=params), path)

    async def _get_list(self, path: str, **params: str | int) -> list[Mapping[str, Any]]:
        items = as_list(await self._http.request("GET", path, params=params), path)
        return [as_object(item, path) for item in items]

    async def _get_models[T](
        self, path: str, model: Callable[[Mapping[str, Any]], T], **params: str | int
    ) -> list[T]:
        """A JSON array answer as models; a large one is decoded and built off the loop."""

        def build(data: Any) -> list[T]:  # pure: may run on a worker thread
            return [model(as_object(item, path)) for item in as_list(data, path)]

        return await self._http.request_parsed("GET", path, build, params=params)
