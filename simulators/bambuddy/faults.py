"""Fault injection shared by every API route: scripted failures, latency, a dead server."""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
import re

from aiohttp import web


@dataclass
class FaultRule:
    """Answer the next `remaining` matching requests with `status` instead of handling them."""

    method: str
    path: re.Pattern[str]
    status: int
    remaining: int
    body: object | None

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and self.path.search(path) is not None

    def response(self) -> web.Response:
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body)
        if self.body is not None:
            return web.json_response(self.body, status=self.status)
        if self.status >= 500:
            # Starlette's plain-text body for an unhandled exception.
            return web.Response(status=self.status, text=HTTPStatus(self.status).phrase)
        return web.json_response({"detail": HTTPStatus(self.status).phrase}, status=self.status)


@dataclass
class Faults:
    """The fault switches of one simulator."""

    rules: list[FaultRule] = field(default_factory=list)
    latency: float = 0.0
    down: bool = False

    def add(
        self, method: str, path_regex: str, status: int, count: int, body: object | None
    ) -> None:
        rule = FaultRule(method.upper(), re.compile(path_regex), status, count, body)
        self.rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first armed rule matching this request, with one use consumed."""
        for rule in self.rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
                return rule
        return None
