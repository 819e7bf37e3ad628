"""The AMS card in a real browser, on the real demo: simulator slots in, printer offline out.

Runs `script/demo` (both simulators and a real Home Assistant with the integration, configured
through its config flow), logs in through Home Assistant's login page in headless Chromium and
checks what the card shows against the simulator's own state.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import math
import os
import re
from typing import Any
import urllib.request

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, REPO_ROOT, only_loopback

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
    pytest.mark.usefixtures("socket_enabled"),
]

CARD = "filaman-bambuddy-ams-card"
README_IMAGE = REPO_ROOT / "docs" / "ams-card.png"
# The README's picture is rewritten only when asked (tests must leave the work tree clean):
#   UPDATE_README_IMAGE=1 script/test -- tests/browser
UPDATE_README_IMAGE = os.environ.get("UPDATE_README_IMAGE") == "1"
WAIT_MS = 30_000


def http_json(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def slot_label(ams_id: int, tray_id: int) -> str:
    """The integration's labels: A1..D4 for AMS units, HT1.. for AMS-HT."""
    if ams_id >= 128:
        return f"HT{ams_id - 127}"
    return f"{chr(65 + ams_id)}{tray_id + 1}"


def expected_slots(printer: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """slot label -> (colour "#RRGGBB" or "", material or "") from the simulator's status."""
    slots: dict[str, tuple[str, str]] = {}

    def describe(tray: dict[str, Any]) -> tuple[str, str]:
        material = tray.get("tray_type") or ""
        color = (tray.get("tray_color") or "")[:6].upper()
        return (f"#{color}" if material and color else "", material)

    for unit in printer["ams"]:
        for tray in unit["tray"]:
            slots[slot_label(unit["id"], tray["id"])] = describe(tray)
    for index, tray in enumerate(printer["vt_tray"]):
        slots["Ext" if index == 0 else f"Ext {index + 1}"] = describe(tray)
    return slots


def sim_printer(info: dict[str, Any]) -> dict[str, Any]:
    state = http_json(f"{info['bambuddy_url']}/_sim/state")
    return next(p for p in state["printers"] if p["id"] == info["printer_sim_id"])


def set_online(info: dict[str, Any], online: bool) -> None:
    url = f"{info['bambuddy_url']}/_sim/printers/{info['printer_sim_id']}/online"
    http_json(url, {"online": online})


@pytest.fixture
def page(browser: Any, demo: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 1000}, device_scale_factor=2)
    context.route("**/*", only_loopback)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not [e for e in errors if CARD in e], errors


def set_language(page: Any, language: str) -> None:
    """Change the logged-in user's language the way the profile page does."""
    page.evaluate(
        """language => document.querySelector("home-assistant").hass.callWS({
            type: "frontend/set_user_data", key: "language",
            value: {language, number_format: "language"}})""",
        language,
    )


def log_in(page: Any, info: dict[str, Any], query: str = "") -> Any:
    """Home Assistant's own login page, then the demo dashboard; returns the card locator."""
    page.goto(info["dashboard_url"] + query)
    page.locator("input[name=username]").fill(info["username"])
    page.locator("input[name=password]").fill(info["password"])
    page.get_by_role("button", name="Log in").click()
    card = page.locator(CARD)
    card.locator(".slot").first.wait_for(timeout=WAIT_MS)
    return card


