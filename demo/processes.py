"""Child processes of the demo: started in their own session, logged to a file, stopped in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import signal
import socket
import time

import aiohttp

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((LOOPBACK, port)) == 0


class ProcessFailedError(RuntimeError):
    """A child process exited or never answered."""


@dataclass
class ManagedProcess:
    """One child process; its output goes to `log_path`."""

    name: str
    argv: Sequence[str]
    log_path: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches only the demo, which then stops the
            # children in order (Home Assistant first, while the simulators still answer).
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_http(
        self, session: aiohttp.ClientSession, url: str, within: float, ok: set[int] | None = None
    ) -> None:
        """Wait until `url` answers with one of `ok` (default: any status below 500)."""
        deadline = time.monotonic() + within
        while True:
            if not self.running:
                raise ProcessFailedError(
                    f"{self.name} exited with {self.process.returncode if self.process else '?'}; "
                    f"last log lines ({self.log_path}):\n{self.log_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                    if (ok is None and response.status < 500) or (ok and response.status in ok):
                        return
            if time.monotonic() > deadline:
                raise ProcessFailedError(f"{self.name} did not answer at {url} in {within:.0f} s")
            await asyncio.sleep(0.25)

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; only this child and its process group."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
