"""The request headers the Messages door reads (wire-formats §6.1). Pure: headers dict in, values out.

Anthropic SDKs up to 1.x send the key as `x-api-key`; 2.x sends `Authorization: Bearer`. Both are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway.wire.errors import InvalidRequest

MAX_BETAS = 32
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BETA = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {name.lower(): value for name, value in (headers or {}).items() if isinstance(value, str)}


def api_key(headers: Mapping[str, str] | None) -> str | None:
    """The client's secret: `x-api-key` first, else an `Authorization: Bearer` token; None if neither."""
    lowered = _lower(headers)
    key = lowered.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = lowered.get("authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def anthropic_version(headers: Mapping[str, str] | None) -> str | None:
    """`anthropic-version` (a date such as 2023-06-01) or None when absent. The door's wire shape does
    not vary with it; it is kept for logs and for an Anthropic channel relaying the body as is."""
    value = _lower(headers).get("anthropic-version", "").strip()
    if not value:
        return None
    if not _VERSION.match(value):
        raise InvalidRequest(
            "'anthropic-version' must be a date such as 2023-06-01.", param="anthropic-version", code="invalid_value"
        )
    return value


def anthropic_beta(headers: Mapping[str, str] | None) -> list[str]:
    """`anthropic-beta` flags in order, without duplicates (comma-separated, possibly several headers
    already joined by the server with commas)."""
    flags: list[str] = []
    for flag in _lower(headers).get("anthropic-beta", "").split(","):
        flag = flag.strip()
        if not flag or flag in flags:
            continue
        if not _BETA.match(flag):
            raise InvalidRequest(
                "'anthropic-beta' flags are 1-128 letters, digits, '.', '_' or '-', separated by commas.",
                param="anthropic-beta",
                code="invalid_value",
            )
        flags.append(flag)
        if len(flags) > MAX_BETAS:
            raise InvalidRequest(
                f"'anthropic-beta' lists more than {MAX_BETAS} flags.", param="anthropic-beta", code="invalid_value"
            )
    return flags
