"""Repair issues for set-ups where the grams cannot be right, and for long outages.

- Bambuddy in Spoolman mode: Bambuddy debits Spoolman itself and writes no usage rows, so this
  integration cannot report consumption.
- FilaMan's own Bambuddy plugin bound to the same printer: two writers, every print debited twice.
  Our debits stop (rows are marked skipped) until the plugin is off.
- Bambuddy with authentication disabled: the API key cannot be checked (works, but warn).
- Bambuddy unreachable for longer than a grace period.
"""

from __future__ import annotations

import logging

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .api import ApiError, BambuddyClient, FilamanClient
from .const import CONF_BAMBUDDY_URL, DOMAIN
from .data import FilamanBambuddyConfigEntry
from .validation import find_bound_filaman_printers

_LOGGER = logging.getLogger(__name__)

ISSUE_SPOOLMAN_MODE = "spoolman_mode"
ISSUE_PLUGIN_ACTIVE = "filaman_plugin_active"
ISSUE_AUTH_DISABLED = "bambuddy_auth_disabled"
ISSUE_UNREACHABLE = "bambuddy_unreachable"

BLOCK_SPOOLMAN = "spoolman_mode"
BLOCK_PLUGIN = "filaman_plugin_active"

# A restart of Bambuddy or a Wi-Fi hiccup is not worth a repair; an hour-long outage is.
OUTAGE_GRACE_SECONDS = 15 * 60


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
