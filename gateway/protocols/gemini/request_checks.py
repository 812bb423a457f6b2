"""Small type checks for the Gemini door: each names the client's own field (`contents[0].parts[1].text`) in its 400."""

from __future__ import annotations

from typing import Any

from gateway.wire.errors import InvalidRequest

Body = dict[str, Any]


def unsupported(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' is not supported: {why}.", param=param, code="unsupported_parameter")


def obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    return value


def array(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{param}' must be an array.", param=param)
    return value


def string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'{param}' must be a string.", param=param)
    return value
