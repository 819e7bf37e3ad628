"""Bambuddy's two auth modes (API.md §2, §3): middleware presence check, then key and scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .state import ApiKey, utc_now

if TYPE_CHECKING:
    from .simulator import BambuddySimulator

# Reachable without credentials even when auth is enabled.
PUBLIC_PATHS = frozenset(
    {
        "/api/v1/auth/status",
        "/api/v1/auth/login",
        "/api/v1/auth/setup",
        "/api/v1/updates/version",
        "/api/v1/ws",
    }
)
READ = "can_read_status"
WRITE = "can_manage_inventory"


class HttpError(Exception):
    """An HTTP error with FastAPI's `{"detail": ...}` body."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def response(self) -> web.Response:
        return web.json_response({"detail": self.detail}, status=self.status)


def has_credentials(request: web.Request) -> bool:
    """What the auth middleware looks for before any route runs."""
    authorization = request.headers.get("Authorization", "")
    return bool(request.headers.get("X-API-Key")) or authorization.startswith("Bearer ")


def require(sim: BambuddySimulator, request: web.Request, scope: str | None) -> ApiKey | None:
    """The route-level key check; None when auth is disabled (everything is open)."""
    if not sim.auth_enabled:
        return None
    header_key = request.headers.get("X-API-Key")
    authorization = request.headers.get("Authorization", "")
    if header_key:
        key = sim.db.api_keys.get(header_key)
        if key is None or not key.is_valid():
            raise HttpError(401, "Authentication required")
    elif authorization.startswith("Bearer bb_"):
        key = sim.db.api_keys.get(authorization.removeprefix("Bearer "))
        if key is None or not key.is_valid():
            raise HttpError(401, "Invalid API key")
    else:
        # No key and (in the simulator) no valid JWT either.
        raise HttpError(401, "Authentication required")
    if sim.newer_than_1_2_5 and not key.owner_active:
        raise HttpError(403, "API key owner is deactivated")
    if scope is not None and not key.scopes.get(scope, False):
        raise HttpError(403, f"API key does not have '{scope}' permission")
    key.last_used = utc_now()
    return key
