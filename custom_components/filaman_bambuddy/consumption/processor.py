"""Debit every gram Bambuddy logs onto the linked FilaMan spool exactly once.

One :class:`ConsumptionProcessor` per Bambuddy printer (config entry). Bambuddy's
usage history (``GET /inventory/usage``) is the source of truth; the WebSocket
``spool_usage_logged`` event, a reconnect or a timer only *wake* the processor.

Read one usage row top-down through :meth:`ConsumptionProcessor._cycle`:

1. :mod:`.intake` takes rows above the persisted cursor into the ledger, saved with
   the advanced cursor (never twice from Bambuddy);
2. :mod:`.debit` sends each owed entry to FilaMan: find its FilaMan spool, save it
   ``in_flight`` with a probe, POST, mark it done, and reconcile after a crash or
   timeout (never zero, never twice into FilaMan, one at a time in order);
3. this module reports prints whose rows are all settled, and what waits for a link.

The states an entry moves through are :mod:`.ledger`'s; :mod:`.store` keeps them.
When no FilaMan spool maps, the grams are held as ``awaiting_link`` (a repair issue
in Home Assistant) until the spool is linked: by the inventory sync adopting it, or
by the user (:meth:`ConsumptionProcessor.link_spool`), who may also dismiss them.

First start anchors at the newest row (no history replay) unless ``replay_from``
is given; the anchor is stored. Later, :meth:`ConsumptionProcessor.debit_past`
takes rows from before the anchor into the same queue when the user asks (each
row at most once, ever).

Blocked (``set_blocked("spoolman_mode" | "filaman_plugin_active" | ...)``): another
writer debits this printer. New rows are recorded as skipped(<reason>) and the
cursor advances, so lifting the block later does not replay what the other writer
already debited. Entries queued before the block are held (not sent, not
dropped) and resume when the block is lifted.

Legacy servers (no usage endpoint: 404) put grams into ``print_complete``; see
:meth:`ConsumptionProcessor.handle_legacy_print_complete`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
import contextlib
from datetime import UTC, datetime, timedelta
import logging
import time
from typing import Any

from ..api.bambuddy import BambuddyClient
from ..api.errors import NotFoundError
from ..api.events import PrintCompleteEvent, SpoolUsageLoggedEvent
from ..api.filaman import FilamanClient
from ..api.models_bambuddy import link_note
from .debit import Debiter
from .intake import UsageIntake, legacy_fingerprint, legacy_slots
from .ledger import (
    HELD_FOR_OTHER_FILAMAN,
    EntryState,
    Ledger,
    LedgerEntry,
    PastRefusal,
    PastUsageRefused,
    WriterChoice,
    WriterRecord,
)
from .models import (
    AwaitingLink,
    DebitRecord,
    HeldBooking,
    HeldPrint,
    OwedGrams,
    Paused,
    PrintSpoolUsage,
    PrintUsage,
    Problems,
    Transient,
    Wait,
    notify,
    processor_snapshot,
)
from .plausibility import Doubt, Limits, Verdict
from .store import LedgerBook, LedgerStore
from .unassigned import TrayCase, TrayCases
from .writers import OtherWriter

DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 10_000  # the largest page a run enlarges to (see the paging in .intake)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ConsumptionProcessor:
    """Exactly-once debits for one Bambuddy printer. HA-free; see the module docstring."""

    def __init__(
        self,
        bambuddy: BambuddyClient,
        filaman: FilamanClient,
        printer_id: int,
        store: LedgerStore,
        *,
        on_debit: Callable[[DebitRecord], None] | None = None,
        on_print: Callable[[PrintUsage], None] | None = None,
        on_awaiting: Callable[[Mapping[int, AwaitingLink]], None] | None = None,
        on_case_reopened: Callable[[TrayCase], None] | None = None,
        on_held: Callable[[Mapping[str, HeldPrint]], None] | None = None,
        on_writers: Callable[[Mapping[str, WriterRecord]], None] | None = None,
        limits: Limits | None = None,
        retry_base: float = 5.0,
        retry_cap: float = 300.0,
        settle_time: float = 30.0,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        legacy_dedupe_window: float = 600.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.printer_id = printer_id
        self._bambuddy = bambuddy
        self._filaman = filaman
        self._on_print = on_print
        self._on_awaiting = on_awaiting
        self._reported_awaiting: dict[int, AwaitingLink] | None = None
        self._on_held = on_held
        self._reported_held: dict[str, HeldPrint] | None = None
        self._on_writers = on_writers
        self._reported_writers: dict[str, WriterRecord] | None = None
        self._legacy_dedupe_window = timedelta(seconds=legacy_dedupe_window)
        self._clock = clock
        self._blocked: str | None = None
        # Runs, the past-usage request and legacy events change the ledger one at a time.
        self._lock = asyncio.Lock()
        self._book = LedgerBook(printer_id, store)
        self._problems = Problems(printer_id)
        self._intake = UsageIntake(
            bambuddy,
            self._book,
            self._problems,
            printer_id,
            page_limit=page_limit,
            max_page_limit=MAX_PAGE_LIMIT,
            clock=clock,
        )
        self._debiter = Debiter(
            bambuddy,
            filaman,
            self._book,
            self._problems,
            printer_id,
            settle_time=settle_time,
            clock=clock,
            on_debit=on_debit,
            on_reopened=on_case_reopened,
            limits=limits,
        )
        self._worker = Worker(
            self._cycle, printer_id=printer_id, retry_base=retry_base, retry_cap=retry_cap
        )

    # --- public state ------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        """Rows owed to FilaMan (pending or in flight)."""
        return self._book.ledger.pending_count

    @property
    def cursor(self) -> int | None:
        """Newest Bambuddy usage row id already taken into the ledger."""
        return self._book.ledger.cursor

    @property
    def anchor(self) -> int | None:
        """The usage row id the ledger began after (older rows were never debited by it)."""
        return self._book.ledger.anchor

    @property
    def blocked(self) -> str | None:
        return self._blocked

    @property
    def usage_supported(self) -> bool | None:
        """Whether Bambuddy has ``/inventory/usage`` (``None`` until first asked)."""
        return self._intake.supported

    @property
    def last_debit(self) -> DebitRecord | None:
        """The latest debit FilaMan accepted (since this processor was created)."""
        return self._debiter.last_debit

    @property
    def last_error(self) -> str | None:
        """Why the latest run could not finish (``None`` once a run succeeds)."""
        return self._problems.last_error

    def awaiting_links(self) -> dict[int, AwaitingLink]:
        """Grams held per unlinked Bambuddy spool (see the module docstring)."""
        return awaiting_links(self._book)

    @property
    def awaiting_link_grams(self) -> float:
        return round(sum(link.grams for link in self.awaiting_links().values()), 2)

    def owed_grams(self) -> OwedGrams:
        """Every gram booked but not in FilaMan yet: queued or in flight, and held for a link."""
        queued = awaiting = review = 0.0
        for entry in self._book.ledger.owed():
            if entry.state is EntryState.AWAITING_LINK:
                awaiting += entry.grams
            elif entry.state is EntryState.HELD_FOR_REVIEW:
                review += entry.grams
            else:
                queued += entry.grams
        return OwedGrams(
            queued=round(queued, 2),
            awaiting_link=round(awaiting, 2),
            held_for_review=round(review, 2),
        )

    def held_for_review(self) -> dict[str, HeldPrint]:
        """Prints whose bookings FilaMan's figures rule out, by print key (see .plausibility)."""
        return held_prints(self._book.ledger)

    async def review_held(
        self, print_key: str, grams: Mapping[str, float | None]
    ) -> list[LedgerEntry]:
        """The user's answer to a held print: per booking key the grams to debit (as booked
        or another amount), or ``None`` when it was not real. Each booking is answered once
        (answered ones are left as they are); queued grams are debited at once."""
        async with self._lock:
            answered = [
                self._book.ledger.review(entry.key, grams[entry.key])
                for entry in self._book.ledger.held_for_review().get(print_key, [])
                if entry.key in grams
            ]
            if answered:
                await self._book.save()
        for entry in answered:
            _LOGGER.info(
                "Printer %s: held booking %s %s by the user",
                self.printer_id,
                entry.key,
                "discarded" if entry.state is EntryState.SKIPPED else f"approved ({entry.grams} g)",
            )
        self._report_awaiting()
        self._worker.request("reviewed by user")
        return answered

    def other_writers(self) -> dict[str, WriterRecord]:
        """Other tools seen deducting this printer's prints, with the user's decision."""
        return dict(self._book.ledger.writers)

    def recent_debits(self, since: datetime) -> list[tuple[int, datetime]]:
        """(FilaMan spool, print time) of what this printer debited or owes since ``since``:
        where another tool's consumptions would double ours."""
        return [
            (entry.filaman_spool_id, entry.event_at)
            for entry in self._book.ledger.entries.values()
            if entry.filaman_spool_id is not None
            and entry.event_at >= since
            and (entry.state is EntryState.DONE or entry.owed)
        ]

    async def note_other_writers(self, writers: list[OtherWriter]) -> list[OtherWriter]:
        """Evidence found outside a debit (the periodic check): remember what is new."""
        async with self._lock:
            now = self._clock()
            news = [writer for writer in writers if self._book.ledger.note_writer(writer, now)]
            if news:
                await self._book.save()
        for writer in news:
            _LOGGER.warning(
                "Printer %s: %s deducts this printer's prints too (seen: %s); nothing more is "
                "deducted for this printer until you choose who writes (see Settings → Repairs)",
                self.printer_id,
                writer.name,
                writer.evidence,
            )
        self._report_awaiting()
        return news

    async def decide_writer(self, key: str, choice: WriterChoice) -> float:
        """The user's answer about another tool; returns the grams it settles.

        ``US``: what waited is sent. ``THEM``: what waited is left to the other tool
        (skipped), and so is every later print of this printer, until the user says otherwise.
        """
        async with self._lock:
            record = self._book.ledger.decide_writer(key, choice, self._clock())
            settled = 0.0
            for entry in self._book.ledger.unfinished():
                if choice is WriterChoice.THEM and entry.state is EntryState.PENDING:
                    self._book.ledger.mark_skipped(entry.key, f"other_writer:{key}")
                settled += entry.grams
            await self._book.save()
        _LOGGER.info(
            "Printer %s: the user chose %s to deduct this printer's prints",
            self.printer_id,
            "this integration" if choice is WriterChoice.US else record.name,
        )
        self._report_awaiting()
        self._worker.request("writer decided")
        return round(settled, 2)

    def _yielded_reason(self) -> str | None:
        record = self._book.ledger.yielded_to()
        return None if record is None else f"other_writer:{record.key}"

    def entries(self) -> list[LedgerEntry]:
        """Every kept ledger entry, oldest first (copies are not made: do not mutate)."""
        return sorted(self._book.ledger.entries.values(), key=lambda entry: entry.seq)

    def snapshot(self) -> dict[str, Any]:
        """Diagnostics without secrets: queue, cursor, errors and recent entries."""
        return processor_snapshot(
            self._book.ledger,
            self.entries(),
            blocked=self._blocked,
            usage_supported=self.usage_supported,
            last_error=self.last_error,
            consecutive_failures=self._worker.failures,
            last_debit=self.last_debit,
        )

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, *, replay_from: int | None = None) -> None:
        """Load the ledger and start working.

        ``replay_from`` only matters on the very first start (nothing stored): rows
        with ``id >= replay_from`` are then debited; without it the first start
        anchors at the newest row and debits only what comes after.
        """
        await self._book.load(replay_from=replay_from)
        self._report_awaiting()
        self._worker.start()
        self._worker.request("start")

    async def close(self) -> None:
        """Stop the worker (no task or timer stays behind) and flush unsaved state.

        A run in progress gets ``CLOSE_GRACE`` seconds to finish; cancelling it is
        safe anyway (an unanswered POST stays in_flight and is reconciled later).
        """
        await self._worker.close(self._book.flush)

    # --- triggers ----------------------------------------------------------------------

    async def wake(self, reason: str, event: SpoolUsageLoggedEvent | None = None) -> None:
        """Ask for a run soon (returns at once; a run in progress gets one follow-up).

        Pass the ``spool_usage_logged`` event: its items are the only source of
        a usage's slot address (used when the spool cannot be mapped otherwise).
        """
        if event is not None:
            self._intake.hints.add(event)
        self._worker.request(reason)

    async def wait_idle(self) -> None:
        """Wait until no run is in progress or requested (scheduled retries may remain)."""
        await self._worker.wait_idle()

    def set_blocked(self, reason: str | None) -> None:
        """Stop (``reason``) or resume (``None``) debiting; see the module docstring."""
        if reason == self._blocked:
            return
        was_blocked, self._blocked = self._blocked, reason
        if reason:
            _LOGGER.warning(
                "Printer %s: not debiting FilaMan (%s); new usage is recorded as skipped",
                self.printer_id,
                reason,
            )
        elif was_blocked:
            _LOGGER.info("Printer %s: debiting FilaMan again", self.printer_id)
            self._worker.request("unblocked")

    async def handle_legacy_print_complete(
        self,
        event: PrintCompleteEvent,
        slot_to_bambuddy_spool: Mapping[tuple[int, int], int],
    ) -> None:
        """Debit grams an old Bambuddy put into ``print_complete`` (no usage endpoint).

        Used only when ``GET /inventory/usage`` answers 404 (or cannot be asked);
        with the endpoint present the usage rows are authoritative and this
        returns without effect. A float total is attributed only when exactly one
        slot is mapped; a dict ``{"<ams>-<tray>": g}`` per slot. Such events carry
        no id or time: an identical event (printer, job, status, grams) within
        ``legacy_dedupe_window`` is a duplicate delivery; a later one is a new print.
        """
        if event.printer_id not in (None, self.printer_id) or event.legacy_weights is None:
            return
        if self._intake.supported is None:
            await self._intake.probe()
        if self._intake.supported:
            return
        slots = legacy_slots(event.legacy_weights, slot_to_bambuddy_spool)
        if not slots:
            _LOGGER.warning(
                "Printer %s: cannot attribute legacy print_complete grams to a slot",
                self.printer_id,
            )
            return
        name = event.subtask_name or event.filename
        fingerprint = legacy_fingerprint(self.printer_id, name, event.status, slots)
        async with self._lock:
            created = self._book.ledger.add_legacy(
                fingerprint=fingerprint,
                received_at=self._clock(),
                slots=slots,
                print_name=name,
                print_status=event.status,
                dedupe_window=self._legacy_dedupe_window,
                blocked=self._blocked,
            )
            if created:
                await self._book.save()
        if created:
            self._worker.request("legacy print_complete")

    async def link_spool(self, bambuddy_spool_id: int, filaman_spool_id: int) -> float:
        """Link an unlinked Bambuddy spool to a FilaMan spool and debit what it was owed.

        Writes our note into the Bambuddy spool (so its future usage is debited too, and the
        inventory sync takes it over), then queues each held entry once. Returns the grams
        queued. Raises ``NotFoundError`` when the FilaMan spool does not exist and other
        ``ApiError`` s when a server cannot be reached; then nothing changed.
        """
        await self._filaman.spool(filaman_spool_id)
        # A spool deleted in Bambuddy since has no future to link; its grams are still owed.
        with contextlib.suppress(NotFoundError):
            await self._bambuddy.patch_spool(
                bambuddy_spool_id, {"note": link_note(filaman_spool_id)}
            )
        async with self._lock:
            moved = await self._debiter.link(bambuddy_spool_id, filaman_spool_id)
        self._report_awaiting()
        self._worker.request("linked by user")
        return round(sum(entry.grams for entry in moved), 2)

    async def dismiss_awaiting(self, bambuddy_spool_id: int) -> float:
        """Drop the grams held for an unlinked spool (the user says they are not FilaMan's)."""
        async with self._lock:
            dismissed = self._book.ledger.dismiss_awaiting(bambuddy_spool_id)
            if dismissed:
                await self._book.save()
        if dismissed:
            _LOGGER.info(
                "Printer %s: usage held for Bambuddy spool %s dismissed by the user",
                self.printer_id,
                bambuddy_spool_id,
            )
        self._report_awaiting()
        return round(sum(entry.grams for entry in dismissed), 2)

    async def hold_for_other_filaman(self) -> float:
        """The printer is about to debit another FilaMan: hold what is owed for the user.

        See :meth:`.ledger.Ledger.hold_for_other_filaman`. Returns the grams held.
        """
        async with self._lock:
            held_grams = hold_ledger_for_other_filaman(self._book.ledger, self.printer_id)
            await self._book.save()
        self._report_awaiting()
        return held_grams

    def _report_awaiting(self) -> None:
        """Tell Home Assistant when what waits for the user changed (repair issues): grams
        waiting for a link, and bookings held for review."""
        current = self.awaiting_links()
        if current != self._reported_awaiting:
            self._reported_awaiting = current
            notify(self._on_awaiting, current)
        held = self.held_for_review()
        if held != self._reported_held:
            self._reported_held = held
            notify(self._on_held, held)
        writers = self.other_writers()
        if writers != self._reported_writers:
            self._reported_writers = writers
            notify(self._on_writers, writers)

    async def debit_past(self, since: datetime) -> tuple[LedgerEntry, ...]:
        """Queue this printer's usage rows dated at or after ``since`` that predate the ledger.

        Rows at or below the first-start anchor are never debited otherwise; this takes
        the ones dated from ``since`` on into the ledger (see
        :meth:`~.ledger.Ledger.take_in_past`), each at most once however often it is
        asked, and wakes the worker to debit them like any other entry. A regular
        ingestion of the same page runs first, so a Bambuddy database reset is detected
        before any low id is trusted. Returns the new entries (the ledger's own objects:
        their state follows the debit). ``since`` must be timezone-aware. Raises
        :class:`~.ledger.PastUsageRefused` when it cannot be done safely and ``ApiError``
        when Bambuddy cannot be read; then no past row was taken in.
        """
        if self._blocked:
            raise PastUsageRefused(PastRefusal.BLOCKED)
        queued = False
        try:
            async with self._lock:
                rows = await self._intake.fetch_since(since)
                # New rows above the cursor are owed whatever happens to the request.
                queued = await self._intake.take(rows, blocked=self._blocked)
                if self._blocked:
                    raise PastUsageRefused(PastRefusal.BLOCKED)
                created = self._book.ledger.take_in_past(rows, since=since, now=self._clock())
                if created:
                    queued = True
                    # A failed save is safe: no debit is sent before a save that holds these.
                    await self._book.save()
        finally:
            if queued:
                self._worker.request("past usage")
        if created:
            _LOGGER.info(
                "Printer %s: %s usage rows from before the ledger's start queued on request",
                self.printer_id,
                len(created),
            )
        return created

    # --- trays printed with no spool assigned (see .unassigned) -------------------------

    @property
    def tray_cases(self) -> TrayCases:
        """This printer's open tray cases; change them, then :meth:`save_tray_cases`."""
        return TrayCases(self._book.ledger.tray_cases)

    async def save_tray_cases(self) -> None:
        """Keep the cases as they are now (they live in the ledger)."""
        async with self._lock:
            await self._book.save()

    async def record_tray_by_hand(
        self, case_id: str, filaman_spool_id: int, grams: float
    ) -> LedgerEntry | None:
        """Debit the grams the user says an unrecorded tray used, once ever for the case.

        Returns the queued entry; ``None`` when the case was answered already (recorded or
        dismissed before). Raises ``NotFoundError`` for an unknown FilaMan spool and other
        ``ApiError`` s when FilaMan cannot be asked; then nothing changed.
        """
        await self._filaman.spool(filaman_spool_id)
        async with self._lock:
            case = self._book.ledger.tray_cases.get(case_id)
            if case is None:
                return None
            entry = self._book.ledger.add_manual(case, filaman_spool_id, grams, self._clock())
            del self._book.ledger.tray_cases[case_id]
            await self._book.save()
        _LOGGER.info(
            "Printer %s: %s g of %s on slot %s recorded by hand for FilaMan spool %s",
            self.printer_id,
            grams,
            case.job or "a print",
            case.slot,
            filaman_spool_id,
        )
        self._worker.request("recorded by hand")
        return entry

    async def dismiss_tray_case(self, case_id: str) -> TrayCase | None:
        """The user says an unrecorded tray's grams are not FilaMan's (or already counted)."""
        async with self._lock:
            case = self._book.ledger.tray_cases.pop(case_id, None)
            if case is not None:
                await self._book.save()
        return case

    # --- one run -----------------------------------------------------------------------

    async def _cycle(self) -> None:
        """Take in new rows, send what is owed, report settled prints, save."""
        async with self._lock:
            failed = False
            wait: float | None = None
            try:
                await self._intake.ingest(blocked=self._blocked or self._yielded_reason())
            except Transient:
                failed = True  # queued entries can still be sent
            try:
                if not self._blocked:  # queued entries are held, not dropped
                    await self._debiter.send_queue()
            except Transient:
                failed = True
            except Wait as settling:
                wait = settling.seconds
            except Paused:
                pass  # another tool writes too: nothing is sent until the user decides
            if failed:
                self._worker.back_off()
            else:
                self._worker.succeeded()
                self._problems.clear()
            if wait is not None:
                self._worker.retry_in(wait)
            announce_prints(self._book, self.printer_id, self._on_print)
            self._report_awaiting()
            await self._book.flush()


