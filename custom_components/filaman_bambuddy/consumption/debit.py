"""Debiting FilaMan: one ledger entry, from its FilaMan spool to done, exactly once.

FilaMan has no idempotency key, so the guarantees are kept here, top-down in
:class:`Debiter`, then the helpers it uses (which FilaMan spool, did a debit land,
the spool's recent events):

* **Never zero.** An entry stays unfinished (pending/in_flight) until FilaMan
  accepted the POST; down/timeout/5xx/401/403 keep it queued and end the run with
  :class:`~.models.Transient`, retried with backoff by the processor's worker.
  Permission errors deliberately do *not* give up: the key can be fixed and the
  grams are still owed; ``last_error`` surfaces the problem meanwhile.
* **Never twice into FilaMan.** Before each POST the entry is saved as
  ``in_flight`` with a probe of the spool's consumption events; without that save
  nothing is sent. An in-flight entry found after a crash, timeout or 5xx is
  reconciled against FilaMan before anything is sent again. A POST whose
  connection never opened goes straight back to pending. Reconciliation waits
  ``settle_time`` after the attempt (:class:`~.models.Wait`), because a timed-out
  request can still be applied by the server later.
* **One at a time, in order.** Entries are sent strictly in ledger order and the
  queue stops at the first one that cannot finish now: a later debit of the same
  spool could otherwise merge into the same aggregated FilaMan event and be
  mistaken for the earlier one during reconciliation.
* **Never lost silently.** Usage booked to a Bambuddy spool no FilaMan spool is
  linked to (Bambuddy's own RFID spool, say), or linked to one that was deleted or
  refuses the debit, is held as ``awaiting_link``, with one warning; each run looks
  again whether that spool got linked to a usable FilaMan spool (by the sync adopting
  it, or by the user through the repair issue) and then queues the grams, once.
  Grams the user recorded by hand for a tray go back to that tray's case instead.
* **Never the second writer.** Before each POST the spool's recent events are read anyway
  (the probe); a consumption another tool wrote near this print stops the queue before it
  doubles it (:mod:`.writers`), until the user chooses who writes.
* **Never an impossible gram.** Before its first attempt a booking is checked against
  the FilaMan spool and the print's 3MF estimate (:mod:`.plausibility`); one that cannot
  be true is held for review (``held_for_review``) and sent only with the user's yes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import contextlib
from datetime import datetime, timedelta
import logging

from ..api.bambuddy import BambuddyClient
from ..api.errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    NotFoundError,
    RejectedError,
)
from ..api.filaman import FilamanClient
from ..api.models_filaman import SpoolEvent
from .ledger import EntryState, EventMark, LedgerEntry, Probe, SkipReason
from .models import DebitRecord, Paused, Problems, Transient, Wait, notify
from .plausibility import ESTIMATE_SLACK_G, Limits, doubt_about, label_net
from .store import LedgerBook
from .unassigned import TrayCase
from .writers import OtherWriter, writers_in_events

_LOGGER = logging.getLogger(__name__)
# The print of a usage row is among the printer's newest archives (one per print).
ARCHIVES_LOOKED_AT = 20


class Debiter:
    """Sends one printer's unfinished ledger entries to FilaMan, oldest first."""

    def __init__(
        self,
        bambuddy: BambuddyClient,
        filaman: FilamanClient,
        book: LedgerBook,
        problems: Problems,
        printer_id: int,
        *,
        settle_time: float,
        clock: Callable[[], datetime],
        on_debit: Callable[[DebitRecord], None] | None,
        on_reopened: Callable[[TrayCase], None] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._bambuddy = bambuddy
        self._filaman = filaman
        self._book = book
        self._problems = problems
        self._printer_id = printer_id
        self._settle_time = settle_time
        self._clock = clock
        self._on_debit = on_debit
        self._on_reopened = on_reopened
        self._limits = limits or Limits()
        self.last_debit: DebitRecord | None = None
        # FilaMan spools that answered 404 or refused a debit in this run of Home Assistant:
        # a note still naming one is no link (the held grams would only bounce again).
        self._unusable: set[int] = set()

    async def send_queue(self) -> None:
        """Finish the unfinished entries in order, stopping at the first that cannot.

        Raises :class:`~.models.Transient` or :class:`~.models.Wait` then. Sends nothing while
        another tool deducting this printer's prints waits for the user's decision.
        """
        if self._book.ledger.undecided_writers():
            return
        await self._relink_awaiting()
        for entry in self._book.ledger.unfinished():
            await self._attempt(entry)

    async def _relink_awaiting(self) -> None:
        """Queue held grams whose Bambuddy spool has been linked since (its note, strictly)."""
        for bambuddy_id in self._book.ledger.awaiting_links(relinkable_only=True):
            try:
                filaman_id = (await self._bambuddy.spool(bambuddy_id)).filaman_id
            except NotFoundError:
                filaman_id = self._book.ledger.spool_map.get(bambuddy_id)
            except ApiError as err:
                raise self._problems.fail("reading the Bambuddy spool", err) from None
            if filaman_id is not None and filaman_id not in self._unusable:
                await self.link(bambuddy_id, filaman_id, by_user=False)

    async def link(
        self, bambuddy_id: int, filaman_id: int, *, by_user: bool = True
    ) -> list[LedgerEntry]:
        """Queue what waits for ``bambuddy_id`` onto ``filaman_id`` and save it."""
        if by_user:
            self._unusable.discard(filaman_id)  # the user chose it: try it again
        moved = self._book.ledger.link_awaiting(bambuddy_id, filaman_id, by_user=by_user)
        if moved:
            _LOGGER.info(
                "Printer %s: Bambuddy spool %s is linked to FilaMan spool %s; debiting the "
                "%s g it was waiting for",
                self._printer_id,
                bambuddy_id,
                filaman_id,
                round(sum(entry.grams for entry in moved), 2),
            )
            await self._book.save()  # a failed save is retried; the link is found again
        return moved

    async def _attempt(self, entry: LedgerEntry) -> None:
        """Finish ``entry`` or raise :class:`~.models.Transient` / :class:`~.models.Wait`."""
        if entry.filaman_spool_id is None:
            filaman_id = await self._link(entry)
            if filaman_id is None:
                await self._hold_for_link(entry, SkipReason.UNLINKED)
                return
            self._book.ledger.resolve_spool(entry.key, filaman_id)
        spool_id = entry.filaman_spool_id
        assert spool_id is not None
        if entry.state is EntryState.PENDING and await self._held_for_review(entry, spool_id):
            return
        if entry.state is EntryState.IN_FLIGHT and await self._reconciled(entry, spool_id):
            return
        try:
            probe, seen = await capture_probe(self._filaman, spool_id, entry.event_at)
        except NotFoundError:
            await self._skip_missing_spool(entry, spool_id)
            return
        except ApiError as err:
            raise self._problems.fail("reading FilaMan spool events", err) from None
        if writers := writers_in_events(seen, [(spool_id, entry.event_at)]):
            await self._another_writer(writers)
        self._book.ledger.mark_in_flight(entry.key, probe, self._clock())
        if not await self._book.save():
            # Without a durable in_flight record a crash could hide this POST: don't send.
            self._book.ledger.mark_pending(entry.key)
            raise Transient("ledger save failed")
        await self._post(entry, spool_id)

    async def _held_for_review(self, entry: LedgerEntry, spool_id: int) -> bool:
        """Hold the booking when FilaMan's figures say it cannot be true (:mod:`.plausibility`).

        Grams the user gave (recorded by hand, or approved in review) are never doubted.
        """
        if entry.reviewed or entry.bambuddy_spool_id is None:
            return False
        try:
            spool = await self._filaman.spool(spool_id)
        except NotFoundError:
            await self._skip_missing_spool(entry, spool_id)
            return True
        except ApiError as err:
            raise self._problems.fail("reading the FilaMan spool", err) from None
        # Below the slack no estimate can doubt the grams: the archive is not even asked.
        estimate = await self._estimate(entry) if entry.grams > ESTIMATE_SLACK_G else None
        verdict = doubt_about(
            entry.grams,
            remaining_g=spool.remaining_weight_g,
            label_net_g=label_net(spool.initial_total_weight_g, spool.empty_spool_weight_g),
            estimate_g=estimate,
            limits=self._limits,
        )
        if verdict is None:
            return False
        _LOGGER.warning(
            "Printer %s: Bambuddy booked %s g of %s to FilaMan spool %s, which FilaMan's "
            "figures rule out (%s, expected at most %s g); held until you decide (see "
            "Settings → Repairs)",
            self._printer_id,
            entry.grams,
            entry.print_name or "a print",
            spool_id,
            verdict.doubt.value,
            verdict.expected_g,
        )
        self._book.ledger.mark_held_for_review(entry.key, verdict.as_reason())
        await self._book.save()
        return True

    async def _estimate(self, entry: LedgerEntry) -> float | None:
        """The 3MF estimate of the entry's whole print from Bambuddy's archive, if it has one.

        An archive that cannot be read or found rules nothing out (``None``): never a guess.
        """
        try:
            archives = await self._bambuddy.archives(self._printer_id, limit=ARCHIVES_LOOKED_AT)
        except ApiError:
            return None
        for archive in archives:  # newest first
            started = archive.started_at or archive.created_at
            if archive.print_name != entry.print_name or started is None:
                continue
            if started <= entry.event_at:
                return archive.filament_used_grams
        return None

    async def _another_writer(self, writers: list[OtherWriter]) -> None:
        """Another tool already deducted near this print: stop before doubling it."""
        now = self._clock()
        news = [writer for writer in writers if self._book.ledger.note_writer(writer, now)]
        if not news:
            return  # the user let us write beside it: carry on
        for writer in news:
            _LOGGER.warning(
                "Printer %s: %s deducts this printer's prints too (seen: %s); nothing more is "
                "deducted for this printer until you choose who writes (see Settings → Repairs)",
                self._printer_id,
                writer.name,
                writer.evidence,
            )
        await self._book.save()
        raise Paused(news[0].name)

    async def _hold_for_link(self, entry: LedgerEntry, why: SkipReason) -> None:
        """No usable FilaMan spool to debit: keep the grams owed until one is linked."""
        if entry.bambuddy_spool_id is None:
            # Grams the user recorded by hand for a tray (no Bambuddy spool a link could
            # name), onto a FilaMan spool that is gone or refuses them: the tray asks again.
            case = self._book.ledger.reopen_manual(entry.key)
            _LOGGER.warning(
                "Printer %s: FilaMan spool %s took none of the %s g recorded by hand for tray "
                "%s (%s); the tray's repair asks again",
                self._printer_id,
                entry.filaman_spool_id,
                entry.grams,
                case.slot,
                why.value,
            )
            await self._book.save()
            notify(self._on_reopened, case)
            return
        self._problems.warn_once(
            f"hold:{entry.bambuddy_spool_id}",
            "Printer %s: Bambuddy booked %s g of %s to its spool %s, which is not linked to %s "
            "FilaMan spool; the grams are held until it is (see Settings → Repairs)",
            self._printer_id,
            entry.grams,
            entry.print_name or "a print",
            entry.bambuddy_spool_id,
            "a" if why is SkipReason.UNLINKED else "a usable",
        )
        self._book.ledger.mark_awaiting_link(entry.key)
        await self._book.save()

    async def _link(self, entry: LedgerEntry) -> int | None:
        try:
            return await linked_filaman_spool(
                self._bambuddy, self._printer_id, entry, self._book.ledger.spool_map
            )
        except ApiError as err:
            raise self._problems.fail("reading the Bambuddy spool", err) from None

    async def _reconciled(self, entry: LedgerEntry, spool_id: int) -> bool:
        """For an in-flight entry: True when its debit is known to have landed."""
        assert entry.probe is not None
        assert entry.attempted_at is not None
        age = (self._clock() - entry.attempted_at).total_seconds()
        if age < self._settle_time:
            raise Wait(self._settle_time - age)
        try:
            landed, event_id = await find_landed(
                self._filaman, spool_id, entry.probe, entry.grams, entry.note
            )
        except NotFoundError:
            await self._skip_missing_spool(entry, spool_id)
            return True
        except ApiError as err:
            raise self._problems.fail("reconciling with FilaMan", err) from None
        if not landed:
            _LOGGER.info(
                "Printer %s: debit %s did not reach FilaMan; sending it again",
                self._printer_id,
                entry.key,
            )
            return False
        _LOGGER.info(
            "Printer %s: debit %s had already landed in FilaMan (event %s)",
            self._printer_id,
            entry.key,
            event_id,
        )
        await self._finish(entry, spool_id, event_id)
        return True

    async def _post(self, entry: LedgerEntry, spool_id: int) -> None:
        try:
            event = await self._filaman.add_consumption(
                spool_id, entry.grams, entry.event_at, entry.note
            )
        except ApiConnectionError as err:
            if not err.request_sent:
                self._book.ledger.mark_pending(entry.key)
                await self._book.save()
            raise self._problems.fail("debiting FilaMan", err) from None
        except NotFoundError:
            await self._skip_missing_spool(entry, spool_id)
            return
        except AuthenticationError as err:
            # Permission problems are fixable: keep the grams owed (see module docstring).
            self._book.ledger.mark_pending(entry.key, reason=f"auth: {err}")
            await self._book.save()
            self._problems.warn_once("auth", "FilaMan refused a debit: %s", err)
            raise self._problems.fail("debiting FilaMan", err) from None
        except RejectedError as err:
            _LOGGER.warning("FilaMan rejected debit %s: %s", entry.key, err.detail)
            self._unusable.add(spool_id)
            await self._hold_for_link(entry, SkipReason.REJECTED)
            return
        except ApiError as err:
            # 5xx or an unreadable answer: it may have been applied; reconcile later.
            raise self._problems.fail("debiting FilaMan", err) from None
        await self._finish(entry, spool_id, event.id)

    async def _finish(self, entry: LedgerEntry, spool_id: int, event_id: int | None) -> None:
        self._book.ledger.mark_done(entry.key, event_id, None)
        await self._book.save()
        remaining = await self._remaining(spool_id)
        self._book.ledger.set_remaining(entry.key, remaining)
        self._book.dirty = True
        record = DebitRecord(
            usage_id=entry.usage_id,
            filaman_spool_id=spool_id,
            bambuddy_spool_id=entry.bambuddy_spool_id,
            grams=entry.grams,
            remaining_after=remaining,
            event_id=event_id,
            print_name=entry.print_name,
            printer_id=self._printer_id,
            at=entry.event_at,
        )
        self.last_debit = record
        _LOGGER.debug("Printer %s: debited %s", self._printer_id, record)
        notify(self._on_debit, record)

    async def _remaining(self, spool_id: int) -> float | None:
        try:
            return (await self._filaman.spool(spool_id)).remaining_weight_g
        except ApiError:
            return None

    async def _skip_missing_spool(self, entry: LedgerEntry, spool_id: int) -> None:
        self._problems.warn_once(
            f"missing:{spool_id}",
            "FilaMan spool %s does not exist (deleted?); its usage %s is held until its Bambuddy "
            "spool is linked to another FilaMan spool",
            spool_id,
            entry.key,
        )
        self._unusable.add(spool_id)
        await self._hold_for_link(entry, SkipReason.FILAMAN_SPOOL_NOT_FOUND)


# --- Which FilaMan spool a usage is debited from -------------------------------------------------
# Which FilaMan spool a usage is debited from.
#
# Usage row → Bambuddy spool (``GET``) → its ``filaman:<id>`` note. Links seen are
# kept in the ledger's ``spool_map``, because usage rows outlive deleted Bambuddy
# spools. When neither works, the slot from the matching ``spool_usage_logged``
# item (the slot hints in :mod:`.ledger`) and that slot's current assignment are tried.


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


# --- Did a debit land? (reconciliation) ----------------------------------------------------------
# Did a debit whose outcome we never saw land in FilaMan? (No idempotency key exists.)
#
# Before every POST we store a :class:`Probe`: every ``print_consumption`` event of
# the spool that FilaMan's 5-minute aggregation could merge our debit into (event
# time ≥ ours - 5 min, later-dated ones included), each with its delta and
# ``aggregation_count``. After a crash, timeout or 5xx we read the same window again.
# Our debit landed when either
#
# * an event that was not in the probe carries our note (a new event; FilaMan keeps
#   the note of the event that created it, even when others merge into it later), or
# * a probed event's ``aggregation_count`` grew and its delta grew by at least our
#   grams (our debit was merged; the new note is dropped by FilaMan).
#
# Accepted ambiguity: if our POST did not land but someone else debits at least as
# many grams into the same aggregated event before we reconcile, we conclude
# "landed" (a missed debit is preferred over a double one: it is visible in
# FilaMan's events and fixed by one manual consumption).
#
# When the key cannot read events (no ``spool_events:read``), the probe falls back
# to ``remaining_weight_g``: landed when it dropped by at least our grams (or hit 0).

CONSUMPTION = "print_consumption"
AGGREGATION_WINDOW = timedelta(minutes=5)
# Margin for clock rounding between our event time and FilaMan's comparison.
_WINDOW_MARGIN = timedelta(minutes=1)
GRAMS_EPSILON = 0.01


def window_start_for(event_at: datetime) -> datetime:
    return event_at - AGGREGATION_WINDOW - _WINDOW_MARGIN


def marks_of(events: Sequence[SpoolEvent]) -> dict[int, EventMark]:
    return {
        event.id: EventMark(event.delta_weight_g or 0.0, event.aggregation_count)
        for event in events
        if event.event_type == CONSUMPTION
    }


def landed_event(
    probe: Probe, events: Sequence[SpoolEvent], grams: float, note: str
) -> SpoolEvent | None:
    """The event that proves our debit landed, or ``None`` (see module docstring)."""
    if probe.events is None:
        return None
    for event in events:
        if event.event_type != CONSUMPTION:
            continue
        before = probe.events.get(event.id)
        if before is None:
            if event.note == note:
                return event
            continue
        grew_by = before.delta_weight_g - (event.delta_weight_g or 0.0)
        if event.aggregation_count > before.aggregation_count and grew_by >= grams - GRAMS_EPSILON:
            return event
    return None


def landed_by_weight(probe: Probe, remaining_now: float | None, grams: float) -> bool:
    """Fallback without event access: did the remaining weight drop by our grams?"""
    before = probe.remaining_g
    if before is None or remaining_now is None:
        return False
    return before - remaining_now >= grams - GRAMS_EPSILON or (remaining_now == 0 < before)


async def capture_probe(
    filaman: FilamanClient, spool_id: int, event_at: datetime
) -> tuple[Probe, list[SpoolEvent]]:
    """Read what is needed to reconcile a POST of a debit dated ``event_at``, and the
    spool's recent events it was read from (none when the key cannot read events)."""
    start = window_start_for(event_at)
    try:
        events, _complete = await spool_events_since(filaman, spool_id, start)
    except AuthenticationError:
        spool = await filaman.spool(spool_id)
        return Probe(start, None, spool.remaining_weight_g), []
    return Probe(start, marks_of(events)), events


async def find_landed(
    filaman: FilamanClient, spool_id: int, probe: Probe, grams: float, note: str
) -> tuple[bool, int | None]:
    """(landed, event id) for an in-flight debit; raises on transport errors."""
    if probe.events is None:
        spool = await filaman.spool(spool_id)
        return landed_by_weight(probe, spool.remaining_weight_g, grams), None
    events, _complete = await spool_events_since(filaman, spool_id, probe.window_start)
    event = landed_event(probe, events, grams, note)
    return (event is not None), (event.id if event is not None else None)


# --- The spool's recent FilaMan events -----------------------------------------------------------
# The recent window of a FilaMan spool's events, for reconciling debits.
#
# ``FilamanClient.spool_events`` lists newest ``event_at`` first (permission
# ``spool_events:read``, which every seeded role has), so reading stops at the
# first event older than the window; a bound keeps a very busy spool from costing
# an unbounded number of requests.

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
