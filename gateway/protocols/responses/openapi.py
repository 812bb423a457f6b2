"""The public API contract as an OpenAPI 3.1 document, served at /v1/openapi.json: its operations and the whole.

The schemas are in openapi_request.py (ResponsesRequest, from the validator itself, enriched with what it checks
by hand) and openapi_response.py. tests/hardening/test_openapi_drift.py fails when the document and the
validator drift apart, and the fuzz suite holds the running gateway to the document.
"""

from typing import Any

from django.conf import settings

from gateway.protocols.responses import openapi_agent, openapi_quote
from gateway.protocols.responses.openapi_json import ref
from gateway.protocols.responses.openapi_request import request_forms, request_schema
from gateway.protocols.responses.openapi_response import response_schemas
from gateway.wire import limits
from gateway.wire import schema as validator

OPENAPI_VERSION = "3.1.0"
# Status → (description, the codes this gateway answers with). Order is the pipeline's.
ERRORS: dict[int, tuple[str, list[str]]] = {
    400: (
        "The body is not a JSON object, breaks a rule of the request schema, or the upstream rejected it. "
        "`param` names the field.",
        [
            "invalid_request_error",
            "array_above_max_length",
            "string_above_max_length",
            "idempotency_key_reused",
            "unsupported_parameter",  # the field policy (gateway/relay/field_policy.py)
            "url_not_allowed",  # a private or non-http(s) customer URL (gateway/relay/url_policy.py)
        ],
    ),
    401: ("Missing, malformed, unknown, revoked or expired API key.", ["invalid_auth_header"]),
    402: (
        "The balance, the key's spend cap, its project's or member's budget, the request's X-Max-Cost or its "
        "session's budget cannot cover the request; refused before any upstream call.",
        ["insufficient_balance", "key_spend_limit_reached", "budget_exceeded", "cost_ceiling_exceeded",
         "session_budget_exceeded"],
    ),
    403: ("This API key may not use the model.", ["model_not_allowed"]),
    404: ("The model does not exist.", ["model_not_found"]),
    409: (
        "A request with the same Idempotency-Key is still in flight, or was billed but not delivered whole.",
        ["idempotency_request_in_progress", "idempotent_request_interrupted"],
    ),
    413: ("The body is larger than the gateway accepts.", ["request_too_large"]),
    431: ("The request headers together are larger than the gateway accepts.", ["request_header_fields_too_large"]),
    429: ("Rate limited (by this gateway or the upstream). See Retry-After.", ["rate_limit_exceeded"]),
    500: ("The gateway failed; nothing was charged unless output was delivered.", ["internal_error"]),
    502: ("Every upstream tried failed.", ["upstream_error", "upstream_auth_error", "upstream_unreachable"]),
    503: ("The model has no available route right now.", ["model_not_available"]),
    504: ("The upstream timed out.", ["upstream_timeout"]),
}
MODELS_ERRORS = (401, 431, 500)


def _error_response(description: str, codes: list[str]) -> dict[str, Any]:
    return {
        "description": f"{description} Codes: {', '.join(codes)}.",
        "headers": {"x-should-retry": _ref_header("ShouldRetry"), "x-request-id": _ref_header("RequestId")},
        "content": {"application/json": {"schema": ref("Error")}},
    }


