"""Repair issues for set-ups where the grams cannot be right, and for long outages.

- Bambuddy in Spoolman mode: Bambuddy debits Spoolman itself and writes no usage rows, so this
  integration cannot report consumption.
- FilaMan's own Bambuddy plugin bound to the same printer: two writers, every print debited twice.
  Our debits stop (rows are marked skipped) until the plugin is off.
- Bambuddy with authentication disabled: the API key cannot be checked (works, but warn).
- Bambuddy unreachable for longer than a grace period.
- Grams Bambuddy booked to a spool no FilaMan spool is linked to (one issue per such spool):
  the fix flow links it to a FilaMan spool, which debits the held grams once, or dismisses them.
- RFID tags the inventory sync will not guess about (one tag on two FilaMan spools, a tag on a
  spool of another material, a tag another FilaMan spool's twin carries).
- A FilaMan key that may not create the slots' locations or move spools there
  (:mod:`.spool_locations`).
- A tray a print draws from with no spool assigned (one issue per tray and print, see
  :mod:`.tray_watch`): while the print runs the fix flow assigns a spool, which saves the grams;
  once Bambuddy has booked nothing for it, the fix flow records the grams by hand, or dismisses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.util import dt as dt_util
import probatio

from .ams import slot_label as card_slot_label
from .api import ApiError, BambuddyClient, FilamanClient, NotFoundError
from .api.models_bambuddy import BambuddySpool, slot_label
from .api.models_filaman import FilamanSpool
from .const import CONF_BAMBUDDY_URL, CONF_PRINTER_ID, DOMAIN
from .consumption.ledger import EntryState, WriterChoice, WriterRecord
from .consumption.models import AwaitingLink, HeldPrint
from .consumption.unassigned import CaseState, TrayCase, estimate_grams
from .consumption.writers import (
    BAMBU_LAB_DRIVER,
    OtherWriter,
    writers_in_events,
    writers_in_plugins,
)
from .data import FilamanBambuddyConfigEntry
from .inventory.choices import spool_name
from .inventory.mapping import rgba_for
from .inventory.result import SyncResult
from .inventory.rfid import ConflictKind, bambuddy_tags, filaman_tag_fields
from .services.slots import async_assign_filaman_spool, async_spool_index, slot_choices
from .validation import find_bound_filaman_printers
from .wiring import async_wake_consumption

if TYPE_CHECKING:
    from .hub import BambuddyHub

_LOGGER = logging.getLogger(__name__)

ISSUE_SPOOLMAN_MODE = "spoolman_mode"
ISSUE_PLUGIN_ACTIVE = "filaman_plugin_active"
ISSUE_AUTH_DISABLED = "bambuddy_auth_disabled"
ISSUE_UNREACHABLE = "bambuddy_unreachable"
ISSUE_OUT_OF_SCOPE = "printer_out_of_scope"
ISSUE_UNLINKED_USAGE = "unlinked_usage"
# The same grams and fix flow, held because the printer was pointed at another FilaMan.
ISSUE_UNLINKED_OTHER_FILAMAN = "unlinked_usage_other_filaman"
ISSUE_RFID_SHARED_TAG = "rfid_shared_tag"
ISSUE_RFID_MATERIAL_MISMATCH = "rfid_material_mismatch"
ISSUE_RFID_HELD_BY_OTHER = "rfid_held_by_other"
ISSUE_UNASSIGNED_TRAY = "unassigned_tray"
ISSUE_UNRECORDED_TRAY = "unrecorded_tray"
ISSUE_LOCATION_PERMISSION = "location_permission"
ISSUE_HELD_FOR_REVIEW = "held_for_review"
ISSUE_SECOND_WRITER = "second_writer"
RFID_CONFLICT_ISSUES: dict[ConflictKind, str] = {
    "shared_tag": ISSUE_RFID_SHARED_TAG,
    "material_mismatch": ISSUE_RFID_MATERIAL_MISMATCH,
    "held_by_other": ISSUE_RFID_HELD_BY_OTHER,
}

BLOCK_SPOOLMAN = "spoolman_mode"
BLOCK_PLUGIN = "filaman_plugin_active"

# How far back another tool's consumptions are compared with ours, and how many of FilaMan's
# newest events are read for it (one request per sync interval).
WRITER_LOOKBACK = timedelta(hours=24)
WRITER_EVENTS_READ = 200
# A restart of Bambuddy or a Wi-Fi hiccup is not worth a repair; an hour-long outage is.
OUTAGE_GRACE_SECONDS = 15 * 60
# Bambuddy's archive of a print is made at its start; its clock may differ a little from ours.
ARCHIVE_START_SLACK = timedelta(minutes=10)


def _issue_id(kind: str, entry: FilamanBambuddyConfigEntry) -> str:
    return f"{kind}_{entry.entry_id}"


def _set_issue(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    kind: str,
    present: bool,
    severity: ir.IssueSeverity = ir.IssueSeverity.ERROR,
) -> None:
    if not present:
        ir.async_delete_issue(hass, DOMAIN, _issue_id(kind, entry))
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id(kind, entry),
        is_fixable=False,
        severity=severity,
        translation_key=kind,
        translation_placeholders={
            "printer": entry.title,
            "bambuddy_url": entry.data[CONF_BAMBUDDY_URL],
        },
    )


async def async_spoolman_mode(bambuddy: BambuddyClient) -> bool:
    """Bambuddy reports usage to Spoolman instead of writing usage rows."""
    return (await bambuddy.spoolman_settings()).spoolman_enabled


async def async_filaman_plugin_active(
    filaman: FilamanClient, bambuddy_url: str, printer_id: int
) -> bool:
    """FilaMan's own Bambuddy driver runs for this printer (and would debit it too)."""
    for printer in await find_bound_filaman_printers(filaman, bambuddy_url, printer_id):
        if printer.is_active and (await filaman.driver_health(printer.id)).running:
            return True
    return False


