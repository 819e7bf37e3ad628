"""Add the integration through its real config flow, as the UI does, and wait for its entities."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
import time
from typing import Any

from .ha_api import HomeAssistantApi

DOMAIN = "filaman_bambuddy"
FLOW_PATH = "/api/config/config_entries/flow"
MAX_FLOW_STEPS = 8


class SetupFailedError(RuntimeError):
    """The integration could not be added or did not come up."""


def _select_options(field: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, label) of a select field, in either serialisation Home Assistant uses."""
    selector = field.get("selector", {}).get("select")
    raw = selector.get("options", []) if selector else field.get("options", [])
    options = []
    for option in raw:
        if isinstance(option, Mapping):
            options.append((str(option["value"]), str(option.get("label", option["value"]))))
        elif isinstance(option, list | tuple):
            options.append((str(option[0]), str(option[1])))
        else:
            options.append((str(option), str(option)))
    return options


def fill_form(
    schema: list[Mapping[str, Any]], known: Mapping[str, Any], prefer_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The answer to one form: known values, else the option labelled as preferred, else defaults.

    Unknown required fields with no default and no options make the flow unanswerable.
    """
    answer: dict[str, Any] = {}
    for field in schema:
        name = field["name"]
        options = _select_options(field)
        if name in known:
            answer[name] = known[name]
        elif name in prefer_labels and any(label == prefer_labels[name] for _, label in options):
            answer[name] = next(value for value, label in options if label == prefer_labels[name])
        elif "default" in field:
            answer[name] = field["default"]
        elif options:
            answer[name] = options[0][0]
        elif field.get("required"):
            raise SetupFailedError(f"config flow asks for {name!r}, which the demo cannot answer")
    return answer


@dataclass(frozen=True, slots=True)
class ServerAccess:
    bambuddy_url: str
    bambuddy_api_key: str
    filaman_url: str
    filaman_api_key: str
    printer_name: str


async def add_integration(api: HomeAssistantApi, access: ServerAccess) -> dict[str, Any]:
    """Run the config flow to its end; returns the created entry."""
    known = {
        "bambuddy_url": access.bambuddy_url,
        "bambuddy_api_key": access.bambuddy_api_key,
        "filaman_url": access.filaman_url,
        "filaman_api_key": access.filaman_api_key,
    }
    prefer = {"printer_id": access.printer_name}
    result = await api.post(FLOW_PATH, {"handler": DOMAIN, "show_advanced_options": False})
    seen_errors: set[str] = set()
    for _ in range(MAX_FLOW_STEPS):
        kind = result["type"]
        if kind == "create_entry":
            entry: dict[str, Any] = result["result"]
            return entry
        if kind != "form":
            raise SetupFailedError(f"config flow ended with {kind}: {result.get('reason', result)}")
        if result.get("errors"):
            key = f"{result['step_id']}:{result['errors']}"
            if key in seen_errors:
                raise SetupFailedError(f"config flow step {result['step_id']}: {result['errors']}")
            seen_errors.add(key)
        answer = fill_form(result.get("data_schema") or [], known, prefer)
        result = await api.post(f"{FLOW_PATH}/{result['flow_id']}", answer)
    raise SetupFailedError(f"config flow did not finish within {MAX_FLOW_STEPS} steps")


@dataclass(frozen=True, slots=True)
class PrinterEntities:
    """What the dashboard and the health check need to know about the printer's entities."""

    device_id: str
    by_key: dict[str, list[str]]  # translation_key -> entity ids

    def first(self, key: str) -> str | None:
        ids = self.by_key.get(key)
        return ids[0] if ids else None


async def printer_entities(api: HomeAssistantApi, entry_id: str) -> PrinterEntities | None:
    entries = [e for e in await api.entities_of(DOMAIN) if e.get("config_entry_id") == entry_id]
    online = next((e for e in entries if e.get("translation_key") == "online"), None)
    if online is None or not online.get("device_id"):
        return None
    by_key: dict[str, list[str]] = {}
    for entity in sorted(entries, key=lambda e: str(e["entity_id"])):
        by_key.setdefault(str(entity.get("translation_key")), []).append(entity["entity_id"])
    return PrinterEntities(device_id=online["device_id"], by_key=by_key)


async def wait_for_slots(api: HomeAssistantApi, entry_id: str, within: float) -> PrinterEntities:
    """Wait until the printer's slot sensors exist and report a state."""
    deadline = time.monotonic() + within
    while True:
        found = await printer_entities(api, entry_id)
        if found is not None and found.by_key.get("slot"):
            states = await api.states()
            slot_ids = found.by_key["slot"]
            if all(states.get(e, {}).get("state") not in (None, "unavailable") for e in slot_ids):
                return found
        if time.monotonic() > deadline:
            raise SetupFailedError(
                f"no available AMS slot sensors {within:.0f} s after adding the integration"
                + ("" if found else " (no printer device with an `online` entity)")
            )
        await asyncio.sleep(0.5)
