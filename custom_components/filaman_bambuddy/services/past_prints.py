"""Debit prints Bambuddy logged before this entry's first start, when the user asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any, assert_never

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import ServiceCall, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from ..api import ApiError
from ..consumption import EntryState, PastRefusal, PastUsageRefused
from ..wiring import async_wake_consumption
from .targets import api_error, printer_entry, validation_error

ATTR_SINCE = "since"

# How far back debit_past_prints may reach: long enough to catch up after installing, short
# enough that FilaMan's spools have not been weighed or corrected for those prints meanwhile.
PAST_PRINTS_MAX_AGE = timedelta(days=30)
# The response lists at most this many usage ids (the counts cover all of them).
PAST_PRINTS_LISTED_IDS = 50


async def async_debit_past_prints(call: ServiceCall) -> ServiceResponse:
    """Debit usage Bambuddy logged before this entry's first start (never replayed by itself)."""
    entry = printer_entry(call.hass, call.data[ATTR_DEVICE_ID])
    now = dt_util.utcnow()
    # A time without a zone is the user's local time, as the UI's date-time picker sends it.
    asked: datetime = call.data[ATTR_SINCE]
    try:
        since = dt_util.as_utc(asked)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it: off the calendar
        since = (
            datetime.min.replace(tzinfo=UTC)
            if asked.year < now.year
            else datetime.max.replace(tzinfo=UTC)
        )
    if since > now:
        raise validation_error("since_in_future", since=asked.isoformat())
    if since < now - PAST_PRINTS_MAX_AGE:
        raise validation_error("since_too_old", days=str(PAST_PRINTS_MAX_AGE.days))
    data = entry.runtime_data
    try:
        taken = await data.consumption.debit_past(since)
    except PastUsageRefused as err:
        raise past_refusal(err.reason, entry.title) from err
    except ApiError as err:
        raise api_error(err) from err
    if taken:
        # Answer once the debits had their try (FilaMan down: they stay pending and retry).
        await async_wake_consumption(call.hass, entry, "debit_past_prints")
    states = [taken_entry.state for taken_entry in taken]
    done, skipped = states.count(EntryState.DONE), states.count(EntryState.SKIPPED)
    response: dict[str, Any] = {
        "taken_in": len(taken),
        "grams": round(sum(e.grams for e in taken if math.isfinite(e.grams) and e.grams > 0), 1),
        "usage_ids": [e.usage_id for e in taken][:PAST_PRINTS_LISTED_IDS],
        "debited": done,
        "skipped": skipped,
        "pending": len(states) - done - skipped,
    }
    return response


def past_refusal(reason: PastRefusal, printer: str) -> ServiceValidationError:
    """The user's error for a refusal: each reason has its own message, naming the printer."""
    match reason:
        case PastRefusal.NOT_ANCHORED:
            return validation_error("past_prints_not_ready", printer=printer)
        case PastRefusal.ANCHOR_UNKNOWN:
            return validation_error("past_prints_anchor_unknown", printer=printer)
        case PastRefusal.HISTORY_RESET:
            return validation_error("past_prints_history_reset", printer=printer)
        case PastRefusal.BLOCKED:
            return validation_error("past_prints_blocked", printer=printer)
        case PastRefusal.UNSUPPORTED:
            return validation_error("past_prints_unsupported", printer=printer)
        case PastRefusal.TOO_MANY_ROWS:
            return validation_error("past_prints_too_many", printer=printer)
    assert_never(reason)
