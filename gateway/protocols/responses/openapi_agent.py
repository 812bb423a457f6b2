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