@callback
def async_set_out_of_scope_issue(
    hass: HomeAssistant, entry: FilamanBambuddyConfigEntry, present: bool
) -> None:
    """The key no longer reaches this printer (Bambuddy 1.2.6 scopes keys to printers and
    answers "not found" for the others), or it does again."""
    issue_id = _issue_id(ISSUE_OUT_OF_SCOPE, entry)
    if not present:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_OUT_OF_SCOPE,
        translation_placeholders={
            "printer": entry.title,
            "printer_id": str(entry.data[CONF_PRINTER_ID]),
            "bambuddy_url": entry.data[CONF_BAMBUDDY_URL],
        },
    )


class ConflictMonitor:
    """Checks for conflicting writers at setup and every sync interval."""

    def __init__(self, hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> None:
        self._hass = hass
        self._entry = entry

    async def async_check(self) -> None:
        """Raise or clear the issues, and block debits while they would be doubled or wrong."""
        data = self._entry.runtime_data
        try:
            auth = await data.hub.bambuddy.auth_status()
            spoolman = await async_spoolman_mode(data.hub.bambuddy)
            plugin = await async_filaman_plugin_active(
                data.hub.filaman, self._entry.data[CONF_BAMBUDDY_URL], data.coordinator.printer_id
            )
        except ApiError as err:
            _LOGGER.debug("Conflict check skipped: %s", err)
            return
        _set_issue(self._hass, self._entry, ISSUE_SPOOLMAN_MODE, spoolman)
        _set_issue(self._hass, self._entry, ISSUE_PLUGIN_ACTIVE, plugin)
        _set_issue(
            self._hass,
            self._entry,
            ISSUE_AUTH_DISABLED,
            not auth.auth_enabled,
            severity=ir.IssueSeverity.WARNING,
        )
        blocked = BLOCK_SPOOLMAN if spoolman else BLOCK_PLUGIN if plugin else None
        data.consumption.set_blocked(blocked)
        await data.consumption.note_other_writers(
            await self._other_writers(skip_sources={"bambuddy"} if plugin else set())
        )

    async def _other_writers(self, skip_sources: set[str]) -> list[OtherWriter]:
        """Other tools seen deducting this printer's prints (consumption/writers.py).

        Their consumptions near our recent debits; with an admin key also their installation.
        FilaMan's Bambuddy plugin, when already found active above, has its own issue.
        """
        data = self._entry.runtime_data
        filaman = data.hub.filaman
        since = dt_util.utcnow() - WRITER_LOOKBACK
        found: list[OtherWriter] = []
        try:
            events = await filaman.recent_events(page_size=WRITER_EVENTS_READ)
        except ApiError as err:
            _LOGGER.debug("Other-writer check: events unreadable: %s", err)
        else:
            found += [
                writer
                for writer in writers_in_events(events, data.consumption.recent_debits(since))
                if writer.key not in skip_sources
            ]
        try:
            plugins = await filaman.plugins()
            printers = [
                await filaman.printer(printer.id)
                for printer in await filaman.printers()
                if printer.driver_key == BAMBU_LAB_DRIVER and printer.is_active
            ]
        except ApiError as err:  # 403 without the admin role: installations are not seen
            _LOGGER.debug("Other-writer check: plugins not readable: %s", err)
        else:
            found += writers_in_plugins(plugins, printers, data.printer.serial_number)
        return found


class OutageMonitor:
    """Raises a repair issue when Bambuddy stays unreachable past a grace period."""

    def __init__(self, hass: HomeAssistant, entry: FilamanBambuddyConfigEntry) -> None:
        self._hass = hass
        self._entry = entry
        self._cancel: CALLBACK_TYPE | None = None

    @callback
    def handle_connection(self, connected: bool) -> None:
        """Start the grace period on loss; clear everything on return."""
        if connected:
            self._stop_timer()
            _set_issue(self._hass, self._entry, ISSUE_UNREACHABLE, False)
        elif self._cancel is None:
            self._cancel = async_call_later(self._hass, OUTAGE_GRACE_SECONDS, self._grace_over)

    @callback
    def _grace_over(self, _now: object) -> None:
        self._cancel = None
        _set_issue(self._hass, self._entry, ISSUE_UNREACHABLE, True)

    def _stop_timer(self) -> None:
        if self._cancel is not None:
            self._cancel()
            self._cancel = None

    @callback
    def async_stop(self) -> None:
        """Entry unload: no timer left behind."""
        self._stop_timer()


# --- grams waiting for a link -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Issue:
    """One repair issue as it should stand now."""

    translation_key: str
    placeholders: dict[str, str]
    severity: ir.IssueSeverity = ir.IssueSeverity.ERROR
    fix: dict[str, str | int | float | None] | None = None
    """The data its fix flow starts from; ``None``: nothing to fix from Home Assistant."""


@callback
def _sync_issues(hass: HomeAssistant, current: Mapping[str, _Issue], raised: set[str]) -> None:
    """Raise (or update) every issue in ``current`` and delete the ones ``raised`` held that
    are no longer current. ``raised`` remembers one family's issue ids between calls: each
    caller reports the whole picture every time."""
    for issue_id in raised - current.keys():
        ir.async_delete_issue(hass, DOMAIN, issue_id)
    for issue_id, issue in current.items():
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=issue.fix is not None,
            is_persistent=False,
            severity=issue.severity,
            translation_key=issue.translation_key,
            translation_placeholders=issue.placeholders,
            data=issue.fix,
        )
    raised.clear()
    raised.update(current)


