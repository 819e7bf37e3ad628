"""One inventory sync run: read both sides, plan, write with bounded concurrency.

Printer params are read with one ``params_export`` call per run rather than
cached per filament: FilaMan publishes no SSE event for param writes, so a cache
could only go stale silently, and one request per run is cheap (N+1 per-spool
reads are what the export avoids). When the export fails the temperatures are
left out of the desired fields, which leaves Bambuddy's values untouched.

Home Assistant's event loop must not stall on a large inventory: mapping and
planning 5,000 spools take ~75 ms, so for large listings they run on a worker
thread (both are pure, and their inputs are frozen models nothing else writes to),
and the writes are sent by ``write_concurrency`` workers draining one list rather
than by one task per write created all at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
import itertools
import logging
import time

from ..api.bambuddy import BambuddyClient
from ..api.errors import ApiError, NotFoundError
from ..api.filaman import FilamanClient
from ..api.models_bambuddy import BambuddySpool
from ..api.models_filaman import FilamanSpool, PrinterParams
from .choices import SpoolIndex
from .mapping import DesiredSpool, SpoolParams, desired_spool
from .plan import (
    TAG_FIELDS,
    SpoolArchive,
    SpoolCreate,
    SpoolDelete,
    SpoolUpdate,
    SyncPlan,
    changed_fields,
    made_for_earlier_spool,
    needs_assignments,
    plan_full_resync,
    plan_sync,
    tag_matches,
)
from .result import SyncResult
from .rfid import RfidMatches, TagConflict

_LOGGER = logging.getLogger(__name__)

# A targeted run handles at most this many spools; a bigger burst is a full run's job.
MAX_TARGETED = 100

# Listings of at least this many spools are mapped and planned on a worker thread
# (~15 µs per spool); below it a thread hop costs more than it saves.
OFF_LOOP_MIN_SPOOLS = 500


@dataclass(slots=True)
class _MappedSpools:
    """The desired twins of one run, kept so the next need not map the same spools again.

    Two flat dicts rather than a pair object per spool: with thousands of spools, every
    long-lived object brings CPython's full (slow) GC pass closer.
    """

    params: PrinterParams | None = None
    spools: dict[int, FilamanSpool] = field(default_factory=dict)
    desired: dict[int, DesiredSpool] = field(default_factory=dict)

    def known(self, spool: FilamanSpool) -> DesiredSpool | None:
        """The desired twin mapped from this very spool object, if any."""
        return self.desired[spool.id] if self.spools.get(spool.id) is spool else None

    def add(self, spool: FilamanSpool, desired: DesiredSpool) -> None:
        self.spools[spool.id] = spool
        self.desired[spool.id] = desired


@dataclass
class _Tally:
    created: int = 0
    created_twins: dict[int, int] = field(default_factory=dict)
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    adopted: int = 0
    archived: int = 0
    new_links: set[int] = field(default_factory=set)
    deleted_ids: set[int] = field(default_factory=set)


class SyncRun:
    """Performs runs for one Bambuddy/FilaMan pair; holds no scheduling state."""

    def __init__(
        self,
        bambuddy: BambuddyClient,
        filaman: FilamanClient,
        *,
        filaman_printer_id: int | None,
        write_concurrency: int,
        before_write: Callable[[], None] = lambda: None,
    ) -> None:
        self._bambuddy = bambuddy
        self._filaman = filaman
        self._printer_id = filaman_printer_id
        self._write_concurrency = max(1, write_concurrency)
        self._before_write = before_write
        self.filaman_spools: dict[int, FilamanSpool] = {}
        """The non-archived FilaMan spools of the last complete listing, by id."""
        self.spool_index = SpoolIndex()
        """``filaman_spools`` prepared for ranking the spools that fit a slot."""
        self._twin_ids: dict[int, int] = {}
        """FilaMan id → its one Bambuddy twin, after a complete run (else empty)."""
        self._archived_status_ids: frozenset[int] | None = None
        self._reported_problems: set[tuple[int, str]] = set()
        self._params_failing = False
        self._reported_guard: str | None = None
        self._reported_conflicts: set[str] = set()
        self._mapped = _MappedSpools()

    async def run(self, *, reason: str, full: bool, allow_mass_delete: bool = False) -> SyncResult:
        """One run; never raises except on cancellation.

        ``allow_mass_delete`` lifts the mass-deletion guard (see ``plan``); a full
        resync never applies it, as the user asked to delete everything.
        """
        started_at = datetime.now(UTC)
        started = time.monotonic()
        tally = _Tally()
        unchanged = 0
        withheld = 0
        linked: int | None = None
        error: str | None = None
        conflicts: tuple[TagConflict, ...] = ()
        try:
            # Read FilaMan first: without a complete listing nothing is written at all.
            filaman_spools = await self._filaman.spools(include_archived=False)
            self.filaman_spools = {spool.id: spool for spool in filaman_spools}
            self.spool_index = await _off_loop(
                len(filaman_spools), partial(self.spool_index.updated, self.filaman_spools)
            )
            desired = await self._map(filaman_spools, await self._printer_params())
            if full:
                await self._execute(
                    plan_full_resync((), await self._bambuddy.spools(include_archived=True)),
                    tally,
                )
            actual = await self._bambuddy.spools(include_archived=True)
            size = max(len(desired), len(actual))
            # Every tag against every holder: matched once, for the assignments check and the plan.
            rfid = await _off_loop(size, partial(tag_matches, desired, actual))
            assigned = await self._assigned_ids(actual, rfid)
            plan = await _off_loop(
                size,
                partial(
                    plan_sync,
                    desired,
                    actual,
                    listed_filaman_ids={spool.id for spool in filaman_spools},
                    assigned_bambuddy_ids=assigned,
                    allow_mass_delete=allow_mass_delete or full,
                    rfid=rfid,
                ),
            )
            await self._execute(plan, tally)
            self._twin_ids = (
                dict(plan.kept_links) | tally.created_twins
                if tally.failed == 0 and plan.guard is None
                else {}
            )
            unchanged = plan.unchanged
            linked = self._linked_after(actual, tally)
            withheld = len(plan.withheld_deletes)
            conflicts = plan.conflicts
            self._report_conflicts(conflicts)
            error = self._guard_error(plan.guard)
        except ApiError as err:
            self._twin_ids = {}
            error = str(err) or type(err).__name__
            # The coordinator logs the failure once per outage (and the recovery).
            _LOGGER.debug("Inventory sync (%s) stopped: %s", reason, error)
        except Exception as err:
            self._twin_ids = {}
            error = f"unexpected {type(err).__name__}: {err}"
            _LOGGER.exception("Inventory sync (%s) failed unexpectedly", reason)
        finished_at = datetime.now(UTC)
        result = SyncResult(
            reason=reason,
            full_resync=full,
            created=tally.created,
            updated=tally.updated,
            deleted=tally.deleted,
            unchanged=unchanged,
            failed=tally.failed,
            duration_s=time.monotonic() - started,
            started_at=started_at,
            finished_at=finished_at,
            complete=error is None and tally.failed == 0,
            error=error,
            linked=linked,
            withheld_deletes=withheld,
            adopted=tally.adopted,
            archived=tally.archived,
            tag_conflicts=conflicts,
        )
        _LOGGER.debug("Inventory sync finished: %s", result)
        return result

    async def update_spools(self, spool_ids: Collection[int], *, reason: str) -> SyncResult | None:
        """A targeted run: bring exactly these spools' twins in line, with no listing.

        Every rule of the full run that a single spool can break sends it back to one
        (``None``): a spool or twin it does not know, an archived or deleted spool, a twin
        that is archived, relinked or made for an earlier spool of a reused id, an RFID tag
        to write (adoption and conflicts need both listings), or any server error (the full
        run reports it). Nothing is deleted here, ever.
        """
        if not self._twin_ids or not spool_ids or len(spool_ids) > MAX_TARGETED:
            return None
        if any(spool_id not in self._twin_ids for spool_id in spool_ids):
            return None
        started_at = datetime.now(UTC)
        started = time.monotonic()
        tally = _Tally()
        try:
            archived = await self._archived_statuses()
            outcomes = await asyncio.gather(
                *(self._update_one(spool_id, archived, tally) for spool_id in sorted(spool_ids))
            )
        except ApiError, _NeedsFullRun:
            return None
        return SyncResult(
            reason=reason,
            full_resync=False,
            created=0,
            updated=tally.updated,
            deleted=0,
            unchanged=outcomes.count(False),
            failed=0,
            duration_s=time.monotonic() - started,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            complete=True,
            error=None,
            linked=len(self._twin_ids),
        )

    async def _update_one(self, spool_id: int, archived: frozenset[int], tally: _Tally) -> bool:
        """PATCH one twin if its spool changed; True when it did. Raises when unsure."""
        try:
            spool, twin = await asyncio.gather(
                self._filaman.spool(spool_id), self._bambuddy.spool(self._twin_ids[spool_id])
            )
        except NotFoundError:
            raise _NeedsFullRun from None  # deleted on either side
        if spool.status_id in archived:
            raise _NeedsFullRun
        desired = desired_spool(spool, _spool_params(self._mapped.params, spool))
        if twin.archived or twin.filaman_id != spool_id or made_for_earlier_spool(twin, desired):
            raise _NeedsFullRun
        changes = changed_fields(desired, twin)
        if changes.keys() & set(TAG_FIELDS):
            raise _NeedsFullRun
        self.filaman_spools[spool_id] = spool
        self.spool_index = self.spool_index.updated(self.filaman_spools)
        if not changes:
            return False
        self._before_write()
        await self._bambuddy.patch_spool(twin.id, changes)
        tally.updated += 1
        return True

    async def _archived_statuses(self) -> frozenset[int]:
        if self._archived_status_ids is None:
            statuses = await self._filaman.spool_statuses()
            self._archived_status_ids = frozenset(s.id for s in statuses if s.key == "archived")
        return self._archived_status_ids

    def _guard_error(self, guard: str | None) -> str | None:
        """The guard's reason as the run's error, logged when it first appears (runs repeat)."""
        if guard is not None and guard != self._reported_guard:
            _LOGGER.warning("Inventory sync withheld deletions: %s", guard)
        self._reported_guard = guard
        return guard

    # --- reading ----------------------------------------------------------------------

    async def _printer_params(self) -> PrinterParams | None:
        if self._printer_id is None:
            return None
        try:
            params = await self._filaman.params_export(self._printer_id)
        except ApiError as err:
            if not self._params_failing:
                _LOGGER.warning(
                    "Cannot read FilaMan printer params (%s); nozzle temperatures are left "
                    "as they are in Bambuddy",
                    err,
                )
            self._params_failing = True
            return None
        self._params_failing = False
        return params

    async def _map(
        self, spools: Sequence[FilamanSpool], params: PrinterParams | None
    ) -> list[DesiredSpool]:
        # The clients hand out the same model objects while FilaMan's answers are
        # unchanged, so a spool mapped last time with the same params is not mapped again.
        previous = self._mapped if params is self._mapped.params else _MappedSpools()
        desired, self._mapped = await _off_loop(
            len(spools), partial(_desired_spools, spools, params, previous)
        )
        # Here, not in the worker: the set of reported problems is this run's state.
        for item in desired:
            for problem in item.problems:
                if (item.filaman_id, problem) not in self._reported_problems:
                    self._reported_problems.add((item.filaman_id, problem))
                    _LOGGER.warning("FilaMan spool %s: %s", item.filaman_id, problem)
        return desired

    async def _assigned_ids(
        self, actual: Sequence[BambuddySpool], rfid: RfidMatches
    ) -> set[int] | None:
        """Assigned Bambuddy spool ids, read only when the plan may choose between twins."""
        # The duplicate check reads every note: off the event loop for a large inventory.
        if not await _off_loop(len(actual), partial(needs_assignments, actual, rfid)):
            return set()
        try:
            return {assignment.spool_id for assignment in await self._bambuddy.assignments()}
        except ApiError as err:
            _LOGGER.warning("Cannot read slot assignments (%s); keeping duplicate spools", err)
            return None

    def _report_conflicts(self, conflicts: Sequence[TagConflict]) -> None:
        """One warning per conflict when it first appears (every run sees it again)."""
        for conflict in conflicts:
            if conflict.key not in self._reported_conflicts:
                _LOGGER.warning(
                    "RFID tag %s: %s (FilaMan spools %s, Bambuddy spools %s); its twin is "
                    "synced without the tag until this is fixed",
                    conflict.tag,
                    conflict.kind.replace("_", " "),
                    ", ".join(map(str, conflict.filaman_ids)),
                    ", ".join(map(str, conflict.bambuddy_ids)) or "none",
                )
        self._reported_conflicts = {conflict.key for conflict in conflicts}

    @staticmethod
    def _linked_after(actual: Sequence[BambuddySpool], tally: _Tally) -> int:
        links = {
            spool.filaman_id
            for spool in actual
            if spool.filaman_id is not None and spool.id not in tally.deleted_ids
        }
        return len(links | tally.new_links)

    # --- writing ----------------------------------------------------------------------

    async def _execute(self, plan: SyncPlan, tally: _Tally) -> None:
        # Made lazily, one at a time: thousands made up front would all outlive the
        # run's young GC generations.
        writes: Iterator[Awaitable[None]] = itertools.chain(
            (self._delete(op, tally) for op in plan.deletes),
            (self._update(op, tally) for op in plan.updates),
            # After the updates: the kept twin is linked before its surplus leaves the shelf.
            (self._archive(op, tally) for op in plan.archives),
            (self._create(op, tally) for op in plan.creates),
        )

        async def worker() -> None:
            # Workers share one iterator, so writes start in plan order as before.
            for write in writes:
                await write

        workers = min(self._write_concurrency, plan.write_count)
        await asyncio.gather(*(worker() for _ in range(workers)))

    def _failed(self, tally: _Tally, what: str, err: Exception) -> None:
        tally.failed += 1
        if isinstance(err, ApiError):
            _LOGGER.warning("Bambuddy %s failed: %s", what, err)
        else:
            _LOGGER.error("Bambuddy %s failed unexpectedly", what, exc_info=err)

    async def _create(self, op: SpoolCreate, tally: _Tally) -> None:
        try:
            self._before_write()
            created = await self._bambuddy.create_spool(op.fields)
        except Exception as err:
            self._failed(tally, f"create for FilaMan spool {op.filaman_id}", err)
            return
        tally.created += 1
        tally.created_twins[op.filaman_id] = created.id
        tally.new_links.add(op.filaman_id)

    async def _update(self, op: SpoolUpdate, tally: _Tally) -> None:
        try:
            if op.restore:
                self._before_write()
                await self._bambuddy.restore_spool(op.bambuddy_id)
            if op.changes:
                self._before_write()
                await self._bambuddy.patch_spool(op.bambuddy_id, op.changes)
        except Exception as err:
            self._failed(tally, f"update of spool {op.bambuddy_id}", err)
            return
        tally.updated += 1
        if op.adopt:
            tally.adopted += 1
            tally.new_links.add(op.filaman_id)
            _LOGGER.info(
                "Bambuddy spool %s holds the RFID tag of FilaMan spool %s: linked it",
                op.bambuddy_id,
                op.filaman_id,
            )

    async def _archive(self, op: SpoolArchive, tally: _Tally) -> None:
        try:
            self._before_write()
            await self._bambuddy.archive_spool(op.bambuddy_id)
        except NotFoundError:
            return  # gone already: nothing left to archive
        except Exception as err:
            self._failed(tally, f"archive of surplus spool {op.bambuddy_id}", err)
            return
        tally.archived += 1
        _LOGGER.info(
            "Archived Bambuddy spool %s: another spool is FilaMan spool %s's twin",
            op.bambuddy_id,
            op.filaman_id,
        )

    async def _delete(self, op: SpoolDelete, tally: _Tally) -> None:
        try:
            self._before_write()
            await self._bambuddy.delete_spool(op.bambuddy_id)
        except NotFoundError:
            pass  # already gone: the goal is reached
        except Exception as err:
            self._failed(tally, f"delete of spool {op.bambuddy_id} ({op.reason})", err)
            return
        tally.deleted += 1
        tally.deleted_ids.add(op.bambuddy_id)


class _NeedsFullRun(Exception):
    """A targeted run met something only a full run decides."""


def _spool_params(params: PrinterParams | None, spool: FilamanSpool) -> SpoolParams | None:
    """The printer params of one spool (``None`` without a chosen FilaMan printer)."""
    if params is None:
        return None
    return SpoolParams(
        spool=params.spool_params.get(spool.id, {}),
        filament=params.filament_params.get(spool.filament_id, {}),
    )


async def _off_loop[T](spool_count: int, work: Callable[[], T]) -> T:
    """``work()`` on a worker thread for large inventories, else right here."""
    if spool_count >= OFF_LOOP_MIN_SPOOLS:
        return await asyncio.to_thread(work)
    return work()


def _desired_spools(
    spools: Sequence[FilamanSpool], params: PrinterParams | None, previous: _MappedSpools
) -> tuple[list[DesiredSpool], _MappedSpools]:
    """The desired twin of every mappable spool, and what was mapped for the next run.

    ``previous`` holds an earlier run's results for the same ``params``. Pure apart from
    logging, so it may run on a worker thread.
    """
    desired: list[DesiredSpool] = []
    mapped = _MappedSpools(params)
    for spool in spools:
        item = previous.known(spool)
        if item is None:
            try:
                item = desired_spool(spool, _spool_params(params, spool))
            except Exception:
                # Still listed, so its twin is protected from deletion; just not updated.
                _LOGGER.exception("Cannot map FilaMan spool %s; skipping it", spool.id)
                continue
        desired.append(item)
        mapped.add(spool, item)
    return desired, mapped
