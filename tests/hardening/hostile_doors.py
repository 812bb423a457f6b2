"""Hostile client bodies for the Chat Completions, Anthropic Messages and Gemini doors (issue 15).

Each template carries every field the door accepts (system/developer turns, images as URL and data URL, tool
calls and their results replayed, thinking blocks, thought signatures, sampling controls) so that a mutation
anywhere lands on real parsing code; `tests/hardening/hostile.py` supplies the hostile values.
"""

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from gateway.relay import doors
from gateway.wire.schema import ParsedRequest, parse_request
from tests.hardening.hostile import mutated

PNG = "iVBORw0KGgo="
_CHAT_TOOL = {"type": "function", "function": {
    "name": "f", "description": "d", "strict": True,
    "parameters": {"type": "object", "properties": {"a": {"type": "integer", "enum": [1]}}}}}
CHAT_TEMPLATE: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
        {"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'},
        {"role": "user", "content": "next"},
    ],
    "tools": [_CHAT_TOOL, {"type": "function", "function": {"name": "g"}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "parallel_tool_calls": False,
    "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}},
    "temperature": 0.5,
    "top_p": 0.9,
    "max_completion_tokens": 64,
    "stop": ["END"],
    "seed": 7,
    "reasoning_effort": "low",
    "user": "u",
    "metadata": {"k": "v"},
    "stream_options": {"include_usage": True},
}
CHAT_TOOL_CHOICES = ["auto", "none", "required", {"type": "function", "function": {"name": "f"}}]

MESSAGES_TEMPLATE: dict[str, Any] = {
    "model": "m",
    "max_tokens": 64,
    "system": [{"type": "text", "text": "be brief"}],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.png"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "c2ln"},
            {"type": "text", "text": "a"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]},
            {"type": "text", "text": "next"},
        ]},
    ],
    "tools": [{"name": "f", "description": "d",
               "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}},
              {"name": "g", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "auto"},
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 5,
    "stop_sequences": ["END"],
    "metadata": {"user_id": "u"},
}
MESSAGES_TOOL_CHOICES = [{"type": "auto"}, {"type": "any"}, {"type": "none"}, {"type": "tool", "name": "f"},
                         {"type": "auto", "disable_parallel_tool_use": True}]

GEMINI_TEMPLATE: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]},
        {"role": "model", "parts": [{"text": "a"},
                                    {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}]},
        {"role": "user", "parts": [{"text": "next"}]},
    ],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "tools": [{"functionDeclarations": [{"name": "f", "description": "d", "parameters": {
        "type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
    "generationConfig": {"temperature": 0.5, "topP": 0.9, "maxOutputTokens": 64, "responseMimeType": "text/plain",
                         "thinkingConfig": {"thinkingBudget": 128, "includeThoughts": True}},
}
GEMINI_MODES = ["AUTO", "ANY", "NONE"]


def _items(draw, items: list[Any]) -> list[Any]:
    return draw(st.lists(st.sampled_from(items), min_size=1, max_size=len(items) + 2))


@st.composite
def chat_bodies(draw, max_changes: int = 4) -> Any:
    body = dict(CHAT_TEMPLATE, messages=_items(draw, CHAT_TEMPLATE["messages"]))
    body["tool_choice"] = draw(st.sampled_from(CHAT_TOOL_CHOICES))
    body["stream"] = draw(st.booleans())
    return draw(mutated(body, max_changes=max_changes))


@st.composite
def messages_bodies(draw, max_changes: int = 4) -> Any:
    body = dict(MESSAGES_TEMPLATE, messages=_items(draw, MESSAGES_TEMPLATE["messages"]))
    body["tool_choice"] = draw(st.sampled_from(MESSAGES_TOOL_CHOICES))
    body["stream"] = draw(st.booleans())
    return draw(mutated(body, max_changes=max_changes))


@st.composite
def gemini_bodies(draw, max_changes: int = 4) -> Any:
    body = dict(GEMINI_TEMPLATE, contents=_items(draw, GEMINI_TEMPLATE["contents"]))
    body["toolConfig"] = {"functionCallingConfig": {"mode": draw(st.sampled_from(GEMINI_MODES))}}
    return draw(mutated(body, max_changes=max_changes))


# -- how the fuzz suite parses and checks each door ---------------------------------------------------------------
def door_parser(door: Any, path_model: str | None = None) -> Callable[[bytes], ParsedRequest]:
    """The client door's parse, then the pipeline's own validation of the internal form it produced."""

    def parse(raw: bytes) -> ParsedRequest:
        return parse_request(doors.parse_body(door, raw, path_model, {}, {})[1])

    return parse


def gemini_model(body: Any, model: str) -> Any:
    return body  # named in the URL


def check_anthropic_error(status: int, content_type: str, body: bytes) -> None:
    assert content_type.startswith("application/json"), content_type
    data = json.loads(body)
    assert data["type"] == "error" and set(data) <= {"type", "error", "request_id"}, data
    assert set(data["error"]) == {"type", "message"}, data
    assert data["error"]["type"].endswith("_error") and isinstance(data["error"]["message"], str)
    assert data["error"]["message"]


def check_google_error(status: int, content_type: str, body: bytes) -> None:
    assert content_type.startswith("application/json"), content_type
    data = json.loads(body)
    assert set(data) == {"error"}, data
    error = data["error"]
    assert {"code", "message", "status"} <= set(error) <= {"code", "message", "status", "details"}, error
    assert error["code"] == status and isinstance(error["status"], str) and error["status"].isupper()
    assert isinstance(error["message"], str) and error["message"]
