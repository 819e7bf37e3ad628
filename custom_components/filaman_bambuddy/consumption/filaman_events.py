"""``GET /spools/{id}/events`` — the one FilaMan read the API client does not offer yet.

Listed newest ``event_at`` first, paged (``page_size`` ≤ 200), permission
``spool_events:read`` (every seeded role has it). Only reconciliation needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..api._coerce import as_object, objects, to_int
from ..api.filaman import FilamanClient
from ..api.models_filaman import SpoolEvent

PAGE_SIZE = 100
MAX_PAGES = 10


async def spool_events_since(
    filaman: FilamanClient, spool_id: int, since: datetime
) -> tuple[list[SpoolEvent], bool]:
    """Events of a spool with ``event_at >= since`` and whether that window was read fully.

    Reads pages until an event older than ``since`` shows up or the listing ends;
    stops after ``MAX_PAGES`` pages (then ``complete`` is false).
    """
    events: list[SpoolEvent] = []
    for page in range(1, MAX_PAGES + 1):
        envelope = await _page(filaman, spool_id, page)
        items = [SpoolEvent.from_json(item) for item in objects(envelope.get("items"))]
        older_seen = False
        for event in items:
            if event.event_at is not None and event.event_at < since:
                older_seen = True
                continue
            events.append(event)
        total = to_int(envelope.get("total"))
        listing_done = not items or (total is not None and page * PAGE_SIZE >= total)
        if older_seen or listing_done:
            return events, True
    return events, False


async def _page(filaman: FilamanClient, spool_id: int, page: int) -> Mapping[str, Any]:
    # The client keeps its HTTP helper private; reuse it so auth, timeouts and error
    # mapping stay identical to every other FilaMan call.
    data = await filaman._http.request(
        "GET", f"/spools/{spool_id}/events", params={"page": page, "page_size": PAGE_SIZE}
    )
    return as_object(data, "spool events")
