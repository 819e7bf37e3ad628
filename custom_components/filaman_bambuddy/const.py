"""Constants shared by the integration's modules."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "filaman_bambuddy"

CONF_BAMBUDDY_URL: Final = "bambuddy_url"
CONF_BAMBUDDY_API_KEY: Final = "bambuddy_api_key"
CONF_PRINTER_ID: Final = "printer_id"
CONF_FILAMAN_URL: Final = "filaman_url"
CONF_FILAMAN_API_KEY: Final = "filaman_api_key"
CONF_FILAMAN_PRINTER_ID: Final = "filaman_printer_id"

CONF_SYNC_INTERVAL: Final = "sync_interval"
CONF_RECONNECT_INTERVAL: Final = "reconnect_interval"
CONF_FOLLOW_LOCATIONS: Final = "follow_locations"
# Plausibility of Bambuddy's bookings (consumption/plausibility.py).
CONF_HOLD_MARGIN: Final = "hold_margin_g"
CONF_HOLD_ESTIMATE_FACTOR: Final = "hold_estimate_factor"
DEFAULT_SYNC_INTERVAL: Final = 300
MIN_SYNC_INTERVAL: Final = 60
DEFAULT_RECONNECT_INTERVAL: Final = 30
MIN_RECONNECT_INTERVAL: Final = 5
MAX_RECONNECT_INTERVAL: Final = 300

# The link written into a Bambuddy spool's note; the FilaMan plugin uses the same format.
LINK_NOTE_PREFIX: Final = "filaman:"
