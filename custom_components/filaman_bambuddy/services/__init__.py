"""Actions: Sync now, Full resync, assign and unassign a FilaMan spool, debit past prints.

Registered once in ``async_setup`` (not per entry) so automations referring to them validate even
while an entry is not loaded. This module holds the names and input schemas; each action's work
lives in the module of its family: sync.py, slots.py and past_prints.py (targets.py
resolves which entry a call means and builds the errors every action raises).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant, SupportsResponse, callback
from homeassistant.helpers import config_validation as cv
import probatio

from ..const import DOMAIN
from .past_prints import ATTR_SINCE, async_debit_past_prints
from .slots import (
    ATTR_AMS_ID,
    ATTR_FILAMAN_SPOOL_ID,
    ATTR_TRAY_ID,
    async_assign_spool,
    async_unassign_spool,
)
from .sync import (
    ATTR_ALLOW_DELETIONS,
    ATTR_FORCE,
    async_full_resync_action,
    async_sync_now,
)
from .targets import ATTR_CONFIG_ENTRY_ID

SERVICE_SYNC_NOW = "sync_now"
SERVICE_FULL_RESYNC = "full_resync"
SERVICE_ASSIGN_SPOOL = "assign_spool"
SERVICE_UNASSIGN_SPOOL = "unassign_spool"
SERVICE_DEBIT_PAST_PRINTS = "debit_past_prints"


# The largest FilaMan spool id the action takes, as services.yaml's number selector says.
MAX_FILAMAN_SPOOL_ID = 1_000_000


def whole_number(minimum: int, maximum: int) -> Callable[[Any], int]:
    """An int, an integral float (``3.0``) or its digits (``"3"``, as a template renders).

    Never ``3.9``, ``0.99`` or ``true``: truncated they would quietly name another slot or spool.
    """
    in_range = probatio.Range(min=minimum, max=maximum)

    def validate(value: Any) -> int:
        integral = isinstance(value, float) and value.is_integer()
        digits = isinstance(value, str) and value.strip().isdecimal()
        if integral or digits:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise probatio.Invalid(f"expected a whole number, got {value!r:.40}")
        return int(in_range(value))

    return validate


# An empty id is refused, not read as "the only entry": a template that rendered nothing
# must not send the action to whichever printer happens to be the only one.
_ID = probatio.All(cv.string, probatio.Length(min=1))
_TARGET = {
    probatio.Optional(ATTR_CONFIG_ENTRY_ID): _ID,
    probatio.Optional(ATTR_DEVICE_ID): _ID,
}
_SLOT = {
    probatio.Required(ATTR_DEVICE_ID): _ID,
    probatio.Required(ATTR_AMS_ID): whole_number(0, 255),
    probatio.Required(ATTR_TRAY_ID): whole_number(0, 3),
}
SYNC_SCHEMA = probatio.Schema(
    {**_TARGET, probatio.Optional(ATTR_ALLOW_DELETIONS, default=False): cv.boolean}
)
FULL_RESYNC_SCHEMA = probatio.Schema(
    {**_TARGET, probatio.Optional(ATTR_FORCE, default=False): cv.boolean}
)
ASSIGN_SCHEMA = probatio.Schema(
    {**_SLOT, probatio.Required(ATTR_FILAMAN_SPOOL_ID): whole_number(1, MAX_FILAMAN_SPOOL_ID)}
)
UNASSIGN_SCHEMA = probatio.Schema(_SLOT)
DEBIT_PAST_PRINTS_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): _ID,
        probatio.Required(ATTR_SINCE): cv.datetime,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SYNC_NOW,
        async_sync_now,
        schema=SYNC_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_FULL_RESYNC,
        async_full_resync_action,
        schema=FULL_RESYNC_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_ASSIGN_SPOOL,
        async_assign_spool,
        schema=ASSIGN_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_UNASSIGN_SPOOL,
        async_unassign_spool,
        schema=UNASSIGN_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_DEBIT_PAST_PRINTS,
        async_debit_past_prints,
        schema=DEBIT_PAST_PRINTS_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
