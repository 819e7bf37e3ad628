"""The demo dashboard: the AMS card first, the printer's other entities beside it."""

from __future__ import annotations

from typing import Any

from .ha_api import HomeAssistantApi
from .integration import PrinterEntities

DASHBOARD_URL_PATH = "filaman-demo"
VIEW_PATH = "ams"
CARD_TYPE = "custom:filaman-bambuddy-ams-card"
# Shown next to the card when the integration provides them (translation keys, in this order).
STATUS_KEYS = ("print_state", "current_job", "progress", "remaining_time", "online")
SYNC_KEYS = ("last_sync", "last_sync_result", "linked_spools", "last_consumption", "sync_now")


def dashboard_config(printer_name: str, entities: PrinterEntities) -> dict[str, Any]:
    """A sections view: the card spans the full width, the entity lists follow."""

    def entity_list(keys: tuple[str, ...]) -> list[str]:
        return [entity for key in keys if (entity := entities.first(key))]

    cards: list[dict[str, Any]] = [
        {"type": "heading", "heading": printer_name, "heading_style": "title"},
        {"type": CARD_TYPE, "device_id": entities.device_id},
    ]
    side: list[dict[str, Any]] = [{"type": "heading", "heading": "Printer & sync"}]
    if status := entity_list(STATUS_KEYS):
        side.append({"type": "entities", "title": "Printer", "entities": status})
    if sync := entity_list(SYNC_KEYS):
        side.append({"type": "entities", "title": "FilaMan sync", "entities": sync})
    sections: list[dict[str, Any]] = [{"type": "grid", "cards": cards, "column_span": 2}]
    if len(side) > 1:
        sections.append({"type": "grid", "cards": side})
    return {
        "title": "FilaMan demo",
        "views": [
            {
                "title": "AMS",
                "path": VIEW_PATH,
                "type": "sections",
                "max_columns": 3,
                "sections": sections,
            }
        ],
    }


async def create_dashboard(
    api: HomeAssistantApi, printer_name: str, entities: PrinterEntities
) -> str:
    """Create (or refill) the demo dashboard; returns its path below the Home Assistant URL."""
    existing = await api.ws_call({"type": "lovelace/dashboards/list"})
    if not any(item["url_path"] == DASHBOARD_URL_PATH for item in existing):
        await api.ws_call(
            {
                "type": "lovelace/dashboards/create",
                "url_path": DASHBOARD_URL_PATH,
                "title": "FilaMan AMS",
                "icon": "mdi:printer-3d-nozzle",
                "show_in_sidebar": True,
                "require_admin": False,
            }
        )
    await api.ws_call(
        {
            "type": "lovelace/config/save",
            "url_path": DASHBOARD_URL_PATH,
            "config": dashboard_config(printer_name, entities),
        }
    )
    return f"/{DASHBOARD_URL_PATH}/{VIEW_PATH}"
