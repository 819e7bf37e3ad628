"""Checks shared by the config flow and the repairs: server URLs, keys, the bound printer.

Nothing here talks to Home Assistant; the config flow turns the exceptions raised
by these checks into form errors.
"""

from __future__ import annotations

import contextlib
from typing import Final

from yarl import URL

from .api.bambuddy import BambuddyClient
from .api.errors import MissingPermissionError, NotFoundError
from .api.filaman import FilamanClient
from .api.models_bambuddy import Printer
from .api.models_filaman import FilamanPrinter, Me

# What the integration needs from a FilaMan key: debiting a print (API.md FilaMan §2.3).
FILAMAN_CONSUMPTION_PERMISSION: Final = "spool_events:create_consumption"
# driver_key of FilaMan's own Bambuddy plugin (API.md FilaMan §7).
FILAMAN_BAMBUDDY_DRIVER: Final = "bambuddy"
_API_PREFIX: Final = "/api/v1"


class InvalidUrlError(ValueError):
    """The text is not an absolute http(s) URL with a host."""


def normalize_url(text: str) -> str:
    """The canonical form of a server's base URL, used for storage and comparison.

    Lower-case scheme and host, the port only when it is not the scheme's default,
    no query or fragment, no trailing slash and no pasted ``/api/v1``:
    ``"HTTP://Host:80/api/v1/"`` → ``"http://host"``.
    """
    try:
        url = URL(text.strip())
        host = url.host
    except ValueError as err:
        raise InvalidUrlError(text) from err
    if url.scheme not in ("http", "https") or not host or any(ch.isspace() for ch in host):
        raise InvalidUrlError(text)
    path = url.path.rstrip("/").removesuffix(_API_PREFIX).rstrip("/")
    return str(URL.build(scheme=url.scheme, host=host, port=url.explicit_port, path=path))


def same_server(first: str, second: str) -> bool:
    """Whether two base URLs name the same server (False if either is not a URL)."""
    try:
        return normalize_url(first) == normalize_url(second)
    except InvalidUrlError:
        return False


def fallback_unique_id(bambuddy_url: str, printer_id: int) -> str:
    """The entry's unique id for a printer that reports no serial number."""
    return f"{normalize_url(bambuddy_url)}#{printer_id}"


def printer_unique_id(bambuddy_url: str, printer: Printer) -> str:
    """The entry's unique id: the printer's serial number, else server URL and id."""
    return printer.serial_number or fallback_unique_id(bambuddy_url, printer.id)


async def check_bambuddy_key(client: BambuddyClient) -> bool:
    """Prove the key may read and write Bambuddy's inventory; False when auth is off.

    With auth disabled Bambuddy accepts any key, so nothing can be proven and the
    caller should warn instead. Raises the client's errors (``AuthenticationError``,
    ``MissingPermissionError`` naming the scope, ``ApiConnectionError`` …).
    """
    status = await client.auth_status()
    if not status.auth_enabled:
        return False
    await client.verify_key()
    await client.verify_write_access()
    return True


async def check_filaman_key(client: FilamanClient) -> Me:
    """Prove the key is valid and may debit consumption; raises the client's errors."""
    me = await client.me()
    if not me.can(FILAMAN_CONSUMPTION_PERMISSION):
        raise MissingPermissionError(
            "FilaMan key lacks the consumption permission",
            permission=FILAMAN_CONSUMPTION_PERMISSION,
        )
    return me


def is_bound_to(printer: FilamanPrinter, bambuddy_url: str, bambuddy_printer_id: int) -> bool:
    """Whether a FilaMan printer (read with its ``driver_config``) drives this Bambuddy printer."""
    configured_url = printer.bambuddy_url
    return (
        printer.driver_key == FILAMAN_BAMBUDDY_DRIVER
        and printer.bambuddy_printer_id == bambuddy_printer_id
        and configured_url is not None
        and same_server(configured_url, bambuddy_url)
    )


async def find_bound_filaman_printers(
    client: FilamanClient,
    bambuddy_url: str,
    bambuddy_printer_id: int,
    printers: list[FilamanPrinter] | None = None,
) -> list[FilamanPrinter]:
    """FilaMan printers whose Bambuddy driver points at this Bambuddy printer, by id.

    List entries carry no ``driver_config``, so each Bambuddy-driven printer is read
    on its own (API.md FilaMan §7). Pass ``printers`` when the listing is at hand.
    A printer deleted between listing and reading is skipped; other errors propagate.
    The returned objects hold a Bambuddy API key in ``driver_config``: never log it.
    """
    listing = await client.printers() if printers is None else printers
    bound: list[FilamanPrinter] = []
    for listed in sorted(listing, key=lambda printer: printer.id):
        if listed.driver_key != FILAMAN_BAMBUDDY_DRIVER:
            continue
        with contextlib.suppress(NotFoundError):
            detail = await client.printer(listed.id)
            if is_bound_to(detail, bambuddy_url, bambuddy_printer_id):
                bound.append(detail)
    return bound
