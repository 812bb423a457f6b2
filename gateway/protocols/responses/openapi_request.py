"""The request half of the OpenAPI document: ResponsesRequest and the forms it nests.

The schema starts from the validator itself (`msgspec.json.schema(ResponsesRequest)`) and is enriched with what
`_validate` checks by hand: item, part, tool and format forms, enums from the constants in gateway/wire/schema.py,
ranges and limits from settings. tests/hardening/test_openapi_drift.py fails when the two drift apart.

Constraints the gateway enforces are JSON Schema keywords; fields it forwards unchecked to the upstream are
typed as OpenAI documents them (a client should send them so) and say "checked by the upstream".
"""

import copy
from typing import Any

import msgspec

from gateway.protocols.responses import openapi_agent
from gateway.protocols.responses.openapi_json import enum_of, nullable, ref, upstream
from gateway.wire import limits
from gateway.wire import schema as validator
from gateway.wire.limits import MAX_TOKENS


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
                "detail": upstream({"type": "string", "examples": ["auto", "low", "high"]}, "Image detail."),
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
                "file_id": upstream({"type": "string"}, "An uploaded file."),
                "file_data": upstream({"type": "string"}, "The file as base64 or a data: URL."),
                "file_url": upstream(
                    {"type": "string"}, "A URL of the file: a public http(s) host, as for `image_url`."
                ),
                "filename": upstream({"type": "string"}, "Its name."),
            },
        },
        "InputAudioPart": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"const": "input_audio"},
                "input_audio": upstream({"type": "object"}, "`{data: base64, format: mp3|wav}`."),
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


# The validator's type strings → component names: one table, shared with the string limits it declares.
PART_SCHEMAS = limits.PARTS
ITEM_SCHEMAS = limits.ITEMS


