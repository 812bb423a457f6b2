"""The public API contract as an OpenAPI 3.1 document, served at /v1/openapi.json.

The request schema starts from the validator itself (`msgspec.json.schema(ResponsesRequest)`) and is
enriched with what `_validate` checks by hand: item, part, tool and format forms, enums from the constants
in gateway/wire/schema.py, ranges and limits from settings. tests/hardening/test_openapi_drift.py fails when the
two drift apart, and the fuzz suite holds the running gateway to the document.

Constraints the gateway enforces are JSON Schema keywords; fields it forwards unchecked to the upstream are
typed as OpenAI documents them (a client should send them so) and say "checked by the upstream".
"""

import copy
from typing import Any

import msgspec
from django.conf import settings

from gateway.wire import limits
from gateway.wire import schema as validator
from gateway.wire.limits import MAX_TOKENS

OPENAPI_VERSION = "3.1.0"
ERROR_TYPES = (
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "insufficient_quota",
    "rate_limit_error",
    "server_error",
    "service_unavailable_error",
)
STREAM_EVENT_TYPES = (
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.refusal.delta",
    "response.refusal.done",
    "response.content_part.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.output_item.done",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
)
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
    402: ("The balance cannot cover the request; refused before any upstream call.", ["insufficient_balance"]),
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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _enum(values: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": sorted(values)}


def _upstream(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": f"{description} Checked by the upstream, not by the gateway."}


# -- request: nested forms -------------------------------------------------------------------------------------
def _content_parts() -> dict[str, dict[str, Any]]:
    text = {"type": "string"}
    return {
        "InputTextPart": {
            "type": "object",
            "required": ["type", "text"],
            "properties": {"type": {"const": "input_text"}, "text": text},
        },
        "InputImagePart": {
            "type": "object",
            "description": (
                "An image by URL (https or a data: URL) or by uploaded file id; one of the two is required. A URL "
                "must name a public host (private, loopback, link-local, metadata, `localhost`, `.local`/"
                "`.internal` or dotless hosts: 400 `url_not_allowed`, unless the operator allows the host); "
                "`file_id` names a file in the operator's upstream account: refused unless the model's channel "
                "allows `file_id`."
            ),
            "required": ["type"],
            "properties": {
                "type": {"const": "input_image"},
                "detail": _upstream({"type": "string", "examples": ["auto", "low", "high"]}, "Image detail."),
            },
            "anyOf": [
                {"required": ["image_url"], "properties": {"image_url": {"type": "string"}}},
                {"required": ["file_id"], "properties": {"file_id": {"type": "string"}}},
            ],
        },
        "InputFilePart": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"const": "input_file"},
                "file_id": _upstream({"type": "string"}, "An uploaded file."),
                "file_data": _upstream({"type": "string"}, "The file as base64 or a data: URL."),
                "file_url": _upstream(
                    {"type": "string"}, "A URL of the file: a public http(s) host, as for `image_url`."
                ),
                "filename": _upstream({"type": "string"}, "Its name."),
            },
        },
        "InputAudioPart": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"const": "input_audio"},
                "input_audio": _upstream({"type": "object"}, "`{data: base64, format: mp3|wav}`."),
            },
        },
        "OutputTextPart": {
            "type": "object",
            "description": "Text of an earlier assistant turn, replayed.",
            "required": ["type", "text"],
            "properties": {"type": {"const": "output_text"}, "text": text, "annotations": {"type": "array"}},
        },
        "RefusalPart": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"const": "refusal"}, "refusal": {"type": "string"}},
        },
    }


PART_SCHEMAS = {
    "input_text": "InputTextPart",
    "input_image": "InputImagePart",
    "input_file": "InputFilePart",
    "input_audio": "InputAudioPart",
    "output_text": "OutputTextPart",
    "refusal": "RefusalPart",
}
ITEM_SCHEMAS = {
    "message": "MessageItem",
    "function_call": "FunctionCallItem",
    "function_call_output": "FunctionCallOutputItem",
    "reasoning": "ReasoningItem",
    "item_reference": "ItemReference",
}