# --- What a run reports --------------------------------------------------------------------------
# What a run reports to the rest of the integration: finished prints and debits.
#
# The callbacks belong to Home Assistant; one that raises is logged and must not
# break exactly-once processing.


def announce_prints(
    book: LedgerBook, printer_id: int, on_print: Callable[[PrintUsage], None] | None
) -> None:
    """Report each print whose rows are all settled, once (marked announced in the ledger)."""
    ledger = book.ledger
    for group in ledger.settled_prints():
        first = group[0]
        ledger.mark_announced(first.print_key)
        book.dirty = True
        usage = PrintUsage(
            printer_id=printer_id,
            print_name=first.print_name,
            status=first.print_status,
            spools=tuple(
                PrintSpoolUsage(
                    filaman_spool_id=entry.filaman_spool_id,
                    bambuddy_spool_id=entry.bambuddy_spool_id,
                    grams=entry.grams,
                    debited=entry.state is EntryState.DONE,
                    skip_reason=entry.reason if entry.state is EntryState.SKIPPED else None,
                    awaiting_link=entry.state is EntryState.AWAITING_LINK,
                    held_for_review=entry.state is EntryState.HELD_FOR_REVIEW,
                )
                for entry in group
            ),
            at=first.event_at,
        )
        notify(on_print, usage)


