"""Reading usage from Bambuddy: rows into the ledger, never twice, never lost.

Rows are ingested by id above the ledger's persisted cursor, and the new entries
are saved together with the advanced cursor, so a row becomes one ledger entry
once across wakes, duplicate events and restarts. First start anchors at the
newest row (no history replay); a newest row id below the cursor means
Bambuddy's database was reset, and only rows dated after the newest row ever
ingested are taken (see :meth:`~.ledger.Ledger.ingest`). While blocked, new rows
are recorded as skipped and the cursor still advances, so lifting the block does
not replay what another writer already debited.

Then how a page of the history is read (no offset exists, so the page grows until
it reaches the cursor), and the legacy path: a Bambuddy without the usage endpoint
(404) is remembered as unsupported, and the processor relies on the grams old
servers put into ``print_complete``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
import json
import logging
import math

from ..api.bambuddy import BambuddyClient
from ..api.errors import ApiError, NotFoundError
from ..api.models_bambuddy import UsageRow
from .ledger import PastRefusal, PastUsageRefused, SlotHints
from .models import Problems
from .store import LedgerBook


class UsageIntake:
    """Reads one printer's usage history and turns new rows into ledger entries."""

    def __init__(
        self,
        bambuddy: BambuddyClient,
        book: LedgerBook,
        problems: Problems,
        printer_id: int,
        *,
        page_limit: int,
        max_page_limit: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._bambuddy = bambuddy
        self._book = book
        self._problems = problems
        self._printer_id = printer_id
        self._page_limit = page_limit
        self._max_page_limit = max_page_limit
        self._clock = clock
        self.hints = SlotHints(printer_id)
        self.supported: bool | None = None  # None until Bambuddy was asked

    async def probe(self) -> None:
        """Find out whether Bambuddy has the usage endpoint (unknown stays unknown)."""
        try:
            await self._bambuddy.usage(limit=1, printer_id=self._printer_id)
        except NotFoundError:
            self.supported = False
        except ApiError:
            return
        else:
            self.supported = True

    async def ingest(self, *, blocked: str | None) -> None:
        """Take new rows into the ledger; :class:`~.models.Transient` when unreadable."""
        try:
            rows = await self._fetch()
        except NotFoundError:
            if self.supported is not False:
                _LOGGER.warning(
                    "Bambuddy has no usage history endpoint; consumption relies on "
                    "legacy print_complete weights"
                )
            self.supported = False
            return
        except ApiError as err:
            raise self._problems.fail("reading Bambuddy usage", err) from None
        self.supported = True
        await self.take(rows, blocked=blocked)

    async def fetch_since(self, since: datetime) -> list[UsageRow]:
        """A page holding every row dated from ``since`` on (and every row above the cursor).

        :class:`~.ledger.PastUsageRefused` without the usage endpoint or when no page
        is large enough; ``ApiError`` when Bambuddy cannot be read.
        """
        try:
            rows = await self._fetch(since)
        except NotFoundError:
            self.supported = False
            raise PastUsageRefused(PastRefusal.UNSUPPORTED) from None
        self.supported = True
        return rows

    async def take(self, rows: list[UsageRow], *, blocked: str | None) -> bool:
        """Ingest a page of usage rows (new rows above the cursor), save; True if any queued."""
        ledger = self._book.ledger
        result = ledger.ingest(rows, now=self._clock(), hints=self.hints.current(), blocked=blocked)
        if result.anchored:
            _LOGGER.info(
                "Printer %s: consumption starts after Bambuddy usage row %s (no replay)",
                self._printer_id,
                ledger.cursor,
            )
        if result.reset_detected:
            _LOGGER.warning(
                "Printer %s: Bambuddy's usage history restarted below the stored cursor "
                "(database reset or restore); re-anchored at row %s without replaying "
                "older rows",
                self._printer_id,
                ledger.cursor,
            )
        if result.new_entries:
            self.hints.clear()
        if result.anchored or result.reset_detected or result.new_entries:
            await self._book.save()
        return bool(result.new_entries)

    async def _fetch(self, since: datetime | None = None) -> list[UsageRow]:
        return await fetch_usage_rows(
            self._bambuddy,
            self._printer_id,
            cursor=self._book.ledger.cursor,
            page_limit=self._page_limit,
            max_page_limit=self._max_page_limit,
            since=since,
        )


# --- Paging Bambuddy's usage history -------------------------------------------------------------
# Reading enough of Bambuddy's usage history in one page.
#
# ``GET /inventory/usage`` has no offset or "since id": it returns the newest
# ``limit`` rows, ordered by time only. So the page is enlarged (up to a cap) until
# it surely reaches back to the rows already ingested; otherwise rows newer than
# the cursor could be missed between two pages.

_LOGGER = logging.getLogger(__name__)


async def fetch_usage_rows(
    bambuddy: BambuddyClient,
    printer_id: int,
    *,
    cursor: int | None,
    page_limit: int,
    max_page_limit: int,
    since: datetime | None = None,
) -> list[UsageRow]:
    """Newest rows, enlarging ``limit`` until the page reaches back to the cursor.

    With ``since`` the page must also hold every row dated from then on; when even
    the largest page does not, :class:`~.ledger.PastUsageRefused` (``too_many_rows``).
    """
    limit = page_limit
    while True:
        rows = await bambuddy.usage(limit=limit, printer_id=printer_id)
        if len(rows) < limit or (
            (cursor is None or _reaches(rows, cursor))
            and (since is None or _reaches_back(rows, since))
        ):
            return rows
        if limit >= max_page_limit:
            if since is not None:
                raise PastUsageRefused(PastRefusal.TOO_MANY_ROWS)
            _LOGGER.warning(
                "Printer %s: more than %s usage rows since the last run; older ones may be missed",
                printer_id,
                limit,
            )
            return rows
        limit = min(limit * 4, max_page_limit)


def _reaches_back(rows: list[UsageRow], since: datetime) -> bool:
    """Whether a full newest-first page holds every row dated at or after ``since``.

    The page is ordered by date, so a row dated before ``since`` closes it.
    """
    return any(row.created_at is not None and row.created_at < since for row in rows)


def _reaches(rows: list[UsageRow], cursor: int) -> bool:
    """Whether a full newest-first page surely holds every row newer than ``cursor``.

    Rows are ordered by time only, so the page must contain an older row dated
    strictly before the oldest newer row (rows sharing a timestamp may straddle).
    """
    newer = [row.created_at for row in rows if row.id > cursor and row.created_at is not None]
    older = [row.created_at for row in rows if row.id <= cursor and row.created_at is not None]
    if not older:
        return False
    return not newer or min(older) < min(newer)


# --- Old servers: grams in print_complete --------------------------------------------------------
# Legacy ``print_complete`` weights: which slot got how many grams.
#
# Old Bambuddy servers had no usage history; ``print_complete.data.weight_used``
# was a float total or ``{"<ams>-<tray>": grams}``. Those events carry no id and no
# time, so a print is identified by its content plus the time it was received.

type LegacySlots = dict[tuple[int, int], tuple[int | None, float]]


def legacy_fingerprint(
    printer_id: int, name: str | None, status: str | None, slots: LegacySlots
) -> str:
    """Content identity of a legacy print end (for duplicate-delivery detection)."""
    grams = sorted((slot, spool_and_grams[1]) for slot, spool_and_grams in slots.items())
    return json.dumps([printer_id, name, status, grams])


def legacy_slots(
    weights: float | dict[str, float], slot_to_bambuddy_spool: Mapping[tuple[int, int], int]
) -> LegacySlots:
    """Slot → (Bambuddy spool or None, grams); a float total needs exactly one mapped slot."""
    if isinstance(weights, dict):
        slots: LegacySlots = {}
        for address, grams in weights.items():
            parts = address.split("-")
            if len(parts) != 2 or not all(part.strip().isdigit() for part in parts) or grams == 0:
                continue
            slot = (int(parts[0]), int(parts[1]))
            slots[slot] = (slot_to_bambuddy_spool.get(slot), grams)
        return slots
    if len(slot_to_bambuddy_spool) == 1 and math.isfinite(weights):
        ((slot, spool_id),) = slot_to_bambuddy_spool.items()
        return {slot: (spool_id, weights)}
    return {}
