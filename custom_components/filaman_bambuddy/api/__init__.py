"""Home Assistant-free asyncio clients for Bambuddy 1.2.5.2 and FilaMan 1.2.20.

Nothing in this package imports ``homeassistant``.
"""

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

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "MissingPermissionError",
    "NotFoundError",
    "ProtocolError",
    "RejectedError",
    "ServerError",
]
