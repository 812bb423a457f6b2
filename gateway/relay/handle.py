"""The spine of the request line, in one screen: authenticate → idempotency → admit → relay job.

Every billed /v1 request runs through `serve`: POST /v1/responses over HTTP and each WebSocket turn
(`responses`), and the client doors (door_handle.py parses Chat, Messages or Gemini first, then calls
`serve` with its DoorCall). The key is checked once, before any parsing, and that KeyInfo is the one
idempotency and admission use.
"""

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpResponseBase

from gateway.observe import metrics, request_log
from gateway.relay.admit import admit, authenticate, new_request_id
from gateway.relay.catalog import KeyInfo
from gateway.relay.doors import DoorCall
from gateway.relay.idempotency import with_idempotency
from gateway.relay.job import RelayJob
from gateway.wire.errors import ApiError, InvalidRequest, error_response
from gateway.wire.limits import clip


def rejected(error: ApiError, request_id: str) -> HttpResponseBase:
    """A refusal on /v1/responses before anything was held: counted, logged, OpenAI-shaped."""
    metrics.observe_rejection(status=error.status, code=error.code)
    request_log.log_rejection(request_id=request_id, status=error.status, code=error.code)
    return error_response(error, request_id=request_id)


async def responses(request: Any) -> HttpResponseBase:
    """POST /v1/responses: what the Django view, the ASGI front and each WebSocket turn call."""
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        if request.method != "POST":
            raise InvalidRequest(f"Use POST for /v1/responses, not {clip(request.method)}.", status=405,
                                 code="method_not_allowed", headers={"Allow": "POST"})
        key = await authenticate(request.headers.get("authorization"))  # 401 before any parsing
    except ApiError as error:
        return rejected(error, request_id)
    return await serve(request, key, request_id, started, refuse=lambda error: rejected(error, request_id))


async def serve(request: Any, key: KeyInfo, request_id: str, started: float, *,
                refuse: Callable[[ApiError], HttpResponseBase], door: DoorCall | None = None,
                fingerprint: bytes | None = None) -> HttpResponseBase:
    """Idempotency → admission (hold) → relay job. `request.body` is the internal (Responses) form;
    `fingerprint` is what "the same request" means for a door (the client's own bytes)."""

    async def run(request: Any) -> HttpResponseBase:
        try:
            admission = await admit(request, key, request_id, started)
        except ApiError as error:
            return refuse(error if door is None else door.door.client_error(error, door.request))
        if door is not None:
            admission.parsed.extras = door.neutral_extras()
        return await RelayJob(admission, door=door).respond()

    return await with_idempotency(request, key, run, refuse, fingerprint)
