"""The FilaMan simulator's command line (``python -m simulators filaman --help``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .app import FilamanSimulator
from .workers import DEFAULT_WORKERS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulators filaman")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--api-key", action="append", default=[], help="pre-register uak.<id>.<secret> (role user)"
    )
    parser.add_argument("--seed-demo", action="store_true", help="fill a demo inventory")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="gunicorn workers, each with its own change stream (default: %(default)s, as "
        "FilaMan's image runs it)",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    sim = FilamanSimulator(workers=args.workers)
    for token in args.api_key:
        sim.register_api_key(token, role="user")
    if args.seed_demo:
        sim.seed_demo()
    url = await sim.start(args.host, args.port)
    print(f"FilaMan simulator listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
