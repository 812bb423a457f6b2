"""The response half of the OpenAPI document: Response, its output items, usage, stream events, errors and models."""

from typing import Any

from gateway.protocols.responses.openapi_json import nullable, ref

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


def response_schemas() -> dict[str, dict[str, Any]]:
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
                "encrypted_content": nullable({"type": "string"}),
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
                ref("OutputMessage"),
                ref("OutputFunctionCall"),
                ref("OutputReasoning"),
                ref("OutputOther"),
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
                "error": nullable(
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                ),
                "incomplete_details": nullable({"type": "object", "properties": {"reason": {"type": "string"}}}),
                "model": {"type": "string"},
                "output": {"type": "array", "items": ref("OutputItem")},
                "usage": nullable(ref("Usage")),
                "instructions": {},
                "max_output_tokens": nullable({"type": "integer"}),
                "metadata": nullable({"type": "object"}),
                "parallel_tool_calls": {"type": "boolean"},
                "previous_response_id": nullable({"type": "string"}),
                "reasoning": nullable({"type": "object"}),
                "store": nullable({"type": "boolean"}),
                "temperature": nullable({"type": "number"}),
                "text": nullable({"type": "object"}),
                "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
                "tools": {"type": "array"},
                "top_p": nullable({"type": "number"}),
                "truncation": nullable({"type": "string"}),
                "user": nullable({"type": "string"}),
            },
        },
        "ResponseStreamEvent": {
            "type": "object",
            "description": "The JSON in an event's `data`: its `type` repeats the `event:` line.",
            "required": ["type"],
            "properties": {
                "type": {"type": "string", "examples": list(STREAM_EVENT_TYPES)},
                "sequence_number": {"type": "integer", "minimum": 0},
                "response": ref("Response"),
                "item": ref("OutputItem"),
                "output_index": {"type": "integer"},
                "content_index": {"type": "integer"},
                "item_id": {"type": "string"},
                "delta": {"type": "string"},
                "text": {"type": "string"},
                "arguments": {"type": "string"},
                "code": nullable({"type": "string"}),
                "message": {"type": "string"},
                "param": nullable({"type": "string"}),
                "error": ref("ErrorDetail"),
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
                    "contentSchema": ref("ResponseStreamEvent"),
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
                "param": nullable({"type": "string"}),
                "code": nullable({"type": "string"}),
            },
        },
        "Error": {
            "type": "object",
            "description": "The OpenAI error shape.",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {"error": ref("ErrorDetail")},
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
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}},
        },
    }
