"""Exception tree shared by the Bambuddy and FilaMan clients.

Every error carries ``status`` (the HTTP status, or ``None`` when no response was
received). Messages are built from paths and server error texts only: they never
contain API keys, WebSocket tokens or full URLs with a query string.
"""

from __future__ import annotations


class ApiError(Exception):
    """Base class of every error raised by the API clients."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ApiError):
    """The credential was rejected (HTTP 401, or a 403 WebSocket handshake)."""


class MissingPermissionError(AuthenticationError):
    """The credential is valid but lacks a permission (HTTP 403 naming a scope).

    ``permission`` is the scope as the server names it, e.g. Bambuddy's
    ``"can_manage_inventory"`` or FilaMan's ``"spool_events:create_consumption"``.
    """

    def __init__(self, message: str, *, permission: str, status: int | None = 403) -> None:
        super().__init__(message, status=status)
        self.permission = permission


class ApiConnectionError(ApiError):
    """The server could not be reached or the connection broke (DNS, refused, reset).

    ``request_sent`` is ``False`` only when the connection could not be opened, so
    the server cannot have acted on the request. After a timeout or a reset it is
    ``True``: a write may or may not have been applied.
    """

    def __init__(
        self, message: str, *, status: int | None = None, request_sent: bool = True
    ) -> None:
        super().__init__(message, status=status)
        self.request_sent = request_sent


class ApiTimeoutError(ApiConnectionError):
    """The server did not answer within the request timeout."""


class NotFoundError(ApiError):
    """The object (or, for Bambuddy, the path form) does not exist (HTTP 404)."""


class RejectedError(ApiError):
    """The server refused the request as invalid (HTTP 400, 409, 422 and other 4xx).

    ``detail`` is a readable one-line summary of the server's error body; ``code`` its
    machine-readable code when the server sends one (Bambuddy 1.2.6: ``tag_already_linked``).
    A refusal is final: it is read, never sent again as it was.
    """

    def __init__(
        self, message: str, *, status: int | None, detail: str, code: str | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.detail = detail
        self.code = code


class ServerError(ApiError):
    """The server failed (HTTP 5xx)."""


class ProtocolError(ApiError):
    """The server answered with something that is not the documented shape."""


class IncompleteListingError(ApiError):
    """A paged listing changed while it was read (total moved, page missing).

    Callers that decide deletions from a listing must treat it as unknown.
    """


class WebSocketUnauthorizedError(ApiConnectionError):
    """Bambuddy closed the WebSocket with 4401 ("unauthorised"): since 1.2.6 it does so when
    the printers a key may see changed. The key is fine: mint a new token and reconnect."""
