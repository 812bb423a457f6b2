"""`POST /v1/responses/input_tokens`: how many input tokens a Responses body would count, never charged.

The same body as `POST /v1/responses` (the same parser, the same 400s), the same key and model checks; no
hold, no upstream call, no usage record. The count is the gateway's own (gateway/wire/tokens.py), the one a
request's hold is sized by, so a client can see what a turn will hold before sending it.
"""

import msgspec
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from gateway.relay import catalog, offload
from gateway.relay.admit import authenticate, new_request_id
from gateway.wire.errors import ApiError, InvalidRequest, ModelNotAllowed, ModelNotFound, error_response
from gateway.wire.limits import clip
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens


async def count(request: HttpRequest) -> HttpResponseBase:
    request_id = new_request_id()
    try:
        tokens = await _count(request)
    except ApiError as error:
        return error_response(error, request_id=request_id)
    response = HttpResponse(msgspec.json.encode({"object": "response.input_tokens", "input_tokens": tokens}),
                            content_type="application/json")
    response["x-request-id"] = request_id
    return response


async def _count(request: HttpRequest) -> int:
    if request.method != "POST":
        raise InvalidRequest(f"Use POST for /v1/responses/input_tokens, not {clip(request.method)}.", status=405,
                             code="method_not_allowed", headers={"Allow": "POST"})
    key = await authenticate(request.headers.get("authorization"))
    body = request.body
    if len(body) > settings.HARNMODEL_MAX_BODY_BYTES:
        raise InvalidRequest("The request body is too large.", status=413, code="request_too_large")
    parsed = await offload.run(len(body), parse_request, body)
    model_id = parsed.typed.model
    if await catalog.model_route(model_id) is None:
        raise ModelNotFound(f"The model '{clip(model_id)}' does not exist.", param="model")
    if key.allowed_models and model_id not in key.allowed_models:
        raise ModelNotAllowed(f"This API key may not use the model '{clip(model_id)}'.", param="model")
    return await offload.run(len(body), count_request_tokens, parsed.typed)
