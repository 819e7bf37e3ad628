"""How a step of a consumption run says "not now", and what the user sees of it.

A step that cannot go on raises :class:`Transient` (the run ends and is retried
with backoff, see :mod:`.worker`) or :class:`Wait` (retried after a known time).
:class:`Problems` keeps the message shown as ``last_error`` until a run succeeds,
and logs a warning that every retry would repeat only once.
"""

from __future__ import annotations

import logging

_LOGGER = logging.getLogger(__name__)


class Transient(Exception):
    """This cycle cannot go on; retry later with backoff."""


class Wait(Exception):
    """The head of the queue must wait ``seconds`` (an in-flight POST settling)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class Problems:
    """The latest error of one printer's processor and the warnings already logged."""

    def __init__(self, printer_id: int) -> None:
        self._printer_id = printer_id
        self._logged: set[str] = set()
        self.last_error: str | None = None

    def fail(self, what: str, err: BaseException) -> Transient:
        """Record ``what`` failed (shown as ``last_error``); the exception to raise."""
        self.last_error = f"{what}: {err}"
        _LOGGER.debug("Printer %s: %s", self._printer_id, self.last_error)
        return Transient(self.last_error)

    def clear(self) -> None:
        self.last_error = None

    def warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            _LOGGER.warning(message, *args)
