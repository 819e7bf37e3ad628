"""manifest.json and hacs.json pass the checks hassfest and HACS make of them, and say the truth.

hassfest's custom-integration manifest schema and HACS's hacs.json keys are restated here (the
tools themselves are not on PyPI). Translations against strings.json and services against
services.yaml are checked in tests/ha/test_translations.py.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from awesomeversion import (
    AwesomeVersion,
    AwesomeVersionStrategy,
    AwesomeVersionStrategyException,
)
import homeassistant.components
from homeassistant.const import __version__ as UNIT_SUITE_HA_VERSION
import pytest
import voluptuous as vol

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "filaman_bambuddy"
CORE_COMPONENTS = Path(homeassistant.components.__path__[0])

IOT_CLASSES = (
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
)
INTEGRATION_TYPES = (
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
)


def _https_url(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
        raise vol.Invalid(f"{value!r} is not an https URL")
    return value


def _version(value: Any) -> str:
    version = AwesomeVersion(
        value,
        ensure_strategy=[
            AwesomeVersionStrategy.CALVER,
            AwesomeVersionStrategy.SEMVER,
            AwesomeVersionStrategy.SIMPLEVER,
            AwesomeVersionStrategy.BUILDVER,
            AwesomeVersionStrategy.PEP440,
        ],
    )
    return str(version)


def _core_domains(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise vol.Invalid("must be a list of domains")
    unknown = [domain for domain in value if not (CORE_COMPONENTS / domain).is_dir()]
    if unknown:
        raise vol.Invalid(f"no such Home Assistant integration: {unknown}")
    return value


# hassfest's CUSTOM_INTEGRATION_MANIFEST_SCHEMA, the keys an integration like ours can use.
MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Required("codeowners"): [vol.Match(r"^@\S+$")],
        vol.Optional("config_flow"): bool,
        vol.Optional("dependencies"): _core_domains,
        vol.Optional("after_dependencies"): _core_domains,
        vol.Required("documentation"): _https_url,
        vol.Required("integration_type"): vol.In(INTEGRATION_TYPES),
        vol.Required("iot_class"): vol.In(IOT_CLASSES),
        vol.Required("issue_tracker"): _https_url,
        vol.Optional("loggers"): [str],
        vol.Optional("requirements"): [str],
        vol.Optional("single_config_entry"): bool,
        vol.Required("version"): _version,
    }
)
# hacs.json keys HACS knows (its validation rejects others).
HACS_SCHEMA = vol.Schema(
    {
        vol.Required("name"): vol.All(str, vol.Length(min=1)),
        vol.Optional("content_in_root"): bool,
        vol.Optional("country"): vol.Any(str, [str]),
        vol.Optional("filename"): str,
        vol.Optional("hacs"): str,
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("homeassistant"): vol.Match(r"^\d{4}\.\d{1,2}\.\d+$"),
        vol.Optional("persistent_directory"): str,
        vol.Optional("render_readme"): bool,
        vol.Optional("zip_release"): bool,
    }
)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def newest_lane_version() -> str:
    text = (ROOT / "requirements_newest_ha.txt").read_text()
    match = re.search(r"^homeassistant==(\S+)$", text, re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_manifest_passes_hassfest() -> None:
    manifest = load(COMPONENT / "manifest.json")
    MANIFEST_SCHEMA(manifest)
    assert manifest["domain"] == COMPONENT.name
    assert not (CORE_COMPONENTS / manifest["domain"]).exists(), "collides with a core domain"
    # hassfest wants domain and name first, then the keys in alphabetical order.
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["config_flow"] is True
    assert manifest["loggers"] == [f"custom_components.{manifest['domain']}"]


def test_manifest_has_what_hacs_requires() -> None:
    manifest = load(COMPONENT / "manifest.json")
    assert {"domain", "documentation", "issue_tracker", "codeowners", "name", "version"} <= set(
        manifest
    )


def test_hacs_json_passes_hacs_and_names_the_oldest_proven_version() -> None:
    hacs = load(ROOT / "hacs.json")
    HACS_SCHEMA(hacs)
    assert hacs["name"] == load(COMPONENT / "manifest.json")["name"]
    assert hacs["content_in_root"] is False
    oldest = min(UNIT_SUITE_HA_VERSION, newest_lane_version(), key=version_key)
    assert hacs["homeassistant"] == oldest


def test_readme_lists_the_version_each_lane_proves() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- lanes: written by script/bump-ha -->")
    table = readme[start : readme.index("<!-- /lanes -->")]
    assert f"| unit suite (`tests/`) | {UNIT_SUITE_HA_VERSION} |" in table
    assert f"| newest-HA lane (`tests_newest_ha/`) | {newest_lane_version()} |" in table


@pytest.mark.parametrize(
    ("value", "valid"),
    [("0.1.0", True), ("2026.12.0", True), ("1.0 beta", False), ("latest", False)],
)
def test_the_version_rule_is_hassfests(value: str, valid: bool) -> None:
    if valid:
        _version(value)
    else:
        with pytest.raises(AwesomeVersionStrategyException):
            _version(value)


def test_the_repository_is_mit_licensed_as_hacs_requires() -> None:
    """HACS's validation fails a repository without a license; the README says which one."""
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in license_text
    assert "[MIT](LICENSE)" in (ROOT / "README.md").read_text(encoding="utf-8")
