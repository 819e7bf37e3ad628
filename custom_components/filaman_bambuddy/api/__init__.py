"""Home Assistant-free asyncio clients for Bambuddy 1.2.5.2 and FilaMan 1.2.20.

Nothing in this package imports Home Assistant. Clients take an injected
``aiohttp.ClientSession``; models are frozen dataclasses; every failure is an
:class:`ApiError` subclass whose text never contains keys or tokens.
"""

from .bambuddy import BambuddyClient
from .bambuddy_ws import BambuddyWebSocket
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    IncompleteListingError,
    MissingPermissionError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    ServerError,
)
from .filaman import FilamanClient

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BambuddyClient",
    "BambuddyWebSocket",
    "FilamanClient",
    "IncompleteListingError",
    "MissingPermissionError",
    "NotFoundError",
    "ProtocolError",
    "RejectedError",
    "ServerError",
]