def hold_ledger_for_other_filaman(ledger: Ledger, printer_id: int) -> float:
    """Hold a ledger's owed grams for another FilaMan and log what was held."""
    held, reopened = ledger.hold_for_other_filaman()
    grams = round(sum(entry.grams for entry in held), 2)
    if held or reopened:
        _LOGGER.warning(
            "Printer %s now debits another FilaMan: %s g owed to spools of the old one are "
            "held until you link them, and %s tray(s) recorded by hand ask again (see "
            "Settings → Repairs)",
            printer_id,
            grams,
            len(reopened),
        )
    return grams


def held_prints(ledger: Ledger) -> dict[str, HeldPrint]:
    """What is held for review, per print (for repair issues, sensors and diagnostics)."""
    summary: dict[str, HeldPrint] = {}
    for print_key, entries in ledger.held_for_review().items():
        bookings = []
        for entry in entries:
            verdict = Verdict.from_reason(entry.reason)
            bookings.append(
                HeldBooking(
                    key=entry.key,
                    filaman_spool_id=entry.filaman_spool_id,
                    bambuddy_spool_id=entry.bambuddy_spool_id,
                    grams=entry.grams,
                    doubt=verdict.doubt if verdict else Doubt.ABOVE_REMAINING,
                    expected_g=verdict.expected_g if verdict else 0.0,
                )
            )
        first = entries[0]
        summary[print_key] = HeldPrint(print_key, first.print_name, first.event_at, tuple(bookings))
    return summary


