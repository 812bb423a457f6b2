"""The Chat Completions door against golden fixtures and the official OpenAI SDK.

Golden files live in tests/protocols/golden/chat/: requests/<case>.json → <case>.expected.json (the
internal body, stream flag and extras); streams/<case>.events.json (a Responses event sequence made by
gateway.wire.responses.ResponseStreamBuilder) → <case>.sse and <case>.usage.sse (the door's bytes without and
with include_usage) and <case>.chat.json (the JSON answer for the terminal event's response).
Set CHAT_DOOR_GOLDEN_UPDATE=1 to rewrite the expected files, then review the diff.
"""

import json
import os
from pathlib import Path
from typing import Any

import httpx
import msgspec
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway.protocols.chat.door import ChatDoor
from gateway.protocols.door import DoorRequest
from gateway.wire.errors import ApiError, InvalidRequest, UpstreamFailed
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder

GOLDEN = Path(__file__).parent / "golden" / "chat"
UPDATE = os.environ.get("CHAT_DOOR_GOLDEN_UPDATE") == "1"
REQUESTS = sorted(p.stem for p in (GOLDEN / "requests").glob("*.json") if not p.stem.endswith(".expected"))
STREAMS = sorted(p.name.removesuffix(".events.json") for p in (GOLDEN / "streams").glob("*.events.json"))
RESPONSES = sorted(p.name.removesuffix(".response.json") for p in (GOLDEN / "responses").glob("*.response.json"))
door = ChatDoor()


def _golden_json(path: Path, actual: Any) -> None:
    if UPDATE:
        path.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == actual


def _golden_bytes(path: Path, actual: bytes) -> None:
    if UPDATE:
        path.write_bytes(actual)
    assert path.read_bytes() == actual  # byte-exact: raw UTF-8, no \u escapes


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _events(case: str) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, data) for kind, data in _load(GOLDEN / "streams" / f"{case}.events.json")["events"]]


def _request(include_usage: bool = False, stream: bool = True) -> DoorRequest:
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return door.parse(body)


def _render_stream(events: list[tuple[str, dict[str, Any]]], include_usage: bool) -> bytes:
    renderer = door.stream_renderer(_request(include_usage))
    return b"".join(renderer.feed(kind, data) for kind, data in events) + renderer.close()


def _client(reply: httpx.Response) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply

    return openai.OpenAI(
        api_key="sk-test", base_url="http://gateway.test/v1", max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )  # fmt: skip


def _sse_reply(data: bytes) -> httpx.Response:
    return httpx.Response(200, content=data, headers={"content-type": "text/event-stream; charset=utf-8"})


# -- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", REQUESTS)
def test_request_golden(case):
    parsed = door.parse(_load(GOLDEN / "requests" / f"{case}.json")["request"])
    actual = {"body": parsed.body, "stream": parsed.stream, "model": parsed.model, "extras": parsed.extras}
    _golden_json(GOLDEN / "requests" / f"{case}.expected.json", actual)
    # The internal form the door makes is one the pipeline accepts as it is.
    internal = parse_request(msgspec.json.encode(parsed.body))
    assert internal.typed.model == parsed.model
    assert internal.typed.stream == parsed.stream


def test_request_unicode_is_kept_exactly():
    text = "你好，世界 🌏👋🏽 e\u0301"
    parsed = door.parse({"model": "m", "messages": [{"role": "user", "content": text}]})
    assert parsed.body["input"][0]["content"] == text
    assert text.encode() in msgspec.json.encode(parsed.body)


def test_function_tools_stay_non_strict_unless_asked():
    """Responses would make a tool without `strict` strict; Chat does not, so the door says false."""
    parsed = door.parse(_load(GOLDEN / "requests" / "conversation.json")["request"])
    assert [tool["strict"] for tool in parsed.body["tools"]] == [False, True]


# -- JSON answers --------------------------------------------------------------------------------


