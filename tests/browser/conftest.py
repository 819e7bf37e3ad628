"""The real demo (simulators + Home Assistant) and a headless Chromium for the browser tests."""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import signal
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
# script/demo installs requirements_demo.txt on its first run (the frontend is ~110 MB).
DEMO_READY_WITHIN = 600.0
DEMO_STOPS_WITHIN = 60.0


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No in-process Home Assistant here: these tests drive a real one in its own process."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`script/demo` on free loopback ports; yields its demo.json; stops it with Ctrl-C (SIGINT)."""
    state_dir = tmp_path_factory.mktemp("demo")
    log_path = state_dir / "script-demo.out"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(REPO_ROOT / "script" / "demo"),
                "--free-ports",
                "--for",
                "900",  # an upper bound; the fixture stops it as soon as the tests are done
                "--print-every",
                "0",  # the tests start the prints they need
                "--state-dir",
                str(state_dir),
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    info_path = state_dir / "demo.json"
    try:
        deadline = time.monotonic() + DEMO_READY_WITHIN
        while not info_path.exists():
            if process.poll() is not None:
                pytest.fail(f"script/demo exited with {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"script/demo not ready in {DEMO_READY_WITHIN:.0f} s:\n{_tail(log_path)}"
                )
            time.sleep(0.5)
        info: dict[str, Any] = json.loads(info_path.read_text())
        yield info
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(DEMO_STOPS_WITHIN)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                pytest.fail(f"script/demo did not stop on Ctrl-C:\n{_tail(log_path)}")
    # Ctrl-C is the normal end of the demo: a clean stop after a passed health check exits 0.
    assert process.returncode == 0, _tail(log_path)
    assert "demo: stopped" in log_path.read_text()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def browser() -> Iterator[Any]:
    # Per test, not per module: Playwright's sync API marks its event loop as running, which must
    # not overlap the setup or teardown of the Home Assistant plugin's per-test asyncio fixtures.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def only_loopback(route: Any) -> None:
    """The page may talk to this machine only (the frontend would fetch brand icons otherwise)."""
    host = urlsplit(route.request.url).hostname
    if host in {"127.0.0.1", "localhost"} or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        route.abort()
