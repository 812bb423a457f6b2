"""Every /v1 path that is not an endpoint answers like OpenAI does: JSON in the error shape, never
Django's HTML page (`Invalid URL (GET /v1/nope)`, 404). Routed last in gateway/urls.py, so the real
endpoints pay nothing for it."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from gateway.wire.errors import InvalidRequest, error_response
from gateway.wire.limits import clip

_RESPONSES = "/v1/responses/"


@csrf_exempt
def unknown_url(request: HttpRequest, rest: str = "") -> HttpResponse:
    from gateway.relay.admit import new_request_id

    path = request.path
    if path.rstrip("/") == "/v1/responses/compact":
        error = InvalidRequest(
            "POST /v1/responses/compact is not offered by this gateway: compact a conversation with an ordinary "
            "/v1/responses request (Codex does so itself for providers other than OpenAI).",
            status=404,
            code="unsupported_endpoint",
        )
    elif path.startswith(_RESPONSES) and len(path) > len(_RESPONSES):
        error = InvalidRequest(
            "Responses are not stored by this gateway, so they cannot be retrieved, cancelled or deleted "
            f"({clip(request.method, 16)} {clip(path, 80)}). Keep the response you received, or continue it "
            "with previous_response_id.",
            status=404,
            code="not_found",
        )
    else:
        error = InvalidRequest(
            f"Invalid URL ({clip(request.method, 16)} {clip(path, 80)}). See /v1/openapi.json for the endpoints.",
            status=404,
            code="unknown_url",
        )
    return error_response(error, request_id=new_request_id())