def _terminal_response(case: str) -> dict[str, Any]:
    kind, data = _events(case)[-1]
    assert kind in ("response.completed", "response.incomplete", "response.failed")
    return data["response"]


JSON_CASES = [("streams", case) for case in STREAMS if case != "failed"] + [("responses", c) for c in RESPONSES]


@pytest.mark.parametrize(("where", "case"), JSON_CASES)
def test_json_golden_and_sdk(where, case):
    if where == "streams":
        response = _terminal_response(case)
    else:
        response = _load(GOLDEN / "responses" / f"{case}.response.json")
    rendered = door.render_json(response, _request(stream=False))
    _golden_json(GOLDEN / where / f"{case}.chat.json", rendered)
    ChatCompletion.model_validate(rendered)
    # The real client, reading our bytes off the wire.
    body = msgspec.json.encode(rendered)
    reply = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    completion = _client(reply).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert completion.id.startswith("chatcmpl-")
    assert completion.model_dump(exclude_unset=True) == ChatCompletion.model_validate(rendered).model_dump(
        exclude_unset=True
    )


def test_json_text_usage_and_id():
    response = _terminal_response("text")
    rendered = door.render_json(response, _request(stream=False))
    assert rendered["id"] == "chatcmpl-" + response["id"].removeprefix("resp_")
    assert rendered["created"] == response["created_at"]
    message = rendered["choices"][0]["message"]
    assert message["content"] == "你好，世界 🌏！👋🏽 café"
    assert rendered["choices"][0]["finish_reason"] == "stop"
    assert rendered["usage"] == {
        "prompt_tokens": 1200,
        "completion_tokens": 57,
        "total_tokens": 1257,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    assert "你好，世界 🌏！👋🏽 café".encode() in msgspec.json.encode(rendered)


@pytest.mark.parametrize(
    ("case", "finish"),
    [("text", "stop"), ("tools", "tool_calls"), ("incomplete", "length"), ("refusal_filtered", "content_filter")],
)
def test_json_finish_reasons(case, finish):
    rendered = door.render_json(_terminal_response(case), _request(stream=False))
    assert rendered["choices"][0]["finish_reason"] == finish


def test_json_tool_calls_and_reasoning():
    tools = door.render_json(_terminal_response("tools"), _request(stream=False))["choices"][0]["message"]
    assert tools["content"] == "Let me check."
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in tools["tool_calls"]] == [
        ("call_AAAAAAAAAAAAAAAAAAAAAAAA", "get_weather", '{"city":"北京"}'),
        ("call_BBBBBBBBBBBBBBBBBBBBBBBB", "get_time", '{"tz":"Asia/Shanghai"}'),
    ]
    reasoning = door.render_json(_terminal_response("reasoning"), _request(stream=False))["choices"][0]["message"]
    assert reasoning["reasoning_content"] == "用户在问候。 Answer briefly."
    assert reasoning["content"] == "Hello!"


def test_json_failed_response_is_an_error():
    with pytest.raises(UpstreamFailed) as caught:
        door.render_json(_terminal_response("failed"), _request(stream=False))
    assert door.error_body(caught.value)["error"]["message"] == "The upstream ended the stream early."


def test_error_body_is_openai_shape():
    error = InvalidRequest("bad", param="messages[0].role", code="invalid_value")
    assert door.error_body(error) == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": "messages[0].role",
            "code": "invalid_value",
        }
    }
    reply = httpx.Response(400, json=door.error_body(error))
    with pytest.raises(openai.BadRequestError) as caught:
        _client(reply).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert caught.value.param == "messages[0].role"
    assert caught.value.code == "invalid_value"


# -- streams -------------------------------------------------------------------------------------


