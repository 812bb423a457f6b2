"""Field checks that raise InvalidRequest naming the client's own field (Anthropic names, e.g.
`messages[2].content[0].text`). Shared by the request modules of this door."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gateway.wire import limits
from gateway.wire.errors import InvalidRequest


def refuse(param: str, what: str) -> InvalidRequest:
    """A field the internal form cannot carry: refused by name, never dropped."""
    return InvalidRequest(f"'{param}' is not supported: {what}", param=param, code="unsupported_parameter")


def invalid(param: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def one_of(value: Any, choices: Collection[str]) -> bool:
    """`value in choices` that cannot raise: a list where a string belongs is unhashable."""
    return isinstance(value, str) and value in choices


def obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(param, f"'{param}' must be an object.", "invalid_type")
    return value


def array(value: Any, param: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(param, f"'{param}' must be an array.", "invalid_type")
    if len(value) > max_items:
        raise invalid(
            param, f"'{param}' holds {len(value)} entries; at most {max_items} are allowed.", "array_above_max_length"
        )
    return value


def string(value: Any, param: str, kind: str = "text", *, empty: bool = True) -> str:
    """A string bounded by the gateway's limit for `kind` (gateway/wire/limits.py)."""
    if not isinstance(value, str):
        raise invalid(param, f"'{param}' must be a string.", "invalid_type")
    if not empty and not value:
        raise invalid(param, f"'{param}' must not be empty.")
    if len(value) > (limit := limits.max_chars(kind)):
        raise limits.too_long(param, limit, len(value))
    return value


def integer(value: Any, param: str, low: int, high: int) -> int:
    # JSON has one number type: 1.0 is taken as 1 (as gateway.wire.schema does); bool is not a number.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise invalid(param, f"'{param}' must be an integer.", "invalid_type")
    if not low <= value <= high:
        raise invalid(param, f"'{param}' must be between {low} and {high}.")
    return value


def number(value: Any, param: str, low: float, high: float) -> float:
    if type(value) not in (int, float):
        raise invalid(param, f"'{param}' must be a number.", "invalid_type")
    if not low <= value <= high:  # NaN fails this too
        raise invalid(param, f"'{param}' must be between {low:g} and {high:g}.")
    return float(value)


def boolean(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(param, f"'{param}' must be a boolean.", "invalid_type")
    return value


def kind_of(block: dict[str, Any], param: str) -> str:
    kind = block.get("type")
    if not isinstance(kind, str):
        raise invalid(f"{param}.type", f"'{param}.type' is required.", "missing_required_parameter")
    return kind


def only_keys(
    block: dict[str, Any], param: str, allowed: frozenset[str], nullable: frozenset[str] = frozenset()
) -> None:
    """Refuse every key we do not carry. Keys in `nullable` are accepted when null (clients replay SDK
    objects whose optional fields dump as null)."""
    for key, value in block.items():
        if key in allowed or (key in nullable and value is None):
            continue
        name = f"{param}.{limits.clip(key) if isinstance(key, str) else key}"
        raise refuse(name, "this gateway cannot carry this field.")
