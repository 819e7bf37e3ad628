"""Config flow for FilaMan ⇄ Bambuddy: one entry per Bambuddy printer.

Steps: ``user`` (Bambuddy URL and key) → ``auth_disabled`` (only when Bambuddy
has authentication off: the key cannot be checked) → ``printer`` → ``filaman``
(FilaMan URL and key, then the FilaMan printer choice on the same step). Also
reauth, reconfigure and the options flow.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import contextlib
from dataclasses import dataclass, field
import logging
from typing import Any, Final, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .api.bambuddy import BambuddyClient
from .api.errors import ApiError, AuthenticationError, MissingPermissionError, NotFoundError
from .api.filaman import FilamanClient
from .api.models_bambuddy import Printer
from .api.models_filaman import FilamanPrinter
from .const import (
    CONF_BAMBUDDY_API_KEY,
    CONF_BAMBUDDY_URL,
    CONF_FILAMAN_API_KEY,
    CONF_FILAMAN_PRINTER_ID,
    CONF_FILAMAN_URL,
    CONF_FOLLOW_LOCATIONS,
    CONF_HOLD_ESTIMATE_FACTOR,
    CONF_HOLD_MARGIN,
    CONF_PRINTER_ID,
    CONF_RECONNECT_INTERVAL,
    CONF_SYNC_INTERVAL,
    DEFAULT_RECONNECT_INTERVAL,
    DEFAULT_SYNC_INTERVAL,
    DOMAIN,
    MAX_RECONNECT_INTERVAL,
    MIN_RECONNECT_INTERVAL,
    MIN_SYNC_INTERVAL,
)
from .consumption.plausibility import DEFAULT_ESTIMATE_FACTOR, DEFAULT_REMAINING_MARGIN_G
from .ledger_store import async_hold_for_other_filaman, async_owed_grams
from .validation import (
    InvalidUrlError,
    check_bambuddy_key,
    check_filaman_key,
    fallback_unique_id,
    find_bound_filaman_printers,
    normalize_url,
    printer_unique_id,
)

_LOGGER = logging.getLogger(__name__)

MAX_SYNC_INTERVAL: Final = 86400
# Select value meaning "no FilaMan printer"; the label is a dash so it needs no translation.
NO_FILAMAN_PRINTER: Final = "none"
NO_FILAMAN_PRINTER_LABEL: Final = "—"
BASE: Final = "base"

_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_KEY_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off"))

USER_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_BAMBUDDY_URL): _URL_SELECTOR,
        probatio.Optional(CONF_BAMBUDDY_API_KEY, default=""): _KEY_SELECTOR,
    }
)
FILAMAN_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_FILAMAN_URL): _URL_SELECTOR,
        probatio.Required(CONF_FILAMAN_API_KEY): _KEY_SELECTOR,
    }
)
# Secrets are never shown again: an empty key field keeps the stored key.
REAUTH_SCHEMA = probatio.Schema(
    {
        probatio.Optional(CONF_BAMBUDDY_API_KEY): _KEY_SELECTOR,
        probatio.Optional(CONF_FILAMAN_API_KEY): _KEY_SELECTOR,
    }
)
RECONFIGURE_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_BAMBUDDY_URL): _URL_SELECTOR,
        probatio.Optional(CONF_BAMBUDDY_API_KEY): _KEY_SELECTOR,
        probatio.Required(CONF_FILAMAN_URL): _URL_SELECTOR,
        probatio.Optional(CONF_FILAMAN_API_KEY): _KEY_SELECTOR,
    }
)
OPTIONS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_SYNC_INTERVAL, default=DEFAULT_SYNC_INTERVAL): NumberSelector(
            NumberSelectorConfig(
                min=MIN_SYNC_INTERVAL,
                max=MAX_SYNC_INTERVAL,
                step=1,
                mode=NumberSelectorMode.BOX,
                unit_of_measurement="s",
            )
        ),
        probatio.Required(
            CONF_RECONNECT_INTERVAL, default=DEFAULT_RECONNECT_INTERVAL
        ): NumberSelector(
            NumberSelectorConfig(
                min=MIN_RECONNECT_INTERVAL,
                max=MAX_RECONNECT_INTERVAL,
                step=1,
                mode=NumberSelectorMode.BOX,
                unit_of_measurement="s",
            )
        ),
        probatio.Required(CONF_FOLLOW_LOCATIONS, default=True): BooleanSelector(),
        probatio.Required(CONF_HOLD_MARGIN, default=DEFAULT_REMAINING_MARGIN_G): NumberSelector(
            NumberSelectorConfig(
                min=0, max=1000, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="g"
            )
        ),
        probatio.Required(
            CONF_HOLD_ESTIMATE_FACTOR, default=DEFAULT_ESTIMATE_FACTOR
        ): NumberSelector(
            NumberSelectorConfig(min=1.5, max=20, step=0.5, mode=NumberSelectorMode.BOX)
        ),
    }
)
DEFAULT_OPTIONS: Final = {
    CONF_SYNC_INTERVAL: DEFAULT_SYNC_INTERVAL,
    CONF_RECONNECT_INTERVAL: DEFAULT_RECONNECT_INTERVAL,
}


class _FormError(Exception):
    """A check failed: show ``error`` on ``field`` (a form field or ``"base"``)."""

    def __init__(self, field: str, error: str, placeholders: Mapping[str, str] | None = None):
        super().__init__(error)
        self.field = field
        self.error = error
        self.placeholders = dict(placeholders or {})

    def apply(self, errors: dict[str, str], placeholders: dict[str, str]) -> None:
        errors[self.field] = self.error
        placeholders.update(self.placeholders)


@contextlib.contextmanager
def _form_errors(url_field: str | None, key_field: str) -> Iterator[None]:
    """Turn a failed server check into the form error the user can act on.

    The URL field gets address problems, the key field key problems; forms
    without a URL field (reauth) show address problems at the top.
    """
    address_field = url_field or BASE
    try:
        yield
    except InvalidUrlError as err:
        raise _FormError(address_field, "invalid_url") from err
    except MissingPermissionError as err:
        raise _FormError(key_field, "missing_permission", {"permission": err.permission}) from err
    except AuthenticationError as err:
        raise _FormError(key_field, "invalid_auth") from err
    except ApiError as err:
        # Unreachable, 5xx, or something that is not the expected server.
        _LOGGER.debug("Server check failed: %s", err)
        raise _FormError(address_field, "cannot_connect") from err
    except Exception as err:
        _LOGGER.exception("Unexpected error while checking the server")
        raise _FormError(BASE, "unknown") from err


@dataclass(slots=True)
class _FilamanChoice:
    """A checked FilaMan server and what the ``filaman`` step offers from it."""

    url: str
    api_key: str
    printers: list[FilamanPrinter] = field(default_factory=list)
    bound_printer_id: int | None = None


class FilamanBambuddyConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one Bambuddy printer joined to FilaMan."""

    VERSION = 1

    def __init__(self) -> None:
        self._bambuddy_url = ""
        self._bambuddy_api_key = ""
        self._printers: dict[int, Printer] = {}
        self._printer: Printer | None = None
        self._filaman: _FilamanChoice | None = None
        self._reconfigured: dict[str, Any] = {}
        self._owed_grams = 0.0

    # --- server checks ---------------------------------------------------------------------

    def _bambuddy_client(self, url: str, api_key: str) -> BambuddyClient:
        return BambuddyClient(async_get_clientsession(self.hass), url, api_key or None)

    def _filaman_client(self, url: str, api_key: str) -> FilamanClient:
        return FilamanClient(async_get_clientsession(self.hass), url, api_key)

    async def _check_bambuddy(
        self, url_text: str, api_key: str, url_field: str | None
    ) -> tuple[str, BambuddyClient, bool]:
        """The normalised URL, a client and whether the key could be checked (auth on)."""
        with _form_errors(url_field, CONF_BAMBUDDY_API_KEY):
            url = normalize_url(url_text)
            client = self._bambuddy_client(url, api_key)
            auth_enabled = await check_bambuddy_key(client)
        return url, client, auth_enabled

    async def _check_filaman(
        self, url_text: str, api_key: str, url_field: str | None
    ) -> tuple[str, FilamanClient]:
        with _form_errors(url_field, CONF_FILAMAN_API_KEY):
            url = normalize_url(url_text)
            client = self._filaman_client(url, api_key)
            await check_filaman_key(client)
        return url, client

    async def _filaman_choice(
        self, url_text: str, api_key: str, bambuddy_url: str, printer_id: int
    ) -> _FilamanChoice:
        """Check FilaMan and find the printer its Bambuddy plugin binds to ours."""
        url, client = await self._check_filaman(url_text, api_key, CONF_FILAMAN_URL)
        with _form_errors(CONF_FILAMAN_URL, CONF_FILAMAN_API_KEY):
            printers = await client.printers()
            bound = await find_bound_filaman_printers(client, bambuddy_url, printer_id, printers)
        return _FilamanChoice(
            url=url,
            api_key=api_key,
            printers=sorted(printers, key=lambda printer: (printer.name.casefold(), printer.id)),
            bound_printer_id=bound[0].id if bound else None,
        )

    # --- user → auth_disabled → printer → filaman ------------------------------------------

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for Bambuddy's address and API key."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            api_key = user_input.get(CONF_BAMBUDDY_API_KEY, "")
            try:
                url, client, auth_enabled = await self._check_bambuddy(
                    user_input[CONF_BAMBUDDY_URL], api_key, CONF_BAMBUDDY_URL
                )
                with _form_errors(CONF_BAMBUDDY_URL, CONF_BAMBUDDY_API_KEY):
                    printers = await client.printers()
            except _FormError as err:
                err.apply(errors, placeholders)
            else:
                if not printers:
                    return self.async_abort(reason="no_printers")
                self._bambuddy_url = url
                self._bambuddy_api_key = api_key
                self._printers = {printer.id: printer for printer in printers}
                if not auth_enabled:
                    return await self.async_step_auth_disabled()
                return await self.async_step_printer()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_auth_disabled(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Tell the user that Bambuddy accepts any key, so this one could not be checked."""
        if user_input is not None:
            return await self.async_step_printer()
        return self.async_show_form(
            step_id="auth_disabled", description_placeholders={"url": self._bambuddy_url}
        )

    async def async_step_printer(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the Bambuddy printer this entry stands for."""
        if user_input is not None:
            printer = self._printers[int(user_input[CONF_PRINTER_ID])]
            await self.async_set_unique_id(printer_unique_id(self._bambuddy_url, printer))
            self._abort_if_unique_id_configured()
            self._printer = printer
            return await self.async_step_filaman()
        choices = [
            SelectOptionDict(value=str(printer.id), label=printer.name)
            for printer in sorted(
                self._printers.values(), key=lambda printer: (printer.name.casefold(), printer.id)
            )
        ]
        schema = probatio.Schema(
            {
                probatio.Required(CONF_PRINTER_ID, default=choices[0]["value"]): SelectSelector(
                    SelectSelectorConfig(options=choices, mode=SelectSelectorMode.DROPDOWN)
                )
            }
        )
        return self.async_show_form(
            step_id="printer",
            data_schema=schema,
            description_placeholders={"url": self._bambuddy_url},
        )

    async def async_step_filaman(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for FilaMan's address and key, then (same step) which FilaMan printer to use."""
        assert self._printer is not None
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"printer": self._printer.name}
        if user_input is not None:
            checked = self._filaman
            if checked is not None and self._unchanged(checked, user_input):
                choice = user_input.get(CONF_FILAMAN_PRINTER_ID, NO_FILAMAN_PRINTER)
                return self._create_entry(
                    checked, None if choice == NO_FILAMAN_PRINTER else int(choice)
                )
            try:
                checked = await self._filaman_choice(
                    user_input[CONF_FILAMAN_URL],
                    user_input[CONF_FILAMAN_API_KEY],
                    self._bambuddy_url,
                    self._printer.id,
                )
            except _FormError as err:
                self._filaman = None
                err.apply(errors, placeholders)
            else:
                if not checked.printers:
                    return self._create_entry(checked, None)
                # Same step again, now with the FilaMan printer choice.
                self._filaman = checked
        return self.async_show_form(
            step_id="filaman",
            data_schema=self.add_suggested_values_to_schema(
                self._filaman_schema(self._filaman), user_input
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    @staticmethod
    def _unchanged(checked: _FilamanChoice, user_input: Mapping[str, Any]) -> bool:
        """Whether the submitted FilaMan URL and key are the ones already checked."""
        try:
            url = normalize_url(user_input[CONF_FILAMAN_URL])
        except InvalidUrlError:
            return False
        return (url, user_input[CONF_FILAMAN_API_KEY]) == (checked.url, checked.api_key)

    @staticmethod
    def _filaman_schema(checked: _FilamanChoice | None) -> probatio.Schema:
        if checked is None or not checked.printers:
            return FILAMAN_SCHEMA
        choices = [SelectOptionDict(value=NO_FILAMAN_PRINTER, label=NO_FILAMAN_PRINTER_LABEL)]
        choices += [
            SelectOptionDict(value=str(printer.id), label=printer.name)
            for printer in checked.printers
        ]
        preselected = (
            NO_FILAMAN_PRINTER
            if checked.bound_printer_id is None
            else str(checked.bound_printer_id)
        )
        return FILAMAN_SCHEMA.extend(
            {
                probatio.Optional(CONF_FILAMAN_PRINTER_ID, default=preselected): SelectSelector(
                    SelectSelectorConfig(options=choices, mode=SelectSelectorMode.DROPDOWN)
                )
            }
        )

    def _create_entry(
        self, checked: _FilamanChoice, filaman_printer_id: int | None
    ) -> ConfigFlowResult:
        assert self._printer is not None
        data: dict[str, Any] = {
            CONF_BAMBUDDY_URL: self._bambuddy_url,
            CONF_BAMBUDDY_API_KEY: self._bambuddy_api_key,
            CONF_PRINTER_ID: self._printer.id,
            CONF_FILAMAN_URL: checked.url,
            CONF_FILAMAN_API_KEY: checked.api_key,
        }
        if filaman_printer_id is not None:
            data[CONF_FILAMAN_PRINTER_ID] = filaman_printer_id
        return self.async_create_entry(
            title=self._printer.name, data=data, options=dict(DEFAULT_OPTIONS)
        )

    # --- reauth ----------------------------------------------------------------------------

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """A key was rejected: ask for new keys."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Check the new keys (an empty field keeps the stored key) and reload."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"name": entry.title}
        if user_input is not None:
            bambuddy_key = (
                user_input.get(CONF_BAMBUDDY_API_KEY) or entry.data[CONF_BAMBUDDY_API_KEY]
            )
            filaman_key = user_input.get(CONF_FILAMAN_API_KEY) or entry.data[CONF_FILAMAN_API_KEY]
            try:
                await self._check_bambuddy(entry.data[CONF_BAMBUDDY_URL], bambuddy_key, None)
                await self._check_filaman(entry.data[CONF_FILAMAN_URL], filaman_key, None)
            except _FormError as err:
                err.apply(errors, placeholders)
            else:
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_BAMBUDDY_API_KEY: bambuddy_key,
                        CONF_FILAMAN_API_KEY: filaman_key,
                    },
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            errors=errors,
            description_placeholders=placeholders,
        )

    # --- reconfigure -----------------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change addresses and keys; the Bambuddy printer must stay the same one."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"name": entry.title}
        if user_input is not None:
            try:
                data = await self._reconfigured_data(entry, user_input)
            except _FormError as err:
                err.apply(errors, placeholders)
            else:
                return await self._apply_reconfigure(entry, data)
        suggested = {
            CONF_BAMBUDDY_URL: entry.data[CONF_BAMBUDDY_URL],
            CONF_FILAMAN_URL: entry.data[CONF_FILAMAN_URL],
        } | (user_input or {})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(RECONFIGURE_SCHEMA, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _apply_reconfigure(
        self, entry: ConfigEntry, data: dict[str, Any]
    ) -> ConfigFlowResult:
        """Save the new data, first asking what a new FilaMan address means for owed grams.

        The ledger's spool ids are the old FilaMan's. Only the user knows whether the new
        address is the same FilaMan (moved) or another one, where the same ids are other
        spools; the question is asked only while grams are owed.
        """
        moved = data[CONF_FILAMAN_URL] != normalize_url(entry.data[CONF_FILAMAN_URL])
        owed = await async_owed_grams(self.hass, entry) if moved else 0.0
        if not owed:
            return self.async_update_reload_and_abort(entry, data=data)
        self._reconfigured = data
        self._owed_grams = owed
        return await self.async_step_filaman_changed()

    async def async_step_filaman_changed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask whether the new FilaMan address is the same FilaMan."""
        return self.async_show_menu(
            step_id="filaman_changed",
            menu_options=["filaman_moved", "filaman_replaced"],
            description_placeholders={
                "grams": f"{self._owed_grams:g}",
                "old_url": self._get_reconfigure_entry().data[CONF_FILAMAN_URL],
                "new_url": self._reconfigured[CONF_FILAMAN_URL],
            },
        )

    async def async_step_filaman_moved(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The same FilaMan at a new address: what is owed is debited there as booked."""
        return self.async_update_reload_and_abort(
            self._get_reconfigure_entry(), data=self._reconfigured
        )

    async def async_step_filaman_replaced(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Another FilaMan: what is owed is held for the user to link, never sent by id."""
        entry = self._get_reconfigure_entry()
        await async_hold_for_other_filaman(self.hass, entry)
        return self.async_update_reload_and_abort(entry, data=self._reconfigured)

    async def _reconfigured_data(
        self, entry: ConfigEntry, user_input: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The entry's new data, once both servers and the printer's identity check out."""
        printer_id: int = entry.data[CONF_PRINTER_ID]
        bambuddy_key = user_input.get(CONF_BAMBUDDY_API_KEY) or entry.data[CONF_BAMBUDDY_API_KEY]
        filaman_key = user_input.get(CONF_FILAMAN_API_KEY) or entry.data[CONF_FILAMAN_API_KEY]
        bambuddy_url, client, _ = await self._check_bambuddy(
            user_input[CONF_BAMBUDDY_URL], bambuddy_key, CONF_BAMBUDDY_URL
        )
        with _form_errors(CONF_BAMBUDDY_URL, CONF_BAMBUDDY_API_KEY):
            printer = await _printer_or_none(client, printer_id)
        if printer is None:
            raise AbortFlow("wrong_printer")
        await self._abort_if_other_printer(entry, printer)

        data = dict(entry.data)
        filaman_url, filaman_client = await self._check_filaman(
            user_input[CONF_FILAMAN_URL], filaman_key, CONF_FILAMAN_URL
        )
        if filaman_url != normalize_url(entry.data[CONF_FILAMAN_URL]):
            # Another FilaMan: the stored printer id meant a printer of the old one.
            data.pop(CONF_FILAMAN_PRINTER_ID, None)
            with _form_errors(CONF_FILAMAN_URL, CONF_FILAMAN_API_KEY):
                bound = await find_bound_filaman_printers(filaman_client, bambuddy_url, printer_id)
            if bound:
                data[CONF_FILAMAN_PRINTER_ID] = bound[0].id
        data.update(
            {
                CONF_BAMBUDDY_URL: bambuddy_url,
                CONF_BAMBUDDY_API_KEY: bambuddy_key,
                CONF_FILAMAN_URL: filaman_url,
                CONF_FILAMAN_API_KEY: filaman_key,
            }
        )
        return data

    async def _abort_if_other_printer(self, entry: ConfigEntry, printer: Printer) -> None:
        """Abort with ``wrong_printer`` unless the serial number still matches the entry.

        Entries created for a printer without a serial number carry a URL-based id
        that changes with the URL; for those the printer id is all there is to compare.
        """
        fallback = fallback_unique_id(entry.data[CONF_BAMBUDDY_URL], printer.id)
        if printer.serial_number is None or entry.unique_id == fallback:
            return
        await self.async_set_unique_id(printer.serial_number)
        self._abort_if_unique_id_mismatch(reason="wrong_printer")

    # --- options ---------------------------------------------------------------------------

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> FilamanBambuddyOptionsFlow:
        """Sync and reconnect intervals."""
        return FilamanBambuddyOptionsFlow()


async def _printer_or_none(client: BambuddyClient, printer_id: int) -> Printer | None:
    try:
        return await client.printer(printer_id)
    except NotFoundError:
        return None


class FilamanBambuddyOptionsFlow(OptionsFlowWithReload):
    """Tune how often the entry syncs, how patiently it reconnects, location-following, and
    how far a booking may go beyond FilaMan's figures before it is held for review."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the intervals; the entry reloads when they change."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_SYNC_INTERVAL: int(user_input[CONF_SYNC_INTERVAL]),
                    CONF_RECONNECT_INTERVAL: int(user_input[CONF_RECONNECT_INTERVAL]),
                    CONF_FOLLOW_LOCATIONS: bool(user_input[CONF_FOLLOW_LOCATIONS]),
                    CONF_HOLD_MARGIN: float(user_input[CONF_HOLD_MARGIN]),
                    CONF_HOLD_ESTIMATE_FACTOR: float(user_input[CONF_HOLD_ESTIMATE_FACTOR]),
                }
            )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, self.config_entry.options
            ),
        )
