"""Write translations/en.json from strings.json, resolving this integration's own references.

Home Assistant resolves ``[%key:…%]`` references only for core integrations at build time; a
custom integration's translations/en.json is loaded as it is, so it must hold the resolved text.
Usage: .venv/bin/python script/translations.py [--check]
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys
from typing import Any

COMPONENT = Path(__file__).resolve().parent.parent / "custom_components" / "filaman_bambuddy"
REFERENCE = re.compile(r"\[%key:component::filaman_bambuddy::([a-z0-9_:]+)%\]")


def resolve(strings: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``strings`` with every internal reference replaced by its text."""

    def lookup(path: str) -> str:
        node: Any = strings
        for part in path.split("::"):
            node = node[part]
        if not isinstance(node, str):
            raise TypeError(f"reference {path} does not name a string")
        return REFERENCE.sub(lambda m: lookup(m.group(1)), node)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, str):
            return REFERENCE.sub(lambda m: lookup(m.group(1)), node)
        return node

    return walk(strings)


def render() -> str:
    """The en.json text strings.json calls for."""
    strings = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    return json.dumps(resolve(strings), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    target = COMPONENT / "translations" / "en.json"
    text = render()
    if "--check" in sys.argv:
        if target.read_text(encoding="utf-8") != text:
            print("translations/en.json is stale: run .venv/bin/python script/translations.py")
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
