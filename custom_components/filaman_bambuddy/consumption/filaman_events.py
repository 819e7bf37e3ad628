"""The recent window of a FilaMan spool's events, for reconciling debits.

``FilamanClient.spool_events`` lists newest ``event_at`` first (permission
``spool_events:read``, which every seeded role has), so reading stops at the
first event older than the window; a bound keeps a very busy spool from costing
an unbounded number of requests.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from ..api.filaman import FilamanClient
from ..api.models_filaman import SpoolEvent

PAGE_SIZE = 100
MAX_PAGES = 10
MAX_EVENTS = PAGE_SIZE * MAX_PAGES


async def spool_events_since(
    filaman: FilamanClient, spool_id: int, since: datetime
) -> tuple[list[SpoolEvent], bool]:
    """Events of a spool with ``event_at >= since`` and whether that window was read fully.

    Reads until an event older than ``since`` shows up or the listing ends; keeps
    at most ``MAX_EVENTS`` events (more in the window: ``complete`` is false).
    """
    events: list[SpoolEvent] = []
    async with contextlib.aclosing(filaman.spool_events(spool_id, page_size=PAGE_SIZE)) as listing:
        async for event in listing:
            if event.event_at is not None and event.event_at < since:
                return events, True
            if len(events) >= MAX_EVENTS:
                return events, False
            events.append(event)
    return events, True