def _items() -> dict[str, dict[str, Any]]:
    part = {"anyOf": [_ref(name) for name in PART_SCHEMAS.values()]}
    return {
        "ContentPart": part,
        "MessageItem": {
            "type": "object",
            "description": "A message. `type` may be left out when `role` is given.",
            "required": ["role", "content"],
            "properties": {
                "type": {"const": "message"},
                "role": _enum(validator.MESSAGE_ROLES),
                "content": {
                    "anyOf": [{"type": "string"}, {"type": "array", "items": _ref("ContentPart")}],
                    "description": "A string, or an array of content parts.",
                },
                "id": _upstream({"type": "string"}, "The id of a replayed output message."),
                "status": _upstream({"type": "string"}, "The status of a replayed output message."),
            },
        },
        "FunctionCallItem": {
            "type": "object",
            "description": "A tool call the model made in an earlier turn, replayed.",
            "required": ["type", "call_id", "name", "arguments"],
            "properties": {
                "type": {"const": "function_call"},
                "call_id": {"type": "string"},
                "name": {"type": "string"},
                "arguments": {"type": "string", "description": "The arguments as a JSON string."},
                "id": _upstream({"type": "string"}, "The item id (`fc_…`)."),
                "status": _upstream({"type": "string"}, "Its status."),
            },
        },
        "FunctionCallOutputItem": {
            "type": "object",
            "description": "The result of a tool call, paired by `call_id`.",
            "required": ["type", "call_id", "output"],
            "properties": {
                "type": {"const": "function_call_output"},
                "call_id": {"type": "string"},
                "output": {"anyOf": [{"type": "string"}, {"type": "array", "items": _ref("ContentPart")}]},
            },
        },
        "ReasoningItem": {
            "type": "object",
            "description": "A reasoning item of an earlier turn, replayed (translating channels drop it).",
            "required": ["type"],
            "properties": {
                "type": {"const": "reasoning"},
                "id": _upstream({"type": "string"}, "The item id (`rs_…`)."),
                "summary": {"type": "array", "items": {"type": "object"}, "description": "`summary_text` parts."},
                "encrypted_content": _upstream({"type": "string"}, "Opaque reasoning state."),
            },
        },
        "ItemReference": {
            "type": "object",
            "description": (
                "A stored item, by id: refused (400 `unsupported_parameter`) unless the model's channel allows "
                "`item_reference`."
            ),
            "required": ["type", "id"],
            "properties": {"type": {"const": "item_reference"}, "id": {"type": "string"}},
        },
        "InputItem": {"anyOf": [_ref(name) for name in ITEM_SCHEMAS.values()]},
    }


def _tools() -> dict[str, dict[str, Any]]:
    return {
        "FunctionTool": {
            "type": "object",
            "required": ["type", "name"],
            "properties": {
                "type": {"const": "function"},
                "name": {"type": "string", "pattern": validator._TOOL_NAME.pattern},
                "description": _nullable({"type": "string"}),
                "parameters": {**_nullable({"type": "object"}), "description": "A JSON Schema object."},
                "strict": _nullable({"type": "boolean"}),
            },
        },
        "HostedTool": {
            "type": "object",
            "description": (
                "A built-in tool (web_search, file_search, code_interpreter, image_generation, mcp, computer_use, "
                "…): refused (400 `unsupported_parameter`) unless the model's channel allows it and the model has a "
                "per-call price for it. The hold covers `max_tool_calls` calls (default "
                "HARNMODEL_DEFAULT_MAX_TOOL_CALLS = 8, at most HARNMODEL_MAX_TOOL_CALLS = 64), that cap is sent "
                "upstream, and each call made is charged per call on top of tokens."
            ),
            "required": ["type"],
            "properties": {"type": {"type": "string", "not": {"const": "function"}}},
        },
        "Tool": {"anyOf": [_ref("FunctionTool"), _ref("HostedTool")]},
        "ToolChoice": {
            "description": "auto, none, required, or an object naming a tool.",
            "anyOf": [
                _enum(validator.TOOL_CHOICE_STRINGS),
                {
                    "type": "object",
                    "description": "The object form of a mode; with `name` (not for none) it forces that function.",
                    "required": ["type"],
                    "properties": {"type": _enum(validator.TOOL_CHOICE_STRINGS), "name": {"type": "string"}},
                },
                {
                    "type": "object",
                    "description": "Force one function tool sent in `tools`.",
                    "required": ["type", "name"],
                    "properties": {"type": {"const": "function"}, "name": {"type": "string"}},
                },
                {
                    "type": "object",
                    "description": "Restrict the model to some of the tools.",
                    "required": ["type", "mode", "tools"],
                    "properties": {
                        "type": {"const": "allowed_tools"},
                        "mode": {"type": "string", "enum": ["auto", "required"]},
                        "tools": {"type": "array", "items": {"type": "object"}},
                    },
                },
                {
                    "type": "object",
                    "description": "Force a hosted tool (Responses passthrough channels only).",
                    "required": ["type"],
                    "properties": {"type": {"type": "string"}},
                },
            ],
        },
    }


