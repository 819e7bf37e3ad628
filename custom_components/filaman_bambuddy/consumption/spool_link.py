"""Which FilaMan spool a usage is debited from.

Usage row → Bambuddy spool (``GET``) → its ``filaman:<id>`` note. Links seen are
kept in the ledger's ``spool_map``, because usage rows outlive deleted Bambuddy
spools. When neither works, the slot from the matching ``spool_usage_logged``
item (see :mod:`.hints`) and that slot's current assignment are tried.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..api.bambuddy import BambuddyClient
from ..api.errors import NotFoundError
from .entry import LedgerEntry


async def linked_filaman_spool(
    bambuddy: BambuddyClient,
    printer_id: int,
    entry: LedgerEntry,
    spool_map: Mapping[int, int],
) -> int | None:
    """FilaMan spool of an entry: note, stored link, then slot assignment.

    ``None`` when none is linked; other ``ApiError`` s are raised.
    """
    bambuddy_id = entry.bambuddy_spool_id
    try:
        if bambuddy_id is not None:
            try:
                spool = await bambuddy.spool(bambuddy_id)
            except NotFoundError:
                spool = None
            if spool is not None and spool.filaman_id is not None:
                return spool.filaman_id
            if bambuddy_id in spool_map:
                return spool_map[bambuddy_id]
        if entry.slot is None:
            return None
        for assignment in await bambuddy.assignments(printer_id=printer_id):
            if (assignment.ams_id, assignment.tray_id) != entry.slot or (
                assignment.printer_id != printer_id or assignment.spool_id == bambuddy_id
            ):
                continue
            spool = assignment.spool or await bambuddy.spool(assignment.spool_id)
            return spool.filaman_id
    except NotFoundError:
        return None
    return None
