"""Error bodies exactly as FilaMan (FastAPI) sends them (API.md §3)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised anywhere in request handling; turned into a JSON response by the app."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def coded(status: int, code: str, message: str) -> ApiError:
    """FilaMan's own errors: `{"detail": {"code", "message"}}`."""
    return ApiError(status, {"detail": {"code": code, "message": message}})


def unauthenticated() -> ApiError:
    return coded(401, "unauthenticated", "Authentication required")


def forbidden(permission: str) -> ApiError:
    return coded(403, "forbidden", f"Permission '{permission}' required")


def not_found(what: str) -> ApiError:
    return coded(404, "not_found", f"{what} not found")


def bad_request(message: str) -> ApiError:
    return coded(400, "validation_error", message)


def validation_failed(errors: list[dict[str, Any]]) -> ApiError:
    """FastAPI request validation: 422 with a *list* under `detail`."""
    return ApiError(422, {"detail": errors})