def _chunks(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\n\n")
    blocks = raw[:-2].split(b"\n\n")
    for block in blocks:
        assert block.startswith(b"data: ") and b"\n" not in block  # data lines only, no event: lines
    return [block.removeprefix(b"data: ") for block in blocks]


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("case", STREAMS)
def test_stream_golden_and_chunk_types(case, include_usage):
    raw = _render_stream(_events(case), include_usage)
    _golden_bytes(GOLDEN / "streams" / f"{case}{'.usage' if include_usage else ''}.sse", raw)
    datas = _chunks(raw)
    if case == "failed":
        assert b"[DONE]" not in datas
        assert "error" in json.loads(datas[-1])
        datas = datas[:-1]
    else:
        assert datas[-1] == b"[DONE]"
        datas = datas[:-1]
    chunks = [json.loads(data) for data in datas]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert chunks[0]["choices"][0]["delta"] in (
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": None},
    )
    assert all("role" not in chunk["choices"][0]["delta"] for chunk in chunks[1:] if chunk["choices"])
    assert len({chunk["id"] for chunk in chunks}) == 1
    if case != "failed":
        finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
        assert len(finish) == 1 and finish[0]["choices"][0]["delta"] == {}
        if include_usage:
            assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
            assert all(chunk["usage"] is None for chunk in chunks[:-1])
        else:
            assert all("usage" not in chunk for chunk in chunks)


@pytest.mark.parametrize("case", [case for case in STREAMS if case != "failed"])
def test_stream_reassembles_to_the_json_answer(case):
    """The SDK's own stream helper, fed our bytes, rebuilds the completion the JSON door renders."""
    events = _events(case)
    raw = _render_stream(events, include_usage=True)
    client = _client(_sse_reply(raw))
    with client.chat.completions.stream(model="gpt-4o", messages=[{"role": "user", "content": "x"}]) as stream:
        for _ in stream:
            pass
        try:
            final = stream.get_final_completion()
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError):
            # The helper refuses to hand over cut-short answers; the snapshot is what it assembled.
            assert case in ("incomplete", "refusal_filtered")
            final = stream.current_completion_snapshot
    expected = ChatCompletion.model_validate(door.render_json(_terminal_response(case), _request(stream=False)))
    assert final.id == expected.id and final.created == expected.created and final.model == expected.model
    got, want = final.choices[0], expected.choices[0]
    assert got.finish_reason == want.finish_reason
    assert got.message.content == want.message.content
    assert got.message.refusal == want.message.refusal
    assert [(c.id, c.function.name, c.function.arguments) for c in got.message.tool_calls or ()] == [
        (c.id, c.function.name, c.function.arguments) for c in want.message.tool_calls or ()
    ]
    assert getattr(got.message, "reasoning_content", None) == getattr(want.message, "reasoning_content", None)
    assert final.usage == expected.usage


def test_stream_plain_iteration_keeps_unicode_exact():
    raw = _render_stream(_events("text"), include_usage=False)
    assert "你好，".encode() in raw and "世界 🌏".encode() in raw and "！👋🏽 café".encode() in raw
    client = _client(_sse_reply(raw))
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "你好，世界 🌏！👋🏽 café"


def test_stream_error_raises_in_the_sdk():
    raw = _render_stream(_events("failed"), include_usage=False)
    client = _client(_sse_reply(raw))
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)
    seen = []
    with pytest.raises(openai.APIError, match="ended the stream early"):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "Partial 文字" in seen  # what was said before the break was delivered


def test_stream_delta_goes_out_at_once():
    renderer = door.stream_renderer(_request())
    events = _events("tools")
    assert renderer.feed(*events[0]) == b""  # response.created: nothing to say yet
    out = b""
    for kind, data in events[1:]:
        out = renderer.feed(kind, data)
        if kind == "response.output_text.delta" and data["sequence_number"] < 5:
            assert out.startswith(b'data: {"id":') and b'"delta":{"role":"assistant","content":""}' in out
        if kind == "response.output_text.delta":
            assert data["delta"].encode() in out
        if kind == "response.function_call_arguments.delta":
            assert json.dumps(data["delta"], ensure_ascii=False).encode()[1:-1] in out


