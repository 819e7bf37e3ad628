"""A child Python process spoken to in JSON lines (see :mod:`bench.agent`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import sys
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class Child:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, module: str) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
            limit=16 * 1024 * 1024,
        )
        return cls(process)

    async def call(self, limit_s: float = 600.0, **command: Any) -> dict[str, Any]:
        """Send one command and wait for its one-line answer."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write((json.dumps(command) + "\n").encode())
        await self._process.stdin.drain()
        async with asyncio.timeout(limit_s):
            line = await self._process.stdout.readline()
        if not line:
            code = await self._process.wait()
            raise RuntimeError(f"bench child {command.get('cmd')!r} died (exit code {code})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def close(self) -> None:
        if self._process.returncode is None and self._process.stdin is not None:
            self._process.stdin.write(b'{"cmd": "quit"}\n')
            self._process.stdin.close()
            try:
                async with asyncio.timeout(15):
                    await self._process.wait()
            except TimeoutError:
                self._process.kill()
                await self._process.wait()


async def run_once(module: str, payload: dict[str, Any], limit_s: float = 600.0) -> dict[str, Any]:
    """Start ``module``, hand it ``payload`` on stdin, return the JSON it prints."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    async with asyncio.timeout(limit_s):
        out, _ = await process.communicate((json.dumps(payload) + "\n").encode())
    if process.returncode != 0:
        raise RuntimeError(f"{module} failed (exit code {process.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result
