"""`script/demo --for SECONDS`: the headless check a newcomer or CI can run without a browser."""

from __future__ import annotations

import json
from pathlib import Path
import socket
import subprocess
import sys

import pytest

from tests.browser.conftest import REPO_ROOT


@pytest.mark.usefixtures("socket_enabled")
def test_a_busy_port_fails_fast_without_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                *(sys.executable, "-m", "demo", "--port", str(port), "--for", "5"),
                *("--bambuddy-port", "0", "--filaman-port", "0", "--state-dir", str(tmp_path)),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {port} for Home Assistant is in use" in result.stdout
    assert not (tmp_path / "config").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("socket_enabled")
def test_demo_for_seconds_comes_up_prints_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(str(REPO_ROOT / "script" / "demo"), "--free-ports", "--for", "25"),
            *("--first-print-after", "2", "--print-every", "60", "--print-duration", "3"),
            *("--state-dir", str(tmp_path)),
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,  # the first run installs requirements_demo.txt
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The first print draws from a tray with no spool: caught, and answered through its repair.
    assert "print #1 'Lamp shade (unassigned tray)' started" in result.stdout
    assert "the demo answered the repair: FilaMan spool #" in result.stdout
    # A newcomer's first look: no repair but ours, every integration loaded, the recorder
    # answering (a slot's more-info shows its history), no ERROR in Home Assistant's log.
    assert "no repair but ours, every integration loaded, no ERROR in the log" in result.stdout
    assert result.stdout.rstrip().endswith("demo: stopped")
    config = tmp_path / "config"
    log = (config / "home-assistant.log").read_text()
    assert [line for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line] == []
    assert (config / "home-assistant_v2.db").exists()
    # Loopback only, for good, as stored settings: no deprecated http: YAML, no trial to revert.
    assert "http:" not in (config / "configuration.yaml").read_text()
    http = json.loads((config / ".storage" / "http").read_text())["data"]
    assert http["stable"]["server_host"] == ["127.0.0.1"]
    assert http["pending"] is None
