"""The AMS card is served by Home Assistant and kept as exactly one versioned Lovelace resource."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.filaman_bambuddy.card import (
    CARD_URL_PATH,
    async_register_card,
    async_unregister_card,
)
from tests.ha import conftest as ha

# The simulators and the entry factory of the Home Assistant tests, for the end-to-end test below.
servers = ha.servers
bambuddy_version = ha.bambuddy_version

MANIFEST = Path(__file__).parents[1] / "custom_components" / "filaman_bambuddy" / "manifest.json"
VERSION = json.loads(MANIFEST.read_text())["version"]
CARD_URL = f"{CARD_URL_PATH}?v={VERSION}"
OTHER_RESOURCE = {"id": "other", "type": "module", "url": "/hacsfiles/other-card/other-card.js"}


def stored_resources(*items: dict[str, Any]) -> dict[str, Any]:
    """Lovelace's resource store as a previous Home Assistant run left it."""
    return {
        "version": 1,
        "minor_version": 1,
        "key": "lovelace_resources",
        "data": {"items": list(items)},
    }


async def setup_lovelace(hass: HomeAssistant, config: dict[str, Any] | None = None) -> None:
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "lovelace", {"lovelace": config or {}})


def resource_items(hass: HomeAssistant) -> list[dict[str, Any]]:
    return list(hass.data[LOVELACE_DATA].resources.async_items())


async def test_storage_mode_adds_one_versioned_module_resource(hass: HomeAssistant) -> None:
    await setup_lovelace(hass)

    await async_register_card(hass)
    await async_register_card(hass)  # a second call (another entry, a reload) changes nothing

    items = resource_items(hass)
    assert [(item["type"], item["url"]) for item in items] == [("module", CARD_URL)]


async def test_version_bump_updates_the_existing_resource(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    old = {"id": "ours", "type": "module", "url": f"{CARD_URL_PATH}?v=0.0.1"}
    hass_storage["lovelace_resources"] = stored_resources(OTHER_RESOURCE, old)
    await setup_lovelace(hass)

    await async_register_card(hass)

    items = {item["id"]: item for item in resource_items(hass)}
    assert items == {
        "other": OTHER_RESOURCE,
        "ours": {"id": "ours", "type": "module", "url": CARD_URL},
    }


async def test_hand_added_duplicates_collapse_into_one(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage["lovelace_resources"] = stored_resources(
        {"id": "first", "type": "js", "url": CARD_URL_PATH},
        {"id": "second", "type": "module", "url": f"{CARD_URL_PATH}?v=0.0.9"},
    )
    await setup_lovelace(hass)

    await async_register_card(hass)

    assert resource_items(hass) == [{"id": "first", "type": "module", "url": CARD_URL}]


async def test_current_resource_is_left_untouched(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    current = {"id": "ours", "type": "module", "url": CARD_URL}
    hass_storage["lovelace_resources"] = stored_resources(current)
    await setup_lovelace(hass)

    await async_register_card(hass)

    assert resource_items(hass) == [current]


async def test_unregister_removes_only_our_resource(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage["lovelace_resources"] = stored_resources(OTHER_RESOURCE)
    await setup_lovelace(hass)
    await async_register_card(hass)
    assert len(resource_items(hass)) == 2

    await async_unregister_card(hass)

    assert resource_items(hass) == [OTHER_RESOURCE]
    await hass.async_block_till_done()
    assert hass_storage["lovelace_resources"]["data"]["items"] == [OTHER_RESOURCE]


async def test_register_again_after_unregister_restores_the_resource(hass: HomeAssistant) -> None:
    await setup_lovelace(hass)
    await async_register_card(hass)
    await async_unregister_card(hass)

    await async_register_card(hass)  # the static path is already served: no second route

    assert [item["url"] for item in resource_items(hass)] == [CARD_URL]


async def test_yaml_mode_logs_how_to_add_the_resource_once(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_lovelace(hass, {"resource_mode": "yaml"})
    caplog.set_level(logging.INFO, logger="custom_components.filaman_bambuddy")

    await async_register_card(hass)
    await async_register_card(hass)
    await async_unregister_card(hass)  # nothing to remove in YAML mode

    hints = [r for r in caplog.records if "Lovelace resources are managed in YAML" in r.message]
    assert len(hints) == 1
    assert CARD_URL in hints[0].getMessage()
    assert "type: module" in hints[0].getMessage()
    assert resource_items(hass) == []


async def test_yaml_mode_with_our_resource_already_listed_stays_quiet(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_lovelace(
        hass, {"resource_mode": "yaml", "resources": [{"url": CARD_URL_PATH, "type": "module"}]}
    )
    caplog.set_level(logging.INFO, logger="custom_components.filaman_bambuddy")

    await async_register_card(hass)

    assert "Lovelace resources are managed in YAML" not in caplog.text


async def test_without_lovelace_only_the_file_is_served(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "http", {})

    await async_register_card(hass)
    await async_unregister_card(hass)

    client = await hass_client_no_auth()
    assert (await client.get(CARD_URL_PATH)).status == 200


async def test_card_file_is_served_without_login(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> None:
    await setup_lovelace(hass)
    await async_register_card(hass)
    client = await hass_client_no_auth()

    # Browsers load module resources without a bearer token, at the versioned URL.
    response = await client.get(CARD_URL)

    assert response.status == 200
    assert response.content_type in {"application/javascript", "text/javascript"}
    body = await response.text()
    assert "customElements.define(CARD_TAG, FilamanBambuddyAmsCard)" in body
    assert (await client.get("/filaman_bambuddy/missing.js")).status == 404


async def test_the_integration_adds_the_resource_and_its_last_entry_removes_it(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator, servers: ha.Servers
) -> None:
    await setup_lovelace(hass)
    first = servers.entry()
    second = servers.entry(servers.bambuddy.add_printer("Garage P1S", model="P1S"))
    for entry in (first, second):
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(first.entry_id)
    await hass.async_block_till_done()

    assert [item["url"] for item in resource_items(hass)] == [CARD_URL]
    client = await hass_client_no_auth()
    assert (await client.get(CARD_URL)).status == 200

    await hass.config_entries.async_remove(first.entry_id)
    await hass.async_block_till_done()
    assert [item["url"] for item in resource_items(hass)] == [CARD_URL]  # one printer is left

    await hass.config_entries.async_remove(second.entry_id)
    await hass.async_block_till_done()
    assert resource_items(hass) == []
