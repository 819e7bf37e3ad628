"""Debit every grams Bambuddy logs onto the linked FilaMan spool exactly once.

One :class:`ConsumptionProcessor` per Bambuddy printer (config entry). Bambuddy's
usage history (``GET /inventory/usage``) is the source of truth; the WebSocket
``spool_usage_logged`` event, a reconnect or a timer only *wake* the processor.

Why it is exactly once:

* **Never twice from Bambuddy.** Rows are ingested by id above a persisted
  cursor; the ingested rows and the advanced cursor are saved together, so a row
  becomes one ledger entry once, across wakes, duplicates and restarts.
* **Never zero.** An entry stays unfinished (pending/in_flight) until FilaMan
  accepted the POST; down/timeout/5xx/401/403 keep it queued with capped
  exponential backoff (``retry_base`` doubling up to ``retry_cap``). Permission
  errors deliberately do *not* skip (unlike 404/400): the key can be fixed and the
  grams are still owed; ``last_error`` surfaces the problem meanwhile.
* **Never twice into FilaMan.** FilaMan has no idempotency key. Before each POST
  the entry is saved as ``in_flight`` with a probe of the spool's consumption
  events (see :mod:`.reconcile`); an in-flight entry found after a crash, timeout
  or 5xx is reconciled against FilaMan before anything is sent again. A POST whose
  connection never opened goes straight back to pending. Reconciliation waits
  ``settle_time`` after the attempt, because a timed-out request can still be
  applied by the server later.
* **One at a time, in order.** Entries are sent strictly in ledger order and the
  queue stops at the first one that cannot finish now: a later debit of the same
  spool could otherwise merge into the same aggregated FilaMan event and be
  mistaken for the earlier one during reconciliation.

Mapping: usage row → Bambuddy spool (``GET``) → ``filaman:<id>`` note. Links seen
are kept in the stored ``spool_map`` (rows outlive deleted Bambuddy spools). When
neither works, the slot from the matching ``spool_usage_logged`` item (matched on
spool id and grams) and the slot's current assignment are tried; otherwise the row
is recorded as skipped(unlinked) and shown in :meth:`snapshot`.

First start anchors at the newest row (no history replay) unless ``replay_from``
is given; the anchor is stored. Later, :meth:`ConsumptionProcessor.debit_past`
takes rows from before the anchor into the same queue when the user asks (each row
at most once, ever). A newest row id below the cursor means Bambuddy's database was reset:
the ledger starts a new key epoch and re-anchors; only rows dated after the
newest row ever ingested (prints after the reset) are taken, so a restored backup
is not replayed.

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
from collections.abc import Callable, Mapping
import contextlib
from datetime import UTC, datetime, timedelta
import logging
import time
from typing import Any

from ..api.bambuddy import BambuddyClient
from ..api.errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    NotFoundError,
    RejectedError,
)
from ..api.events import PrintCompleteEvent, SpoolUsageLoggedEvent
from ..api.filaman import FilamanClient
from ..api.models_bambuddy import UsageRow
from .diagnostics import debit_dict, entry_summary
from .ledger import (
    EntryState,
    Ledger,
    LedgerEntry,
    PastRefusal,
    PastUsageRefused,
    SkipReason,
    UsageHint,
)
from .legacy import legacy_fingerprint, legacy_slots
from .models import DebitRecord, PrintSpoolUsage, PrintUsage
from .reconcile import capture_probe, find_landed
from .store import LedgerStore

_LOGGER = logging.getLogger(__name__)

DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 10_000
HINT_LIFETIME = 900.0  # s a spool_usage_logged slot hint waits for its rows
CLOSE_GRACE = 2.0  # s close() lets a running debit finish (and report) before cancelling


class _Transient(Exception):
    """This cycle cannot go on; retry later with backoff."""


class _Wait(Exception):
    """The head of the queue must wait ``seconds`` (an in-flight POST settling)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


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
        retry_base: float = 5.0,
        retry_cap: float = 300.0,
        settle_time: float = 30.0,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        legacy_dedupe_window: float = 600.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._bambuddy = bambuddy
        self._filaman = filaman
        self.printer_id = printer_id
        self._store = store
        self._on_debit = on_debit
        self._on_print = on_print
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._settle_time = settle_time
        self._page_limit = page_limit
        self._legacy_dedupe_window = timedelta(seconds=legacy_dedupe_window)
        self._clock = clock
        self._ledger = Ledger(printer_id)
        self._blocked: str | None = None
        self._usage_supported: bool | None = None
        self._hints: list[tuple[float, UsageHint]] = []
        self._failures = 0
        self._retry_at: float | None = None
        self._dirty = False
        self._logged: set[str] = set()
        self._lock = asyncio.Lock()
        self._trigger = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.last_debit: DebitRecord | None = None
        self.last_error: str | None = None

    # --- public state ------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        """Rows owed to FilaMan (pending or in flight)."""
        return self._ledger.pending_count

    @property
    def cursor(self) -> int | None:
        """Newest Bambuddy usage row id already taken into the ledger."""
        return self._ledger.cursor

    @property
    def anchor(self) -> int | None:
        """The usage row id the ledger began after (older rows were never debited by it)."""
        return self._ledger.anchor

    @property
    def blocked(self) -> str | None:
        return self._blocked

    @property
    def usage_supported(self) -> bool | None:
        """Whether Bambuddy has ``/inventory/usage`` (``None`` until first asked)."""
        return self._usage_supported

    def entries(self) -> list[LedgerEntry]:
        """Every kept ledger entry, oldest first (copies are not made: do not mutate)."""
        return sorted(self._ledger.entries.values(), key=lambda entry: entry.seq)

    def snapshot(self) -> dict[str, Any]:
        """Diagnostics without secrets: queue, cursor, errors and recent entries."""
        entries = self.entries()
        skipped: dict[str, int] = {}
        for entry in entries:
            if entry.state is EntryState.SKIPPED:
                reason = (entry.reason or "").split(":", 1)[0]
                skipped[reason] = skipped.get(reason, 0) + 1
        return {
            "printer_id": self.printer_id,
            "cursor": self.cursor,
            "epoch": self._ledger.epoch,
            "blocked": self._blocked,
            "usage_supported": self._usage_supported,
            "pending_count": self.pending_count,
            "last_error": self.last_error,
            "consecutive_failures": self._failures,
            "last_debit": debit_dict(self.last_debit),
            "skipped_by_reason": skipped,
            "spool_map": {str(bid): fid for bid, fid in sorted(self._ledger.spool_map.items())},
            "entries": [entry_summary(entry) for entry in entries[-50:]],
        }

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, *, replay_from: int | None = None) -> None:
        """Load the ledger and start working.

        ``replay_from`` only matters on the very first start (nothing stored): rows
        with ``id >= replay_from`` are then debited; without it the first start
        anchors at the newest row and debits only what comes after.
        """
        data = await self._store.load()
        if data is None:
            self._ledger = Ledger(self.printer_id)
            if replay_from is not None:
                self._ledger.begin(max(replay_from - 1, 0))
        else:
            try:
                self._ledger = Ledger.from_dict(data, self.printer_id)
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"stored consumption ledger is unreadable: {err}") from err
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"filaman_bambuddy consumption {self.printer_id}"
        )
        self._request("start")

    async def close(self) -> None:
        """Stop the worker (no task or timer stays behind) and flush unsaved state.

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
        if self._dirty:
            await self._save_quietly()
        self._idle.set()

    # --- triggers ----------------------------------------------------------------------

    async def wake(self, reason: str, event: SpoolUsageLoggedEvent | None = None) -> None:
        """Ask for a run soon (returns at once; a run in progress gets one follow-up).

        Pass the ``spool_usage_logged`` event: its items are the only source of
        a usage's slot address (used when the spool cannot be mapped otherwise).
        """
        if event is not None and event.printer_id in (None, self.printer_id):
            stamp = time.monotonic()
            self._hints.extend(
                (stamp, UsageHint(item.spool_id, item.weight_used, item.ams_id, item.tray_id))
                for item in event.usage
            )
        self._request(reason)

    async def wait_idle(self) -> None:
        """Wait until no run is in progress or requested (scheduled retries may remain)."""
        while self._task is not None and not self._task.done():
            await self._idle.wait()
            if not self._trigger.is_set():
                return

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
            self._request("unblocked")

    def remember_links(self, links: Mapping[int, int]) -> None:
        """Bambuddy spool id → FilaMan spool id pairs known elsewhere (e.g. the sync)."""
        self._ledger.spool_map.update(links)
        self._dirty = True

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
        if self._usage_supported is None:
            await self._probe_usage_endpoint()
        if self._usage_supported:
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
            created = self._ledger.add_legacy(
                fingerprint=fingerprint,
                received_at=self._clock(),
                slots=slots,
                print_name=name,
                print_status=event.status,
                dedupe_window=self._legacy_dedupe_window,
                blocked=self._blocked,
            )
            if created:
                await self._save_quietly()
        if created:
            self._request("legacy print_complete")

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
                try:
                    rows = await self._fetch_rows(since)
                except NotFoundError:
                    self._usage_supported = False
                    raise PastUsageRefused(PastRefusal.UNSUPPORTED) from None
                self._usage_supported = True
                # New rows above the cursor are owed whatever happens to the request.
                queued = await self._take_rows(rows)
                if self._blocked:
                    raise PastUsageRefused(PastRefusal.BLOCKED)
                created = self._ledger.take_in_past(rows, since=since, now=self._clock())
                if created:
                    queued = True
                    # A failed save is safe: no debit is sent before a save that holds these.
                    await self._save_quietly()
        finally:
            if queued:
                self._request("past usage")
        if created:
            _LOGGER.info(
                "Printer %s: %s usage rows from before the ledger's start queued on request",
                self.printer_id,
                len(created),
            )
        return created

    # --- worker --------------------------------------------------------------------------

    def _request(self, reason: str) -> None:
        if self._closing.is_set():
            return
        _LOGGER.debug("Printer %s: consumption run requested (%s)", self.printer_id, reason)
        self._idle.clear()
        self._trigger.set()

    async def _run(self) -> None:
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
            try:
                await self._cycle()
            except Exception:
                # A bug must not end exactly-once processing for good: log, back off.
                _LOGGER.exception("Printer %s: consumption run failed", self.printer_id)
                self._schedule_backoff()

    async def _cycle(self) -> None:
        async with self._lock:
            self._retry_at = None
            failed = False
            wait: float | None = None
            try:
                await self._ingest()
            except _Transient:
                failed = True  # queued entries can still be sent
            try:
                await self._process_queue()
            except _Transient:
                failed = True
            except _Wait as settling:
                wait = settling.seconds
            if failed:
                self._schedule_backoff()
            else:
                self._failures = 0
                self.last_error = None
            if wait is not None:
                retry_at = time.monotonic() + wait
                self._retry_at = min(self._retry_at or retry_at, retry_at)
            await self._announce_prints()
            if self._dirty:
                await self._save_quietly()

    def _schedule_backoff(self) -> None:
        self._failures += 1
        delay = min(self._retry_cap, self._retry_base * 2 ** min(self._failures - 1, 30))
        self._retry_at = time.monotonic() + delay

    def _fail(self, what: str, err: BaseException) -> _Transient:
        self.last_error = f"{what}: {err}"
        _LOGGER.debug("Printer %s: %s", self.printer_id, self.last_error)
        return _Transient(self.last_error)

    # --- ingestion -----------------------------------------------------------------------

    async def _probe_usage_endpoint(self) -> None:
        try:
            await self._bambuddy.usage(limit=1, printer_id=self.printer_id)
        except NotFoundError:
            self._usage_supported = False
        except ApiError:
            return
        else:
            self._usage_supported = True

    async def _ingest(self) -> None:
        try:
            rows = await self._fetch_rows()
        except NotFoundError:
            if self._usage_supported is not False:
                _LOGGER.warning(
                    "Bambuddy has no usage history endpoint; consumption relies on "
                    "legacy print_complete weights"
                )
            self._usage_supported = False
            return
        except ApiError as err:
            raise self._fail("reading Bambuddy usage", err) from None
        self._usage_supported = True
        await self._take_rows(rows)

    async def _take_rows(self, rows: list[UsageRow]) -> bool:
        """Ingest a page of usage rows (new rows above the cursor), save; True if any queued."""
        horizon = time.monotonic() - HINT_LIFETIME
        self._hints = [(stamp, hint) for stamp, hint in self._hints if stamp >= horizon]
        result = self._ledger.ingest(
            rows,
            now=self._clock(),
            hints=[hint for _, hint in self._hints],
            blocked=self._blocked,
        )
        if result.anchored:
            _LOGGER.info(
                "Printer %s: consumption starts after Bambuddy usage row %s (no replay)",
                self.printer_id,
                self._ledger.cursor,
            )
        if result.reset_detected:
            _LOGGER.warning(
                "Printer %s: Bambuddy's usage history restarted below the stored cursor "
                "(database reset or restore); re-anchored at row %s without replaying "
                "older rows",
                self.printer_id,
                self._ledger.cursor,
            )
        if result.new_entries:
            self._hints.clear()
        if result.anchored or result.reset_detected or result.new_entries:
            await self._save_quietly()
        return bool(result.new_entries)

    async def _fetch_rows(self, since: datetime | None = None) -> list[UsageRow]:
        """Newest rows, enlarging ``limit`` until the page reaches back to the cursor.

        With ``since`` the page must also hold every row dated from then on; when even
        the largest page does not, :class:`PastUsageRefused` (``too_many_rows``).
        """
        limit = self._page_limit
        while True:
            rows = await self._bambuddy.usage(limit=limit, printer_id=self.printer_id)
            cursor = self._ledger.cursor
            if len(rows) < limit or (
                (cursor is None or _reaches(rows, cursor))
                and (since is None or _reaches_back(rows, since))
            ):
                return rows
            if limit >= MAX_PAGE_LIMIT:
                if since is not None:
                    raise PastUsageRefused(PastRefusal.TOO_MANY_ROWS)
                _LOGGER.warning(
                    "Printer %s: more than %s usage rows since the last run; older ones "
                    "may be missed",
                    self.printer_id,
                    limit,
                )
                return rows
            limit = min(limit * 4, MAX_PAGE_LIMIT)

    # --- debiting ------------------------------------------------------------------------

    async def _process_queue(self) -> None:
        if self._blocked:
            return
        for entry in self._ledger.unfinished():
            await self._attempt(entry)

    async def _attempt(self, entry: LedgerEntry) -> None:
        """Finish ``entry`` or raise :class:`_Transient` / :class:`_Wait`."""
        if entry.filaman_spool_id is None:
            filaman_id = await self._resolve_spool(entry)
            if filaman_id is None:
                self._log_once(
                    f"unlinked:{entry.bambuddy_spool_id}",
                    "Printer %s: usage %s of Bambuddy spool %s is not linked to a FilaMan "
                    "spool; recorded as skipped",
                    self.printer_id,
                    entry.usage_id,
                    entry.bambuddy_spool_id,
                )
                await self._skip(entry, SkipReason.UNLINKED.value)
                return
            self._ledger.resolve_spool(entry.key, filaman_id)
        spool_id = entry.filaman_spool_id
        assert spool_id is not None
        if entry.state is EntryState.IN_FLIGHT and await self._reconciled(entry, spool_id):
            return
        try:
            probe = await capture_probe(self._filaman, spool_id, entry.event_at)
        except NotFoundError:
            await self._skip_missing_spool(entry, spool_id)
            return
        except ApiError as err:
            raise self._fail("reading FilaMan spool events", err) from None
        self._ledger.mark_in_flight(entry.key, probe, self._clock())
        if not await self._save_quietly():
            # Without a durable in_flight record a crash could hide this POST: don't send.
            self._ledger.mark_pending(entry.key)
            raise _Transient("ledger save failed")
        await self._post(entry, spool_id)

    async def _reconciled(self, entry: LedgerEntry, spool_id: int) -> bool:
        """For an in-flight entry: True when its debit is known to have landed."""
        assert entry.probe is not None
        assert entry.attempted_at is not None
        age = (self._clock() - entry.attempted_at).total_seconds()
        if age < self._settle_time:
            raise _Wait(self._settle_time - age)
        try:
            landed, event_id = await find_landed(
                self._filaman, spool_id, entry.probe, entry.grams, entry.note
            )
        except NotFoundError:
            await self._skip_missing_spool(entry, spool_id)
            return True
        except ApiError as err:
            raise self._fail("reconciling with FilaMan", err) from None
        if not landed:
            _LOGGER.info(
                "Printer %s: debit %s did not reach FilaMan; sending it again",
                self.printer_id,
                entry.key,
            )
            return False
        _LOGGER.info(
            "Printer %s: debit %s had already landed in FilaMan (event %s)",
            self.printer_id,
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
                self._ledger.mark_pending(entry.key)
                await self._save_quietly()
            raise self._fail("debiting FilaMan", err) from None
        except NotFoundError:
            await self._skip_missing_spool(entry, spool_id)
            return
        except AuthenticationError as err:
            # Permission problems are fixable: keep the grams owed (see module docstring).
            self._ledger.mark_pending(entry.key, reason=f"auth: {err}")
            await self._save_quietly()
            self._log_once("auth", "FilaMan refused a debit: %s", err)
            raise self._fail("debiting FilaMan", err) from None
        except RejectedError as err:
            _LOGGER.warning("FilaMan rejected debit %s: %s", entry.key, err.detail)
            await self._skip(entry, f"{SkipReason.REJECTED.value}: {err.detail}")
            return
        except ApiError as err:
            # 5xx or an unreadable answer: it may have been applied; reconcile later.
            raise self._fail("debiting FilaMan", err) from None
        await self._finish(entry, spool_id, event.id)

    async def _finish(self, entry: LedgerEntry, spool_id: int, event_id: int | None) -> None:
        self._ledger.mark_done(entry.key, event_id, None)
        await self._save_quietly()
        remaining = await self._remaining(spool_id)
        self._ledger.set_remaining(entry.key, remaining)
        self._dirty = True
        record = DebitRecord(
            usage_id=entry.usage_id,
            filaman_spool_id=spool_id,
            bambuddy_spool_id=entry.bambuddy_spool_id,
            grams=entry.grams,
            remaining_after=remaining,
            event_id=event_id,
            print_name=entry.print_name,
            printer_id=self.printer_id,
            at=entry.event_at,
        )
        self.last_debit = record
        _LOGGER.debug("Printer %s: debited %s", self.printer_id, record)
        self._notify(self._on_debit, record)

    async def _remaining(self, spool_id: int) -> float | None:
        try:
            return (await self._filaman.spool(spool_id)).remaining_weight_g
        except ApiError:
            return None

    async def _skip_missing_spool(self, entry: LedgerEntry, spool_id: int) -> None:
        self._log_once(
            f"missing:{spool_id}",
            "FilaMan spool %s does not exist; usage %s recorded as skipped",
            spool_id,
            entry.key,
        )
        await self._skip(entry, SkipReason.FILAMAN_SPOOL_NOT_FOUND.value)

    async def _skip(self, entry: LedgerEntry, reason: str) -> None:
        self._ledger.mark_skipped(entry.key, reason)
        await self._save_quietly()

    async def _resolve_spool(self, entry: LedgerEntry) -> int | None:
        """FilaMan spool of an entry: note, stored link, then slot assignment."""
        bambuddy_id = entry.bambuddy_spool_id
        try:
            if bambuddy_id is not None:
                try:
                    spool = await self._bambuddy.spool(bambuddy_id)
                except NotFoundError:
                    spool = None
                if spool is not None and spool.filaman_id is not None:
                    return spool.filaman_id
                if bambuddy_id in self._ledger.spool_map:
                    return self._ledger.spool_map[bambuddy_id]
            if entry.slot is None:
                return None
            for assignment in await self._bambuddy.assignments(printer_id=self.printer_id):
                if (assignment.ams_id, assignment.tray_id) != entry.slot or (
                    assignment.printer_id != self.printer_id or assignment.spool_id == bambuddy_id
                ):
                    continue
                spool = assignment.spool or await self._bambuddy.spool(assignment.spool_id)
                return spool.filaman_id
        except NotFoundError:
            return None
        except ApiError as err:
            raise self._fail("reading the Bambuddy spool", err) from None
        return None

    # --- reporting -----------------------------------------------------------------------

    async def _announce_prints(self) -> None:
        for group in self._ledger.settled_prints():
            first = group[0]
            self._ledger.mark_announced(first.print_key)
            self._dirty = True
            usage = PrintUsage(
                printer_id=self.printer_id,
                print_name=first.print_name,
                status=first.print_status,
                spools=tuple(
                    PrintSpoolUsage(
                        filaman_spool_id=entry.filaman_spool_id,
                        bambuddy_spool_id=entry.bambuddy_spool_id,
                        grams=entry.grams,
                        debited=entry.state is EntryState.DONE,
                        skip_reason=entry.reason if entry.state is EntryState.SKIPPED else None,
                    )
                    for entry in group
                ),
                at=first.event_at,
            )
            self._notify(self._on_print, usage)

    def _notify[T](self, callback: Callable[[T], None] | None, value: T) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:
            _LOGGER.exception("Consumption callback failed")

    def _log_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            _LOGGER.warning(message, *args)

    async def _save_quietly(self) -> bool:
        """Persist the ledger; on failure remember to retry and return False."""
        try:
            await self._store.save(self._ledger.to_dict())
        except Exception:
            self._dirty = True
            _LOGGER.exception("Printer %s: saving the consumption ledger failed", self.printer_id)
            return False
        self._dirty = False
        return True


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
