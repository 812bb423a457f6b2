"""Small type checks for the Chat door: each names the client's own field in its 400.

JSON has no integers apart from numbers: `1.0` counts as 1 (as OpenAI and gateway.wire.schema take it),
`true` is never a number, and a list where a string belongs is a 400, never a TypeError.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from gateway.wire import limits
from gateway.wire.errors import InvalidRequest


def bad(message: str, param: str, code: str = "invalid_value") -> NoReturn:
    raise InvalidRequest(message, param=param, code=code)


def unsupported(param: str, why: str) -> NoReturn:
    raise InvalidRequest(f"'{param}' is not supported: {why}", param=param, code="unsupported_parameter")


def obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        bad(f"'{param}' must be an object.", param, "invalid_type")
    return value


def array(value: Any, param: str, limit: int, *, allow_empty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        bad(f"'{param}' must be an array.", param, "invalid_type")
    if not value and not allow_empty:
        bad(f"'{param}' must not be an empty array.", param, "empty_array")
    if len(value) > limit:
        bad(
            f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
            f"but got an array with length {len(value)} instead.",
            param,
            "array_above_max_length",
        )
    return value


def string(value: Any, param: str, kind: str, *, allow_empty: bool = True) -> str:
    """A string bounded by gateway.wire.limits' table for `kind` (text, id, name, word, model)."""
    if not isinstance(value, str):
        bad(f"'{param}' must be a string.", param, "invalid_type")
    if not value and not allow_empty:
        bad(f"'{param}' must not be empty.", param, "empty_string")
    if len(value) > (limit := limits.max_chars(kind)):
        raise limits.too_long(param, limit, len(value))
    return value


def one_of(value: Any, choices: frozenset[str], param: str) -> str:
    if not isinstance(value, str) or value not in choices:
        bad(f"'{param}' must be one of {', '.join(sorted(choices))}.", param)
    return value


def boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        bad(f"'{param}' must be a boolean.", param, "invalid_type")
    return value


def integer(value: Any, param: str, low: int, high: int) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        bad(f"'{param}' must be an integer.", param, "invalid_type")
    if not low <= value <= high:
        bad(f"'{param}' must be between {low} and {high}.", param)
    return value


def number(value: Any, param: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        bad(f"'{param}' must be a number.", param, "invalid_type")
    return value


def only_keys(value: dict[str, Any], allowed: frozenset[str], param: str) -> None:
    """Refuse, by name, the first key this door does not know: never drop what a client asked for."""
    for key in value:
        if key not in allowed:
            name = f"{param}.{limits.clip(key)}" if param else limits.clip(key)
            raise InvalidRequest(
                f"Unrecognized or unsupported parameter '{name}'.", param=name, code="unsupported_parameter"
            )