def _text_formats() -> dict[str, dict[str, Any]]:
    return {
        "TextFormatText": {"type": "object", "required": ["type"], "properties": {"type": {"const": "text"}}},
        "TextFormatJsonObject": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"const": "json_object"}},
        },
        "TextFormatJsonSchema": {
            "type": "object",
            "required": ["type", "name", "schema"],
            "properties": {
                "type": {"const": "json_schema"},
                "name": {"type": "string"},
                "schema": {"type": "object", "description": "A JSON Schema object."},
                "description": {"type": "string"},
                "strict": _nullable({"type": "boolean"}),
            },
        },
        "TextFormat": {"anyOf": [_ref("TextFormatText"), _ref("TextFormatJsonObject"), _ref("TextFormatJsonSchema")]},
    }


TEXT_FORMAT_SCHEMAS = {
    "text": "TextFormatText",
    "json_object": "TextFormatJsonObject",
    "json_schema": "TextFormatJsonSchema",
}


# -- request: the top-level fields --------------------------------------------------------------------------------
def _fields(max_items: int, max_tools: int) -> dict[str, dict[str, Any]]:
    """Each field of ResponsesRequest as documented; replaces msgspec's bare type, keeping its JSON types."""
    return {
        "model": {
            "type": "string",
            "pattern": r"\S",
            "description": "The public model ID (`GET /v1/models`).",
            "examples": ["gpt-4o"],
        },
        "input": {
            "description": f"A string (one user message) or an array of at most {max_items} items.",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "minItems": 1, "maxItems": max_items, "items": _ref("InputItem")},
            ],
        },
        "instructions": {**_nullable({"type": "string"}), "description": "A system message put before the input."},
        "tools": {
            **_nullable({"type": "array", "maxItems": max_tools, "items": _ref("Tool")}),
            "description": f"At most {max_tools} tools.",
        },
        "tool_choice": {"anyOf": [_ref("ToolChoice"), {"type": "null"}], "description": "How the model uses tools."},
        "stream": {"type": "boolean", "default": False, "description": "Answer as text/event-stream."},
        "temperature": {**_nullable({"type": "number", "minimum": 0, "maximum": 2}), "description": "Sampling."},
        "top_p": {**_nullable({"type": "number", "minimum": 0, "maximum": 1}), "description": "Nucleus sampling."},
        "max_output_tokens": {
            **_nullable({"type": "integer", "minimum": 1, "maximum": MAX_TOKENS}),
            "description": (
                "Cap on output tokens, reasoning included; the hold is sized by it (lowered to what the balance "
                "pays for). A stream never carries more output than its hold pays for: beyond it, it ends "
                "`response.incomplete` with `incomplete_details.reason: max_output_tokens`."
            ),
        },
        "metadata": {
            **_nullable(
                {
                    "type": "object",
                    "maxProperties": 16,
                    "propertyNames": {"maxLength": 64},
                    "additionalProperties": {"type": "string", "maxLength": 512},
                }
            ),
            "description": "At most 16 string pairs; keys ≤ 64, values ≤ 512 characters.",
        },
        "parallel_tool_calls": {**_nullable({"type": "boolean"}), "description": "Allow several tool calls."},
        "text": {
            **_nullable({"type": "object", "properties": {"format": _ref("TextFormat"), "verbosity": {}}}),
            "description": "Output format: text, json_object or json_schema; `verbosity` is checked by the upstream.",
        },
        "user": {**_nullable({"type": "string"}), "description": "Deprecated end-user id; forwarded."},
        "reasoning": {
            **_nullable({"type": "object"}),
            "description": "`{effort, summary}` for reasoning models. Checked by the upstream, not by the gateway.",
        },
        "store": {
            **_nullable({"type": "boolean"}),
            "description": (
                "Whether the upstream keeps the response. `true` is refused (400 `unsupported_parameter`) unless "
                "the model's channel allows `store`; otherwise `false` is sent upstream."
            ),
        },
        "include": {
            **_nullable({"type": "array", "items": {"type": "string"}}),
            "description": "Extra output to include, e.g. `reasoning.encrypted_content`. Checked by the upstream.",
        },
        "truncation": {
            **_nullable({"type": "string"}),
            "description": "`auto` or `disabled`. Checked by the upstream, not by the gateway.",
        },
        "previous_response_id": {
            **_nullable({"type": "string"}),
            "description": (
                "Continue a stored response (it returns to the channel that made it). The stored conversation "
                "cannot be counted here, so it is held at HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS (default 128,000) "
                "input tokens: a balance below that worst case gets 402 before any upstream call."
            ),
        },
        "safety_identifier": {**_nullable({"type": "string"}), "description": "A stable end-user id; forwarded."},
        "prompt_cache_key": {**_nullable({"type": "string"}), "description": "Cache bucketing key; forwarded."},
        "service_tier": {
            **_nullable({"type": "string"}),
            "description": (
                "auto or default; another tier (flex, priority, …) bills the operator at another rate and is "
                "refused (400 `unsupported_parameter`) unless the model's channel allows `service_tier`."
            ),
        },
        "top_logprobs": {**_nullable({"type": "integer", "minimum": 0, "maximum": 20}), "description": "0-20."},
    }