def _items() -> dict[str, dict[str, Any]]:
    part = {"anyOf": [ref(name) for name in PART_SCHEMAS.values()]}
    return {
        "ContentPart": part,
        "MessageItem": {
            "type": "object",
            "description": "A message. `type` may be left out when `role` is given.",
            "required": ["role", "content"],
            "properties": {
                "type": {"const": "message"},
                "role": enum_of(validator.MESSAGE_ROLES),
                "content": {
                    "anyOf": [{"type": "string"}, {"type": "array", "items": ref("ContentPart")}],
                    "description": "A string, or an array of content parts.",
                },
                "id": upstream({"type": "string"}, "The id of a replayed output message."),
                "status": upstream({"type": "string"}, "The status of a replayed output message."),
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
                "id": upstream({"type": "string"}, "The item id (`fc_…`)."),
                "status": upstream({"type": "string"}, "Its status."),
            },
        },
        "FunctionCallOutputItem": {
            "type": "object",
            "description": "The result of a tool call, paired by `call_id`.",
            "required": ["type", "call_id", "output"],
            "properties": {
                "type": {"const": "function_call_output"},
                "call_id": {"type": "string"},
                "output": {"anyOf": [{"type": "string"}, {"type": "array", "items": ref("ContentPart")}]},
            },
        },
        "ReasoningItem": {
            "type": "object",
            "description": "A reasoning item of an earlier turn, replayed (translating channels drop it).",
            "required": ["type"],
            "properties": {
                "type": {"const": "reasoning"},
                "id": upstream({"type": "string"}, "The item id (`rs_…`)."),
                "summary": {"type": "array", "items": {"type": "object"}, "description": "`summary_text` parts."},
                "encrypted_content": upstream({"type": "string"}, "Opaque reasoning state."),
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
        **openapi_agent.item_schemas(),
        "InputItem": {"anyOf": [ref(name) for name in ITEM_SCHEMAS.values()]},
    }


def _tools() -> dict[str, dict[str, Any]]:
    return {
        "FunctionTool": {
            "type": "object",
            "required": ["type", "name"],
            "properties": {
                "type": {"const": "function"},
                "name": {"type": "string", "pattern": validator._TOOL_NAME.pattern},
                "description": nullable({"type": "string"}),
                "parameters": {**nullable({"type": "object"}), "description": "A JSON Schema object."},
                "strict": nullable({"type": "boolean"}),
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
        "Tool": {"anyOf": [ref("FunctionTool"), ref("HostedTool")]},
        "ToolChoice": {
            "description": "auto, none, required, or an object naming a tool.",
            "anyOf": [
                enum_of(validator.TOOL_CHOICE_STRINGS),
                {
                    "type": "object",
                    "description": "The object form of a mode; with `name` (not for none) it forces that function.",
                    "required": ["type"],
                    "properties": {"type": enum_of(validator.TOOL_CHOICE_STRINGS), "name": {"type": "string"}},
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
                    "description": "Force a hosted tool (Responses passthrough channels; web_search also on Anthropic ones).",
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
                "strict": nullable({"type": "boolean"}),
            },
        },
        "TextFormat": {"anyOf": [ref("TextFormatText"), ref("TextFormatJsonObject"), ref("TextFormatJsonSchema")]},
    }


TEXT_FORMAT_SCHEMAS = limits.FORMATS


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
                {"type": "array", "minItems": 1, "maxItems": max_items, "items": ref("InputItem")},
            ],
        },
        "instructions": {**nullable({"type": "string"}), "description": "A system message put before the input."},
        "tools": {
            **nullable({"type": "array", "maxItems": max_tools, "items": ref("Tool")}),
            "description": f"At most {max_tools} tools.",
        },
        "tool_choice": {"anyOf": [ref("ToolChoice"), {"type": "null"}], "description": "How the model uses tools."},
        "stream": {"type": "boolean", "default": False, "description": "Answer as text/event-stream."},
        "temperature": {**nullable({"type": "number", "minimum": 0, "maximum": 2}), "description": "Sampling."},
        "top_p": {**nullable({"type": "number", "minimum": 0, "maximum": 1}), "description": "Nucleus sampling."},
        "max_output_tokens": {
            **nullable({"type": "integer", "minimum": 1, "maximum": MAX_TOKENS}),
            "description": (
                "Cap on output tokens, reasoning included; the hold is sized by it (lowered to what the balance "
                "pays for). A stream never carries more output than its hold pays for: beyond it, it ends "
                "`response.incomplete` with `incomplete_details.reason: max_output_tokens`."
            ),
        },
        "metadata": {
            **nullable(
                {
                    "type": "object",
                    "maxProperties": 16,
                    "propertyNames": {"maxLength": 64},
                    "additionalProperties": {"type": "string", "maxLength": 512},
                }
            ),
            "description": "At most 16 string pairs; keys ≤ 64, values ≤ 512 characters.",
        },
        "parallel_tool_calls": {**nullable({"type": "boolean"}), "description": "Allow several tool calls."},
        "text": {
            **nullable({"type": "object", "properties": {"format": ref("TextFormat"), "verbosity": {}}}),
            "description": "Output format: text, json_object or json_schema; `verbosity` is checked by the upstream.",
        },
        "user": {**nullable({"type": "string"}), "description": "Deprecated end-user id; forwarded."},
        "reasoning": {
            **nullable({"type": "object"}),
            "description": "`{effort, summary}` for reasoning models. Checked by the upstream, not by the gateway.",
        },
        "store": {
            **nullable({"type": "boolean"}),
            "description": (
                "Whether the upstream keeps the response. `true` is refused (400 `unsupported_parameter`) unless "
                "the model's channel allows `store`; otherwise `false` is sent upstream."
            ),
        },
        "include": {
            **nullable({"type": "array", "items": {"type": "string"}}),
            "description": "Extra output to include, e.g. `reasoning.encrypted_content`. Checked by the upstream.",
        },
        "truncation": {
            **nullable({"type": "string"}),
            "description": "`auto` or `disabled`. Checked by the upstream, not by the gateway.",
        },
        "previous_response_id": {
            **nullable({"type": "string"}),
            "description": (
                "Continue a stored response (it returns to the channel that made it). The stored conversation "
                "cannot be counted here, so it is held at HARNMODEL_PREVIOUS_RESPONSE_HOLD_TOKENS (default 128,000) "
                "input tokens: a balance below that worst case gets 402 before any upstream call."
            ),
        },
        "safety_identifier": {**nullable({"type": "string"}), "description": "A stable end-user id; forwarded."},
        "prompt_cache_key": {**nullable({"type": "string"}), "description": "Cache bucketing key; forwarded."},
        "service_tier": {
            **nullable({"type": "string"}),
            "description": (
                "auto or default; another tier (flex, priority, …) bills the operator at another rate and is "
                "refused (400 `unsupported_parameter`) unless the model's channel allows `service_tier`."
            ),
        },
        "top_logprobs": {**nullable({"type": "integer", "minimum": 0, "maximum": 20}), "description": "0-20."},
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


def request_forms() -> dict[str, dict[str, Any]]:
    """The nested forms ResponsesRequest refers to (parts, items, tools, text formats), in document order."""
    return {**_content_parts(), **_items(), **_tools(), **_text_formats()}
