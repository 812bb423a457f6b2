"""CORS for the public API (/v1/*): browsers may call it with a key from any allowed origin.

Authentication is a bearer key, never a cookie, so credentials are never allowed and `*` is safe
as the default. Preflights are answered at once, before any authentication or body read.
"""

from collections.abc import Iterable

from django.conf import settings

EXPOSED = (
    b"x-request-id, x-harnmodel-request-id, x-harnmodel-cost, x-harnmodel-balance, x-harnmodel-hold, "
    b"x-should-retry, retry-after, x-idempotent-replayed, x-ratelimit-limit-requests, "
    b"x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "
    b"x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens"
)
DEFAULT_ALLOWED_HEADERS = b"authorization, content-type, idempotency-key, openai-organization, openai-project"


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def allow_origin(request_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The allow-origin headers for this request ([] when its origin is not allowed)."""
    allowed = getattr(settings, "HARNMODEL_CORS_ALLOWED_ORIGINS", ["*"])
    if "*" in allowed:
        return [(b"access-control-allow-origin", b"*")]
    origin = _header(request_headers, b"origin")
    if origin is not None and origin.decode("latin-1") in allowed:
        return [(b"access-control-allow-origin", origin), (b"vary", b"origin")]
    return []


def response_headers(request_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    origin = allow_origin(request_headers)
    return [*origin, (b"access-control-expose-headers", EXPOSED)] if origin else []


def preflight_headers(request_headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    origin = allow_origin(request_headers)
    if not origin:
        return []
    asked = _header(request_headers, b"access-control-request-headers")
    return [
        *origin,
        (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
        # The OpenAI JS SDK sends x-stainless-* headers: echo what the browser asks for.
        (b"access-control-allow-headers", asked or DEFAULT_ALLOWED_HEADERS),
        (b"access-control-max-age", b"86400"),
    ]
