"""A real Home Assistant process of the newest release, the two simulators, and their logs.

No test plugin exists for the newest Home Assistant, so this lane boots `hass` the way the demo
does (the demo's process, onboarding and config-flow helpers are reused) and drives it only
through its REST and WebSocket APIs, as a user's browser or an automation would. Everything
listens on loopback; nothing is installed at run time (`hass --skip-pip`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import sys
import time
from typing import Any

import aiohttp

from demo.ha_api import HomeAssistantApi, Login
from demo.ha_config import write_config
from demo.processes import LOOPBACK, ManagedProcess, free_port
from demo.simulators import BambuddyControl, FilamanControl

REPO_ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "filaman_bambuddy"
LOGIN = Login(name="Lane", username="lane", password="lane-pass")
# Seconds between a print's end and Bambuddy's usage row (≈ 8 s on a real server).
USAGE_DELAY = 1.0
HASS_START_TIMEOUT = 180.0

# A log line in which Home Assistant reports that this integration uses something deprecated or
# slated for removal (helpers.frame's report_usage, helpers.deprecation, the loader), or any line
# logged at ERROR by or about the integration.
DEPRECATION = re.compile(
    r"deprecat|will stop working|no longer supported|slated for removal|scheduled for removal"
    r"|removed in|is being removed|please report it to the author",
    re.IGNORECASE,
)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\S* (?P<level>[A-Z]+) ")
# A record starts with a timestamped log line, or with a Python warning `path:line: XWarning:`.
RECORD_START = re.compile(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.|\S+:\d+: \w*Warning: )")


class LaneError(AssertionError):
    """The lane could not get to the state a test needs."""


@dataclass
class Lane:
    """The processes of one lane run and clients for them."""

    state_dir: Path
    session: aiohttp.ClientSession
    processes: list[ManagedProcess] = field(default_factory=list)
    ha_port: int = field(default_factory=free_port)
    bambuddy_port: int = field(default_factory=free_port)
    filaman_port: int = field(default_factory=free_port)
    bambuddy_key: str = ""
    filaman_key: str = ""
    entry_id: str = ""
    hass: ManagedProcess | None = None
    token: str = ""
    secrets: set[str] = field(default_factory=set)
    """Every key and token the lane handed out: none may show up in what HA returns."""

    @property
    def ha_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ha_port}"

    @property
    def bambuddy_url(self) -> str:
        return f"http://{LOOPBACK}:{self.bambuddy_port}"

    @property
    def filaman_url(self) -> str:
        return f"http://{LOOPBACK}:{self.filaman_port}"

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "config"

    @property
    def hass_log(self) -> Path:
        return self.state_dir / "logs" / "home-assistant.out"

    def __post_init__(self) -> None:
        self.api = HomeAssistantApi(self.session, self.ha_url)
        self.bambuddy = BambuddyControl(self.session, self.bambuddy_url)
        self.filaman = FilamanControl(self.session, self.filaman_url)

    # --- processes ----------------------------------------------------------------------

    async def start_simulators(self) -> None:
        """Both simulators with their demo data (the printer holds a Bambu RFID spool)."""
        logs = self.state_dir / "logs"
        for name, port, extra in (
            ("bambuddy", self.bambuddy_port, ["--usage-delay", str(USAGE_DELAY)]),
            ("filaman", self.filaman_port, []),
        ):
            process = ManagedProcess(
                name=name,
                argv=[
                    *(sys.executable, "-m", "simulators", name, "--port", str(port)),
                    *("--host", LOOPBACK, "--seed-demo", *extra),
                ],
                log_path=logs / f"{name}.out",
                cwd=REPO_ROOT,
            )
            self.processes.append(process)
            await process.start()
        await self.processes[0].wait_http(
            self.session, f"{self.bambuddy_url}/_sim/state", 30, {200}
        )
        await self.processes[1].wait_http(self.session, f"{self.filaman_url}/health", 30, {200})
        self.bambuddy_key = await self.bambuddy.create_api_key()
        self.filaman_key = await self.filaman.create_api_key()
        self.secrets |= {self.bambuddy_key, self.filaman_key}

    async def start_hass(self) -> None:
        """Start `hass` on the lane's config (laid out on the first start, kept afterwards)."""
        first = not self.config_dir.exists()
        if first:
            write_config(self.config_dir, REPO_ROOT, self.ha_port)
        # Python's own deprecation warnings too (an old HA API called directly): shown once each.
        env = dict(os.environ, PYTHONWARNINGS="default::DeprecationWarning")
        hass = ManagedProcess(
            name="home-assistant",
            argv=[
                str(Path(sys.executable).parent / "hass"),
                "-c",
                str(self.config_dir),
                "--skip-pip",
            ],
            log_path=self.hass_log,
            cwd=self.state_dir,
            env=env,
        )
        self.hass = hass
        self.processes.append(hass)
        await hass.start()
        # Onboarding answers 200 until it is done; after that any answer means HTTP is up.
        await hass.wait_http(
            self.session,
            f"{self.ha_url}/api/onboarding",
            HASS_START_TIMEOUT,
            {200} if first else None,
        )
        if first:
            await self.api.onboard(LOGIN)
            self.token = await self.api.use_long_lived_token()
            self.secrets.add(self.token)
        await self.api.close_websocket()
        if self.entry_id:
            await self.wait_for(self.entry_loaded, "the entry to load after the start")

    async def stop_hass(self) -> None:
        """Stop Home Assistant as a supervisor would (SIGTERM, its own orderly shutdown)."""
        await self.api.close_websocket()
        if self.hass is not None:
            await self.hass.stop(grace=60.0)
            self.processes.remove(self.hass)
            self.hass = None

    async def stop(self) -> None:
        await self.api.close_websocket()
        for process in reversed(self.processes):
            await process.stop()
        self.processes.clear()

    # --- Home Assistant -----------------------------------------------------------------

    async def call(self, service: str, data: dict[str, Any]) -> Any:
        """An action of this integration, with its response."""
        answer = await self.api.post(f"/api/services/{DOMAIN}/{service}?return_response", data)
        return answer["service_response"]

    async def ha_request(self, method: str, path: str) -> tuple[int, str]:
        """A plain authenticated request to Home Assistant: (status, body text)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(
            method, f"{self.ha_url}{path}", headers=headers
        ) as response:
            return response.status, await response.text()

    async def entry(self) -> dict[str, Any] | None:
        entries = await self.api.get("/api/config/config_entries/entry")
        return next((entry for entry in entries if entry["entry_id"] == self.entry_id), None)

    async def entry_loaded(self) -> bool:
        entry = await self.entry()
        return entry is not None and entry["state"] == "loaded"

    async def registry_entities(self) -> list[dict[str, Any]]:
        return [
            entity
            for entity in await self.api.entities_of(DOMAIN)
            if entity.get("config_entry_id") == self.entry_id
        ]

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        return (await self.api.states()).get(entity_id)

    async def entity_id(self, translation_key: str) -> str:
        for entity in await self.registry_entities():
            if entity.get("translation_key") == translation_key:
                return str(entity["entity_id"])
        raise LaneError(f"no entity with translation key {translation_key}")

    # --- the servers ----------------------------------------------------------------------

    async def bambuddy_state(self) -> dict[str, Any]:
        return await self.bambuddy.state()

    async def filaman_spool(self, spool_id: int) -> dict[str, Any]:
        async with self.session.get(f"{self.filaman_url}/_sim/spools/{spool_id}") as response:
            spool: dict[str, Any] = await response.json()
            return spool

    async def remaining(self, spool_id: int) -> float:
        return float((await self.filaman_spool(spool_id))["remaining_weight_g"])

    async def debited(self, spool_id: int) -> float:
        """Grams FilaMan recorded as consumption of the spool (merged events sum up)."""
        url = f"{self.filaman_url}/_sim/spools/{spool_id}/consumptions"
        async with self.session.get(url) as response:
            events: list[dict[str, Any]] = await response.json()
        return -sum(float(event.get("delta_weight_g") or 0.0) for event in events)

    # --- waiting and the log --------------------------------------------------------------

    async def wait_for(
        self, condition: Callable[[], Awaitable[object]], what: str, within: float = 30.0
    ) -> None:
        deadline = time.monotonic() + within
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                if await condition():
                    return
            if time.monotonic() > deadline:
                raise LaneError(f"gave up waiting {within:.0f} s for {what}")
            await asyncio.sleep(0.25)

    def log_problems(self) -> list[str]:
        """Home Assistant log lines reporting a deprecation in, or an error of, the integration."""
        try:
            text = self.hass_log.read_text(errors="replace")
        except OSError:
            return ["no Home Assistant log"]
        problems: list[str] = []
        # A record runs from its first line to the next record's (tracebacks included).
        records = RECORD_START.split(text)
        for record in records:
            if DOMAIN not in record:
                continue
            match = LOG_LINE.match(record)
            level = match.group("level") if match else ""
            first_line = record.splitlines()[0] if record else ""
            if level in ("ERROR", "CRITICAL") or DEPRECATION.search(record):
                problems.append(first_line[:400])
        return problems
