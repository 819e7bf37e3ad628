"""A fresh, minimal Home Assistant configuration folder that serves on loopback only."""

from __future__ import annotations

import json
from pathlib import Path
import shutil
from typing import Any

INTEGRATION = "filaman_bambuddy"

# No default_config: it pulls in discovery (zeroconf, ssdp, dhcp, bluetooth), cloud and others that
# reach beyond this machine. Location, units and time zone are fixed so nothing is looked up online.
# recorder, history and logbook: a slot's more-info dialog shows its history, as at home.
# No http: block: Home Assistant deprecated it (a repair says so); its storage is written instead.
CONFIGURATION_YAML = """\
homeassistant:
  name: FilaMan demo
  latitude: 52.5200
  longitude: 13.4050
  elevation: 34
  unit_system: metric
  time_zone: Europe/Berlin
  country: DE
  currency: EUR
  language: en

frontend:
config:
lovelace:
diagnostics:
repairs:
recorder:
  purge_keep_days: 1
history:
logbook:

logger:
  default: warning
  logs:
    custom_components.{integration}: info
"""


def write_config(config_dir: Path, repo_root: Path, port: int) -> None:
    """Wipe `config_dir` and lay out a configuration that loads this checkout's integration."""
    if config_dir.exists():
        shutil.rmtree(config_dir)
    custom_components = config_dir / "custom_components"
    custom_components.mkdir(parents=True)
    # A link, not a copy: the demo always runs the integration as it is in the working tree.
    (custom_components / INTEGRATION).symlink_to(
        repo_root / "custom_components" / INTEGRATION, target_is_directory=True
    )
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(integration=INTEGRATION)
    )
    storage = config_dir / ".storage"
    storage.mkdir()
    # Loopback on the demo's port, as stored settings (version 1: Home Assistant migrates it).
    _store(storage, "http", 1, {"server_host": ["127.0.0.1"], "server_port": port})
    # Every onboarding step but the user is done: the core-config step would set up Met.no,
    # Google Translate, Radio Browser and a shopping list, which need the internet and fail here,
    # hiding our messages among theirs. The demo creates the user through onboarding.
    _store(storage, "onboarding", 4, {"done": ["core_config", "analytics", "integration"]})


def _store(storage: Path, key: str, version: int, data: dict[str, Any]) -> None:
    document = {"version": version, "minor_version": 1, "key": key, "data": data}
    (storage / key).write_text(json.dumps(document, indent=2))
