"""``python -m bench [--sizes 100,1000,5000] [--edits 50] [--prints 30] [--per-kind 10] [--seed N]
[--quick]``

Runs every phase, then writes docs/benchmarks.json, docs/benchmarks.md and the figures of the
README's "Benchmarks" section. ``--quick`` (small sizes, few samples) is for trying it out and
writes nothing unless ``--write`` is given too.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
import json
import logging
import random
import sys
import time
from typing import Any

from . import phases, report
from .child import REPO
from .stats import machine


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="script/bench", description=__doc__)
    parser.add_argument("--sizes", default="100,1000,5000", help="FilaMan spool counts")
    parser.add_argument("--edits", type=int, default=50, help="FilaMan edits per size")
    parser.add_argument("--prints", type=int, default=30, help="prints per size")
    parser.add_argument("--ha-spools", type=int, default=5000, help="spools for the HA phase")
    parser.add_argument(
        "--per-kind", type=int, default=10, help="changes of each kind at four FilaMan workers"
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=phases.IDLE_S,
        help="seconds the idle load on FilaMan is measured (at the largest size)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="100 and 500 spools, 10 samples")
    parser.add_argument("--write", action="store_true", help="write the docs after --quick")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.quick:
        sizes, args.edits, args.prints, args.ha_spools = [100, 500], 10, 10, 500
        args.per_kind, args.idle = 3, 10.0
    started = time.monotonic()
    ours: list[dict[str, Any]] = []
    plugin: list[dict[str, Any]] = []
    workers: list[dict[str, Any]] = []
    for size in sizes:
        say(f"{size} spools: ours (initial, idle, {args.edits} edits, {args.prints} prints)")
        ours.append(await phases.measure_ours(size, args.edits, args.prints, seed))
        say(f"{size} spools: plugin-style baseline (initial, idle)")
        plugin.append(await phases.measure_plugin(size))
        idle = args.idle if size == max(sizes) else 0.0
        say(f"{size} spools: every kind of change at four FilaMan workers, pool and one stream")
        workers.append(await phases.measure_workers(size, args.per_kind, seed, idle))
    say(f"{args.ha_spools} spools: Home Assistant event loop and entry setup")
    home_assistant = await phases.measure_home_assistant(args.ha_spools)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine(),
        "settings": {
            "sizes": sizes,
            "edits": args.edits,
            "prints": args.prints,
            "ha_spools": args.ha_spools,
            "per_kind": args.per_kind,
            "one_stream_per_kind": phases.ONE_STREAM_SAMPLES,
            "late_s": phases.LATE_S,
            "idle_s": args.idle,
            "baseline_pause_s": 0.05,
            "baseline_pauses_slept_up_to": phases.MAX_SLEPT_WRITES,
        },
        "ours": ours,
        "plugin": plugin,
        "workers": workers,
        "home_assistant": home_assistant,
    }


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    data = asyncio.run(run(args))
    if args.quick and not args.write:
        print(json.dumps(report.headline(data), indent=2))
        return 0
    report.write_all(data, REPO)
    say(f"wrote docs/benchmarks.md, .json and the README figures ({data['duration_s']} s)")
    print(report.render_readme_section(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