def test_stream_tool_call_deltas():
    raw = _render_stream(_events("tools"), include_usage=False)
    calls = [
        call
        for data in _chunks(raw)[:-1]
        for choice in json.loads(data)["choices"]
        for call in choice["delta"].get("tool_calls") or ()
    ]
    assert calls[0] == {
        "index": 0,
        "id": "call_AAAAAAAAAAAAAAAAAAAAAAAA",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert calls[1:3] == [
        {"index": 0, "function": {"arguments": '{"city":'}},
        {"index": 0, "function": {"arguments": '"北京"}'}},
    ]
    assert calls[3]["index"] == 1 and calls[3]["id"] == "call_BBBBBBBBBBBBBBBBBBBBBBBB"


def test_stream_catches_up_text_and_arguments_only_sent_on_done():
    """A passthrough upstream may put a call's whole arguments only on `.done`: they must still go out."""
    renderer = door.stream_renderer(_request())
    item = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}
    out = renderer.feed("response.output_item.added", {"output_index": 0, "item": item})
    out += renderer.feed("response.function_call_arguments.done", {"item_id": "fc_1", "arguments": '{"a":1}'})
    out += renderer.feed("response.output_item.done", {"item": {**item, "arguments": '{"a":1}'}})
    done = {"item_id": "msg_1", "content_index": 0, "text": "late 文"}
    out += renderer.feed("response.output_text.done", done)
    out += renderer.feed("response.completed", {"response": {"status": "completed"}})
    out += renderer.close()
    chunks = [json.loads(d) for d in _chunks(out)[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]} in deltas
    assert {"content": "late 文"} in deltas
    assert sum(1 for d in deltas if d.get("tool_calls")) == 2  # the done item repeats nothing
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_that_ends_without_a_terminal_event_is_an_error():
    renderer = door.stream_renderer(_request())
    out = renderer.feed("response.created", {"response": {"id": "resp_x", "created_at": 5, "model": "m"}})
    out += renderer.close()
    last = json.loads(_chunks(out)[-1])
    assert last["error"]["type"] == "server_error" and b"[DONE]" not in out
    assert renderer.feed("response.output_text.delta", {"delta": "late"}) == b""


def test_stream_renderer_survives_odd_events():
    renderer = door.stream_renderer(_request())
    for kind, data in [
        ("response.output_text.delta", {"delta": ["x"]}),
        ("response.output_item.added", {"item": "nope"}),
        ("response.function_call_arguments.delta", {"item_id": "unknown", "delta": "x"}),
        ("response.reasoning_summary_part.added", {"summary_index": "1"}),
        ("response.created", {"response": {"created_at": float("inf"), "id": 3}}),
        ("something.new", {}),
    ]:
        assert isinstance(renderer.feed(kind, data), bytes)
    out = renderer.feed("response.completed", {"response": None}) + renderer.close()
    assert out.endswith(b"data: [DONE]\n\n")


def test_failed_event_alone_renders_its_error():
    renderer = door.stream_renderer(_request())
    response = {"status": "failed", "error": {"code": "server_error", "message": "boom"}}
    out = renderer.feed("response.failed", {"response": response}) + renderer.close()
    error = json.loads(_chunks(out)[-1])["error"]
    assert error["message"] == "boom" and error["code"] == "server_error"
    assert isinstance(UpstreamFailed("x"), ApiError)


def test_events_fixture_is_a_valid_responses_stream():
    """The inputs themselves are what the Responses door would send: the SDK's own parser accepts them."""
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    adapter = TypeAdapter(ResponseStreamEvent)
    for case in STREAMS:
        for _, data in _events(case):
            adapter.validate_python(data)
    assert SSEDecoder().feed(b"data: x\n\n")[0].data == b"x"
