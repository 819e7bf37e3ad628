"""`python -m simulators <bambuddy|filaman> [options]`: run one simulator standalone."""

from __future__ import annotations

import importlib
import sys

NAMES = ("bambuddy", "filaman")


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in NAMES:
        print(f"usage: python -m simulators {{{'|'.join(NAMES)}}} [options]", file=sys.stderr)
        raise SystemExit(2)
    cli = importlib.import_module(f"simulators.{argv[0]}.cli")
    cli.main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
