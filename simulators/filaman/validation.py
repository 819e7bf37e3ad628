"""FastAPI/pydantic-style parsing of query strings and JSON bodies.

FilaMan answers bad input with 422 and a *list* of pydantic errors under `detail`;
the integration must cope with that shape, so the simulator reproduces the common
error types (`missing`, `int_parsing`, `greater_than_equal`, ...) with their messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import re
from typing import Any, Literal

from .errors import validation_failed

Loc = list[str | int]
ErrorList = list[dict[str, Any]]
FieldKind = Literal["number", "int", "str", "datetime", "object", "bool", "param_list"]

_TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


def _error(
    kind: str, loc: Loc, msg: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        error["ctx"] = ctx
    return error


# --- query and path parameters -------------------------------------------------------------


@dataclass(frozen=True)
class QueryParam:
    kind: Literal["int", "bool", "str"]
    default: Any = None
    ge: int | None = None
    le: int | None = None
    pattern: str | None = None
    max_length: int | None = None


PAGE = QueryParam("int", 1, ge=1)
PAGE_SIZE = QueryParam("int", 50, ge=1, le=200)


def _parse_int_text(raw: str, loc: Loc, errors: ErrorList) -> int | None:
    if not _INT_TEXT.match(raw):
        errors.append(
            _error(
                "int_parsing",
                loc,
                "Input should be a valid integer, unable to parse string as an integer",
                raw,
            )
        )
        return None
    return int(raw)


def _parse_query_value(name: str, spec: QueryParam, raw: str, errors: ErrorList) -> Any:
    loc: Loc = ["query", name]
    if spec.kind == "int":
        value = _parse_int_text(raw, loc, errors)
        if value is None:
            return None
        if spec.ge is not None and value < spec.ge:
            errors.append(
                _error(
                    "greater_than_equal",
                    loc,
                    f"Input should be greater than or equal to {spec.ge}",
                    raw,
                    {"ge": spec.ge},
                )
            )
        elif spec.le is not None and value > spec.le:
            errors.append(
                _error(
                    "less_than_equal",
                    loc,
                    f"Input should be less than or equal to {spec.le}",
                    raw,
                    {"le": spec.le},
                )
            )
        return value
    if spec.kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        errors.append(
            _error(
                "bool_parsing",
                loc,
                "Input should be a valid boolean, unable to interpret input",
                raw,
            )
        )
        return None
    if spec.max_length is not None and len(raw) > spec.max_length:
        errors.append(
            _error(
                "string_too_long",
                loc,
                f"String should have at most {spec.max_length} characters",
                raw,
                {"max_length": spec.max_length},
            )
        )
    if spec.pattern is not None and not re.search(spec.pattern, raw):
        errors.append(
            _error(
                "string_pattern_mismatch",
                loc,
                f"String should match pattern '{spec.pattern}'",
                raw,
                {"pattern": spec.pattern},
            )
        )
    return raw


def parse_query(
    query: Mapping[str, str], specs: Mapping[str, QueryParam], errors: ErrorList
) -> dict[str, Any]:
    """Parse the declared query parameters; unknown ones are ignored like FastAPI does."""
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        raw = query.get(name)
        values[name] = spec.default if raw is None else _parse_query_value(name, spec, raw, errors)
    return values


def parse_path_int(name: str, raw: str, errors: ErrorList) -> int:
    value = _parse_int_text(raw, ["path", name], errors)
    return 0 if value is None else value


# --- JSON bodies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyField:
    kind: FieldKind
    required: bool = False
    nullable: bool = True


def decode_json_body(raw: bytes) -> Any:
    """FastAPI parses the body before authentication: a decode error is the first answer."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise validation_failed(
            [
                _error(
                    "json_invalid",
                    ["body", err.pos],
                    "JSON decode error",
                    {},
                    {"error": err.msg},
                )
            ]
        ) from None


