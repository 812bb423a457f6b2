"""Serving one request at a client door: the key first (401 before any parsing), then the door's parse,
then exactly the spine `/v1/responses` runs (gateway/relay/handle.py), answered in the door's
protocol. `count_tokens` and the Gemini model list are answered here too: they touch no upstream and are
never charged."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from django.http import HttpResponse, HttpResponseBase

from billing.db import run_db
from gateway.protocols import native
from gateway.protocols.door import Door, DoorRequest
from gateway.protocols.gemini.render import models_list
from gateway.relay import catalog, doors, group_routes, offload
from gateway.relay.admit import authenticate, new_request_id
from gateway.relay.doors import GEMINI, MESSAGES, DoorCall, door_for
from gateway.relay.handle import serve
from gateway.wire.errors import ApiError, InvalidRequest, ModelNotAllowed, ModelNotFound
from gateway.wire.limits import clip
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens


class _Request:
    """The few attributes of a request the pipeline reads (like asgi.LeanRequest)."""

    __slots__ = ("method", "headers", "body")

    def __init__(self, method: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.headers, self.body = method, headers, body


def _json(payload: Any, *, request_id: str) -> HttpResponse:
    response = HttpResponse(msgspec.json.encode(payload), content_type="application/json")
    response["x-request-id"] = request_id
    return response


async def handle(method: str, path: str, headers: dict[str, str], query: dict[str, str], body: bytes
                 ) -> HttpResponseBase | None:
    """The answer for a door path, or None when `path` is no door's."""
    found = door_for(method, path)
    if found is None:
        return None
    door, path_model, kind = found
    request_id = new_request_id()
    headers = doors.bearer_headers(door, headers, query)
    try:
        if kind == "unknown":
            raise InvalidRequest(f"Invalid URL ({clip(method)} {clip(path, 200)}).", status=404, code="unknown_url")
        wanted = "GET" if kind in ("list", "get") else "POST"
        if method != wanted:
            raise InvalidRequest(f"Use {wanted} for {clip(path, 200)}.", status=405, code="method_not_allowed",
                                 headers={"Allow": wanted})
        key = await authenticate(headers.get("authorization"))  # 401 before any parsing work
        if kind in ("list", "get"):
            return await _gemini_models(key, path_model, request_id)
        if kind == "count":
            return await _count_tokens(door, key, body, headers, query, request_id)
        door_request, internal = await doors.parse(door, body, path_model, query, headers)
        if door_request.unknown:
            await _unknown_taken(door, door_request)
    except ApiError as error:
        return doors.refuse(door, error, request_id)
    started = time.perf_counter()
    # "The same request" is the client's own bytes at this path: fields the internal form does not carry
    # (passthrough's unknown fields) count too.
    fingerprint = path.encode("utf-8", "replace") + b"\n" + body
    return await serve(_Request("POST", headers, internal), key, request_id, started,
                       refuse=lambda error: doors.refuse(door, error, request_id),
                       door=DoorCall(door, door_request), fingerprint=fingerprint)


async def _unknown_taken(door: Door, request: DoorRequest) -> None:
    """Unknown fields go only to a same-protocol channel that allows each by name: refused before the hold
    when the model has none (an unknown model is left to admission's 404)."""
    route = await catalog.model_route(request.model)
    if route is None or any(native.unknown_allowed(door.name, request, channel) for channel in route.channels):
        return
    allowed = {name for channel in route.channels if native.applies(door.name, request, channel.provider)
               for name in channel.options.get("allow_fields") or ()}
    raise doors.refuse_unknown(next((name for name in request.unknown if name not in allowed), request.unknown[0]))


async def _count_tokens(door: Door, key: catalog.KeyInfo, body: bytes, headers: dict[str, str],
                        query: dict[str, str], request_id: str) -> HttpResponseBase:
    """`POST /v1/messages/count_tokens`: counted here, never charged, no upstream called."""
    door_request, internal = await doors.parse(door, body, None, query, headers, count=True)
    try:
        parsed = await offload.run(len(internal), parse_request, internal)
    except ApiError as error:
        raise door.client_error(error, door_request) from None
    model_id = parsed.typed.model
    route = await catalog.model_route(model_id)
    if route is None:
        raise ModelNotFound(f"The model '{clip(model_id)}' does not exist.", param="model")
    if key.allowed_models and model_id not in key.allowed_models:
        raise ModelNotAllowed(f"This API key may not use the model '{clip(model_id)}'.", param="model")
    await group_routes.priced_route(route, key)  # 403 outside the account's customer group
    tokens = await offload.run(len(internal), count_request_tokens, parsed.typed)
    return _json(MESSAGES.count_tokens_body(tokens), request_id=request_id)


async def _gemini_models(key: catalog.KeyInfo, path_model: str | None, request_id: str) -> HttpResponseBase:
    from gateway.meta_views import servable_models

    if path_model is None:
        rows = await run_db(servable_models, key)
        return _json(models_list([row["id"] for row in rows]), request_id=request_id)
    model = path_model[len("models/"):] if path_model.startswith("models/") else path_model
    rows = await run_db(servable_models, key, model)
    if not rows:
        raise ModelNotFound(f"The model '{clip(model)}' does not exist or you do not have access to it.",
                            param="model")
    return _json(models_list([rows[0]["id"]])["models"][0], request_id=request_id)


__all__ = ["handle", "GEMINI"]
