"""`python -m simulators bambuddy --port N [--host H] [--auth-disabled] [--api-key KEY]
[--seed-demo]`: run the Bambuddy simulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .simulator import BambuddySimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulators bambuddy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--auth-disabled", action="store_true", help="fresh-install auth mode")
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        help="pre-register this bb_… key (read status + manage inventory)",
    )
    parser.add_argument(
        "--usage-delay", type=float, default=8.0, help="seconds from print end to usage event"
    )
    parser.add_argument("--seed-demo", action="store_true", help='add printer "Workshop X1C"')
    return parser


async def _serve(args: argparse.Namespace) -> None:
    sim = BambuddySimulator(auth_enabled=not args.auth_disabled, ws_usage_delay=args.usage_delay)
    for key in args.api_key:
        sim.create_api_key(name="cli", key=key)
    if args.seed_demo:
        sim.seed_demo()
    url = await sim.start(args.host, args.port)
    print(f"Bambuddy simulator listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
