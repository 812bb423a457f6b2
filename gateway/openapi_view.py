"""GET /v1/openapi.json: the public API contract (gateway/openapi.py). Public, like any API reference."""

import msgspec
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from . import schema
from .openapi import build_document

_cache: dict[tuple, bytes] = {}


def _limits() -> tuple:
    # The document states the limits in force; it is rebuilt only when one of them changes.
    return tuple(
        getattr(settings, name, default)
        for name, default in (
            ("HARNMODEL_MAX_BODY_BYTES", None),
            ("HARNMODEL_MAX_INPUT_ITEMS", schema.DEFAULT_MAX_INPUT_ITEMS),
            ("HARNMODEL_MAX_TOOLS", schema.DEFAULT_MAX_TOOLS),
            ("HARNMODEL_MAX_JSON_DEPTH", schema.DEFAULT_MAX_JSON_DEPTH),
        )
    )


@require_GET
def openapi_json(request: HttpRequest) -> HttpResponse:
    key = _limits()
    body = _cache.get(key)
    if body is None:
        body = _cache[key] = msgspec.json.encode(build_document())
    response = HttpResponse(body, content_type="application/json")
    response["cache-control"] = "public, max-age=300"
    return response
