"""Shared upstream-error mapping for OpenAI-shaped error bodies (used by several adapters)."""

import math
import re

import httpx
import msgspec

from gateway.protocols.channel import UpstreamError

_MAX_MESSAGE = 500
_MAX_RETRY_AFTER = 86_400.0  # a day: a longer (or infinite) upstream value must not overflow our Retry-After
_URL = re.compile(r"https?://\S+")  # upstream messages link their docs: never reveal who the upstream is


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                seconds = float(value) * scale
            except ValueError:
                continue
            if math.isfinite(seconds):  # "inf"/"nan" parse as floats; round(inf) in our header was a 500
                return min(max(0.0, seconds), _MAX_RETRY_AFTER)
    return None


def upstream_message(body: bytes | dict) -> str:
    """The upstream's own error message, if it gave one, trimmed. Never the body verbatim."""
    if isinstance(body, dict):
        data = body
    else:
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
    elif isinstance(error, str):
        message = error
    else:
        message = data.get("message") if isinstance(data, dict) else None
    return _URL.sub("[url]", str(message).strip())[:_MAX_MESSAGE] if message else ""


def map_http_error(status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
    """Status → our error. Client mistakes (400/404/413/422) are surfaced and never retried
    elsewhere; account trouble (401/403) and overload (429/5xx) are retried on another channel."""
    detail = upstream_message(body)
    retry_after = retry_after_seconds(headers)
    if status == 404:  # the upstream model name is the channel's: another channel may serve it
        return UpstreamError(
            status=502, code="upstream_error", message="The upstream does not serve this model.", retryable=True
        )
    if status in (400, 413, 422):
        return UpstreamError(
            status=400,
            code="invalid_request_error",
            type="invalid_request_error",
            message=f"The upstream rejected the request: {detail}" if detail else "The upstream rejected the request.",
            retryable=False,
        )
    if status in (401, 403):
        return UpstreamError(
            status=502, code="upstream_auth_error", message="The upstream refused our credentials.", retryable=True
        )
    if status == 429:
        return UpstreamError(
            status=429,
            code="rate_limit_exceeded",
            type="rate_limit_error",
            message="The upstream is rate limiting; try again shortly.",
            retryable=True,
            retry_after=retry_after,
        )
    if status in (504, 408):
        return UpstreamError(status=504, code="upstream_timeout", message="The upstream timed out.", retryable=True)
    return UpstreamError(
        status=502,
        code="upstream_error",
        message=f"The upstream failed with HTTP {status}.",
        retryable=True,
        retry_after=retry_after,
    )
