"""Hostile values for the translator fuzz suite (test_fuzz_translators.py): client bodies broken at every level,
and upstream bytes in each provider's own shape broken the same way.

The method is one mutation rule over a well-formed template: pick a few nodes anywhere in the tree and replace
them with a hostile value of any type (or delete them). Templates cover every branch the translators take, so
"wrong type at every level" is reached without writing a strategy per field.
"""

import json
from typing import Any

from hypothesis import strategies as st

# -- hostile leaves --------------------------------------------------------------------------------------------------
HOSTILE_STRINGS = [
    "",
    " ",
    "é",
    "\u0000",
    "\ud800",  # a lone surrogate: json.dumps escapes it as \ud800, which the decoder must refuse
    "\U0001f600",
    "‮",
    "data:",
    "data:,",
    "data:;base64,",
    "data:text/plain;base64,é",
    "data:text/plain;base64,aGk",
    "data:text/plain;base64,//79",  # valid base64, invalid UTF-8
    "data:application/pdf;base64,JVBERi0=",
    "data:image/png;base64,iVBORw0KGgo=",
    "data:image/png,plain",
    "data:image/png;base64,é€",
    "data:image/x;base64;charset=utf-8,AAAA",
    "DATA:IMAGE/PNG;BASE64,AAAA",
    "http://",
    "https://example.invalid/a.pdf",
    "ftp://x",
    "JVBERi0=",
    "é€✓",
    "%%%",
    "call_0123456789abcdef01234567__ts_é",
    "call_0123456789abcdef01234567__ts_AAAA",
    "x__ts_",
    "__ts_AAAA",
    "{",
    "[]",
    '{"a":',
    "null",
    "auto",
    "none",
    "required",
    "function",
    "allowed_tools",
    "json_schema",
    "input_text",
    "reasoning",
    "message",
    "assistant",
    "user",
    "system",
    "mp3",
    "high",
    "x" * 300,
]
HUGE_NUMBERS = [2**63, -(2**63) - 1, 2**64, 10**30, -1, 0, 1.5, -0.0, 1e308, float("nan"), float("inf"), -float("inf")]
leaves = (
    st.none()
    | st.booleans()
    | st.sampled_from(HUGE_NUMBERS)
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.sampled_from(HOSTILE_STRINGS)
    | st.text(max_size=12)
)
hostile_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(HOSTILE_STRINGS[:12]) | st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
DELETE = object()


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        copy = dict(node)
        if value is DELETE and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(node[head], rest, value)
        return copy
    copy = list(node)
    if value is DELETE and not rest:
        del copy[head]
    else:
        copy[head] = _replace(node[head], rest, value)
    return copy


@st.composite
def mutated(draw, template: Any, max_changes: int = 3) -> Any:
    """`template` with 0..max_changes nodes (the root excluded) replaced by hostile values or deleted."""
    value = template
    for _ in range(draw(st.integers(0, max_changes))):
        paths = [path for path in _paths(value) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        value = _replace(value, path, draw(st.just(DELETE) | hostile_values))
    return value


def dumps(value: Any) -> bytes:
    """JSON as a careless client writes it: NaN/Infinity as bare words, lone surrogates as \\u escapes."""
    return json.dumps(value, allow_nan=True).encode()


# -- client bodies (Responses) ---------------------------------------------------------------------------------------
_PARTS = [
    {"type": "input_text", "text": "hi"},
    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
    {"type": "input_image", "image_url": "https://example.invalid/cat.png"},
    {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
    {"type": "input_file", "file_data": "data:text/plain;base64,aGk=", "filename": "a.txt"},
    {"type": "input_file", "file_url": "https://example.invalid/a.pdf"},
    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
]
RESPONSES_TEMPLATE: dict[str, Any] = {
    "model": "m",
    "instructions": "be brief",
    "input": [
        {"role": "system", "content": [{"type": "input_text", "text": "sys"}]},
        {"role": "user", "content": _PARTS},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}], "encrypted_content": "ZW5j"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "a"}, {"type": "refusal", "refusal": "no"}]},
        {"type": "function_call", "call_id": "call_0123456789abcdef01234567__ts_c2ln", "name": "f", "arguments": '{"a":1}'},
        {"type": "function_call_output", "call_id": "call_0123456789abcdef01234567__ts_c2ln", "output": [_PARTS[0], _PARTS[1]]},
        {"type": "function_call", "call_id": "toolu_1", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "toolu_1", "output": '{"ok": true}'},
        {"role": "user", "content": "next"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "f",
            "description": "d",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer", "enum": [1]}}},
            "strict": True,
        },
        {"type": "function", "name": "g"},
    ],
    "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]},
    "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object", "$schema": "x"}}, "verbosity": "low"},
    "reasoning": {"effort": "high", "summary": "auto"},
    "temperature": 0.5,
    "top_p": 0.9,
    "max_output_tokens": 64,
    "parallel_tool_calls": False,
    "metadata": {"k": "v"},
    "user": "u",
    "include": ["reasoning.encrypted_content"],
}
TOOL_CHOICES = ["auto", "none", "required", {"type": "function", "name": "f"}, {"type": "auto"}, {"type": "web_search"}]


@st.composite
def responses_bodies(draw, max_changes: int = 4) -> Any:
    """A full Responses body (sometimes trimmed to a few items), then mutated anywhere."""
    body = dict(RESPONSES_TEMPLATE)
    body["input"] = draw(st.lists(st.sampled_from(RESPONSES_TEMPLATE["input"]), min_size=1, max_size=6))
    body["tool_choice"] = draw(st.sampled_from([*TOOL_CHOICES, RESPONSES_TEMPLATE["tool_choice"]]))
    body["stream"] = draw(st.booleans())
    return draw(mutated(body, max_changes=max_changes))


