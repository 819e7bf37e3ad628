"""Every text the integration refers to exists, en.json is generated, de.json is complete."""

from __future__ import annotations

import json
from pathlib import Path
import re
import subprocess
import sys
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.filaman_bambuddy import repairs, sensor
from custom_components.filaman_bambuddy.print_events import PRINT_STATUSES

from .conftest import Servers

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "custom_components" / "filaman_bambuddy"
PLACEHOLDER = re.compile(r"{(\w+)}")
# An exception's translation_domain=DOMAIN, translation_key="…", or the services' _error("…").
EXCEPTION_KEY = re.compile(r'(?:translation_domain=DOMAIN,\s*translation_key=|_error\()\s*"(\w+)"')
# The placeholders each kind of issue is raised with (repairs.py).
SETUP_PLACEHOLDERS = {"printer", "bambuddy_url"}
RFID_PLACEHOLDERS = {"tag", "filaman_spools", "bambuddy_spools"}
ISSUE_PLACEHOLDERS = {
    repairs.ISSUE_SPOOLMAN_MODE: SETUP_PLACEHOLDERS,
    repairs.ISSUE_PLUGIN_ACTIVE: SETUP_PLACEHOLDERS,
    repairs.ISSUE_AUTH_DISABLED: SETUP_PLACEHOLDERS,
    repairs.ISSUE_UNREACHABLE: SETUP_PLACEHOLDERS,
    repairs.ISSUE_UNLINKED_USAGE: {"printer", "grams", "prints", "bambuddy_spool", "slot"},
    repairs.ISSUE_UNLINKED_OTHER_FILAMAN: {"printer", "grams", "prints", "bambuddy_spool", "slot"},
    repairs.ISSUE_RFID_SHARED_TAG: RFID_PLACEHOLDERS,
    repairs.ISSUE_RFID_MATERIAL_MISMATCH: RFID_PLACEHOLDERS,
    repairs.ISSUE_RFID_HELD_BY_OTHER: RFID_PLACEHOLDERS,
    repairs.ISSUE_UNASSIGNED_TRAY: {"printer", "slot", "job", "filament", "error"},
    repairs.ISSUE_UNRECORDED_TRAY: {"printer", "slot", "job", "filament", "estimate"},
    repairs.ISSUE_LOCATION_PERMISSION: {"printer", "permission", "owner"},
    repairs.ISSUE_HELD_FOR_REVIEW: {"printer", "job", "grams", "bookings"},
    repairs.ISSUE_SECOND_WRITER: {"printer", "tool", "seen", "grams"},
    repairs.ISSUE_OUT_OF_SCOPE: {"printer", "printer_id", "bambuddy_url"},
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COMPONENT / name).read_text(encoding="utf-8"))
    return data


def tree(node: Any, path: str = "") -> dict[str, str]:
    """Every string leaf by its dotted path."""
    if isinstance(node, dict):
        leaves: dict[str, str] = {}
        for key, value in node.items():
            leaves |= tree(value, f"{path}.{key}" if path else key)
        return leaves
    return {path: node}


def glue_sources() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in COMPONENT.rglob("*.py"))


async def test_every_entity_translation_key_exists(
    hass: HomeAssistant, servers: Servers, loaded_entry: MockConfigEntry
) -> None:
    strings = load("strings.json")["entity"]
    registered = er.async_entries_for_config_entry(er.async_get(hass), loaded_entry.entry_id)
    assert registered
    for entity in registered:
        assert entity.translation_key in strings[entity.domain], entity.entity_id
    icons = load("icons.json")["entity"]
    for platform, keys in icons.items():
        assert set(keys) <= set(strings[platform]), platform


def test_entity_states_are_translated() -> None:
    strings = load("strings.json")["entity"]
    assert set(strings["sensor"]["print_state"]["state"]) == set(sensor.PRINT_STATES)
    assert set(strings["sensor"]["last_sync_result"]["state"]) == set(sensor.SYNC_RESULTS)
    event_states = strings["event"]["print_finished"]["state_attributes"]["event_type"]["state"]
    assert set(event_states) == set(PRINT_STATUSES)


def test_every_exception_key_exists() -> None:
    exceptions = load("strings.json")["exceptions"]
    used = set(EXCEPTION_KEY.findall(glue_sources()))
    assert used, "the pattern found no translation keys"
    assert used - set(exceptions) == set()
    assert set(exceptions) - used == set(), "unused exception texts"


def test_every_issue_key_exists() -> None:
    issues = load("strings.json")["issues"]
    kinds = {value for name, value in vars(repairs).items() if name.startswith("ISSUE_")}
    assert kinds == set(issues) == set(ISSUE_PLACEHOLDERS)
    assert set(repairs.RFID_CONFLICT_ISSUES.values()) <= kinds
    for kind, texts in issues.items():
        for path, text in tree(texts).items():
            assert set(PLACEHOLDER.findall(text)) <= ISSUE_PLACEHOLDERS[kind], (kind, path)


def test_services_yaml_and_strings_agree() -> None:
    described = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    strings = load("strings.json")["services"]
    icons = load("icons.json")["services"]
    assert set(described) == set(strings) == set(icons)
    for service, spec in described.items():
        assert set(spec.get("fields", {})) == set(strings[service]["fields"]), service


def test_en_json_is_generated_from_strings_json() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "script" / "translations.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_de_json_has_the_same_keys_and_placeholders_as_en_json() -> None:
    english = tree(load("translations/en.json"))
    german = tree(load("translations/de.json"))
    assert set(german) == set(english)
    for path, text in english.items():
        assert set(PLACEHOLDER.findall(german[path])) == set(PLACEHOLDER.findall(text)), path
        assert "[%key:" not in german[path], path