class _EntryRepairFlow(RepairsFlow):
    """A fix flow for one entry's issue; the entry may unload while its dialog is open."""

    def __init__(self, entry_id: str) -> None:
        self._entry_id = entry_id

    def _entry(self) -> FilamanBambuddyConfigEntry | None:
        """The entry while it is loaded (its runtime data exists only then)."""
        entry: FilamanBambuddyConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._entry_id
        )
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return None
        return entry

    def _gone(self) -> RepairsFlowResult:
        """What the issue asked was answered meanwhile, or the entry is no longer loaded."""
        loaded = self._entry() is not None
        return self.async_abort(reason="already_answered" if loaded else "entry_not_loaded")


def _unlinked_issue_id(entry_id: str, bambuddy_spool_id: int) -> str:
    return f"{ISSUE_UNLINKED_USAGE}_{entry_id}_{bambuddy_spool_id}"


@callback
def async_sync_unlinked_usage_issues(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    waiting: Mapping[int, AwaitingLink],
    raised: set[str],
) -> None:
    """One fixable issue per unlinked Bambuddy spool that holds grams; gone once they are."""
    _sync_issues(
        hass,
        {
            _unlinked_issue_id(entry.entry_id, bambuddy_id): _Issue(
                ISSUE_UNLINKED_OTHER_FILAMAN if link.other_filaman else ISSUE_UNLINKED_USAGE,
                {
                    "printer": entry.title,
                    "grams": f"{link.grams:g}",
                    "prints": ", ".join(link.print_names),
                    "bambuddy_spool": str(bambuddy_id),
                    "slot": slot_label(*link.slot) if link.slot else "?",
                },
                fix={"entry_id": entry.entry_id, "bambuddy_spool_id": bambuddy_id},
            )
            for bambuddy_id, link in waiting.items()
        },
        raised,
    )