def awaiting_links(book: LedgerBook) -> dict[int, AwaitingLink]:
    """What waits for a link, per unlinked Bambuddy spool (for repair issues and sensors)."""
    summary: dict[int, AwaitingLink] = {}
    for bambuddy_id, entries in book.ledger.awaiting_links().items():
        names = dict.fromkeys(entry.print_name or "print" for entry in entries)
        summary[bambuddy_id] = AwaitingLink(
            bambuddy_spool_id=bambuddy_id,
            grams=round(sum(entry.grams for entry in entries), 2),
            usage_ids=tuple(entry.usage_id for entry in entries if entry.usage_id is not None),
            print_names=tuple(names),
            slot=next((entry.slot for entry in reversed(entries) if entry.slot), None),
            other_filaman=any(entry.reason == HELD_FOR_OTHER_FILAMAN for entry in entries),
        )
    return summary


# --- The worker: when runs happen ----------------------------------------------------------------
# The background task of one processor: one run at a time, on request or when a retry is due.
#
# Wakes (a WebSocket event, a reconnect, a timer) only *request* a run; a request
# during a run gets exactly one follow-up run, so a burst of events costs one more
# run, not one each. A failed run is retried with capped exponential backoff
# (``retry_base`` doubling up to ``retry_cap``). A run that crashes on a bug is
# backed off as well: a bug must not end exactly-once processing for good.

