"""Usage from before the ledger's start: when it may be debited, and why not otherwise.

A first start anchors after the newest Bambuddy usage row; rows at or below that
``anchor`` (of epoch ``anchor_epoch``) predate the ledger and were never ingested.
The user's "debit past prints" takes such rows in (:meth:`.ledger.Ledger.take_in_past`)
only when a double debit is ruled out: the anchor must be known and Bambuddy's
row ids must not have restarted since it was set. Every row taken in is remembered
in ``past_taken`` for good, so pruning finished entries never lets one in twice.
"""

from __future__ import annotations

from enum import StrEnum

from .entry import LedgerEntry, by_seq


class PastRefusal(StrEnum):
    """Why rows from before the ledger's start cannot be taken in (safely) now."""

    NOT_ANCHORED = "not_anchored"  # no usage history read yet: no anchor to count from
    ANCHOR_UNKNOWN = "anchor_unknown"  # a ledger stored before anchors were kept
    HISTORY_RESET = "history_reset"  # Bambuddy's ids restarted since the anchor was set
    BLOCKED = "blocked"  # another writer debits this printer
    UNSUPPORTED = "unsupported"  # Bambuddy has no usage history endpoint
    TOO_MANY_ROWS = "too_many_rows"  # the history since then exceeds one readable page


class PastUsageRefused(Exception):
    """Past rows were not taken in; nothing changed. ``reason`` says why."""

    def __init__(self, reason: PastRefusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


def inferred_anchor(
    printer_id: int, cursor: int | None, epoch: int, seq: int, entries: list[LedgerEntry]
) -> int | None:
    """The first-start anchor of a ledger saved before anchors were stored, where provable.

    In epoch 0 rows are ingested in id order and every ingested row becomes an entry with
    the next ``seq``; finished entries are pruned oldest first. So:

    * nothing ever ingested (``seq`` 0): the cursor has not moved since the first start;
    * the very first entry (``seq`` 1) still kept and a usage row: every row this ledger
      ever ingested has an id at or above its id.

    Anything else (pruned history, a legacy first entry, a reset epoch) cannot be proved:
    ``None``, and past rows are refused rather than risk a double debit.
    """
    if cursor is None or epoch != 0:
        return None
    if seq == 0 and not entries:
        return cursor
    first = min(entries, key=by_seq, default=None)
    if (
        first is not None
        and first.seq == 1
        and first.usage_id is not None
        and first.key == f"bambuddy:{printer_id}:usage:{first.usage_id}"
    ):
        return first.usage_id - 1
    return None