def test_card_shows_the_simulator_slots_then_the_offline_state(
    page: Any, demo: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    card = log_in(page, demo)
    expect(card.locator("ha-card")).to_have_attribute("data-state", "online", timeout=WAIT_MS)

    # Every slot of the simulator, with its colour and material, in the card.
    expected = expected_slots(sim_printer(demo))
    assert len(expected) == 9  # two AMS units and the external holder of the demo printer
    for label, (color, material) in expected.items():
        tile = card.locator(f'.slot[data-slot="{label}"]')
        expect(tile).to_have_attribute("data-color", color, timeout=WAIT_MS)
        expect(tile).to_have_attribute("data-material", material)
        if material:
            expect(tile.locator(".material")).to_have_text(material)
        else:
            expect(tile).to_have_class(re.compile(r"\bempty\b"))
            expect(tile.locator(".material")).to_have_text("Empty")
    assert card.locator(".slot").count() == len(expected)
    expect(card.locator('.unit[data-unit="AMS A"] .slot')).to_have_count(4)
    expect(card.locator('.unit[data-unit="AMS B"] .slot')).to_have_count(4)

    # FilaMan spool names and grams come from the slot sensors the integration keeps.
    states = {
        s["entity_id"]: s
        for s in http_json(f"{demo['ha_url']}/api/states", token=demo["token"])
        if s["entity_id"].startswith("sensor.")
    }
    linked = [
        s["attributes"]
        for s in states.values()
        if s["attributes"].get("slot_label") and s["attributes"].get("filaman_spool_name")
    ]
    assert linked, "the demo assigned no FilaMan spools to slots"
    for attributes in linked:
        tile = card.locator(f'.slot[data-slot="{attributes["slot_label"]}"]')
        expect(tile.locator(".spool")).to_have_text(attributes["filaman_spool_name"])
        grams = math.floor(attributes["filaman_remaining_g"] + 0.5)  # JavaScript's Math.round
        expect(tile.locator(".grams")).to_have_text(f"{grams:,} g")

    # The slot a print draws from is highlighted while it runs.
    http_json(
        f"{demo['bambuddy_url']}/_sim/print",
        {
            "printer_id": demo["printer_sim_id"],
            "name": "Browser test",
            "duration": 6,
            "grams": [{"ams_id": 1, "tray_id": 0, "grams": 3}],
        },
    )
    expect(card.locator(".slot.active")).to_have_attribute("data-slot", "B1", timeout=WAIT_MS)
    expect(card.locator(".slot.active .badge")).to_have_text("Active")
    expect(card.locator(".slot.active")).to_have_count(0, timeout=WAIT_MS)  # print finished

    page.keyboard.press("Escape")
    card.screenshot(path=str(ARTIFACTS / "ams-card-online.png"))
    page.screenshot(path=str(ARTIFACTS / "dashboard-online.png"))
    if UPDATE_README_IMAGE:
        card.screenshot(path=str(README_IMAGE))

    # Printer offline: greyed, "Printer offline", the slots keep what they last showed.
    set_online(demo, False)
    try:
        expect(card.locator("ha-card")).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
        expect(card.locator(".banner")).to_be_visible()
        expect(card.locator(".banner")).to_have_text("Printer offline")
        expect(card.locator(".status")).to_have_text("Offline")
        assert card.locator(".slot").count() == len(expected)
        filter_value = card.locator(".slots").first.evaluate("e => getComputedStyle(e).filter")
        assert "grayscale(1)" in filter_value
        card.screenshot(path=str(ARTIFACTS / "ams-card-offline.png"))

        # A page opened while the printer is offline has never seen the slots' attributes: the
        # card still lays out every slot under the integration's labels, greyed.
        page.reload()
        card.locator(".slot").first.wait_for(timeout=WAIT_MS)
        expect(card.locator("ha-card")).to_have_attribute("data-state", "offline")
        labels = card.locator(".slot").evaluate_all("tiles => tiles.map(t => t.dataset.slot)")
        assert sorted(labels) == sorted(expected)
        page.wait_for_timeout(1500)  # only so the screenshot is taken after the page faded in
        card.screenshot(path=str(ARTIFACTS / "ams-card-offline-reloaded.png"))

        # German follows the user's language, live.
        set_language(page, "de")
        expect(card.locator(".banner")).to_have_text("Drucker offline", timeout=WAIT_MS)
        expect(card.locator(".external .unit-title")).to_have_text("Externe Spule")
        card.screenshot(path=str(ARTIFACTS / "ams-card-offline-de.png"))
    finally:
        set_language(page, "en")
        set_online(demo, True)
    expect(card.locator("ha-card")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
    expect(card.locator(".banner")).to_be_hidden()


def test_card_picker_entry_stub_and_editor_form(page: Any, demo: dict[str, Any]) -> None:
    """What the dashboard editor uses: picker entry, stub config, form schema, grid options."""
    log_in(page, demo)
    found = page.evaluate(
        f"""() => {{
            const cls = customElements.get("{CARD}");
            const hass = document.querySelector("home-assistant").hass;
            const card = document.createElement("{CARD}");
            card.setConfig({{type: "custom:{CARD}", device_id: cls.getStubConfig(hass).device_id}});
            card.hass = hass;
            return {{
                picker: (window.customCards || []).filter(c => c.type === "{CARD}"),
                stub: cls.getStubConfig(hass),
                form: cls.getConfigForm().schema,
                grid: card.getGridOptions(),
                size: card.getCardSize(),
            }};
        }}"""
    )
    assert [entry["name"] for entry in found["picker"]] == ["FilaMan AMS"]
    assert found["picker"][0]["preview"] is True
    assert found["stub"] == {"device_id": demo["printer_device_id"]}
    assert found["form"][0]["name"] == "device_id"
    assert found["form"][0]["selector"]["device"]["filter"] == {"integration": "filaman_bambuddy"}
    assert found["grid"]["columns"] == 12
    assert found["size"] == 7  # header + two AMS units + the external holder


def test_card_without_a_printer_asks_for_one(page: Any, demo: dict[str, Any]) -> None:
    log_in(page, demo)
    text = page.evaluate(
        f"""() => {{
            const card = document.createElement("{CARD}");
            card.setConfig({{type: "custom:{CARD}"}});
            card.hass = document.querySelector("home-assistant").hass;
            document.body.appendChild(card);
            return card.shadowRoot.querySelector(".message").textContent;
        }}"""
    )
    assert text == "Choose a printer in the card settings."


def open_picker(card: Any, label: str) -> Any:
    from playwright.sync_api import expect

    card.locator(f'.slot[data-slot="{label}"]').click()
    picker = card.locator(".panel")
    expect(picker.locator(".p-title")).to_have_text(f"Slot {label}", timeout=WAIT_MS)
    expect(picker.locator(".row").first).to_be_visible(timeout=WAIT_MS)
    return picker


def test_slot_picker_assigns_unassigns_and_says_why_not(page: Any, demo: dict[str, Any]) -> None:
    """A click on a slot opens a searchable picker that assigns without Developer tools."""
    from playwright.sync_api import expect

    card = log_in(page, demo)
    page.keyboard.press("Escape")

    # A2 (black PLA Matte): the slot's spool is shown, Unassign clears it at once.
    picker = open_picker(card, "A2")
    expect(picker.locator(".p-current")).to_contain_text("In the slot now:")
    picker.locator("button.unassign").click()
    expect(picker.locator(".p-status.ok")).to_have_text(
        "Slot A2 has no spool assigned now.", timeout=WAIT_MS
    )
    tile = card.locator('.slot[data-slot="A2"]')
    expect(tile.locator(".spool")).to_have_text("No FilaMan spool", timeout=WAIT_MS)

    # Search narrows the list; the best matches (the tray's material) come first and are bold.
    everything = picker.locator(".row").count()
    picker.locator("input.search").fill("petg")
    expect(picker.locator(".row", has_not_text="PETG")).to_have_count(0, timeout=WAIT_MS)
    assert 0 < picker.locator(".row").count() < everything
    picker.locator("input.search").fill("pla")
    expect(picker.locator(".row", has_not_text="PLA")).to_have_count(0, timeout=WAIT_MS)
    assert "fit" in (picker.locator(".row").first.get_attribute("class") or "")
    first = picker.locator(".row").first
    spool_text = first.locator(".name").inner_text()
    first.click()
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    picker.locator("button.assign").click()
    expect(picker.locator(".p-status.ok")).to_contain_text("is in slot A2 now", timeout=WAIT_MS)
    expected_name = spool_text.split(" ", 1)[1]
    expect(tile.locator(".spool")).to_have_text(expected_name, timeout=WAIT_MS)
    card.locator(".panel").screenshot(path=str(ARTIFACTS / "ams-card-picker.png"))
    picker.locator("button.close").click()
    expect(card.locator(".panel")).to_have_count(0)

    # A1 holds a Bambu RFID spool: another spool is refused with the translated reason.
    picker = open_picker(card, "A1")
    picker.locator("input.search").fill("matte")
    expect(picker.locator(".row")).to_have_count(1, timeout=WAIT_MS)
    picker.locator(".row").first.click()
    picker.locator("button.assign").click()
    expect(picker.locator(".p-status.error")).to_contain_text(
        "holds the RFID spool", timeout=WAIT_MS
    )
    page.keyboard.press("Escape")
    expect(card.locator(".panel")).to_have_count(0)


def test_slot_details_open_its_sensor(page: Any, demo: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    card = log_in(page, demo)
    page.keyboard.press("Escape")
    picker = open_picker(card, "B1")
    picker.locator("button.more").click()
    dialog = page.locator("ha-more-info-dialog")
    expect(dialog).to_contain_text("Slot 1", timeout=WAIT_MS)


def test_card_editor_offers_only_printers(page: Any, demo: dict[str, Any]) -> None:
    """HA's form editor: the device picker lists the printer, not its AMS units or the server."""
    from playwright.sync_api import expect

    card = log_in(page, demo, "?edit=1")
    page.locator("hui-card-edit-mode").filter(has=card).click(position={"x": 40, "y": 40})
    picker = page.locator("ha-dialog ha-selector-device")
    expect(picker).to_contain_text("Printer", timeout=WAIT_MS)
    expect(picker).to_contain_text(demo["printer_name"])
    picker.click()
    options = page.locator("ha-picker-combo-box ha-combo-box-item")
    expect(options.first).to_be_visible(timeout=WAIT_MS)
    assert [o.strip().splitlines()[0] for o in options.all_inner_texts()] == [demo["printer_name"]]
    page.screenshot(path=str(ARTIFACTS / "card-editor.png"))
