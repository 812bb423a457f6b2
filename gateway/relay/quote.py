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
from billing.db import run_db
from billing.money import currency, decimal_string
from billing.pricing import hold_for
from gateway.relay import catalog, doors
from gateway.relay.admit import authenticate, new_request_id, plan
from gateway.relay.door_handle import _unknown_taken
from gateway.relay.handle import rejected
from gateway.wire.errors import (
    ApiError,
    InsufficientBalance,
    InvalidRequest,
)
from gateway.wire.limits import clip

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
    planned = await plan(body, headers, key)  # the request's own refusals, word for word
    model_id, route, cost, held_input = planned.parsed.typed.model, planned.route, planned.cost, planned.held_input
    input_tokens, wanted_output, tool_micros = planned.input_tokens, planned.wanted_output, planned.tool_micros
    assert route.price is not None  # plan refuses a model without a price
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