def _ref_header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _responses_operation(max_body: int) -> dict[str, Any]:
    ok_headers = {
        "x-request-id": _ref_header("RequestId"),
        "x-harnmodel-cost": {
            "description": "What this request cost (JSON answers), in the platform currency.",
            "schema": {"type": "string"},
        },
        "x-harnmodel-balance": {"description": "The wallet balance after it.", "schema": {"type": "string"}},
        "x-harnmodel-receipt": {
            "description": "JSON answers that were billed: the signed receipt (as `usage.receipt`; streams carry it "
            "in the final usage event).",
            "schema": {"type": "string"},
        },
        "x-harnmodel-hold": {
            "description": (
                "Streams: the amount held while the request runs; the charge follows the reported usage, and "
                "beyond the hold takes the balance at most HARNMODEL_OVERDRAFT_LIMIT_MICROS below zero."
            ),
            "schema": {"type": "string"},
        },
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "The response: a Response object, or with `stream: true` a stream of server-sent events.",
            "headers": ok_headers,
            "content": {
                "application/json": {"schema": ref("Response")},
                "text/event-stream": {"schema": ref("SseEvent")},
            },
        }
    }
    for status, (description, codes) in ERRORS.items():
        responses[str(status)] = _error_response(description, codes)
    return {
        "operationId": "createResponse",
        "summary": "Create a model response",
        "description": (
            "OpenAI Responses API compatible. The gateway authenticates the key, validates the body, holds the "
            "worst-case price, relays to an upstream channel (failing over before the first byte) and charges "
            f"actual usage. The body is at most {max_body} bytes, nested at most "
            f"{_setting('HARNMODEL_MAX_JSON_DEPTH', validator.DEFAULT_MAX_JSON_DEPTH)} levels deep. "
            + _websocket_note()
        ),
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": (
                    "A retry with the same key and body gets the first outcome back (for 24 h) and is never "
                    "charged twice. Same key, another body: 400; first still running: 409."
                ),
                "schema": {"type": "string", "maxLength": 255},
            },
            *openapi_quote.cost_headers(),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref("ResponsesRequest")}},
        },
        "responses": responses,
    }


def _websocket_note() -> str:
    """The same path also upgrades to a WebSocket (gateway/relay/websocket.py); OpenAPI cannot describe one."""
    return (
        "The same URL also accepts a WebSocket upgrade (`Authorization: Bearer` on the upgrade; bad key 401, "
        "a socket that cannot be served 426 so clients use HTTP): `response.create` text frames carry this body "
        "(plus an optional `idempotency_key`; `generate: false` prepares a response without calling the model; "
        "`stream` is implied) and each event of the stream comes back as one frame, failures as `error` frames. "
        f"A frame is at most {settings.HARNMODEL_MAX_BODY_BYTES} bytes; a socket closes after "
        f"{settings.HARNMODEL_WS_IDLE_SECONDS:.0f} s idle, {settings.HARNMODEL_WS_MAX_SECONDS:.0f} s in all, "
        f"{settings.HARNMODEL_WS_MAX_TURNS} responses or {settings.HARNMODEL_WS_MAX_FRAMES} frames, and holds one "
        "of the key's concurrent-request slots. See docs/websocket.md."
    )


def _models_operation() -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "The public models this key may call.",
            "content": {"application/json": {"schema": ref("ModelList")}},
        }
    }
    for status in MODELS_ERRORS:
        responses[str(status)] = _error_response(*ERRORS[status])
    return {"operationId": "listModels", "summary": "List models", "responses": responses}


def _setting(name: str, default: int) -> int:
    return getattr(settings, name, default)


def build_document() -> dict[str, Any]:
    max_items = _setting("HARNMODEL_MAX_INPUT_ITEMS", validator.DEFAULT_MAX_INPUT_ITEMS)
    max_tools = _setting("HARNMODEL_MAX_TOOLS", validator.DEFAULT_MAX_TOOLS)
    schemas: dict[str, Any] = {"ResponsesRequest": request_schema(max_items=max_items, max_tools=max_tools)}
    schemas.update(request_forms())
    schemas.update(response_schemas())
    schemas["Quote"] = openapi_quote.QUOTE_SCHEMA
    limits.declare(schemas)  # every string's maxLength, from the table the validator enforces
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "harnmodel",
            "version": "1",
            "description": (
                "One API key, one OpenAI-compatible endpoint, many model providers, prepaid billing. Errors always "
                'have the OpenAI shape `{"error": {message, type, param, code}}`; `x-should-retry` says whether '
                "a retry can help."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": {
            "/v1/responses": {"post": _responses_operation(settings.HARNMODEL_MAX_BODY_BYTES)},
            "/v1/responses/input_tokens": {"post": openapi_agent.input_tokens_operation(_error_response, ERRORS)},
            "/v1/models": {"get": _models_operation()},
            "/v1/quote": {"post": openapi_quote.quote_operation(ERRORS, _error_response)},
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "sk-…", "description": "API key"}
            },
            "headers": {
                "RequestId": {
                    "description": "The request's id (`req_…`): quote it to support.",
                    "schema": {"type": "string"},
                },
                "ShouldRetry": {
                    "description": "Whether a retry may succeed (the official SDKs honour it).",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                },
            },
            "schemas": schemas,
        },
    }
