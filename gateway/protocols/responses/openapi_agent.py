"""The OpenAPI components of the agent input items (gateway/wire/agent_items.py): what Codex replays from
earlier turns. Kept beside openapi.py, which documents the rest of the request the same way."""

from typing import Any


def _s() -> dict[str, Any]:
    """A fresh string schema: limits.declare puts each property's own maxLength on it."""
    return {"type": "string"}


def _ref_of_call(kind: str, description: str, required: list[str], properties: dict[str, Any],
                 *, call_id: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["type", *required],
        "properties": {"type": {"const": kind}, "id": _s(), **properties},
    }
    if call_id:  # `call_id`, or (as the API's own local-shell items do) the call's `id`
        schema["properties"]["call_id"] = _s()
        schema["anyOf"] = [{"required": ["call_id"]}, {"required": ["id"]}]
    return schema


def item_schemas() -> dict[str, dict[str, Any]]:
    return {
        "CustomToolCallItem": {
            "type": "object",
            "description": (
                "A freeform (custom) tool call of an earlier turn, replayed. Translated channels send it as a "
                "function call whose one argument `input` holds the text."
            ),
            "required": ["type", "call_id", "name", "input"],
            "properties": {
                "type": {"const": "custom_tool_call"},
                "call_id": _s(),
                "name": _s(),
                "input": _s(),
                "namespace": _s(),
                "id": _s(),
                "status": _s(),
            },
        },
        "CustomToolCallOutputItem": _ref_of_call(
            "custom_tool_call_output",
            "The result of a custom tool call, paired by `call_id`.",
            ["output"],
            {"output": {"anyOf": [_s(), {"type": "array", "items": {"type": "object"}}]}},
        ),
        "LocalShellCallItem": _ref_of_call(
            "local_shell_call",
            "A local shell call of an earlier turn, replayed.",
            ["action"],
            {
                "status": _s(),
                "action": {
                    "type": "object",
                    "required": ["command"],
                    "properties": {"command": {"type": "array", "items": _s()}},
                },
            },
        ),
        "LocalShellCallOutputItem": _ref_of_call(
            "local_shell_call_output",
            "The result of a local shell call.",
            ["output"],
            {"output": _s(), "status": _s()},
        ),
        "ToolSearchCallItem": _ref_of_call(
            "tool_search_call",
            "A tool search of an earlier turn (Codex runs it itself: `execution: client`), replayed.",
            [],
            {"status": _s(), "execution": _s(), "arguments": {}},
            call_id=False,
        ),
        "ToolSearchOutputItem": _ref_of_call(
            "tool_search_output",
            "The tools a tool search found, replayed.",
            ["tools"],
            {"status": _s(), "execution": _s(), "call_id": _s(), "tools": {"type": "array", "items": {"type": "object"}}},
            call_id=False,
        ),
        "WebSearchCallItem": _ref_of_call(
            "web_search_call",
            "A web search an upstream made in an earlier turn, replayed (translated channels leave it out).",
            [],
            {"status": _s(), "action": {"type": "object"}},
            call_id=False,
        ),
    }


INPUT_TOKENS_ERRORS = (400, 401, 403, 404, 413, 431, 500)


def input_tokens_operation(error_response: Any, errors: dict[int, tuple[str, list[str]]]) -> dict[str, Any]:
    """`POST /v1/responses/input_tokens` (gateway/relay/input_tokens.py). The builders of openapi.py are passed
    in, so this module needs nothing from it."""
    responses: dict[str, Any] = {
        "200": {
            "description": "The input tokens the body counts, by the gateway's own counter (the one holds use).",
            "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["object", "input_tokens"],
                "properties": {"object": {"const": "response.input_tokens"},
                               "input_tokens": {"type": "integer", "minimum": 0}},
            }}},
        }
    }
    for status in INPUT_TOKENS_ERRORS:
        responses[str(status)] = error_response(*errors[status])
    return {
        "operationId": "countInputTokens",
        "summary": "Count a Responses body's input tokens (never charged, no upstream call)",
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResponsesRequest"}}}},
        "responses": responses,
    }

