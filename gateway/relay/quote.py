"""Quotes: what a request would cost, for any door's body, without calling an upstream, charging or holding.

`POST /v1/quote` takes a `/v1/responses` body; `POST /v1/quote` + a door's path takes that door's body and
answers in its shape: `/v1/quote/v1/chat/completions`, `/v1/quote/v1/messages`,
`/v1/quote/v1beta/models/{model}:generateContent` (or `:streamGenerateContent`). The same key header, the same
validation and refusals as the real request up to its hold (gateway/relay/admit.py: 400/401/402/403/404/503),
the same `X-Max-Cost` and session budget (gateway/relay/ceilings.py), and the hold sized by the hold
statement's own rule (billing.pricing.hold_for) against the wallet as it is now. Rate limits are not
counted, nothing is written, no upstream is called.
"""

from typing import Any

import msgspec
from django.conf import settings
from django.http import HttpResponse, HttpResponseBase

from billing import selectors as billing_selectors
from billing.money import currency, decimal_string
from billing.pricing import hold_for, tool_hold_micros
from gateway.db import run_db
from gateway.relay import catalog, ceilings, doors, field_policy, offload
from gateway.relay.admit import _can_pay, authenticate, new_request_id
from gateway.relay.door_handle import _unknown_taken
from gateway.relay.handle import rejected
from gateway.wire.errors import (
    ApiError,
    InsufficientBalance,
    InvalidRequest,
    KeySpendLimitReached,
    ModelNotAllowed,
    ModelNotAvailable,
    ModelNotFound,
)
from gateway.wire.limits import clip
from gateway.wire.schema import parse_request
from gateway.wire.tokens import count_request_tokens, uncounted_input_tokens

PREFIX = "/v1/quote"


async def handle(method: str, path: str, headers: dict[str, str], query: dict[str, str], body: bytes
                 ) -> HttpResponseBase:
    """The quote for `path` (it starts with PREFIX); `headers` lower-cased."""
    request_id = new_request_id()
    rest = path[len(PREFIX):]
    responses = rest.strip("/") in ("", "v1/responses")
    found = None if responses else doors.door_for("POST", rest)
    door, path_model = (found[0], found[1]) if found is not None and found[2] == "generate" else (None, None)

    def refuse(error: ApiError) -> HttpResponseBase:
        return rejected(error, request_id) if door is None else doors.refuse(door, error, request_id)

    try:
        if not responses and door is None:
            raise InvalidRequest(f"Invalid URL ({clip(method)} {clip(path, 200)}): quotes are for "
                                 "/v1/quote and /v1/quote + a door's generate path.", status=404, code="unknown_url")
        if method != "POST":
            raise InvalidRequest(f"Use POST for {clip(path, 200)}.", status=405, code="method_not_allowed",
                                 headers={"Allow": "POST"})
        if door is not None:
            headers = doors.bearer_headers(door, headers, query)
        key = await authenticate(headers.get("authorization"))  # 401 before any parsing, as the real request
        if len(body) > settings.HARNMODEL_MAX_BODY_BYTES:
            raise InvalidRequest("The request body is too large.", status=413, code="request_too_large")
        if door is None:
            return _json(await quote(body, headers, key), request_id)
        door_request, internal = await doors.parse(door, body, path_model, query, headers)
        if door_request.unknown:
            await _unknown_taken(door, door_request)
        try:
            return _json(await quote(internal, headers, key), request_id)
        except ApiError as error:
            raise door.client_error(error, door_request) from None
    except ApiError as error:
        return refuse(error)


async def quote(body: bytes, headers: dict[str, str], key: catalog.KeyInfo) -> dict[str, Any]:
    """The quote of an internal (Responses) body: admission's steps up to the hold, with nothing taken."""
    if offload.heavy(len(body)):  # a big body costs real CPU: first make sure the key can pay at all, as admission does
        await _can_pay(key)
    parsed = await offload.run(len(body), parse_request, body)
    model_id = parsed.typed.model
    route = await catalog.model_route(model_id)
    if route is None:
        raise ModelNotFound(f"The model '{clip(model_id)}' does not exist.", param="model")
    if key.allowed_models and model_id not in key.allowed_models:
        raise ModelNotAllowed(f"This API key may not use the model '{clip(model_id)}'.", param="model")
    if route.price is None or not route.channels:
        raise ModelNotAvailable(f"The model '{clip(model_id)}' has no available route right now.", param="model")
    needs = field_policy.requirements(parsed.raw)
    field_policy.admit(needs, route.channels, route.price, model_id)
    if any(cap is not None for cap in key.spend_caps):
        exhausted = await run_db(billing_selectors.key_spend_over_cap, api_key_id=key.id, caps=key.spend_caps)
        if exhausted:
            raise KeySpendLimitReached(f"This API key has reached its {exhausted} spend limit.")
    input_tokens = await offload.run(len(body), count_request_tokens, parsed.typed)
    wanted_output = parsed.typed.max_output_tokens or route.default_max_output_tokens
    held_input = input_tokens + uncounted_input_tokens(parsed.typed, parsed.raw)
    tool_micros = tool_hold_micros(field_policy.tool_kinds(needs), needs.max_tool_calls, route.price)
    cost = ceilings.plan(headers, key, parsed.typed, route.price, input_tokens=held_input,
                         wanted_output=wanted_output, tool_micros=tool_micros)
    await cost.peek_share()
    available = await run_db(billing_selectors.available_micros, account_id=key.account_id)
    sized = hold_for(held_input, cost.output_cap, route.price, tool_micros, available)
    if sized is None:
        raise InsufficientBalance("Your balance is too low for this request. Top up to continue.")
    hold, output_cap = sized
    return {
        "object": "quote",
        "model": model_id,
        "currency": currency(),
        "input_tokens": input_tokens,  # counted here, as the hold counts them
        "held_input_tokens": held_input,  # with input we cannot count (stored context, files) at its worst case
        "requested_output_tokens": wanted_output,
        "output_cap": output_cap,  # what the upstream would be told: the request's, lowered by ceilings and wallet
        # The most it may cost with the output cap its ceilings allow; the hold is that, or what the wallet has.
        "worst_case_cost": decimal_string(cost.worst_case()),
        "hold": decimal_string(hold),
        # The most it may be charged (X-Max-Cost, the session's remaining budget), whatever the upstream does.
        "cost_ceiling": decimal_string(cost.limit) if cost.limit is not None else None,
        "available_balance": decimal_string(available),
        "price_per_million_tokens": {
            "input": decimal_string(route.price.input_micros),
            "cached_input": decimal_string(route.price.cached_input_micros),
            "output": decimal_string(route.price.output_micros),
        },
    }


def _json(payload: dict[str, Any], request_id: str) -> HttpResponse:
    response = HttpResponse(msgspec.json.encode(payload), content_type="application/json")
    response["x-request-id"] = request_id
    return response
