"""Bambuddy usage rows into the ledger: never twice, never lost.

Rows are ingested by id above the ledger's persisted cursor, and the new entries
are saved together with the advanced cursor, so a row becomes one ledger entry
once across wakes, duplicate events and restarts. First start anchors at the
newest row (no history replay); a newest row id below the cursor means
Bambuddy's database was reset, and only rows dated after the newest row ever
ingested are taken (see :meth:`~.ledger.Ledger.ingest`). While blocked, new rows
are recorded as skipped and the cursor still advances, so lifting the block does
not replay what another writer already debited.

A Bambuddy without the usage endpoint (404) is remembered as unsupported; the
processor then relies on legacy ``print_complete`` weights.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import logging

from ..api.bambuddy import BambuddyClient
from ..api.errors import ApiError, NotFoundError
from ..api.models_bambuddy import UsageRow
from .book import LedgerBook
from .hints import SlotHints
from .outcomes import Problems
from .past import PastRefusal, PastUsageRefused
from .usage_pages import fetch_usage_rows

_LOGGER = logging.getLogger(__name__)


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
        """Take new rows into the ledger; :class:`~.outcomes.Transient` when unreadable."""
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

        :class:`~.past.PastUsageRefused` without the usage endpoint or when no page
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
