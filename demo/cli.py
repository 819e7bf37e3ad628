"""Command line of the demo (script/demo passes its arguments here)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import signal

from .runner import REPO_ROOT, Demo, DemoOptions


def _parser() -> argparse.ArgumentParser:
    defaults = DemoOptions()
    parser = argparse.ArgumentParser(
        prog="script/demo",
        description="Start the Bambuddy and FilaMan simulators and a real Home Assistant with this "
        "integration on 127.0.0.1, onboarded and configured, with an AMS dashboard. Each run "
        "starts from a fresh configuration.",
    )
    parser.add_argument(
        "--for",
        dest="run_for",
        type=float,
        metavar="SECONDS",
        help="headless: stop after SECONDS; exit 0 only if Home Assistant answered, the "
        "integration's entities were present and nothing else raised a repair or an ERROR "
        "(default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=defaults.ha_port,
        help="Home Assistant port (default: %(default)s)",
    )
    parser.add_argument(
        "--bambuddy-port",
        type=int,
        default=defaults.bambuddy_port,
        help="port of the Bambuddy simulator (default: %(default)s)",
    )
    parser.add_argument(
        "--filaman-port",
        type=int,
        default=defaults.filaman_port,
        help="port of the FilaMan simulator (default: %(default)s)",
    )
    parser.add_argument(
        "--free-ports", action="store_true", help="pick free ports for all three servers"
    )
    parser.add_argument(
        "--print-every",
        type=float,
        default=defaults.print_every,
        metavar="SECONDS",
        help="start a simulated print this often, 0 for never (default: %(default)g)",
    )
    parser.add_argument(
        "--first-print-after",
        type=float,
        default=defaults.first_print_after,
        metavar="SECONDS",
        help="start the first print (from the tray with no spool assigned) this long after the "
        "demo is up (default: %(default)g)",
    )
    parser.add_argument(
        "--print-duration",
        type=float,
        default=defaults.print_duration,
        metavar="SECONDS",
        help="how long each simulated print runs (default: %(default)g)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=REPO_ROOT / ".demo",
        help="where the Home Assistant config, logs and demo.json go, wiped at start "
        "(default: .demo in this repository)",
    )
    return parser


def options_from(argv: list[str]) -> DemoOptions:
    args = _parser().parse_args(argv)
    return DemoOptions(
        state_dir=args.state_dir.resolve(),
        ha_port=0 if args.free_ports else args.port,
        bambuddy_port=0 if args.free_ports else args.bambuddy_port,
        filaman_port=0 if args.free_ports else args.filaman_port,
        print_every=args.print_every,
        first_print_after=args.first_print_after,
        print_duration=args.print_duration,
        run_for=args.run_for,
    )


async def _run(options: DemoOptions) -> int:
    demo = Demo(options)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, demo.stop_requested.set)
    return await demo.run()


def main(argv: list[str]) -> int:
    options = options_from(argv)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run(options))