@callback
def async_delete_entry_issues(hass: HomeAssistant, entry_id: str) -> None:
    """A removed entry's unlinked-usage and tray issues go with its ledger."""
    prefixes = (f"{ISSUE_UNLINKED_USAGE}_{entry_id}_", _tray_issue_id(entry_id, ""))
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_LOCATION_PERMISSION}_{entry_id}")
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and issue_id.startswith(prefixes):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


def suggested_filaman_spool(
    bambuddy_spool: BambuddySpool | None, candidates: Mapping[int, FilamanSpool]
) -> int | None:
    """The FilaMan spool the Bambuddy spool most likely is: same RFID tag, else the only
    spool of the same material and colour."""
    if bambuddy_spool is None:
        return None
    tags = bambuddy_tags(bambuddy_spool)
    for spool in candidates.values():
        if tags & set(filaman_tag_fields(spool.rfid_uid).values()):
            return spool.id
    colour = (bambuddy_spool.rgba or "").upper()
    material = bambuddy_spool.material.strip().upper()
    lookalikes = [
        spool.id
        for spool in candidates.values()
        if (spool.filament.material_type or "").strip().upper() == material
        and rgba_for(spool.filament.color_hexes) == colour
    ]
    return lookalikes[0] if len(lookalikes) == 1 else None


def _spool_label(spool: FilamanSpool) -> str:
    filament = spool.filament
    maker = filament.manufacturer.name if filament.manufacturer else None
    parts = [
        f"#{spool.id}",
        filament.material_type or "",
        filament.manufacturer_color_name or filament.designation or "",
        f"({maker})" if maker else "",
        f"{spool.remaining_weight_g:g} g" if spool.remaining_weight_g is not None else "",
    ]
    return " ".join(part for part in parts if part)


