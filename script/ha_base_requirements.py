"""Print the pinned requirements a bare Home Assistant needs to start, read from its manifests.

A real `hass` always sets up its frontend and base platforms (bootstrap's default integrations);
without their Python packages it falls into recovery mode. pip does not install those with the
`homeassistant` package: Home Assistant installs them at run time, which the newest-HA lane
forbids (`--skip-pip`, no network at run time). So the lane pins them, and this script says which,
for whatever `homeassistant` is installed in the interpreter that runs it:

    .venv-newest-ha/bin/python script/ha_base_requirements.py [EXTRA_DOMAIN ...]

Extra domains (the lane's configuration.yaml and our manifest's dependencies) are added to
bootstrap's sets; each integration's `dependencies` and `after_dependencies` are followed (an
integration imports its after-dependencies' modules, e.g. analytics imports hassio's client).
One `name==version` a line.
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

from homeassistant import bootstrap
import homeassistant.components

COMPONENTS = Path(homeassistant.components.__path__[0])
# What the lane configures besides bootstrap's defaults (see tests_newest_ha/lane.py).
LANE_DOMAINS = {"http", "config", "lovelace", "diagnostics", "repairs", "onboarding", "logger"}


def manifest(domain: str) -> dict[str, object]:
    path = COMPONENTS / domain / "manifest.json"
    if not path.exists():
        return {}
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def started_domains(extra: set[str]) -> set[str]:
    """Every integration a plain start sets up, dependencies included."""
    wanted = (
        set(bootstrap.CORE_INTEGRATIONS)
        | set(bootstrap.LOGGING_AND_HTTP_DEPS_INTEGRATIONS)
        | set(bootstrap.FRONTEND_INTEGRATIONS)
        | set(bootstrap.DEFAULT_INTEGRATIONS)
        | LANE_DOMAINS
        | extra
    )
    seen: set[str] = set()
    while wanted:
        domain = wanted.pop()
        if domain in seen:
            continue
        seen.add(domain)
        for key in ("dependencies", "after_dependencies"):
            dependencies = manifest(domain).get(key) or []
            assert isinstance(dependencies, list)
            wanted.update(str(dependency) for dependency in dependencies)
    return seen


def main() -> int:
    requirements: set[str] = set()
    for domain in started_domains(set(sys.argv[1:])):
        listed = manifest(domain).get("requirements") or []
        assert isinstance(listed, list)
        requirements.update(str(requirement) for requirement in listed)
    for requirement in sorted(requirements, key=str.lower):
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
