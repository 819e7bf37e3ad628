"""Move the test lanes to a Home Assistant release, prove it, and say which versions passed.

    script/bump-ha            the newest release on the package index
    script/bump-ha 2026.12.1  a chosen release

1. The newest-HA lane: `.venv-newest-ha` gets `homeassistant==VERSION`; the packages a bare
   `hass` of that release needs to start are read from its own manifests
   (script/ha_base_requirements.py); all of it is written to requirements_newest_ha.txt.
2. The unit suite: when pytest-homeassistant-custom-component has a release pinning VERSION,
   requirements_test.txt moves to it (the plugin pins one Home Assistant per release).
3. Metadata follows: hacs.json's minimum is the oldest version a lane proves; the README's lane
   table names each lane's version.
4. script/setup installs what changed; the lanes whose version changed run; the last lines say
   which Home Assistant versions passed. Exit status 0 only if every lane that ran passed.
"""

from __future__ import annotations

from importlib import metadata
import json
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import zipfile

ROOT = Path(__file__).resolve().parent.parent
NEWEST_VENV = ROOT / ".venv-newest-ha"
NEWEST_REQUIREMENTS = ROOT / "requirements_newest_ha.txt"
TEST_REQUIREMENTS = ROOT / "requirements_test.txt"
HACS = ROOT / "hacs.json"
README = ROOT / "README.md"
MANIFEST = ROOT / "custom_components" / "filaman_bambuddy" / "manifest.json"
PLUGIN = "pytest-homeassistant-custom-component"
RELEASE = re.compile(r"^\d{4}\.\d{1,2}\.\d+$")  # a Home Assistant release
FINAL = re.compile(r"^\d+(\.\d+)*$")  # any final release (no a/b/rc/dev)
LANES_START = "<!-- lanes: written by script/bump-ha -->"
LANES_END = "<!-- /lanes -->"
# The lane's own test runner, at the versions the unit suite uses.
LANE_TOOLS = ("pytest", "pytest-asyncio")


def say(message: str) -> None:
    print(f"bump-ha: {message}", flush=True)


def run(*argv: str | Path, capture: bool = False) -> str:
    result = subprocess.run(
        [str(arg) for arg in argv], cwd=ROOT, check=True, text=True, capture_output=capture
    )
    return result.stdout if capture else ""


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def available(package: str) -> list[str]:
    """Released versions on the index, newest first (no pre-releases)."""
    out = run(sys.executable, "-m", "pip", "index", "versions", package, capture=True)
    match = re.search(r"Available versions: (.*)", out)
    versions = [v.strip() for v in match.group(1).split(",")] if match else []
    return sorted((v for v in versions if FINAL.match(v)), key=version_key, reverse=True)