_LOGGER = logging.getLogger(__name__)

CLOSE_GRACE = 2.0  # s close() lets a running debit finish (and report) before cancelling


class Worker:
    """Runs ``run`` in one task whenever asked, and again when a scheduled retry is due."""

    def __init__(
        self,
        run: Callable[[], Awaitable[None]],
        *,
        printer_id: int,
        retry_base: float,
        retry_cap: float,
    ) -> None:
        self._run = run
        self._printer_id = printer_id
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._retry_at: float | None = None
        self._trigger = asyncio.Event()
        self._idle = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"filaman_bambuddy consumption {self._printer_id}"
        )

    def request(self, reason: str) -> None:
        """Ask for a run soon (ignored once closing)."""
        if self._closing.is_set():
            return
        _LOGGER.debug("Printer %s: consumption run requested (%s)", self._printer_id, reason)
        self._idle.clear()
        self._trigger.set()

    async def wait_idle(self) -> None:
        """Wait until no run is in progress or requested (scheduled retries may remain)."""
        while self._task is not None and not self._task.done():
            await self._idle.wait()
            if not self._trigger.is_set():
                return

    async def close(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Stop the task (no task or timer stays behind), then ``flush``, then release waiters.

        A run in progress gets ``CLOSE_GRACE`` seconds to finish; cancelling it is
        safe anyway (an unanswered POST stays in_flight and is reconciled later).
        """
        self._closing.set()
        self._trigger.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(CLOSE_GRACE):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await flush()
        self._idle.set()

    # --- called by a run, about the next one ---------------------------------------------

    def back_off(self) -> None:
        """The run failed: retry after the next backoff step."""
        self.failures += 1
        delay = min(self._retry_cap, self._retry_base * 2 ** min(self.failures - 1, 30))
        self._retry_at = time.monotonic() + delay

    def succeeded(self) -> None:
        self.failures = 0

    def retry_in(self, seconds: float) -> None:
        """Run again after ``seconds`` at the latest (an earlier retry stays)."""
        retry_at = time.monotonic() + seconds
        self._retry_at = min(self._retry_at or retry_at, retry_at)

    # --- the task ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._closing.is_set():
            if not self._trigger.is_set():
                self._idle.set()
                delay = None
                if self._retry_at is not None:
                    delay = max(self._retry_at - time.monotonic(), 0.0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._trigger.wait()
            if self._closing.is_set():
                return
            self._idle.clear()
            self._trigger.clear()
            self._retry_at = None  # the run schedules its own retry, if it needs one
            try:
                await self._run()
            except Exception:
                _LOGGER.exception("Printer %s: consumption run failed", self._printer_id)
                self.back_off()
