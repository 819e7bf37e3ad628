"""Percentiles and a description of the machine the figures come from."""

from __future__ import annotations

import math
import os
from pathlib import Path
import platform
import sys
from typing import Any


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1); ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, Any]:
    """p50/p95/max in seconds, with the sample count."""
    return {
        "n": len(values),
        "p50_s": _round(percentile(values, 0.50)),
        "p95_s": _round(percentile(values, 0.95)),
        "max_s": _round(max(values) if values else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS and versions."""
    cpu = platform.processor() or platform.machine()
    memory_gib: float | None = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    from homeassistant.const import __version__ as ha_version  # noqa: PLC0415 - heavy import

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "home_assistant": ha_version,
    }