# -- upstream answers, per provider kind -----------------------------------------------------------------------------
USAGE = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5, "input_tokens_details": {"cached_tokens": 1},
         "output_tokens_details": {"reasoning_tokens": 1}}
_RESPONSE = {
    "id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "u",
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "t"}], "encrypted_content": "e"},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "hi", "annotations": []}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}", "status": "completed"},
    ],
    "usage": USAGE,
}
_CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "u",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "hi", "refusal": None, "reasoning_content": "r",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "prompt_tokens_details": {"cached_tokens": 1},
              "completion_tokens_details": {"reasoning_tokens": 1}},
}
_CHAT_CHUNKS = [
    {"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "h", "reasoning_content": "r"}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{"}}]}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {"refusal": "no"}, "finish_reason": "stop"}]},
    {"id": "c", "choices": [], "usage": _CHAT["usage"]},
]
_ANTHROPIC_USAGE = {"input_tokens": 3, "output_tokens": 2, "cache_read_input_tokens": 1, "cache_creation_input_tokens": 1}
_ANTHROPIC = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "u", "stop_reason": "tool_use", "stop_sequence": None,
    "content": [
        {"type": "thinking", "thinking": "t", "signature": "c2ln"},
        {"type": "redacted_thinking", "data": "ZGF0YQ=="},
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
    ],
    "usage": _ANTHROPIC_USAGE,
}
_ANTHROPIC_EVENTS = [
    {"type": "message_start", "message": {**_ANTHROPIC, "content": [], "stop_reason": None}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "t"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "ZGF0YQ=="}},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}},
    {"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": '{"a":1}'}},
    {"type": "content_block_stop", "index": 3},
    {"type": "ping"},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 2}},
    {"type": "message_stop"},
    {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
]
_GEMINI = {
    "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
        {"text": "t", "thought": True},
        {"text": "hi"},
        {"functionCall": {"name": "f", "args": {"a": 1}, "id": "x"}, "thoughtSignature": "c2ln"},
    ]}}],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5, "thoughtsTokenCount": 1,
                      "cachedContentTokenCount": 1},
    "modelVersion": "u",
    "responseId": "x",
    "promptFeedback": {"blockReason": "SAFETY"},
}
_GEMINI_ERROR = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "m",
                           "details": [{"reason": "API_KEY_INVALID"}]}}
_RESPONSES_EVENTS = [
    {"type": "response.created", "response": {**_RESPONSE, "status": "in_progress", "output": []}},
    {"type": "response.output_item.added", "output_index": 0, "item": _RESPONSE["output"][1]},
    {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "hi"},
    {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{}"},
    {"type": "response.completed", "response": _RESPONSE},
    {"type": "error", "code": "server_error", "message": "m"},
    {"type": "response.failed", "response": {**_RESPONSE, "status": "failed", "error": {"code": "x", "message": "m"}}},
]
JSON_TEMPLATES = {
    "openai_responses": _RESPONSE,
    "openai_chat": _CHAT,
    "anthropic": _ANTHROPIC,
    "gemini": _GEMINI,
}
STREAM_TEMPLATES = {
    "openai_responses": _RESPONSES_EVENTS,
    "openai_chat": _CHAT_CHUNKS,
    "anthropic": _ANTHROPIC_EVENTS,
    "gemini": [_GEMINI, _GEMINI_ERROR],
}
ERROR_TEMPLATES = [
    {"error": {"message": "m", "type": "invalid_request_error", "code": "c", "param": "p"}},
    {"type": "error", "error": {"type": "overloaded_error", "message": "m"}},
    _GEMINI_ERROR,
    [_GEMINI_ERROR],
]
GARBAGE = [b"", b"garbage", b"{", b'{"a":', b"\xff\xfe", b"null", b"[]", b"1e999999", b"NaN", b"data: x\n\n", b"\x00" * 8]


@st.composite
def json_answers(draw, kind: str) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(GARBAGE) | st.binary(max_size=40))
    answer = draw(mutated(JSON_TEMPLATES[kind], max_changes=4))
    raw = dumps(answer)
    if draw(st.integers(0, 9)) == 0:  # truncated
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


def _sse(event: Any, kind: str) -> bytes:
    data = dumps(event)
    name = event.get("type") if isinstance(event, dict) and isinstance(event.get("type"), str) else None
    if name and kind in ("anthropic", "openai_responses"):
        return b"event: " + name.encode("utf-8", "surrogatepass") + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


@st.composite
def stream_answers(draw, kind: str) -> list[bytes]:
    """SSE bytes cut into chunks at arbitrary places (inside lines and UTF-8 sequences too)."""
    templates = STREAM_TEMPLATES[kind]
    events = draw(st.lists(st.sampled_from(templates), min_size=0, max_size=8))
    raw = b"".join(_sse(draw(mutated(event, max_changes=2)), kind) for event in events)
    if kind == "openai_chat" and draw(st.booleans()):
        raw += b"data: [DONE]\n\n"
    if draw(st.integers(0, 5)) == 0:
        raw += draw(st.sampled_from([b"data: {\n\n", b"event: x\n", b": comment\n\n", b"data: \xff\n\n", b"retry: x\n\n", *GARBAGE]))
    if draw(st.integers(0, 5)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=4)))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


@st.composite
def error_answers(draw) -> bytes:
    if draw(st.booleans()):
        return draw(st.sampled_from(GARBAGE) | st.binary(max_size=40))
    return dumps(draw(mutated(draw(st.sampled_from(ERROR_TEMPLATES)), max_changes=3)))
