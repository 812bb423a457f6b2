"""HTTP in, HTTP out: every request goes straight to the pipeline."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from gateway.relay import handle, input_tokens
from gateway.relay import quote as quotes
from gateway.wire.errors import InvalidRequest, error_response


@csrf_exempt
async def responses(request: HttpRequest) -> HttpResponseBase:
    return await handle.responses(request)


@csrf_exempt
async def quote(request: HttpRequest, rest: str = "") -> HttpResponseBase:
    """/v1/quote[/<door path>]: what a request would cost, nothing held or sent (gateway/relay/quote.py)."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        body = request.body
    except RequestDataTooBig:
        return error_response(InvalidRequest("The request body is too large.", status=413, code="request_too_large"))
    return await quotes.handle(request.method or "POST", request.path, headers, request.GET.dict(), body)


@csrf_exempt
async def responses_input_tokens(request: HttpRequest) -> HttpResponseBase:
    return await input_tokens.count(request)
