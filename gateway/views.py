"""HTTP in, HTTP out: every request goes straight to the pipeline."""

from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from gateway.relay import handle, input_tokens


@csrf_exempt
async def responses(request: HttpRequest) -> HttpResponseBase:
    return await handle.responses(request)


@csrf_exempt
async def responses_input_tokens(request: HttpRequest) -> HttpResponseBase:
    return await input_tokens.count(request)
