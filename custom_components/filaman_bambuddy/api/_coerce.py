"""Lenient readers for JSON payloads.

Both servers mix types: Bambuddy's WebSocket sends numbers as strings, datetimes
are often naive UTC. Optional fields of a wrong type read as ``None``; required
fields of a wrong type raise :class:`ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
import math
from typing import Any

from .errors import ProtocolError

type JsonObject = Mapping[str, Any]


def to_int(value: Any) -> int | None:
    """Read an int from an int, an integral float or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            number = to_float(text)
            return int(number) if number is not None and number.is_integer() else None
    return None


def to_float(value: Any) -> float | None:
    """Read a finite float from a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def to_str(value: Any) -> str | None:
    """Read a string; numbers are rendered, anything else is ``None``."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def to_bool(value: Any) -> bool | None:
    """Read a bool from a bool, 0/1 or ``"true"``/``"false"`` strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off", ""):
            return False
    return None


def to_datetime(value: Any) -> datetime | None:
    """Read an ISO 8601 datetime; naive values are UTC (both servers store UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def as_object(value: Any, what: str) -> JsonObject:
    """Return ``value`` as a JSON object or raise :class:`ProtocolError`."""
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def as_list(value: Any, what: str) -> Sequence[Any]:
    """Return ``value`` as a JSON array or raise :class:`ProtocolError`."""
    if not isinstance(value, list | tuple):
        raise ProtocolError(f"{what}: expected a JSON array, got {type(value).__name__}")
    return value


def objects(value: Any) -> list[JsonObject]:
    """The JSON objects inside an optional array (``null`` or a non-array → empty)."""
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def required_int(data: JsonObject, key: str, what: str) -> int:
    """A required integer field."""
    number = to_int(data.get(key))
    if number is None:
        raise ProtocolError(f"{what}: field {key!r} is missing or not an integer")
    return number


def required_str(data: JsonObject, key: str, what: str) -> str:
    """A required string field."""
    value = data.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"{what}: field {key!r} is missing or not a string")
    return value


def int_or(data: JsonObject, key: str, default: int) -> int:
    """An integer field with a default when missing or malformed."""
    number = to_int(data.get(key))
    return default if number is None else number


def float_or(data: JsonObject, key: str, default: float) -> float:
    """A float field with a default when missing or malformed."""
    number = to_float(data.get(key))
    return default if number is None else number


def bool_or(data: JsonObject, key: str, default: bool) -> bool:
    """A bool field with a default when missing or malformed."""
    flag = to_bool(data.get(key))
    return default if flag is None else flag


def opt_str(data: JsonObject, key: str) -> str | None:
    """An optional string field."""
    return to_str(data.get(key))


def opt_int(data: JsonObject, key: str) -> int | None:
    """An optional integer field."""
    return to_int(data.get(key))


def opt_float(data: JsonObject, key: str) -> float | None:
    """An optional float field."""
    return to_float(data.get(key))


def opt_datetime(data: JsonObject, key: str) -> datetime | None:
    """An optional datetime field (naive → UTC)."""
    return to_datetime(data.get(key))
