"""Request validation with FastAPI/pydantic v2 error bodies (422 `{"detail": [...]}`)."""

from __future__ import annotations

from dataclasses import dataclass
import json
import re
from typing import Any

from aiohttp import web

RGBA_PATTERN = "^[0-9A-Fa-f]{8}$"


class ValidationFailed(Exception):
    """Raised with pydantic-style error entries; rendered as HTTP 422."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.errors = errors

    def response(self) -> web.Response:
        return web.json_response({"detail": self.errors}, status=422)


def error(
    kind: str, loc: list[str | int], msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        entry["ctx"] = ctx
    return entry


@dataclass(frozen=True)
class FieldRule:
    """Type and constraints of one body field (from the SpoolCreate/SpoolUpdate schemas)."""

    kind: str  # "str", "int", "float", "bool", "datetime"
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None


def coerce(rule: FieldRule, value: Any, loc: list[str | int]) -> Any:
    """Pydantic lax-mode coercion of one non-null JSON value; raises ValidationFailed."""
    coerced = _coerce_type(rule.kind, value, loc)
    problems: list[dict[str, Any]] = []
    if isinstance(coerced, str):
        if rule.min_length is not None and len(coerced) < rule.min_length:
            problems.append(
                error(
                    "string_too_short",
                    loc,
                    f"String should have at least {rule.min_length} character"
                    + ("" if rule.min_length == 1 else "s"),
                    value,
                    {"min_length": rule.min_length},
                )
            )
        if rule.max_length is not None and len(coerced) > rule.max_length:
            problems.append(
                error(
                    "string_too_long",
                    loc,
                    f"String should have at most {rule.max_length} characters",
                    value,
                    {"max_length": rule.max_length},
                )
            )
        if rule.pattern is not None and not re.search(rule.pattern, coerced):
            problems.append(
                error(
                    "string_pattern_mismatch",
                    loc,
                    f"String should match pattern '{rule.pattern}'",
                    value,
                    {"pattern": rule.pattern},
                )
            )
    elif isinstance(coerced, int | float) and not isinstance(coerced, bool):
        if rule.ge is not None and coerced < rule.ge:
            problems.append(
                error(
                    "greater_than_equal",
                    loc,
                    f"Input should be greater than or equal to {_num(rule.ge)}",
                    value,
                    {"ge": rule.ge},
                )
            )
        if rule.le is not None and coerced > rule.le:
            problems.append(
                error(
                    "less_than_equal",
                    loc,
                    f"Input should be less than or equal to {_num(rule.le)}",
                    value,
                    {"le": rule.le},
                )
            )
        if rule.gt is not None and coerced <= rule.gt:
            problems.append(
                error(
                    "greater_than",
                    loc,
                    f"Input should be greater than {_num(rule.gt)}",
                    value,
                    {"gt": rule.gt},
                )
            )
    if problems:
        raise ValidationFailed(problems)
    return coerced


def _num(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _coerce_type(kind: str, value: Any, loc: list[str | int]) -> Any:
    if kind in ("str", "datetime"):
        if isinstance(value, str):
            return value
        raise ValidationFailed([error("string_type", loc, "Input should be a valid string", value)])
    if kind == "bool":
        return _coerce_bool(value, loc)
    if kind == "int":
        return _coerce_int(value, loc)
    return _coerce_float(value, loc)


def _coerce_bool(value: Any, loc: list[str | int]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on", "t", "y"):
            return True
        if lowered in ("false", "0", "no", "off", "f", "n"):
            return False
        raise ValidationFailed(
            [
                error(
                    "bool_parsing",
                    loc,
                    "Input should be a valid boolean, unable to interpret input",
                    value,
                )
            ]
        )
    raise ValidationFailed([error("bool_type", loc, "Input should be a valid boolean", value)])


def _coerce_int(value: Any, loc: list[str | int]) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValidationFailed(
            [
                error(
                    "int_from_float",
                    loc,
                    "Input should be a valid integer, got a number with a fractional part",
                    value,
                )
            ]
        )
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValidationFailed(
                [
                    error(
                        "int_parsing",
                        loc,
                        "Input should be a valid integer, unable to parse string as an integer",
                        value,
                    )
                ]
            ) from None
    raise ValidationFailed([error("int_type", loc, "Input should be a valid integer", value)])


def _coerce_float(value: Any, loc: list[str | int]) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValidationFailed(
                [
                    error(
                        "float_parsing",
                        loc,
                        "Input should be a valid number, unable to parse string as a number",
                        value,
                    )
                ]
            ) from None
    raise ValidationFailed([error("float_type", loc, "Input should be a valid number", value)])


async def json_object_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or the 422 FastAPI sends for anything else."""
    raw = await request.text()
    if not raw:
        raise ValidationFailed([error("missing", ["body"], "Field required", None)])
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            [
                error(
                    "json_invalid",
                    ["body", exc.pos],
                    "JSON decode error",
                    {},
                    {"error": exc.msg},
                )
            ]
        ) from None
    if not isinstance(body, dict):
        raise ValidationFailed(
            [
                error(
                    "model_attributes_type",
                    ["body"],
                    "Input should be a valid dictionary or object to extract fields from",
                    body,
                )
            ]
        )
    return body


def path_int(request: web.Request, name: str) -> int:
    value = request.match_info[name]
    return int(coerce(FieldRule("int"), value, ["path", name]))


def query_int(request: web.Request, name: str, default: int | None) -> int | None:
    value = request.query.get(name)
    if value is None:
        return default
    return int(coerce(FieldRule("int"), value, ["query", name]))


def query_bool(request: web.Request, name: str, *, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return bool(coerce(FieldRule("bool"), value, ["query", name]))


def validate_fields(
    body: dict[str, Any],
    rules: dict[str, FieldRule],
    *,
    required: tuple[str, ...] = (),
    nullable: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validate known fields of `body` (unknown ones are ignored, as FastAPI does)."""
    problems: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    for name in required:
        if name not in body:
            problems.append(error("missing", ["body", name], "Field required", body))
    for name, rule in rules.items():
        if name not in body:
            continue
        value = body[name]
        if value is None:
            if name in nullable:
                result[name] = None
            else:
                problems.extend(_null_error(rule, name))
            continue
        try:
            result[name] = coerce(rule, value, ["body", name])
        except ValidationFailed as exc:
            problems.extend(exc.errors)
    if problems:
        raise ValidationFailed(problems)
    return result


def _null_error(rule: FieldRule, name: str) -> list[dict[str, Any]]:
    try:
        _coerce_type(rule.kind, None, ["body", name])
    except ValidationFailed as exc:
        return exc.errors
    return []  # pragma: no cover - every kind rejects None