def parse_datetime(text: str) -> datetime:
    """Parse ISO 8601 (incl. a trailing Z); naive values are taken as UTC."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _coerce_number(value: Any, loc: Loc, errors: ErrorList) -> Any:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            errors.append(
                _error(
                    "float_parsing",
                    loc,
                    "Input should be a valid number, unable to parse string as a number",
                    value,
                )
            )
            return None
    errors.append(_error("float_type", loc, "Input should be a valid number", value))
    return None


def _coerce_int(value: Any, loc: Loc, errors: ErrorList) -> Any:
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        errors.append(
            _error(
                "int_from_float",
                loc,
                "Input should be a valid integer, got a number with a fractional part",
                value,
            )
        )
        return None
    if isinstance(value, str):
        return _parse_int_text(value, loc, errors)
    errors.append(_error("int_type", loc, "Input should be a valid integer", value))
    return None


def _coerce_datetime(value: Any, loc: Loc, errors: ErrorList) -> Any:
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            errors.append(
                _error(
                    "datetime_from_date_parsing",
                    loc,
                    "Input should be a valid datetime or date, invalid character in year",
                    value,
                )
            )
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    errors.append(_error("datetime_type", loc, "Input should be a valid datetime", value))
    return None


def _coerce_param_list(value: Any, loc: Loc, errors: ErrorList) -> Any:
    if not isinstance(value, list):
        errors.append(_error("list_type", loc, "Input should be a valid list", value))
        return None
    items: list[dict[str, str | None]] = []
    for index, item in enumerate(value):
        item_loc: Loc = [*loc, index]
        if not isinstance(item, dict):
            errors.append(
                _error(
                    "model_attributes_type",
                    item_loc,
                    "Input should be a valid dictionary or object to extract fields from",
                    item,
                )
            )
            continue
        parsed = parse_fields(
            item,
            {
                "param_key": BodyField("str", required=True, nullable=False),
                "param_value": BodyField("str"),
            },
            item_loc,
            errors,
        )
        items.append(
            {"param_key": parsed.get("param_key"), "param_value": parsed.get("param_value")}
        )
    return items


def _coerce(kind: FieldKind, value: Any, loc: Loc, errors: ErrorList) -> Any:
    if kind == "number":
        return _coerce_number(value, loc, errors)
    if kind == "int":
        return _coerce_int(value, loc, errors)
    if kind == "datetime":
        return _coerce_datetime(value, loc, errors)
    if kind == "param_list":
        return _coerce_param_list(value, loc, errors)
    if kind == "str":
        if isinstance(value, str):
            return value
        errors.append(_error("string_type", loc, "Input should be a valid string", value))
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        errors.append(_error("bool_type", loc, "Input should be a valid boolean", value))
        return None
    if isinstance(value, dict):
        return value
    errors.append(_error("dict_type", loc, "Input should be a valid dictionary", value))
    return None


def parse_fields(
    body: Mapping[str, Any], fields: Mapping[str, BodyField], loc: Loc, errors: ErrorList
) -> dict[str, Any]:
    """Return only the fields present in `body` (pydantic's exclude_unset), coerced."""
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        field_loc: Loc = [*loc, name]
        if name not in body:
            if spec.required:
                errors.append(_error("missing", field_loc, "Field required", dict(body)))
            continue
        value = body[name]
        if value is None and spec.nullable:
            values[name] = None
            continue
        values[name] = _coerce(spec.kind, value, field_loc, errors)
    return values


def parse_body(body: Any, fields: Mapping[str, BodyField], errors: ErrorList) -> dict[str, Any]:
    """Validate a decoded JSON body against a model; extra keys are ignored (pydantic default)."""
    if body is None:
        errors.append(_error("missing", ["body"], "Field required", None))
        return {}
    if not isinstance(body, dict):
        errors.append(
            _error(
                "model_attributes_type",
                ["body"],
                "Input should be a valid dictionary or object to extract fields from",
                body,
            )
        )
        return {}
    return parse_fields(body, fields, ["body"], errors)


def raise_if_errors(errors: ErrorList) -> None:
    if errors:
        raise validation_failed(errors)