def request_schema(*, max_items: int, max_tools: int) -> dict[str, Any]:
    """msgspec's schema of ResponsesRequest, every field enriched. A field msgspec knows and we do not keeps
    its bare type (the drift test then asks for a description)."""
    generated = msgspec.json.schema(validator.ResponsesRequest)
    base = copy.deepcopy(generated["$defs"][generated["$ref"].rsplit("/", 1)[-1]])
    fields = _fields(max_items, max_tools)
    for name in base["properties"]:
        if name in fields:
            base["properties"][name] = fields[name]
    base.pop("title", None)
    base["description"] = (
        "Field policy: besides the fields listed here only `max_tool_calls` and `stream_options` are forwarded. "
        "Any other field, and `background: true`, `conversation`, `prompt`, `prompt_cache_retention` (other "
        "than in_memory), `prompt_cache_options`, is refused with 400 `unsupported_parameter` naming it, before "
        "any hold, unless the operator allows it on the model's channel. Every string the gateway reads has a `maxLength` (400 "
        "`string_above_max_length` beyond, `param` naming it)."
    )
    base["additionalProperties"] = True
    return base


# -- response ---------------------------------------------------------------------------------------------------
def _response_schemas() -> dict[str, dict[str, Any]]:
    return {
        "Usage": {
            "type": "object",
            "required": [
                "input_tokens",
                "input_tokens_details",
                "output_tokens",
                "output_tokens_details",
                "total_tokens",
            ],
            "properties": {
                "input_tokens": {"type": "integer", "minimum": 0},
                "input_tokens_details": {
                    "type": "object",
                    "required": ["cached_tokens"],
                    "properties": {"cached_tokens": {"type": "integer"}, "cache_write_tokens": {"type": "integer"}},
                },
                "output_tokens": {"type": "integer", "minimum": 0},
                "output_tokens_details": {
                    "type": "object",
                    "required": ["reasoning_tokens"],
                    "properties": {"reasoning_tokens": {"type": "integer"}},
                },
                "total_tokens": {"type": "integer", "minimum": 0},
                "receipt": {
                    "type": "string",
                    "description": "Billed answers: the signed receipt (compact JWS, EdDSA), verifiable with the "
                    "keys at /.well-known/harnmodel-receipts.json.",
                },
            },
        },
        "OutputMessage": {
            "type": "object",
            "required": ["type", "id", "role", "status", "content"],
            "properties": {
                "type": {"const": "message"},
                "id": {"type": "string"},
                "role": {"const": "assistant"},
                "status": {"type": "string", "enum": ["in_progress", "completed", "incomplete"]},
                "content": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"type": "string", "examples": ["output_text", "refusal"]},
                            "text": {"type": "string"},
                            "annotations": {"type": "array"},
                            "refusal": {"type": "string"},
                        },
                    },
                },
            },
        },
        "OutputFunctionCall": {
            "type": "object",
            "required": ["type", "call_id", "name", "arguments"],
            "properties": {
                "type": {"const": "function_call"},
                "id": {"type": "string"},
                "call_id": {"type": "string"},
                "name": {"type": "string"},
                "arguments": {"type": "string"},
                "status": {"type": "string"},
            },
        },
        "OutputReasoning": {
            "type": "object",
            "required": ["type", "id", "summary"],
            "properties": {
                "type": {"const": "reasoning"},
                "id": {"type": "string"},
                "summary": {"type": "array", "items": {"type": "object"}},
                "encrypted_content": _nullable({"type": "string"}),
            },
        },
        "OutputOther": {
            "type": "object",
            "description": "Other items a Responses passthrough upstream may produce (hosted tool calls, …).",
            "required": ["type"],
            "properties": {"type": {"type": "string"}},
        },
        "OutputItem": {
            "anyOf": [
                _ref("OutputMessage"),
                _ref("OutputFunctionCall"),
                _ref("OutputReasoning"),
                _ref("OutputOther"),
            ]
        },
        "Response": {
            "type": "object",
            "description": "A model response. Request settings are echoed as OpenAI does.",
            "required": ["id", "object", "created_at", "status", "model", "output"],
            "properties": {
                "id": {"type": "string", "examples": ["resp_6a1f…"]},
                "object": {"const": "response"},
                "created_at": {"type": "number"},
                "completed_at": {"type": "number"},
                "status": {
                    "type": "string",
                    "enum": ["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"],
                },
                "error": _nullable(
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                ),
                "incomplete_details": _nullable({"type": "object", "properties": {"reason": {"type": "string"}}}),
                "model": {"type": "string"},
                "output": {"type": "array", "items": _ref("OutputItem")},
                "usage": _nullable(_ref("Usage")),
                "instructions": {},
                "max_output_tokens": _nullable({"type": "integer"}),
                "metadata": _nullable({"type": "object"}),
                "parallel_tool_calls": {"type": "boolean"},
                "previous_response_id": _nullable({"type": "string"}),
                "reasoning": _nullable({"type": "object"}),
                "store": _nullable({"type": "boolean"}),
                "temperature": _nullable({"type": "number"}),
                "text": _nullable({"type": "object"}),
                "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
                "tools": {"type": "array"},
                "top_p": _nullable({"type": "number"}),
                "truncation": _nullable({"type": "string"}),
                "user": _nullable({"type": "string"}),
            },
        },
        "ResponseStreamEvent": {
            "type": "object",
            "description": "The JSON in an event's `data`: its `type` repeats the `event:` line.",
            "required": ["type"],
            "properties": {
                "type": {"type": "string", "examples": list(STREAM_EVENT_TYPES)},
                "sequence_number": {"type": "integer", "minimum": 0},
                "response": _ref("Response"),
                "item": _ref("OutputItem"),
                "output_index": {"type": "integer"},
                "content_index": {"type": "integer"},
                "item_id": {"type": "string"},
                "delta": {"type": "string"},
                "text": {"type": "string"},
                "arguments": {"type": "string"},
                "code": _nullable({"type": "string"}),
                "message": {"type": "string"},
                "param": _nullable({"type": "string"}),
                "error": _ref("ErrorDetail"),
            },
        },
        "SseEvent": {
            "type": "object",
            "description": (
                "One server-sent event: an `event:` line with the event type, a `data:` line with one "
                "ResponseStreamEvent as JSON, then a blank line. No `[DONE]` sentinel: the stream ends after "
                "response.completed, response.incomplete or response.failed. An error after the stream began is an "
                "`error` event (flat fields and a nested `error` object), then response.failed."
            ),
            "required": ["event", "data"],
            "properties": {
                "event": {
                    "type": "string",
                    "pattern": r"^(response\.[a-z_.]+|error)$",
                    "examples": list(STREAM_EVENT_TYPES),
                },
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": _ref("ResponseStreamEvent"),
                },
            },
        },
        "ErrorDetail": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string", "examples": list(ERROR_TYPES)},
                "param": _nullable({"type": "string"}),
                "code": _nullable({"type": "string"}),
            },
        },
        "Error": {
            "type": "object",
            "description": "The OpenAI error shape.",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {"error": _ref("ErrorDetail")},
        },
        "Model": {
            "type": "object",
            "required": ["id", "object", "created", "owned_by"],
            "properties": {
                "id": {"type": "string", "examples": ["gpt-4o"]},
                "object": {"const": "model"},
                "created": {"type": "integer"},
                "owned_by": {"type": "string"},
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["object", "data"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}},
        },
    }


def _error_response(description: str, codes: list[str]) -> dict[str, Any]:
    return {
        "description": f"{description} Codes: {', '.join(codes)}.",
        "headers": {"x-should-retry": _ref_header("ShouldRetry"), "x-request-id": _ref_header("RequestId")},
        "content": {"application/json": {"schema": _ref("Error")}},
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
                "application/json": {"schema": _ref("Response")},
                "text/event-stream": {"schema": _ref("SseEvent")},
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
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("ResponsesRequest")}},
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
            "content": {"application/json": {"schema": _ref("ModelList")}},
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
    for part in (_content_parts(), _items(), _tools(), _text_formats(), _response_schemas()):
        schemas.update(part)
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
            "/v1/models": {"get": _models_operation()},
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
