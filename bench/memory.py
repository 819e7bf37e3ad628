"""Resident memory of this process, from /proc (Linux) with a getrusage fallback."""

from __future__ import annotations

from pathlib import Path
import resource
import sys


def rss_kib() -> dict[str, int]:
    """``{"current": VmRSS, "peak": VmHWM}`` in KiB."""
    try:
        fields = dict(
            line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
        )
        return {
            "current": int(fields["VmRSS"].split()[0]),
            "peak": int(fields["VmHWM"].split()[0]),
        }
    except OSError, KeyError, ValueError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            peak //= 1024  # bytes there, KiB on Linux
        return {"current": peak, "peak": peak}
