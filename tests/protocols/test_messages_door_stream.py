"""Messages door, stream side: Responses events → Anthropic SSE bytes. Goldens; every event validated by the
official SDK's own types; the bytes fed through the real SDK stream helper (over a mock transport), whose
final message must equal the JSON rendering of the same answer, text byte-exact."""

import json
from pathlib import Path

import anthropic
import httpx2 as httpx  # the Anthropic SDK 2.x runs on httpx2, whose objects it requires
import msgspec
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from gateway.protocols.anthropic.door import MessagesDoor
from gateway.protocols.anthropic.stream import ping
from gateway.protocols.door import DoorRequest
from gateway.wire.sse import SSEDecoder

from .anthropic_scenarios import SCENARIOS

GOLDEN = Path(__file__).parent / "golden" / "anthropic"
door = MessagesDoor()
EVENT = TypeAdapter(RawMessageStreamEvent)


def golden(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def request(**extras) -> DoorRequest:
    return DoorRequest(body={}, stream=True, model="claude-x", extras=extras)


def render(events, req=None) -> list[bytes]:
    renderer = door.stream_renderer(req or request())
    return [renderer.feed(kind, data) for kind, data in events] + [renderer.close()]


def sdk_stream(raw: bytes, chunk: int = 7):
    """The SDK's own stream helper over our bytes, delivered in small chunks that split UTF-8 sequences."""
    pieces = [raw[i : i + chunk] for i in range(0, len(raw), chunk)]

    def handler(_request):
        return httpx.Response(200, content=iter(pieces), headers={"content-type": "text/event-stream; charset=utf-8"})

    client = anthropic.Anthropic(
        api_key="sk-test",
        base_url="http://gateway.test",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    return client.messages.stream(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def check_chunks(chunks: list[bytes]) -> list[dict]:
    """Every chunk holds whole SSE events whose `event:` equals `data.type`, each valid for the SDK's types."""
    payloads = []
    for chunk in chunks:
        decoder = SSEDecoder()
        events = decoder.feed(chunk)
        assert decoder.flush() == []
        for event in events:
            data = msgspec.json.decode(event.data)
            assert event.event == data["type"]
            if data["type"] == "error":
                ErrorResponse.model_validate(data)
            elif data["type"] == "ping":  # not in the SDK's event union: its stream skips it
                assert data == {"type": "ping"}
            else:
                EVENT.validate_python(data)
            payloads.append(data)
    return payloads


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_stream_goldens(name):
    case = golden(f"stream_{name}")
    chunks = render([tuple(event) for event in case["events"]])
    assert b"".join(chunks).decode("utf-8") == case["stream"]
    payloads = check_chunks(chunks)
    kinds = [payload["type"] for payload in payloads]
    assert kinds[0] == "message_start"
    assert kinds[-1] == ("error" if name == "failed" else "message_stop")
    starts = [p["index"] for p in payloads if p["type"] == "content_block_start"]
    stops = [p["index"] for p in payloads if p["type"] == "content_block_stop"]
    assert starts == stops == list(range(len(starts)))


@pytest.mark.parametrize("name", ["text_and_tool", "thinking_incomplete", "refusal"])
def test_sdk_reassembles_the_json_answer(name):
    """Fresh builder output (not the fixture) → stream → SDK final message == JSON rendering of the same answer."""
    events, final = SCENARIOS[name]()
    raw = b"".join(render(events))
    with sdk_stream(raw) as stream:
        texts = list(stream.text_stream)
        message = stream.get_final_message()
    expected = Message.model_validate(door.render_json(final, request()))
    assert message.model_dump(exclude_none=True) == expected.model_dump(exclude_none=True)
    if name == "text_and_tool":
        assert "".join(texts).encode() == "你好，世界 🌍".encode()
        assert message.content[1].input == {"city": "北京"}


def test_sdk_raises_on_a_failure_mid_stream():
    events, _ = SCENARIOS["failed"]()
    raw = b"".join(render(events))
    with pytest.raises(anthropic.APIStatusError) as raised, sdk_stream(raw) as stream:
        stream.get_final_message()
    assert "overloaded" in str(raised.value)


def test_every_delta_is_sent_at_once():
    """Never hold content back: each Responses delta yields its Anthropic delta in the same feed call."""
    events, _ = SCENARIOS["text_and_tool"]()
    renderer = door.stream_renderer(request())
    for kind, data in events:
        out = renderer.feed(kind, data)
        if kind.endswith(".delta"):
            assert b"content_block_delta" in out


def test_message_start_carries_the_relays_input_estimate():
    events, _ = SCENARIOS["refusal"]()
    first = check_chunks([render(events, request(input_tokens=12))[0]])[0]
    assert first["message"]["usage"]["input_tokens"] == 12


def test_stream_cut_short_ends_with_an_error_event():
    events, _ = SCENARIOS["text_and_tool"]()
    chunks = render(events[:5])
    payloads = check_chunks(chunks)
    assert payloads[-1]["type"] == "error" and payloads[-1]["error"]["type"] == "api_error"
    renderer = door.stream_renderer(request())
    assert renderer.close().startswith(b"event: error")
    assert renderer.close() == b"" and renderer.feed("response.completed", {}) == b""


def test_done_events_catch_up_what_deltas_never_sent():
    """A relay (or upstream) that only sends done events still gives the client everything."""
    item = {"id": "fc_1", "type": "function_call", "call_id": "toolu_9", "name": "f", "arguments": ""}
    msg = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "整段 ✅", "annotations": []}],
    }
    reasoning = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "why"}],
        "encrypted_content": "anthropic-signature:sig",
    }
    events = [
        ("response.created", {"response": {"id": "resp_x", "model": "claude-x"}}),
        ("response.output_item.added", {"output_index": 0, "item": {**reasoning, "summary": []}}),
        ("response.output_item.done", {"output_index": 0, "item": reasoning}),
        ("response.output_item.added", {"output_index": 1, "item": item}),
        ("response.function_call_arguments.done", {"item_id": "fc_1", "output_index": 1, "arguments": '{"a":1}'}),
        ("response.output_item.done", {"output_index": 1, "item": {**item, "arguments": '{"a":1}'}}),
        ("response.output_item.done", {"output_index": 2, "item": msg}),
        (
            "response.completed",
            {
                "response": {
                    "id": "resp_x",
                    "model": "claude-x",
                    "status": "completed",
                    "output": [reasoning, item, msg],
                    "usage": None,
                }
            },
        ),
    ]
    raw = b"".join(render(events))
    check_chunks([raw])
    with sdk_stream(raw) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["thinking", "tool_use", "text"]
    assert message.content[0].signature == "sig" and message.content[0].thinking == "why"
    assert message.content[1].input == {"a": 1} and message.content[2].text == "整段 ✅"
    assert message.stop_reason == "tool_use"