class UnlinkedUsageRepairFlow(_EntryRepairFlow):
    """Link the Bambuddy spool to a FilaMan spool (debits the held grams once), or dismiss."""

    def __init__(self, entry_id: str, bambuddy_spool_id: int) -> None:
        super().__init__(entry_id)
        self._bambuddy_spool_id = bambuddy_spool_id

    def _placeholders(self, entry: FilamanBambuddyConfigEntry) -> dict[str, str]:
        link = entry.runtime_data.consumption.awaiting_links().get(self._bambuddy_spool_id)
        return {
            "printer": entry.title,
            "bambuddy_spool": str(self._bambuddy_spool_id),
            "grams": f"{link.grams:g}" if link else "0",
            "prints": ", ".join(link.print_names) if link else "",
        }

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="entry_not_loaded")
        return self.async_show_menu(
            step_id="init",
            menu_options=["link", "dismiss"],
            description_placeholders=self._placeholders(entry),
        )

    async def async_step_link(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="entry_not_loaded")
        data = entry.runtime_data
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                await data.consumption.link_spool(
                    self._bambuddy_spool_id, int(user_input["filaman_spool"])
                )
            except NotFoundError:
                errors["filaman_spool"] = "unknown_spool"
            except ApiError:
                errors["base"] = "cannot_connect"
            else:
                # Map the rest of FilaMan's fields onto the newly linked spool now.
                data.hub.inventory.async_request_sync("spool_linked")
                return self.async_create_entry(data={})
        try:
            spools = {
                spool.id: spool for spool in await data.hub.filaman.spools(include_archived=False)
            }
            bambuddy_spool = await self._bambuddy_spool(entry)
        except ApiError:
            return self.async_abort(reason="cannot_connect")
        if not spools:
            return self.async_abort(reason="no_filaman_spools")
        options = [
            SelectOptionDict(value=str(spool_id), label=_spool_label(spool))
            for spool_id, spool in sorted(spools.items())
        ]
        suggested = suggested_filaman_spool(bambuddy_spool, spools)
        field = (
            probatio.Required("filaman_spool", default=str(suggested))
            if suggested is not None
            else probatio.Required("filaman_spool")
        )
        return self.async_show_form(
            step_id="link",
            data_schema=probatio.Schema(
                {
                    field: SelectSelector(
                        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
                    )
                }
            ),
            errors=errors,
            description_placeholders=self._placeholders(entry),
        )

    async def _bambuddy_spool(self, entry: FilamanBambuddyConfigEntry) -> BambuddySpool | None:
        """The spool the grams were booked to; ``None`` when deleted in Bambuddy since."""
        try:
            return await entry.runtime_data.hub.bambuddy.spool(self._bambuddy_spool_id)
        except NotFoundError:
            return None

    async def async_step_dismiss(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        entry = self._entry()
        if entry is None:
            return self.async_abort(reason="entry_not_loaded")
        if user_input is not None:
            await entry.runtime_data.consumption.dismiss_awaiting(self._bambuddy_spool_id)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="dismiss",
            data_schema=probatio.Schema({}),
            description_placeholders=self._placeholders(entry),
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of a fixable issue: an unassigned tray, a booking held for review, or
    grams waiting for a link."""
    assert data is not None
    if data.get("kind") == "tray_case":
        return TrayCaseRepairFlow(str(data["entry_id"]), str(data["case_id"]))
    if data.get("kind") == "held_for_review":
        return HeldForReviewRepairFlow(str(data["entry_id"]), str(data["print_key"]))
    if data.get("kind") == "second_writer":
        return SecondWriterRepairFlow(str(data["entry_id"]), str(data["writer"]))
    return UnlinkedUsageRepairFlow(str(data["entry_id"]), int(str(data["bambuddy_spool_id"])))


# --- trays printed from with no spool assigned ------------------------------------------------

# The fix flows list this many spools (the best fits first; a dropdown is no search engine).
LISTED_SPOOLS = 100
MAX_MANUAL_GRAMS = 10_000


def _tray_issue_id(entry_id: str, case_id: str) -> str:
    return f"tray_{entry_id}_{case_id}"


def _tray_placeholders(entry: FilamanBambuddyConfigEntry, case: TrayCase) -> dict[str, str]:
    return {
        "printer": entry.title,
        "slot": card_slot_label(*case.slot),
        "job": case.job or "?",
        "filament": " ".join(part for part in (case.material, case.color) if part) or "?",
    }


@callback
def async_sync_tray_case_issues(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    cases: Mapping[str, TrayCase],
    raised: set[str],
) -> None:
    """One fixable issue per open tray case; answered and closed cases lose theirs."""
    _sync_issues(
        hass,
        {
            _tray_issue_id(entry.entry_id, case_id): _Issue(
                (
                    ISSUE_UNRECORDED_TRAY
                    if case.state is CaseState.UNRECORDED
                    else ISSUE_UNASSIGNED_TRAY
                ),
                _tray_placeholders(entry, case),
                fix={"kind": "tray_case", "entry_id": entry.entry_id, "case_id": case.case_id},
            )
            for case_id, case in cases.items()
        },
        raised,
    )


def _spool_selector(options: list[SelectOptionDict]) -> SelectSelector:
    return SelectSelector(SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN))


class TrayCaseRepairFlow(_EntryRepairFlow):
    """Assign a spool while the print runs; afterwards record the grams by hand, or dismiss."""

    def __init__(self, entry_id: str, case_id: str) -> None:
        super().__init__(entry_id)
        self._case_id = case_id

    def _case(self) -> tuple[FilamanBambuddyConfigEntry, TrayCase] | None:
        entry = self._entry()
        if entry is None:
            return None
        case = entry.runtime_data.consumption.tray_cases.cases.get(self._case_id)
        return None if case is None else (entry, case)

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        found = self._case()
        if found is None:
            return self.async_abort(reason="case_closed")
        entry, case = found
        if case.state is CaseState.UNRECORDED:
            return self.async_show_menu(
                step_id="init",
                menu_options=["record", "dismiss"],
                description_placeholders=_tray_placeholders(entry, case),
            )
        if case.state is CaseState.ENDED:
            return self.async_abort(reason="print_just_ended")
        return await self.async_step_assign()

    async def _choices(
        self, entry: FilamanBambuddyConfigEntry, case: TrayCase
    ) -> list[SelectOptionDict]:
        ranked = slot_choices(self.hass, entry, *case.slot, await async_spool_index(entry))
        return [
            SelectOptionDict(value=str(choice.spool_id), label=choice.label)
            for choice in ranked[:LISTED_SPOOLS]
        ]

    async def async_step_assign(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        found = self._case()
        if found is None:
            return self.async_abort(reason="case_closed")
        entry, case = found
        errors: dict[str, str] = {}
        placeholders = {**_tray_placeholders(entry, case), "error": ""}
        if user_input is not None:
            try:
                await async_assign_filaman_spool(
                    entry, int(user_input["filaman_spool"]), *case.slot
                )
            except HomeAssistantError as err:
                errors["base"] = "assign_failed"
                placeholders["error"] = str(err)
            else:
                return self.async_create_entry(data={})
        try:
            options = await self._choices(entry, case)
        except HomeAssistantError:
            return self.async_abort(reason="cannot_connect")
        if not options:
            return self.async_abort(reason="no_filaman_spools")
        return self.async_show_form(
            step_id="assign",
            data_schema=probatio.Schema(
                {
                    probatio.Required("filaman_spool", default=options[0]["value"]): (
                        _spool_selector(options)
                    )
                }
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_record(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        found = self._case()
        if found is None:
            return self.async_abort(reason="case_closed")
        entry, case = found
        consumption = entry.runtime_data.consumption
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                await consumption.record_tray_by_hand(
                    self._case_id, int(user_input["filaman_spool"]), float(user_input["grams"])
                )
            except NotFoundError:
                errors["filaman_spool"] = "unknown_spool"
            except ApiError:
                errors["base"] = "cannot_connect"
            else:
                entry.runtime_data.tray_watch.refresh()
                await async_wake_consumption(self.hass, entry, "recorded by hand")
                if self._case_id not in consumption.tray_cases.cases:
                    return self.async_create_entry(data={})
                # FilaMan did not take them (the spool was deleted, or refuses): the case
                # is open again, so the user chooses again here.
                errors["filaman_spool"] = "spool_refused"
        try:
            options = await self._choices(entry, case)
        except HomeAssistantError:
            return self.async_abort(reason="cannot_connect")
        if not options:
            return self.async_abort(reason="no_filaman_spools")
        estimate = await self._estimate(entry, case)
        grams = (
            probatio.Required("grams", default=estimate)
            if estimate is not None
            else probatio.Required("grams")
        )
        return self.async_show_form(
            step_id="record",
            data_schema=probatio.Schema(
                {
                    probatio.Required("filaman_spool", default=options[0]["value"]): (
                        _spool_selector(options)
                    ),
                    grams: NumberSelector(
                        NumberSelectorConfig(
                            min=0.1,
                            max=MAX_MANUAL_GRAMS,
                            step=0.1,
                            unit_of_measurement="g",
                            mode=NumberSelectorMode.BOX,
                        )
                    ),
                }
            ),
            errors=errors,
            description_placeholders={
                **_tray_placeholders(entry, case),
                "estimate": f"{estimate:g} g" if estimate is not None else "—",
            },
        )

    async def _estimate(self, entry: FilamanBambuddyConfigEntry, case: TrayCase) -> float | None:
        """The print's 3MF estimate less what Bambuddy booked to its other trays."""
        data = entry.runtime_data
        try:
            archives = await data.hub.bambuddy.archives(data.coordinator.printer_id)
        except ApiError:
            return None
        archive = next(
            (
                archive
                for archive in archives
                if archive.print_name == case.job
                and (archive.started_at or archive.created_at or case.started_at)
                >= case.started_at - ARCHIVE_START_SLACK
            ),
            None,
        )
        booked = sum(
            entry_.grams
            for entry_ in data.consumption.entries()
            if entry_.print_name == case.job
            and entry_.event_at >= case.started_at
            and entry_.state is not EntryState.SKIPPED
        )
        return estimate_grams(case, archive.filament_used_grams if archive else None, booked)

    async def async_step_dismiss(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        found = self._case()
        if found is None:
            return self.async_abort(reason="case_closed")
        entry, case = found
        if user_input is not None:
            await entry.runtime_data.consumption.dismiss_tray_case(self._case_id)
            entry.runtime_data.tray_watch.refresh()
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="dismiss",
            data_schema=probatio.Schema({}),
            description_placeholders=_tray_placeholders(entry, case),
        )


# --- RFID tags the sync did not act on -------------------------------------------------


def _conflict_issue_prefix(hub: BambuddyHub) -> str:
    server = hashlib.sha256(hub.key.encode()).hexdigest()[:8]
    return f"rfid_conflict_{server}_"


@callback
def async_sync_tag_conflict_issues(
    hass: HomeAssistant, hub: BambuddyHub, result: SyncResult, raised: set[str]
) -> None:
    """One issue per RFID conflict of the last planned sync; resolved ones disappear."""
    if result.linked is None:
        return  # the run stopped before planning: it knows nothing new about tags
    prefix = _conflict_issue_prefix(hub)
    _sync_issues(
        hass,
        {
            prefix + conflict.key: _Issue(
                RFID_CONFLICT_ISSUES[conflict.kind],
                {
                    "tag": conflict.tag,
                    "filaman_spools": ", ".join(f"#{i}" for i in conflict.filaman_ids),
                    "bambuddy_spools": ", ".join(f"#{i}" for i in conflict.bambuddy_ids) or "—",
                },
                severity=ir.IssueSeverity.WARNING,
            )
            for conflict in result.tag_conflicts
        },
        raised,
    )


# --- bookings FilaMan's figures rule out (consumption/plausibility.py) --------------------------

# The "another amount" form has one field per held booking, up to this many (a print draws from
# at most 16 trays); more are answered as booked or discarded.
MAX_REVIEW_FIELDS = 16


def _held_issue_id(entry_id: str, print_key: str) -> str:
    return f"held_{entry_id}_{hashlib.sha1(print_key.encode()).hexdigest()[:12]}"


def _held_placeholders(entry: FilamanBambuddyConfigEntry, held: HeldPrint) -> dict[str, str]:
    """Language-neutral figures: ``1. #12 Bambu Lab PLA Basic: 1000 g (≤ 230 g)``."""
    spools = entry.runtime_data.hub.inventory.filaman_spools
    lines = []
    for number, booking in enumerate(held.bookings, 1):
        spool = spools.get(booking.filaman_spool_id) if booking.filaman_spool_id else None
        name = f"#{booking.filaman_spool_id}" + (f" {spool_name(spool)}" if spool else "")
        lines.append(f"{number}. {name}: {booking.grams:g} g (≤ {booking.expected_g:g} g)")
    return {
        "printer": entry.title,
        "job": held.print_name or "?",
        "grams": f"{held.grams:g}",
        "bookings": "\n".join(lines),
    }


@callback
def async_sync_held_issues(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    held: Mapping[str, HeldPrint],
    raised: set[str],
) -> None:
    """One fixable issue per print with held bookings; gone once the user answered it."""
    _sync_issues(
        hass,
        {
            _held_issue_id(entry.entry_id, key): _Issue(
                ISSUE_HELD_FOR_REVIEW,
                _held_placeholders(entry, print_),
                severity=ir.IssueSeverity.WARNING,
                fix={
                    "kind": "held_for_review",
                    "entry_id": entry.entry_id,
                    "print_key": print_.print_key,
                },
            )
            for key, print_ in held.items()
        },
        raised,
    )


class HeldForReviewRepairFlow(_EntryRepairFlow):
    """Debit a held print's bookings as booked, or other amounts, or discard them: once."""

    def __init__(self, entry_id: str, print_key: str) -> None:
        super().__init__(entry_id)
        self._print_key = print_key

    def _held(self) -> tuple[FilamanBambuddyConfigEntry, HeldPrint] | None:
        entry = self._entry()
        if entry is None:
            return None
        held = entry.runtime_data.consumption.held_for_review().get(self._print_key)
        return None if held is None else (entry, held)

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        found = self._held()
        if found is None:
            return self._gone()
        entry, held = found
        return self.async_show_menu(
            step_id="init",
            menu_options=["debit_as_booked", "debit_other", "discard"],
            description_placeholders=_held_placeholders(entry, held),
        )

    async def async_step_debit_as_booked(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        found = self._held()
        if found is None:
            return self._gone()
        _entry, held = found
        return await self._answer({booking.key: booking.grams for booking in held.bookings})

    async def async_step_debit_other(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        found = self._held()
        if found is None:
            return self._gone()
        entry, held = found
        bookings = held.bookings[:MAX_REVIEW_FIELDS]
        if user_input is not None:
            # 0 g: that spool gave nothing, so its booking was not real.
            return await self._answer(
                {
                    booking.key: grams if (grams := float(user_input[f"grams_{n}"])) > 0 else None
                    for n, booking in enumerate(bookings, 1)
                }
            )
        grams_field = NumberSelector(
            NumberSelectorConfig(
                min=0,
                max=MAX_MANUAL_GRAMS,
                step=0.1,
                mode=NumberSelectorMode.BOX,
                unit_of_measurement="g",
            )
        )
        return self.async_show_form(
            step_id="debit_other",
            data_schema=probatio.Schema(
                {probatio.Required(f"grams_{n}"): grams_field for n in range(1, len(bookings) + 1)}
            ),
            description_placeholders=_held_placeholders(entry, held),
        )

    async def async_step_discard(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        found = self._held()
        if found is None:
            return self._gone()
        entry, held = found
        if user_input is not None:
            return await self._answer({booking.key: None for booking in held.bookings})
        return self.async_show_form(
            step_id="discard", description_placeholders=_held_placeholders(entry, held)
        )

    async def _answer(self, grams: Mapping[str, float | None]) -> RepairsFlowResult:
        found = self._held()
        if found is None:
            return self._gone()
        entry, _held = found
        await entry.runtime_data.consumption.review_held(self._print_key, grams)
        await async_wake_consumption(self.hass, entry, "reviewed by the user")
        return self.async_create_entry(data={})


# --- another tool deducting the same prints (consumption/writers.py) ---------------------------


def _writer_issue_id(entry_id: str, key: str) -> str:
    return f"{ISSUE_SECOND_WRITER}_{entry_id}_{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _writer_placeholders(entry: FilamanBambuddyConfigEntry, record: WriterRecord) -> dict[str, str]:
    return {
        "printer": entry.title,
        "tool": record.name,
        "seen": record.evidence,
        "grams": f"{entry.runtime_data.consumption.owed_grams().queued:g}",
    }


@callback
def async_sync_writer_issues(
    hass: HomeAssistant,
    entry: FilamanBambuddyConfigEntry,
    writers: Mapping[str, WriterRecord],
    raised: set[str],
) -> None:
    """One fixable issue per tool waiting for the user's decision; gone once decided."""
    _sync_issues(
        hass,
        {
            _writer_issue_id(entry.entry_id, key): _Issue(
                ISSUE_SECOND_WRITER,
                _writer_placeholders(entry, record),
                fix={"kind": "second_writer", "entry_id": entry.entry_id, "writer": record.key},
            )
            for key, record in writers.items()
            if record.choice is WriterChoice.UNDECIDED
        },
        raised,
    )


class SecondWriterRepairFlow(_EntryRepairFlow):
    """Who deducts this printer's prints: this integration, or the other tool."""

    def __init__(self, entry_id: str, key: str) -> None:
        super().__init__(entry_id)
        self._key = key

    def _found(self) -> tuple[FilamanBambuddyConfigEntry, WriterRecord] | None:
        entry = self._entry()
        if entry is None:
            return None
        record = entry.runtime_data.consumption.other_writers().get(self._key)
        if record is None or record.choice is not WriterChoice.UNDECIDED:
            return None
        return entry, record

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        found = self._found()
        if found is None:
            return self._gone()
        entry, record = found
        return self.async_show_menu(
            step_id="init",
            menu_options=["we_write", "they_write"],
            description_placeholders=_writer_placeholders(entry, record),
        )

    async def async_step_we_write(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        return await self._decide(WriterChoice.US)

    async def async_step_they_write(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        return await self._decide(WriterChoice.THEM)

    async def _decide(self, choice: WriterChoice) -> RepairsFlowResult:
        found = self._found()
        if found is None:
            return self._gone()
        entry, _record = found
        await entry.runtime_data.consumption.decide_writer(self._key, choice)
        await async_wake_consumption(self.hass, entry, "writer decided")
        return self.async_create_entry(data={})
