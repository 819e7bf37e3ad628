"""The two coordinators: one per printer (its live state), one per Bambuddy server (the sync).

:class:`PrinterCoordinator` is the live picture of one Bambuddy printer that the entry's entities
read. Bambuddy pushes full ``printer_status`` snapshots over its WebSocket, so there is no polling:
the first refresh reads the REST status once, then every snapshot replaces the state (snapshots
are complete; merging would keep trays that are gone). Slot assignments are re-read when Bambuddy
says they changed, and after every inventory sync (a full resync renumbers Bambuddy's spools).
Bambuddy may undo an assignment this integration made (an RFID spool in the slot, a spool of
another colour loaded): the re-read shows it at once, and the log says so once per assignment.

:class:`InventoryCoordinator` runs the FilaMan → Bambuddy sync of one Bambuddy server, shared by
its printers' entries: every sync interval, and on request (FilaMan's change stream, Bambuddy's
``inventory_changed`` and ``spool_auto_assigned``, the Sync now button and action). It schedules
its runs itself, next to a plain coordinator (no interval, no debouncer of its own), and starts
each through the public ``async_refresh``. Requests are debounced, so a burst of changes costs
one run. Every request takes a ticket; a run serves the tickets taken before it started. So a
change that arrives while a run is in progress is never lost: that run is followed by exactly one
more (a debouncer alone would drop it, as it treats the run in progress as covering it); callers
waiting at once share one run; and a debounced request that a later run already served costs
nothing. One lock keeps runs and targeted passes from overlapping. Its data is the last complete
sync; an incomplete one goes through the coordinator's error path (logged once, recovery once).

A FilaMan spool edit takes a shorter path (:meth:`InventoryCoordinator.async_spools_changed`): the
spools it touched are found from FilaMan's newest spool events (:mod:`.inventory.changes`) and
exactly their twins are read and patched, at once, with no listing
(:meth:`~.inventory.sync_run.SyncRun.update_spools`). Whatever that path cannot decide (no event
names the change, an unknown, archived or deleted spool, RFID tags, a server error) becomes a full
sync request, which stays the safety net, as does the interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import ApiError, AuthenticationError, BambuddyClient, FilamanClient, NotFoundError
from .api.events import (
    PrinterStatusEvent,
    SpoolAssignmentChangedEvent,
    SpoolAssignmentVerifiedEvent,
    SpoolAutoAssignedEvent,
    WsEvent,
)
from .api.models_bambuddy import Assignment, PrinterStatus, slot_label
from .api.models_filaman import FilamanSpool, SpoolEvent
from .const import DOMAIN
from .inventory.changes import ChangeFinder
from .inventory.choices import SpoolIndex
from .inventory.result import SyncResult
from .inventory.sync_run import SyncRun
from .inventory.watcher import REASON_SSE

if TYPE_CHECKING:
    from .data import FilamanBambuddyConfigEntry
    from .hub import BambuddyHub

_LOGGER = logging.getLogger(__name__)

ASSIGNMENT_REFRESH_COOLDOWN = 0.5
# Requests within this many seconds of the first one share one inventory run.
SYNC_DEBOUNCE = 0.3
# Bambuddy echoes every write with inventory_changed: for this long after a run, an
# inventory_changed is taken for our own echo while writes are still unaccounted for.
ECHO_WINDOW = 3.0
REASON_BAMBUDDY_CHANGED = "bambuddy_inventory_changed"
# FilaMan spool events read to find what edits touched (one page, newest first).
CHANGE_EVENTS_PAGE = 200  # the largest page: a burst of edits still overlaps the last one

type SlotAddress = tuple[int, int]


@dataclass(frozen=True)
class PrinterData:
    """Everything the entities of one printer show."""

    status: PrinterStatus | None
    live: bool = True
    assignments: dict[SlotAddress, Assignment] = field(default_factory=dict)


class PrinterCoordinator(DataUpdateCoordinator[PrinterData]):
    """Push-fed state of one Bambuddy printer."""

    config_entry: FilamanBambuddyConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FilamanBambuddyConfigEntry,
        hub: BambuddyHub,
        printer_id: int,
    ) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} printer {printer_id}",
            update_interval=None,
        )
        self.hub = hub
        self.printer_id = printer_id
        # Slot → (Bambuddy spool, FilaMan spool) of assignments made by assign_spool.
        self._own_assignments: dict[SlotAddress, tuple[int, int]] = {}
        self._assignment_debouncer = Debouncer(
            hass,
            _LOGGER,
            cooldown=ASSIGNMENT_REFRESH_COOLDOWN,
            immediate=False,
            function=self.async_refresh_assignments,
        )

    async def _async_update_data(self) -> PrinterData:
        """Read status and assignments over REST (first refresh, and on request)."""
        # Imported here: repairs imports the entity modules, which import this one.
        from .repairs import async_set_out_of_scope_issue  # noqa: PLC0415

        try:
            status = await self.hub.bambuddy.printer_status(self.printer_id)
            assignments = await self.hub.bambuddy.assignments(self.printer_id)
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="bambuddy_auth_failed"
            ) from err
        except NotFoundError as err:
            if await self.hub.bambuddy.keys_are_printer_scoped():
                async_set_out_of_scope_issue(self.hass, self.config_entry, True)
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="printer_out_of_scope",
                    translation_placeholders={"printer_id": str(self.printer_id)},
                ) from err
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bambuddy_unavailable",
                translation_placeholders={"error": str(err)},
            ) from err
        except ApiError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="bambuddy_unavailable",
                translation_placeholders={"error": str(err)},
            ) from err
        async_set_out_of_scope_issue(self.hass, self.config_entry, False)
        # Until the WebSocket is up, a REST snapshot would silently go stale.
        return PrinterData(
            status=status, live=self.hub.live.connected, assignments=_by_slot(assignments)
        )

    @callback
    def async_handle_event(self, event: WsEvent) -> None:
        """Apply a WebSocket event meant for this printer."""
        if event.printer_id != self.printer_id or self.data is None:
            return
        if isinstance(event, PrinterStatusEvent):
            self.async_set_updated_data(replace(self.data, status=event.status, live=True))
        elif isinstance(
            event,
            SpoolAssignmentChangedEvent | SpoolAutoAssignedEvent | SpoolAssignmentVerifiedEvent,
        ):
            self.hass.async_create_task(self._assignment_debouncer.async_call())

    @callback
    def async_set_live(self, connected: bool) -> None:
        """The WebSocket went down or came back: entities follow."""
        if self.data is None or self.data.live == connected:
            return
        self.async_set_updated_data(replace(self.data, live=connected))

    @callback
    def async_inventory_synced(self) -> None:
        """Bambuddy spool ids or FilaMan weights may have changed: refresh what slots show."""
        self.hass.async_create_task(self._assignment_debouncer.async_call())

    async def async_refresh_assignments(self) -> None:
        """Re-read the slot assignments now (errors only logged: the next event retries)."""
        try:
            assignments = await self.hub.bambuddy.assignments(self.printer_id)
        except ApiError as err:
            _LOGGER.debug("Could not re-read slot assignments: %s", err)
            return
        by_slot = _by_slot(assignments)
        self._report_undone(by_slot)
        if self.data is not None:
            self.async_set_updated_data(replace(self.data, assignments=by_slot))

    @callback
    def async_note_own_assignment(
        self, slot: SlotAddress, bambuddy_spool_id: int, filaman_spool_id: int
    ) -> None:
        """assign_spool put this spool in the slot (see :meth:`_report_undone`)."""
        self._own_assignments[slot] = (bambuddy_spool_id, filaman_spool_id)

    @callback
    def async_forget_own_assignment(self, slot: SlotAddress) -> None:
        self._own_assignments.pop(slot, None)

    def _report_undone(self, assignments: dict[SlotAddress, Assignment]) -> None:
        for slot, (bambuddy_id, filaman_id) in list(self._own_assignments.items()):
            now = assignments.get(slot)
            if now is not None and now.spool_id == bambuddy_id:
                continue
            del self._own_assignments[slot]
            _LOGGER.warning(
                "Bambuddy undid the assignment of FilaMan spool %s to slot %s of printer %s; "
                "the slot now holds %s",
                filaman_id,
                slot_label(*slot),
                self.printer_id,
                f"Bambuddy spool {now.spool_id}" if now is not None else "no spool",
            )

    def filaman_spool(self, filaman_spool_id: int | None) -> FilamanSpool | None:
        """The FilaMan spool as of the last complete listing, if known."""
        if filaman_spool_id is None:
            return None
        return self.hub.inventory.filaman_spools.get(filaman_spool_id)

    def assignment(self, ams_id: int, tray_id: int) -> Assignment | None:
        """The Bambuddy spool assigned to a slot, if any."""
        return None if self.data is None else self.data.assignments.get((ams_id, tray_id))

    async def async_shutdown(self) -> None:
        """Cancel a pending assignment refresh too."""
        await super().async_shutdown()
        self._assignment_debouncer.async_shutdown()


def _by_slot(assignments: list[Assignment]) -> dict[SlotAddress, Assignment]:
    return {(a.ams_id, a.tray_id): a for a in assignments}


class InventoryCoordinator(DataUpdateCoordinator[SyncResult]):
    """The FilaMan → Bambuddy sync of one Bambuddy server (see the module docstring).

    ``last_result`` is the newest run whatever its outcome (what Sync now answers and the
    last-sync-result sensor shows); ``data`` is the newest complete one.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        bambuddy: BambuddyClient,
        filaman: FilamanClient,
        *,
        name: str,
        filaman_printer_id: int | None,
        sync_interval: timedelta,
        write_concurrency: int = 4,
        debounce: float = SYNC_DEBOUNCE,
        echo_window: float = ECHO_WINDOW,
    ) -> None:
        super().__init__(
            hass,
            _LOGGER,
            # Shared by the entries of every printer on the server: it belongs to none of them.
            config_entry=None,
            name=name,
            # Runs are scheduled below (requests, follow-ups, the interval), each one through
            # the public async_refresh, so the coordinator keeps no timer of its own.
            update_interval=None,
        )
        self.sync_interval = sync_interval
        self._run_lock = asyncio.Lock()  # one run at a time: full runs and targeted passes
        self._debounce = debounce
        self._debounce_timer: asyncio.TimerHandle | None = None
        self._stop_interval: CALLBACK_TYPE | None = None
        self._sync_run = SyncRun(
            bambuddy,
            filaman,
            filaman_printer_id=filaman_printer_id,
            write_concurrency=write_concurrency,
            before_write=self._count_own_write,
        )
        self._filaman = filaman
        self._changes = ChangeFinder()
        self._targeted: asyncio.Task[None] | None = None
        self._targeted_again = False
        self._hint_without_events = False
        self._echo_window = echo_window
        self._requested = 0  # tickets handed out
        self._served = 0  # tickets a finished run had taken in before it started
        self._next_refresh: asyncio.Task[None] | None = None  # created, not yet running
        self._closed = False
        self._reasons: list[str] = []
        self._full_requested = False
        self._mass_delete_allowed = False
        self._changed_during_run = False
        self._echo_credits = 0
        self._echo_until = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.running = False
        self.run_count = 0
        self.last_result: SyncResult | None = None
        self.last_success: SyncResult | None = None
        self.consecutive_failures = 0
        """Runs in a row that were not complete (error or failed writes); 0 after a success."""
        self.linked_count: int | None = None
        """Linked Bambuddy spools after the last run that could tell (``None`` before)."""

    @property
    def filaman_spools(self) -> Mapping[int, FilamanSpool]:
        """Non-archived FilaMan spools of the last complete listing, by id (empty before)."""
        return self._sync_run.filaman_spools

    @property
    def spool_index(self) -> SpoolIndex:
        """``filaman_spools`` prepared for ranking the spools that fit a slot."""
        return self._sync_run.spool_index

    # --- requests -----------------------------------------------------------------------

    @callback
    def async_start_interval(self) -> None:
        """Run every sync interval from now on (the hub's first run is its own request)."""
        if self._stop_interval is None and not self._closed:
            self._stop_interval = async_track_time_interval(
                self.hass, self._interval_due, self.sync_interval, name=f"{self.name} interval"
            )

    @callback
    def _interval_due(self, _now: datetime) -> None:
        self._take_ticket(None)
        self._next_run()

    @callback
    def async_request_sync(self, reason: str) -> None:
        """Something changed: one debounced run soon (never lost if a run is in progress).

        The first request starts the debounce; those within it share the run that ends it.
        """
        if self._closed:
            return
        self._note(reason)
        if self._debounce_timer is None:
            self._debounce_timer = self.hass.loop.call_later(self._debounce, self._debounced)

    @callback
    def _debounced(self) -> None:
        self._debounce_timer = None
        self._next_run()

    @callback
    def async_sync_soon(self, reason: str) -> None:
        """A run now, not debounced (a hub came up)."""
        if self._closed:
            return
        self._note(reason)
        self._next_run()

    @callback
    def async_spools_changed(self, *, events_only: bool = False) -> None:
        """FilaMan says spools changed: update exactly those now (see the module docstring).

        ``events_only``: the caller saw FilaMan's spool events change (the watcher's poll), so
        a pass that finds no new event has nothing left to do. A change-stream hint may be a
        field edit, which leaves no event: then only a full sync finds it. Requests during a
        targeted pass give it exactly one more pass afterwards.
        """
        if self._closed:
            return
        self._hint_without_events |= not events_only
        if self._targeted is not None and not self._targeted.done():
            self._targeted_again = True
            return
        self._targeted = self._spawn(self._async_targeted())

    async def _async_targeted(self) -> None:
        while True:
            self._targeted_again = False
            may_be_field_edit, self._hint_without_events = self._hint_without_events, False
            # Never beside a full run (both write twins).
            async with self._run_lock:
                changed = await self._async_targeted_pass()
            if changed is None or (not changed and may_be_field_edit):
                self.async_request_sync(REASON_SSE)  # the full sync finds what changed
            if not self._targeted_again:
                return

    async def _async_targeted_pass(self) -> bool | None:
        """One targeted pass: whether a spool event named a change; ``None`` when only a full
        run can tell what to do."""
        if not self._changes.primed or (events := await self._recent_events()) is None:
            return None
        spool_ids = self._changes.changed_spools(events)
        if spool_ids is None:
            return None
        if not spool_ids:
            return False
        self.running = True
        try:
            result = await self._sync_run.update_spools(
                spool_ids, reason=f"filaman_change: {', '.join(map(str, sorted(spool_ids)))}"
            )
        finally:
            self.running = False
            self._echo_until = self.hass.loop.time() + self._echo_window
        if result is None:
            return None
        self._record(result)
        self.async_update_listeners()
        return True

    @callback
    def async_bambuddy_inventory_changed(self) -> None:
        """Bambuddy's ``inventory_changed`` arrived: resync unless it is our own echo."""
        if self._echo_credits > 0 and (self.running or self.hass.loop.time() <= self._echo_until):
            self._echo_credits -= 1
            return
        self._echo_credits = 0
        self.async_request_sync(REASON_BAMBUDDY_CHANGED)

    async def async_sync(self, reason: str, *, allow_mass_delete: bool = False) -> SyncResult:
        """Run a sync that starts after this call and return its result.

        Cancelling the caller does not cancel the run. ``allow_mass_delete``: the user
        confirmed the deletions the mass-deletion guard withheld (``withheld_deletes``).
        """
        self._note(reason)
        self._mass_delete_allowed |= allow_mass_delete
        return await self._run_now()

    async def async_full_resync(self) -> SyncResult:
        """Delete every Bambuddy spool, then create all FilaMan spools anew.

        Slot assignments and Bambuddy usage history are lost. Nothing is deleted
        when FilaMan cannot be read completely first.
        """
        self._note("full_resync")
        self._full_requested = True
        return await self._run_now()

    def _note(self, reason: str) -> None:
        """Take a ticket for ``reason``: the next run to start serves it."""
        self._take_ticket(reason)

    def _take_ticket(self, reason: str | None) -> None:
        """``None``: the interval's ticket (its run is reported as "interval")."""
        self._requested += 1
        if reason is not None:
            self._reasons.append(reason)
        if self.running:
            self._changed_during_run = True

    async def _run_now(self) -> SyncResult:
        """Wait for a run that started after this call's ticket, starting one if needed."""
        ticket = self._requested
        while self._served < ticket:
            if self._closed:  # a shut-down coordinator runs nothing more
                raise RuntimeError("the inventory coordinator is shut down")
            # Shielded: a cancelled caller (an action timing out) leaves the run going.
            await asyncio.shield(self._next_run())
        assert self.last_result is not None
        return self.last_result

    def _next_run(self) -> asyncio.Task[None]:
        """The next run, shared by everyone who needs it before it starts."""
        if self._next_refresh is None or self._next_refresh.done():
            self._next_refresh = self._spawn(self._async_run_if_owed())
        return self._next_refresh

    async def _async_run_if_owed(self) -> None:
        """A run if some ticket is still unserved once the run lock is ours.

        Whoever gets the lock first (a waiting caller, the debounced request, the interval,
        the follow-up of a busy run) serves every ticket taken so far; the others find
        nothing owed and return. The run goes through the coordinator's public refresh, which
        keeps its data, listeners and the log-once of failures.
        """
        async with self._run_lock:
            if self._served < self._requested:
                await self.async_refresh()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        # Not eager: callers arriving in the same loop iteration take their tickets first.
        task = self.hass.async_create_background_task(
            coro, f"{self.name} refresh", eager_start=False
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- one run ------------------------------------------------------------------------

    async def _async_update_data(self) -> SyncResult:
        # Called only by _async_run_if_owed, under the run lock, so runs never overlap. The
        # run serves every ticket taken so far.
        self._next_refresh = None  # callers from now on need the run after this one
        taking = self._requested
        reasons, self._reasons = self._reasons, []
        full, self._full_requested = self._full_requested, False
        allow_mass_delete, self._mass_delete_allowed = self._mass_delete_allowed, False
        self._changed_during_run = False
        if self.hass.loop.time() > self._echo_until:
            self._echo_credits = 0
        self.running = True
        self.run_count += 1
        try:
            # Before the listing: an edit during the run must read as new to the next hint.
            events = await self._recent_events()
            result = await self._sync_run.run(
                reason=", ".join(dict.fromkeys(reasons)) or "interval",
                full=full,
                allow_mass_delete=allow_mass_delete,
            )
        finally:
            self.running = False
            self._echo_until = self.hass.loop.time() + self._echo_window
        self._served = max(self._served, taking)
        self._record(result)
        if result.complete and events is not None:
            self._changes.prime(events)
        else:
            self._changes = ChangeFinder()  # unprimed: hints take the full path
        if self._changed_during_run:
            # Exactly one follow-up for whatever changed while this run read the servers, as
            # soon as this one ends (those changes have waited long enough already).
            self._spawn(self._async_run_if_owed())
        if not result.complete:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="sync_incomplete",
                translation_placeholders={
                    "error": result.error or f"{result.failed} writes failed"
                },
            )
        return result

    async def _recent_events(self) -> list[SpoolEvent] | None:
        try:
            return await self._filaman.recent_events(CHANGE_EVENTS_PAGE)
        except ApiError:
            return None

    def _record(self, result: SyncResult) -> None:
        self.last_result = result
        if result.complete:
            self.last_success = result
            self.consecutive_failures = 0
        else:
            self.consecutive_failures += 1
        if result.linked is not None:
            self.linked_count = result.linked

    def _count_own_write(self) -> None:
        self._echo_credits += 1

    async def async_shutdown(self) -> None:
        """Stop the timers and cancel a run in progress."""
        self._closed = True
        if self._stop_interval is not None:
            self._stop_interval()
            self._stop_interval = None
        if self._debounce_timer is not None:
            self._debounce_timer.cancel()
            self._debounce_timer = None
        await super().async_shutdown()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
