"""The whole demo: simulators, Home Assistant, onboarding, the integration, a dashboard, prints."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass, field
import itertools
import json
from pathlib import Path
import sys
import time
from typing import Any

import aiohttp

from .dashboard import create_dashboard
from .ha_api import HomeAssistantApi, HomeAssistantApiError, Login
from .ha_config import write_config
from .integration import (
    DOMAIN,
    PrinterEntities,
    ServerAccess,
    SetupFailedError,
    add_integration,
    printer_entities,
    wait_for_slots,
)
from .processes import LOOPBACK, ManagedProcess, ProcessFailedError, free_port, port_in_use
from .simulators import BambuddyControl, FilamanControl, SimulatorError, Tray, trays_of
from .spools import match_spools

REPO_ROOT = Path(__file__).resolve().parents[1]
PRINT_NAMES = ("Benchy", "Calibration cube", "Cable clip", "Phone stand", "Spool holder")
CARD_RESOURCE_PATH = "/filaman_bambuddy/filaman-bambuddy-ams-card.js"
# Loaded but left unassigned: the first print draws from it, Home Assistant catches it, and the
# demo fixes it through the repair (unless the person watching does it first).
UNASSIGNED_SLOT = (1, 3)
UNASSIGNED_PRINT = "Lamp shade (unassigned tray)"
# How far into that print the demo answers the repair itself.
FIX_AFTER_SHARE = 0.5


@dataclass(slots=True)
class DemoOptions:
    state_dir: Path = REPO_ROOT / ".demo"
    ha_port: int = 8123  # 0 picks a free port
    bambuddy_port: int = 8701
    filaman_port: int = 8702
    print_every: float = 180.0
    first_print_after: float = 20.0
    print_duration: float = 60.0
    run_for: float | None = None
    login: Login = field(default_factory=lambda: Login("Demo", "demo", "demo-pass"))
    startup_timeout: float = 240.0
    entities_timeout: float = 90.0


@dataclass(slots=True)
class DemoInfo:
    """What a person (the banner) or a test (`<state_dir>/demo.json`) needs to use the demo."""

    ha_url: str
    dashboard_url: str
    username: str
    password: str
    token: str
    bambuddy_url: str
    filaman_url: str
    printer_sim_id: int
    printer_name: str
    printer_device_id: str
    entry_id: str


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.stop_requested = asyncio.Event()
        self.processes: list[ManagedProcess] = []
        self.info: DemoInfo | None = None
        self._fixer: asyncio.Future[None] | None = None
        self.ha_port = self.bambuddy_port = self.filaman_port = 0

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self) -> int:
        """Start everything, run until stopped or `run_for` passed; 0 if HA and entities were up."""
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            try:
                setup = asyncio.ensure_future(self._start(session))
                stopper = asyncio.ensure_future(self.stop_requested.wait())
                await asyncio.wait({setup, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not setup.done():
                    say("stopping before the demo was ready")
                    setup.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await setup
                    return 1
                setup.result()  # raises what setup raised
                await self._serve(session, started)
                return 0 if await self._healthy(session) else 1
            except (
                ProcessFailedError,
                SetupFailedError,
                HomeAssistantApiError,
                SimulatorError,
                aiohttp.ClientError,
            ) as err:
                say(f"FAILED: {err}")
                return 1
            finally:
                await self._stop_all()

    async def _stop_all(self) -> None:
        if self._fixer is not None and not self._fixer.done():
            self._fixer.cancel()
        # Home Assistant first, so its integration does not log the simulators vanishing.
        for process in reversed(self.processes):
            if process.running:
                say(f"stopping {process.name} ...")
            await process.stop()
        say("stopped")

    # --- start ------------------------------------------------------------------------------

    def _port(self, wanted: int, what: str) -> int:
        if wanted == 0:
            return free_port()
        if port_in_use(wanted):
            raise ProcessFailedError(f"port {wanted} for {what} is in use (choose another)")
        return wanted

    async def _start(self, session: aiohttp.ClientSession) -> None:
        options = self.options
        self.ha_port = self._port(options.ha_port, "Home Assistant")
        self.bambuddy_port = self._port(options.bambuddy_port, "the Bambuddy simulator")
        self.filaman_port = self._port(options.filaman_port, "the FilaMan simulator")
        logs = options.state_dir / "logs"
        bambuddy_url = f"http://{LOOPBACK}:{self.bambuddy_port}"
        filaman_url = f"http://{LOOPBACK}:{self.filaman_port}"
        ha_url = f"http://{LOOPBACK}:{self.ha_port}"

        say(f"starting the simulators (Bambuddy {bambuddy_url}, FilaMan {filaman_url}) ...")
        bambuddy = self._process("bambuddy", ["bambuddy", "--port", str(self.bambuddy_port)], logs)
        filaman = self._process("filaman", ["filaman", "--port", str(self.filaman_port)], logs)
        await bambuddy.start()
        await filaman.start()
        await bambuddy.wait_http(session, f"{bambuddy_url}/_sim/state", 30, ok={200})
        await filaman.wait_http(session, f"{filaman_url}/health", 30, ok={200})
        bambuddy_control = BambuddyControl(session, bambuddy_url)
        filaman_control = FilamanControl(session, filaman_url)
        bambuddy_key = await bambuddy_control.create_api_key()
        filaman_key = await filaman_control.create_api_key()
        printer = (await bambuddy_control.printers())[0]

        say(f"starting Home Assistant on {ha_url} (config in {options.state_dir / 'config'}) ...")
        config_dir = options.state_dir / "config"
        write_config(config_dir, REPO_ROOT, self.ha_port)
        hass = ManagedProcess(
            name="home-assistant",
            # --skip-pip: requirements_demo.txt installed what it needs; nothing is fetched later.
            argv=[str(_hass_executable()), "-c", str(config_dir), "--skip-pip"],
            log_path=logs / "home-assistant.out",
            cwd=options.state_dir,
        )
        self.processes.append(hass)
        await hass.start()
        await hass.wait_http(session, f"{ha_url}/api/onboarding", options.startup_timeout, {200})

        api = HomeAssistantApi(session, ha_url)
        say(f"onboarding (user {options.login.username}) ...")
        await api.onboard(options.login)
        token = await api.use_long_lived_token()

        say("adding the integration through its config flow ...")
        entry = await add_integration(
            api,
            ServerAccess(
                bambuddy_url=bambuddy_url,
                bambuddy_api_key=bambuddy_key,
                filaman_url=filaman_url,
                filaman_api_key=filaman_key,
                printer_name=str(printer["name"]),
            ),
        )
        entities = await wait_for_slots(api, entry["entry_id"], options.entities_timeout)
        await self._assign_spools(api, bambuddy_control, filaman_control, filaman_key, entities)
        dashboard_path = await create_dashboard(api, str(printer["name"]), entities)
        await self._check_card_resource(api)
        await api.close_websocket()

        self.info = DemoInfo(
            ha_url=ha_url,
            dashboard_url=f"{ha_url}{dashboard_path}",
            username=options.login.username,
            password=options.login.password,
            token=token,
            bambuddy_url=bambuddy_url,
            filaman_url=filaman_url,
            printer_sim_id=int(printer["id"]),
            printer_name=str(printer["name"]),
            printer_device_id=entities.device_id,
            entry_id=str(entry["entry_id"]),
        )
        info_path = options.state_dir / "demo.json"
        info_path.write_text(json.dumps(asdict(self.info), indent=2))
        self._banner(self.info)

    def _process(self, name: str, args: list[str], logs: Path) -> ManagedProcess:
        process = ManagedProcess(
            name=f"{name} simulator",
            argv=[sys.executable, "-m", "simulators", *args, "--host", LOOPBACK, "--seed-demo"],
            log_path=logs / f"{name}.log",
            cwd=REPO_ROOT,
        )
        self.processes.append(process)
        return process

    async def _assign_spools(
        self,
        api: HomeAssistantApi,
        bambuddy: BambuddyControl,
        filaman: FilamanControl,
        filaman_key: str,
        entities: PrinterEntities,
    ) -> None:
        """Put a matching FilaMan spool into each loaded slot, through the integration's service."""
        printer = (await bambuddy.printers())[0]
        trays = [
            tray
            for tray in trays_of(printer)
            if tray.loaded and (tray.ams_id, tray.tray_id) != UNASSIGNED_SLOT
        ]
        matches = match_spools(trays, await filaman.spools(filaman_key))
        say(f"assigning {len(matches)} FilaMan spools to AMS slots (service {DOMAIN}.assign_spool)")
        for (ams_id, tray_id), spool_id in matches.items():
            try:
                await api.post(
                    f"/api/services/{DOMAIN}/assign_spool?return_response",
                    {
                        "filaman_spool_id": spool_id,
                        "device_id": entities.device_id,
                        "ams_id": ams_id,
                        "tray_id": tray_id,
                    },
                )
            except HomeAssistantApiError as err:
                say(f"warning: could not assign spool {spool_id} to ({ams_id}, {tray_id}): {err}")
                return

    async def _check_card_resource(self, api: HomeAssistantApi) -> None:
        resources = await api.ws_call({"type": "lovelace/resources"})
        if not any(CARD_RESOURCE_PATH in str(item.get("url")) for item in resources):
            say(
                "warning: the integration has not registered the card's Lovelace resource; "
                "the dashboard will show an error card"
            )

    def _banner(self, info: DemoInfo) -> None:
        logs = f"{self.options.state_dir / 'logs'}, {self.options.state_dir / 'config'}"
        lines = [
            "",
            "FilaMan ⇄ Bambuddy demo is running (loopback only)",
            f"  Dashboard:  {info.dashboard_url}",
            f"  Login:      {info.username} / {info.password}",
            f"  Simulators: Bambuddy {info.bambuddy_url}  FilaMan {info.filaman_url}",
            "  Take the printer offline: curl -X POST -d '{\"online\": false}' "
            f"{info.bambuddy_url}/_sim/printers/{info.printer_sim_id}/online",
            f"  Logs:       {logs}",
            "  Press Ctrl-C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)

    # --- run --------------------------------------------------------------------------------

    async def _serve(self, session: aiohttp.ClientSession, started: float) -> None:
        """Run simulated prints until Ctrl-C or the `--for` deadline."""
        assert self.info is not None
        options = self.options
        bambuddy = BambuddyControl(session, self.info.bambuddy_url)
        next_print = time.monotonic() + options.first_print_after
        names = itertools.chain([UNASSIGNED_PRINT], itertools.cycle(PRINT_NAMES))
        count = 0
        while not self.stop_requested.is_set():
            now = time.monotonic()
            if options.run_for is not None and now - started >= options.run_for:
                say(f"--for {options.run_for:g} s reached")
                return
            if any(not process.running for process in self.processes):
                dead = [p.name for p in self.processes if not p.running]
                raise ProcessFailedError(f"{', '.join(dead)} exited unexpectedly")
            if options.print_every > 0 and now >= next_print:
                count += 1
                await self._start_print(bambuddy, next(names), count)
                next_print = now + options.print_every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), 1.0)

    async def _start_print(self, bambuddy: BambuddyControl, name: str, count: int) -> None:
        assert self.info is not None
        try:
            printers = await bambuddy.printers()
            printer = next(p for p in printers if p["id"] == self.info.printer_sim_id)
            if not printer.get("connected"):
                say(f"print #{count} skipped: the printer is offline")
                return
            if printer.get("state") not in (None, "IDLE", "FINISH", "FAILED"):
                return  # still printing
            loaded = [t for t in trays_of(printer) if t.loaded and t.ams_id != 255]
            if not loaded:
                return
            tray: Tray = loaded[count % len(loaded)]
            if name == UNASSIGNED_PRINT:
                unassigned = [t for t in loaded if (t.ams_id, t.tray_id) == UNASSIGNED_SLOT]
                if not unassigned:
                    return
                tray = unassigned[0]
            grams = round(6.0 + (count * 7.3) % 24, 1)
            await bambuddy.run_print(
                self.info.printer_sim_id,
                f"{name} #{count}",
                {(tray.ams_id, tray.tray_id): grams},
                self.options.print_duration,
            )
            slot = f"({tray.ams_id}, {tray.tray_id})"
            say(f"print #{count} '{name}' started: {grams} g from slot {slot}")
            if name == UNASSIGNED_PRINT:
                say(
                    "  that tray has no spool assigned: Home Assistant raises a repair at once "
                    "(Settings → Repairs); assign its spool there, or the demo does it in "
                    f"{self.options.print_duration * FIX_AFTER_SHARE:.0f} s"
                )
                self._fixer = asyncio.ensure_future(self._fix_unassigned_tray())
        except (SimulatorError, aiohttp.ClientError) as err:
            say(f"print #{count} could not start: {err}")

    async def _fix_unassigned_tray(self) -> None:
        """Answer the unassigned-tray repair the way a person does in Settings → Repairs."""
        assert self.info is not None
        await asyncio.sleep(self.options.print_duration * FIX_AFTER_SHARE)
        async with aiohttp.ClientSession() as session:
            api = HomeAssistantApi(session, self.info.ha_url)
            api.use_token(self.info.token)
            try:
                issues = (await api.ws_call({"type": "repairs/list_issues"}))["issues"]
                issue = next(
                    (
                        issue
                        for issue in issues
                        if issue["domain"] == DOMAIN
                        and issue["translation_key"] == "unassigned_tray"
                    ),
                    None,
                )
                if issue is None:
                    say("  the unassigned tray was taken care of already: its grams are saved")
                    return
                flow = await api.post(
                    "/api/repairs/issues/fix", {"handler": DOMAIN, "issue_id": issue["issue_id"]}
                )
                best = flow["data_schema"][0]["default"]
                step = f"/api/repairs/issues/fix/{flow['flow_id']}"
                await api.post(step, {"filaman_spool": best})
                say(f"  the demo answered the repair: FilaMan spool #{best} is in the tray now")
            except (HomeAssistantApiError, aiohttp.ClientError, KeyError, IndexError) as err:
                say(f"  could not answer the unassigned-tray repair: {err}")
            finally:
                await api.close_websocket()

    # --- health -----------------------------------------------------------------------------

    async def _healthy(self, session: aiohttp.ClientSession) -> bool:
        """Home Assistant answers on its port and the integration's entities exist."""
        if self.info is None:
            return False
        api = HomeAssistantApi(session, self.info.ha_url)
        api.use_token(self.info.token)
        try:
            await api.get("/api/")
            # The frontend needs every service description; one broken services.yaml blanks it.
            services = await api.ws_call({"type": "get_services"})
            found = await printer_entities(api, self.info.entry_id)
            issues = (await api.ws_call({"type": "repairs/list_issues"}))["issues"]
            entries = await api.ws_call({"type": "config_entries/get"})
            await api.ws_call({"type": "recorder/info"})  # what the more-info dialog asks first
        except (HomeAssistantApiError, aiohttp.ClientError) as err:
            say(f"health check failed: {err}")
            return False
        finally:
            await api.close_websocket()
        if found is None or not found.by_key.get("slot"):
            say("health check failed: the integration's entities are missing")
            return False
        if DOMAIN not in services:
            say(f"health check failed: Home Assistant lists no {DOMAIN} services")
            return False
        # A newcomer must be able to tell our messages from others': the demo brings no others.
        if foreign := [f"{i['domain']}.{i['issue_id']}" for i in issues if i["domain"] != DOMAIN]:
            say(f"health check failed: repairs not from {DOMAIN}: {', '.join(foreign)}")
            return False
        if failed := [f"{e['domain']} ({e['state']})" for e in entries if e["state"] != "loaded"]:
            say(f"health check failed: integrations not loaded: {', '.join(failed)}")
            return False
        if errors := error_lines(self.options.state_dir / "config" / "home-assistant.log"):
            say(f"health check failed: {len(errors)} ERROR lines in the log, first: {errors[0]}")
            return False
        count = sum(len(ids) for ids in found.by_key.values())
        say(
            f"health check passed: Home Assistant answers, {count} {DOMAIN} entities, "
            "no repair but ours, every integration loaded, no ERROR in the log"
        )
        return True


def error_lines(log: Path) -> list[str]:
    """The ERROR (and worse) lines of Home Assistant's log, in order."""
    if not log.exists():
        return []
    levels = (" ERROR ", " CRITICAL ")
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if any(level in line for level in levels)
    ]


def _hass_executable() -> Path:
    return Path(sys.executable).parent / "hass"


def load_info(state_dir: Path) -> dict[str, Any]:
    """The demo.json a running demo wrote (for tests and scripts)."""
    data: dict[str, Any] = json.loads((state_dir / "demo.json").read_text())
    return data
