"""GET /v1/openapi.json: the public API contract (gateway/protocols/responses/openapi.py). Public, like any API reference."""

import msgspec
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from gateway.protocols.responses.openapi import build_document
from gateway.wire import schema
from gateway.wire.bounded import BoundedCache
from gateway.wire.errors import InvalidRequest, error_response

_cache = BoundedCache(4, 4 * 1024 * 1024)  # one document per set of limits in force; settings rarely change


def _limits() -> tuple:
    # The document states the limits in force; it is rebuilt only when one of them changes.
    return tuple(
        getattr(settings, name, default)
        for name, default in (
            ("HARNMODEL_MAX_BODY_BYTES", None),
            ("HARNMODEL_MAX_INPUT_ITEMS", schema.DEFAULT_MAX_INPUT_ITEMS),
            ("HARNMODEL_MAX_TOOLS", schema.DEFAULT_MAX_TOOLS),
            ("HARNMODEL_MAX_JSON_DEPTH", schema.DEFAULT_MAX_JSON_DEPTH),
            ("HARNMODEL_MAX_MODEL_CHARS", None),
            ("HARNMODEL_MAX_ID_CHARS", None),
            ("HARNMODEL_MAX_TEXT_CHARS", None),
        )
    )


@csrf_exempt  # public and cookie-free: a POST gets the JSON 405
def openapi_json(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return error_response(
            InvalidRequest("Use GET for this endpoint.", status=405, code="method_not_allowed", headers={"Allow": "GET"})
        )
    key = _limits()
    body = _cache.get(key)
    if body is None:
        body = msgspec.json.encode(build_document())
        _cache.put(key, body)
    response = HttpResponse(body, content_type="application/json")
    response["cache-control"] = "public, max-age=300"
    return response
