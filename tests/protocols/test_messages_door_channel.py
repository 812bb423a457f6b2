"""Messages door × Anthropic channel, both directions through the internal form: what an Anthropic upstream
says reaches an Anthropic client unchanged (JSON and stream, checked by the official SDK), and the client's
next turn reaches the upstream with its thinking signatures intact — one encoding rule
(gateway/protocols/anthropic/thinking) serving both sides."""

import copy
import json

import anthropic
import httpx2
import msgspec
from anthropic.types import Message

from gateway.protocols.anthropic.channel import AnthropicAdapter
from gateway.protocols.anthropic.door import MessagesDoor
from gateway.protocols.channel import CallContext
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder

door = MessagesDoor()
CONTENT = [
    {"type": "thinking", "thinking": "先想一想 🤔", "signature": "EqQBCkYIBxgCKkB=="},
    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va=="},
    {"type": "text", "text": "查一下北京的天气 🌦"},
    {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "北京", "unit": "°C"}},
]
UPSTREAM = {
    "id": "msg_01Up",
    "type": "message",
    "role": "assistant",
    "model": "claude-upstream",
    "content": CONTENT,
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 80, "output_tokens": 33, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0},
}
CLIENT_BODY = {
    "model": "claude-x",
    "max_tokens": 2048,
    "messages": [{"role": "user", "content": "北京天气?"}],
    "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
}


def _sse(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data}, ensure_ascii=False)}\n\n".encode()


def upstream_stream() -> bytes:
    start = {**UPSTREAM, "content": [], "stop_reason": None, "usage": {**UPSTREAM["usage"], "output_tokens": 1}}
    raw = _sse("message_start", {"message": start}) + _sse("ping", {})
    raw += _sse(
        "content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}
    )
    for piece in ("先想", "一想 🤔"):
        raw += _sse("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": piece}})
    raw += _sse(
        "content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCkYIBxgCKkB=="}}
    )
    raw += _sse("content_block_stop", {"index": 0})
    raw += _sse("content_block_start", {"index": 1, "content_block": CONTENT[1]}) + _sse(
        "content_block_stop", {"index": 1}
    )
    raw += _sse("content_block_start", {"index": 2, "content_block": {"type": "text", "text": ""}})
    for piece in ("查一下北京", "的天气 🌦"):
        raw += _sse("content_block_delta", {"index": 2, "delta": {"type": "text_delta", "text": piece}})
    raw += _sse("content_block_stop", {"index": 2})
    tool = {**CONTENT[3], "input": {}}
    raw += _sse("content_block_start", {"index": 3, "content_block": tool})
    for piece in ('{"city": "北', '京", "unit": "°C"}'):
        raw += _sse("content_block_delta", {"index": 3, "delta": {"type": "input_json_delta", "partial_json": piece}})
    raw += _sse("content_block_stop", {"index": 3})
    usage = {"output_tokens": 33, "input_tokens": 80, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0}
    raw += _sse("message_delta", {"delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": usage})
    return raw + _sse("message_stop", {})


def channel_call(stream: bool):
    parsed = door.parse(copy.deepcopy(CLIENT_BODY))
    request = parse_request(msgspec.json.encode(parsed.body))
    ctx = CallContext(
        request_id="req_1",
        response_id="resp_" + "cd" * 24,
        public_model="claude-x",
        upstream_model="claude-upstream",
        base_url="http://upstream.test",
        secret="sk-up",
        stream=stream,
        max_output_tokens=parsed.body["max_output_tokens"],
        created_at=1750000000,
    )
    return parsed, request, ctx


def expected_message() -> dict:
    # Our usage keeps no cache writes; the gateway's model name is what the client sees.
    return {**UPSTREAM, "id": "msg_" + "cd" * 24, "model": "claude-x"}


def test_json_answer_reaches_the_client_unchanged():
    parsed, request, ctx = channel_call(stream=False)
    result = AnthropicAdapter().parse_response(msgspec.json.encode(UPSTREAM), request, ctx)
    rendered = door.render_json(result.body, parsed)
    assert rendered == expected_message()
    Message.model_validate(rendered)


def test_stream_reaches_the_client_unchanged():
    parsed, request, ctx = channel_call(stream=True)
    translator = AnthropicAdapter().stream_translator(request, ctx)
    renderer = door.stream_renderer(parsed)
    decoder = SSEDecoder()
    raw = upstream_stream()
    out = b""
    for start in range(0, len(raw), 5):  # network chunks that split UTF-8 characters
        for event in decoder.feed(translator.feed(raw[start : start + 5])):
            out += renderer.feed(event.event or "", msgspec.json.decode(event.data))
    for event in decoder.feed(translator.close()) + decoder.flush():
        out += renderer.feed(event.event or "", msgspec.json.decode(event.data))
    out += renderer.close()

    def handler(_request):
        return httpx2.Response(200, content=out, headers={"content-type": "text/event-stream"})

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://gateway.test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "x"}]) as s:
        message = s.get_final_message()
    assert message.model_dump(exclude_none=True) == Message.model_validate(expected_message()).model_dump(
        exclude_none=True
    )


def test_next_turn_reaches_the_upstream_with_its_signatures():
    """The client replays the answer (as the SDK dumps it) plus the tool result; the channel's upstream body
    carries the same assistant blocks, thinking first."""
    replay = Message.model_validate(expected_message()).model_dump(mode="json", exclude_none=True)["content"]
    body = copy.deepcopy(CLIENT_BODY)
    body["messages"] += [
        {"role": "assistant", "content": replay},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C"}]},
    ]
    parsed = door.parse(body)
    request = parse_request(msgspec.json.encode(parsed.body))
    _, _, ctx = channel_call(stream=False)
    upstream = json.loads(AnthropicAdapter().build_request(request, ctx).body)
    assert upstream["messages"][1] == {"role": "assistant", "content": CONTENT}
    assert upstream["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C"}],
    }
