"""A fresh, minimal Home Assistant configuration folder that serves on loopback only."""

from __future__ import annotations

from pathlib import Path
import shutil

INTEGRATION = "filaman_bambuddy"

# No default_config: it pulls in discovery (zeroconf, ssdp, dhcp, bluetooth), cloud and others that
# reach beyond this machine. Location, units and time zone are fixed so nothing is looked up online.
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

http:
  server_host: 127.0.0.1
  server_port: {port}

frontend:
config:
lovelace:
diagnostics:
repairs:

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
        CONFIGURATION_YAML.format(port=port, integration=INTEGRATION)
    )
