"""The OpenAPI document's cost parts: the `X-Max-Cost` and `X-Session-Id` headers of /v1/responses and
`POST /v1/quote` with its Quote object (gateway/relay/ceilings.py, sessions.py, quote.py)."""

from collections.abc import Callable
from typing import Any

from gateway.relay.sessions import MAX_SESSION_CHARS

_AMOUNT = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,6})?$", "maxLength": 32}
_NULLABLE_AMOUNT = {"anyOf": [_AMOUNT, {"type": "null"}]}
# X-Max-Cost: a positive amount (0 is refused, 400 invalid_max_cost): whole part without leading zeros, or 0.x
# with a non-zero digit among at most six decimals.
_CEILING = {
    "type": "string",
    "maxLength": 32,
    "pattern": r"^(?:[1-9][0-9]{0,8}(?:\.[0-9]{1,6})?|0\.(?:[1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}"
               r"|000[1-9][0-9]{0,2}|0000[1-9][0-9]?|00000[1-9]))$",
}


def cost_headers() -> list[dict[str, Any]]:
    return [
        {
            "name": "X-Max-Cost",
            "in": "header",
            "required": False,
            "description": (
                "The most this request may cost, in the platform currency (e.g. `0.05`, at most six decimals). "
                "The output cap is lowered until the worst case fits, the hold never exceeds it, a stream that "
                "reaches it ends `incomplete`, and it is never charged above it. An input that alone exceeds it: "
                "402 `cost_ceiling_exceeded`, before any upstream call. A bad value: 400 `invalid_max_cost`."
            ),
            "schema": _CEILING,
        },
        {
            "name": "X-Session-Id",
            "in": "header",
            "required": False,
            "description": (
                "The agent session this request belongs to (else the body's `prompt_cache_key`). A key with a "
                "session budget refuses a session that has spent it: 402 `session_budget_exceeded`. Counters end "
                "24 h after the session's last request."
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_SESSION_CHARS},
        },
    ]


QUOTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What a request would cost; nothing was held, charged or sent upstream.",
    "required": ["object", "model", "currency", "input_tokens", "held_input_tokens", "requested_output_tokens",
                 "output_cap", "worst_case_cost", "hold", "cost_ceiling", "available_balance",
                 "price_per_million_tokens"],
    "properties": {
        "object": {"type": "string", "enum": ["quote"]},
        "model": {"type": "string"},
        "currency": {"type": "string"},
        "input_tokens": {"type": "integer", "description": "Input tokens counted here, as the hold counts them."},
        "held_input_tokens": {"type": "integer",
                              "description": "With input that cannot be counted (stored context, files) at its worst."},
        "requested_output_tokens": {"type": "integer", "description": "The request's own cap, or the model's default."},
        "output_cap": {"type": "integer",
                       "description": "The cap the upstream would be told: lowered by X-Max-Cost, the session budget "
                                      "and the wallet."},
        "worst_case_cost": {**_AMOUNT, "description": "The most it may cost with the cap its ceilings allow."},
        "hold": {**_AMOUNT, "description": "What the request would hold now: the worst case, or what the wallet has."},
        "cost_ceiling": {**_NULLABLE_AMOUNT,
                         "description": "The most it may be charged (X-Max-Cost, the session's remaining budget)."},
        "available_balance": {**_AMOUNT, "description": "The wallet's balance less its open holds."},
        "price_per_million_tokens": {
            "type": "object",
            "properties": {"input": _AMOUNT, "cached_input": _AMOUNT, "output": _AMOUNT},
        },
    },
}
QUOTE_ERRORS = (400, 401, 402, 403, 404, 413, 503)


def quote_operation(errors: dict[int, tuple[str, list[str]]],
                    error_response: Callable[[str, list[str]], dict[str, Any]]) -> dict[str, Any]:
    return {
        "operationId": "quoteResponse",
        "summary": "Quote a request",
        "description": (
            "Takes a /v1/responses body (and its X-Max-Cost and X-Session-Id headers) and answers what the request "
            "would cost: counted input, the output cap, the worst case and the hold it would take. No upstream is "
            "called, nothing is held or charged, rate limits are not counted; it refuses what the request would "
            "refuse. A client door's body is quoted at /v1/quote + the door's path (/v1/quote/v1/chat/completions, "
            "/v1/quote/v1/messages, /v1/quote/v1beta/models/{model}:generateContent), answered in its shape."
        ),
        "parameters": cost_headers(),
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResponsesRequest"}}}},
        "responses": {
            "200": {"description": "The quote.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Quote"}}}},
            **{str(status): error_response(*errors[status]) for status in QUOTE_ERRORS},
        },
    }