def plugin_pin(version: str) -> str | None:
    """The Home Assistant release a version of the test plugin pins."""
    with tempfile.TemporaryDirectory() as folder:
        run(
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "-d", folder, f"{PLUGIN}=={version}",
        )  # fmt: skip
        wheel = next(Path(folder).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            text = archive.read(name).decode()
    match = re.search(r"^Requires-Dist: homeassistant==(\S+)", text, re.MULTILINE)
    return match.group(1) if match else None


def current_test_pins() -> tuple[str, str]:
    """(plugin version, Home Assistant version) of requirements_test.txt."""
    text = TEST_REQUIREMENTS.read_text()
    plugin = re.search(rf"^{PLUGIN}==(\S+)", text, re.MULTILINE)
    home_assistant = re.search(r"pins Home Assistant (\d{4}\.\d+\.\d+)", text)
    if plugin is None or home_assistant is None:
        raise SystemExit("bump-ha: requirements_test.txt lost its pins")
    return plugin.group(1), home_assistant.group(1)


def newest_lane_version() -> str | None:
    if not NEWEST_REQUIREMENTS.exists():
        return None
    match = re.search(r"^homeassistant==(\S+)", NEWEST_REQUIREMENTS.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def write_newest_requirements(version: str) -> None:
    """Install the release into the lane's venv, read its base requirements, pin them all."""
    if not (NEWEST_VENV / "bin" / "python").exists():
        run(sys.executable, "-m", "venv", NEWEST_VENV)
    python = NEWEST_VENV / "bin" / "python"
    say(f"installing homeassistant=={version} into {NEWEST_VENV.name} to read its manifests ...")
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        f"homeassistant=={version}")  # fmt: skip
    manifest = json.loads(MANIFEST.read_text())
    ours = [*manifest.get("dependencies", []), *manifest.get("after_dependencies", [])]
    base = run(python, ROOT / "script" / "ha_base_requirements.py", *ours, capture=True).split()
    tools = [f"{tool}=={metadata.version(tool)}" for tool in LANE_TOOLS]
    lines = [
        f"# The newest-HA lane (tests_newest_ha/): Home Assistant {version} as a real `hass`.",
        "# Written by script/bump-ha: the release, the lane's test runner (the unit suite's",
        "# versions) and what a bare `hass` of this release needs to start (its base integrations'",
        "# requirements, read from its manifests). `hass --skip-pip` installs nothing at run time.",
        f"homeassistant=={version}",
        *tools,
        *base,
    ]
    NEWEST_REQUIREMENTS.write_text("\n".join(lines) + "\n")


def write_test_requirements(plugin: str, version: str) -> None:
    text = TEST_REQUIREMENTS.read_text()
    old_plugin, old_version = current_test_pins()
    text = text.replace(f"{PLUGIN}=={old_plugin}", f"{PLUGIN}=={plugin}")
    text = text.replace(f"{PLUGIN} {old_plugin} pins", f"{PLUGIN} {plugin} pins")
    text = text.replace(f"pins Home Assistant {old_version}", f"pins Home Assistant {version}")
    TEST_REQUIREMENTS.write_text(text)


def lanes_table(unit_version: str, newest_version: str) -> str:
    return "\n".join(
        [
            LANES_START,
            "| lane | Home Assistant | how |",
            "|---|---|---|",
            f"| unit suite (`tests/`) | {unit_version} | pytest-homeassistant-custom-component, "
            "in-process, against the simulators |",
            f"| newest-HA lane (`tests_newest_ha/`) | {newest_version} | a real `hass` process "
            "driven over its REST and WebSocket APIs |",
            LANES_END,
        ]
    )


def write_metadata(unit_version: str, newest_version: str) -> None:
    """hacs.json: the oldest proven version is the minimum; README: the lane table."""
    hacs = json.loads(HACS.read_text())
    hacs["homeassistant"] = min(unit_version, newest_version, key=version_key)
    HACS.write_text(json.dumps(hacs, indent=2, ensure_ascii=False) + "\n")
    text = README.read_text()
    start, end = text.index(LANES_START), text.index(LANES_END) + len(LANES_END)
    README.write_text(text[:start] + lanes_table(unit_version, newest_version) + text[end:])


def main() -> int:
    wanted = sys.argv[1] if len(sys.argv) > 1 else None
    if wanted in ("-h", "--help"):
        print(__doc__)
        return 0
    version = wanted or available("homeassistant")[0]
    if not RELEASE.match(version):
        say(f"{version!r} is not a Home Assistant release number (YYYY.M.P)")
        return 2
    newest_before = newest_lane_version()
    plugin_before, unit_before = current_test_pins()
    say(f"newest-HA lane: Home Assistant {newest_before} -> {version}")
    write_newest_requirements(version)

    unit_version = unit_before
    newest_plugin = available(PLUGIN)[0]
    pinned = plugin_pin(newest_plugin)
    if pinned is not None and version_key(pinned) > version_key(unit_before):
        if pinned == version:
            say(f"{PLUGIN} {newest_plugin} pins Home Assistant {pinned}: the unit suite moves too")
            write_test_requirements(newest_plugin, pinned)
            unit_version = pinned
        else:
            say(f"{PLUGIN} {newest_plugin} pins {pinned}, not {version}: unit suite stays")
    else:
        say(f"{PLUGIN} {newest_plugin} pins {pinned}: unit suite stays on {unit_before}")
    write_metadata(unit_version, version)
    run(ROOT / "script" / "setup")

    results: dict[str, bool] = {}
    lane = subprocess.run(
        [str(NEWEST_VENV / "bin" / "python"), "-m", "pytest", "tests_newest_ha",
         "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, check=False,
    )  # fmt: skip
    results[f"newest-HA lane on Home Assistant {version}"] = lane.returncode == 0
    if unit_version != unit_before:
        unit = subprocess.run(
            [str(ROOT / "script" / "test"), "--skip-newest"], cwd=ROOT, check=False
        )
        results[f"unit suite on Home Assistant {unit_version}"] = unit.returncode == 0
    else:
        say(f"unit suite: unchanged on Home Assistant {unit_before} (plugin {plugin_before})")
    for what, passed in results.items():
        say(f"{what}: {'passed' if passed else 'FAILED'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
