"""Config flow for FilaMan ⇄ Bambuddy (the steps arrive with the config-flow work)."""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlow

from .const import DOMAIN


class FilamanBambuddyConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one Bambuddy printer joined to FilaMan."""

    VERSION = 1
