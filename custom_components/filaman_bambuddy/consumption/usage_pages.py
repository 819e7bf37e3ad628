"""Reading enough of Bambuddy's usage history in one page.

``GET /inventory/usage`` has no offset or "since id": it returns the newest
``limit`` rows, ordered by time only. So the page is enlarged (up to a cap) until
it surely reaches back to the rows already ingested; otherwise rows newer than
the cursor could be missed between two pages.
"""

from __future__ import annotations

from datetime import datetime
import logging

from ..api.bambuddy import BambuddyClient
from ..api.models_bambuddy import UsageRow
from .past import PastRefusal, PastUsageRefused

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
    the largest page does not, :class:`~.past.PastUsageRefused` (``too_many_rows``).
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