def test_summary_parts_become_paragraphs_like_the_json_answer():
    events = [
        ("response.created", {"response": {"id": "resp_x", "model": "claude-x"}}),
        ("response.output_item.added", {"output_index": 0, "item": {"id": "rs_1", "type": "reasoning", "summary": []}}),
        ("response.reasoning_summary_part.added", {"item_id": "rs_1", "summary_index": 0}),
        ("response.reasoning_summary_text.delta", {"item_id": "rs_1", "summary_index": 0, "delta": "one"}),
        ("response.reasoning_summary_part.added", {"item_id": "rs_1", "summary_index": 1}),
        ("response.reasoning_summary_text.delta", {"item_id": "rs_1", "summary_index": 1, "delta": "two"}),
        ("response.reasoning_text.delta", {"item_id": "rs_1", "content_index": 0, "delta": "raw, not shown twice"}),
    ]
    done = {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "one"}, {"type": "summary_text", "text": "two"}],
    }
    final = {"id": "resp_x", "model": "claude-x", "status": "completed", "output": [done], "usage": None}
    events += [
        ("response.output_item.done", {"output_index": 0, "item": done}),
        ("response.completed", {"response": final}),
    ]
    with sdk_stream(b"".join(render(events))) as stream:
        message = stream.get_final_message()
    assert message.content[0].thinking == "one\n\ntwo" == door.render_json(final, request())["content"][0]["thinking"]


def test_ping_between_any_events_is_ignored_by_the_sdk():
    events, final = SCENARIOS["text_and_tool"]()
    chunks = render(events)
    raw = ping() + ping().join(chunks)
    assert check_chunks([raw])[0] == {"type": "ping"}
    with sdk_stream(raw) as stream:
        message = stream.get_final_message()
    assert message.model_dump(exclude_none=True) == Message.model_validate(
        door.render_json(final, request())
    ).model_dump(exclude_none=True)
