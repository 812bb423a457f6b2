"""Golden tests for the Chat Completions adapter: request mapping, whole replies and streams, each
checked against fixtures and against the official `openai` SDK's own models."""

import json
import re
from pathlib import Path
from typing import Any, get_args

import httpx
import msgspec
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from billing.pricing import Usage
from gateway.protocols.channel import CallContext, UpstreamError
from gateway.protocols.chat.channel import OpenAIChatAdapter
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import ParsedRequest, parse_request
from gateway.wire.sse import SSEDecoder

FIXTURES = Path(__file__).parent / "fixtures" / "openai_chat"
STREAMS = sorted(path.stem for path in FIXTURES.glob("stream_*.sse"))
STREAM_REQUEST = {"model": "hm-chat", "input": "总结一下接入步骤", "stream": True}
_ID = re.compile(r"^(msg|fc|rs)_[0-9a-f]{48}$")
_RESPONSE_KEYS = ("id", "object", "status", "model", "output", "usage", "error", "incomplete_details")
_EVENT_CLASSES = {
    get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(get_args(ResponseStreamEvent)[0])
}

adapter = OpenAIChatAdapter()


# -- helpers -------------------------------------------------------------------------------------


def make_ctx(**overrides: Any) -> CallContext:
    values: dict[str, Any] = {
        "request_id": "req_test",
        "response_id": "resp_test",
        "public_model": "hm-chat",
        "upstream_model": "qwen-plus",
        "base_url": "https://upstream.test/v1/",
        "secret": "sk-upstream",
        "stream": False,
        "max_output_tokens": 1024,
        "created_at": 1750000000,
    }
    values.update(overrides)
    return CallContext(**values)


def parse(body: dict[str, Any]) -> ParsedRequest:
    return parse_request(json.dumps(body, ensure_ascii=False).encode())


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sse_payloads(data: bytes) -> list[dict[str, Any]]:
    """Our SSE output → decoded payloads, checking the `event:` line repeats `type`."""
    events = SSEDecoder().feed(data)
    payloads = [msgspec.json.decode(event.data) for event in events]
    assert [event.event for event in events] == [payload["type"] for payload in payloads]
    return payloads


def normalise(value: Any, names: dict[str, str] | None = None) -> Any:
    """Random item ids → msg_1, fc_1, rs_1… by first appearance; response snapshots → the keys that vary."""
    names = {} if names is None else names
    if isinstance(value, list):
        return [normalise(item, names) for item in value]
    if isinstance(value, dict):
        if value.get("object") == "response":
            value = {key: value[key] for key in _RESPONSE_KEYS}
        return {key: normalise(item, names) for key, item in value.items()}
    if isinstance(value, str) and _ID.match(value):
        if value not in names:
            prefix = value.split("_")[0]
            names[value] = f"{prefix}_{sum(name.startswith(prefix + '_') for name in names.values()) + 1}"
        return names[value]
    return value


def translate(data: bytes, *, chunk_size: int | None = None) -> tuple[Any, bytes]:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    size = chunk_size or len(data) or 1
    out = b"".join(translator.feed(data[i : i + size]) for i in range(0, len(data), size))
    return translator, out + translator.close()


def stream_fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.sse").read_bytes()


def sdk_client(body: bytes, content_type: str) -> openai.OpenAI:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(reply)),
        max_retries=0,
        _strict_response_validation=True,
    )


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices}
    return b"data: " + json.dumps({**body, **extra}, ensure_ascii=False).encode() + b"\n\n"


# -- request mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("request_*.json")))
def test_build_request_matches_golden(name: str) -> None:
    case = load(name)
    upstream = adapter.build_request(parse(case["request"]), make_ctx(**case.get("ctx", {})))
    assert json.loads(upstream.body) == case["expected"]


def test_build_request_targets_chat_completions_with_our_credential() -> None:
    upstream = adapter.build_request(parse(STREAM_REQUEST), make_ctx(stream=True))
    assert upstream.method == "POST"
    assert upstream.url == "https://upstream.test/v1/chat/completions"
    assert upstream.headers["authorization"] == "Bearer sk-upstream"
    assert upstream.headers["content-type"] == "application/json"
    assert upstream.headers["accept"] == "text/event-stream"
    plain = adapter.build_request(parse(STREAM_REQUEST), make_ctx(stream=False, secret=""))
    assert "authorization" not in plain.headers
    assert plain.headers["accept"] == "application/json"
    assert "stream" not in json.loads(plain.body)


def test_build_request_sends_raw_utf8() -> None:
    upstream = adapter.build_request(parse(load("request_plain_zh.json")["request"]), make_ctx())
    assert "使用简洁中文回答。".encode() in upstream.body
    assert b"\\u" not in upstream.body


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"previous_response_id": "resp_abc"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"role": "user", "content": "hi"}, {"type": "item_reference", "id": "msg_1"}]}, "input[1]"),
        ({"tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]}, "tools[1].type"),
        (
            {"tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "web_search_preview"}},
            "tool_choice.type",
        ),
        (
            {
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "web_search"}]},
            },
            "tool_choice.tools[0]",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
            "input[0].content[0].file_id",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]},
            "input[0].content[0].file_data",
        ),
        ({"input": [{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]}, "input[0].content[0].type"),
    ],
)
def test_build_request_rejects_what_chat_cannot_express(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        adapter.build_request(parse({"model": "hm-chat", "input": "hi", **body}), make_ctx())
    assert caught.value.param == param
    assert caught.value.status == 400


# -- whole replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("completion_*.json")))
def test_parse_response_matches_golden(name: str) -> None:
    case = load(name)
    ctx = make_ctx(**case.get("ctx", {}))
    result = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), ctx)
    Response.model_validate(result.body)  # strict pydantic validation with the SDK's own model
    assert normalise(result.body) == case["expected"]
    usage = case["expected"]["usage"]
    assert result.usage == Usage(
        input_tokens=usage["input_tokens"],
        cached_input_tokens=usage["input_tokens_details"]["cached_tokens"],
        output_tokens=usage["output_tokens"],
        reasoning_tokens=usage["output_tokens_details"]["reasoning_tokens"],
    )


def test_parse_response_is_accepted_by_the_sdk() -> None:
    case = load("completion_text_tools.json")
    result = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), make_ctx())
    response = sdk_client(msgspec.json.encode(result.body), "application/json").responses.create(
        model="hm-chat", input="北京和上海天气？"
    )
    assert response.output_text == "我来查一下。"
    assert [item.type for item in response.output] == ["message", "function_call", "function_call"]
    assert response.model == "hm-chat"


def test_parse_response_without_usage_reports_none() -> None:
    upstream = {"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "好"}}]}
    result = adapter.parse_response(json.dumps(upstream).encode(), parse(STREAM_REQUEST), make_ctx())
    assert result.usage is None
    assert result.body["usage"] is None
    Response.model_validate(result.body)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"[]",
        b"{}",
        b'{"choices": []}',
        b'{"choices": [{"index": 0, "finish_reason": "stop"}]}',
        b'{"error": {"message": "quota exceeded, see https://upstream.test/billing", "type": "insufficient_quota"}}',
    ],
)
def test_parse_response_rejects_unusable_replies(body: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_response(body, parse(STREAM_REQUEST), make_ctx())
    error = caught.value
    assert (error.status, error.code, error.retryable) == (502, "upstream_error", True)
    assert "http" not in error.message and "upstream.test" not in error.message


# -- streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_stream_matches_golden(name: str) -> None:
    _, out = translate(stream_fixture(name))
    assert normalise(sse_payloads(out)) == load(f"{name}.events.json")


@pytest.mark.parametrize("name", STREAMS)
def test_stream_events_validate_against_the_sdk_models(name: str) -> None:
    _, out = translate(stream_fixture(name))
    payloads = sse_payloads(out)
    assert [payload["sequence_number"] for payload in payloads] == list(range(len(payloads)))
    for payload in payloads:
        _EVENT_CLASSES[payload["type"]].model_validate(payload)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_fed_byte_by_byte_equals_stream_fed_whole(name: str) -> None:
    _, whole = translate(stream_fixture(name))
    _, bytewise = translate(stream_fixture(name), chunk_size=1)
    assert normalise(sse_payloads(bytewise)) == normalise(sse_payloads(whole))


def test_stream_split_inside_a_chinese_character() -> None:
    data = stream_fixture("stream_text_zh")
    split = data.index("步骤".encode()) + 1  # between the first and second byte of 步
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    out = translator.feed(data[:split]) + translator.feed(data[split:]) + translator.close()
    assert translator.emitted_text == "接入步骤如下：1. 创建密钥；2. 把 base_url 指向网关。"
    assert normalise(sse_payloads(out)) == load("stream_text_zh.events.json")


def test_stream_with_crlf_line_endings_equals_lf() -> None:
    data = stream_fixture("stream_text_then_parallel_calls")
    _, crlf = translate(data.replace(b"\n", b"\r\n"), chunk_size=7)
    assert normalise(sse_payloads(crlf)) == load("stream_text_then_parallel_calls.events.json")


@pytest.mark.parametrize(
    ("name", "output_text", "types"),
    [
        ("stream_text_zh", "接入步骤如下：1. 创建密钥；2. 把 base_url 指向网关。", ["message"]),
        ("stream_text_then_parallel_calls", "我来查一下两地天气。", ["message", "function_call", "function_call"]),
        ("stream_reasoning_content", "先注册，再创建密钥。", ["reasoning", "message"]),
        ("stream_whole_calls_no_usage", "", ["function_call", "function_call"]),
    ],
)
def test_stream_is_accepted_by_the_sdk_stream_helper(name: str, output_text: str, types: list[str]) -> None:
    _, out = translate(stream_fixture(name))
    client = sdk_client(out, "text/event-stream")
    with client.responses.stream(model="hm-chat", input="总结一下接入步骤") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert events[0].type == "response.created"
    assert final.output_text == output_text
    assert [item.type for item in final.output] == types
    assert final.id == "resp_test" and final.model == "hm-chat"


def test_stream_usage_is_read_from_the_usage_only_chunk() -> None:
    translator, _ = translate(stream_fixture("stream_text_then_parallel_calls"))
    assert translator.usage == Usage(input_tokens=120, cached_input_tokens=64, output_tokens=41, reasoning_tokens=0)
    assert translator.finished
    assert translator.emitted_text == '我来查一下两地天气。get_weather{"city": "北京"}get_weather{"city": "上海"}'


def test_stream_usage_is_read_from_the_finish_chunk() -> None:
    translator, _ = translate(stream_fixture("stream_reasoning_content"))
    assert translator.usage == Usage(input_tokens=18, cached_input_tokens=0, output_tokens=30, reasoning_tokens=21)


def test_stream_without_usage_reports_none() -> None:
    translator, _ = translate(stream_fixture("stream_whole_calls_no_usage"))
    assert translator.usage is None
    assert translator.finished


def test_terminal_event_waits_for_the_usage_after_the_finish_chunk() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    first = translator.feed(chunk({"role": "assistant", "content": "好"}) + chunk({}, "stop"))
    assert b"response.completed" not in first and not translator.finished
    last = translator.feed(chunk(usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}))
    last += translator.feed(b"data: [DONE]\n\n")
    completed = sse_payloads(last)[-1]
    assert completed["type"] == "response.completed"
    assert completed["response"]["usage"]["total_tokens"] == 4
    assert translator.close() == b""
    assert translator.fail("late") == b""


def test_nothing_is_sent_before_the_first_chunk() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    assert translator.feed(b"") == b""
    assert translator.feed(b": keep-alive\n\n") == b""
    assert not translator.finished and translator.usage is None


def test_finish_without_done_completes_at_close() -> None:
    data = stream_fixture("stream_length").replace(b"data: [DONE]\n\n", b"")
    translator, out = translate(data)
    terminal = sse_payloads(out)[-1]
    assert terminal["type"] == "response.incomplete"
    assert terminal["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert terminal["response"]["usage"]["output_tokens"] == 4


def test_truncated_stream_ends_with_error_and_failed() -> None:
    translator, out = translate(stream_fixture("stream_truncated"))
    payloads = sse_payloads(out)
    assert [payload["type"] for payload in payloads[-2:]] == ["error", "response.failed"]
    assert payloads[-2]["message"] == "The upstream ended the stream early."
    assert payloads[-1]["response"]["error"]["code"] == "server_error"
    assert translator.finished and translator.usage is None
    assert translator.emitted_text == "接入步骤"
    with pytest.raises(openai.APIError, match="ended the stream early"):
        with sdk_client(out, "text/event-stream").responses.stream(model="hm-chat", input="x") as stream:
            list(stream)


def test_mid_stream_error_chunk_fails_without_leaking_the_url() -> None:
    _, out = translate(stream_fixture("stream_error_chunk"))
    error = sse_payloads(out)[-2]
    assert error["type"] == "error"
    assert "CUDA out of memory" in error["message"]
    assert "internal.example" not in out.decode()


def test_fail_from_the_relay_closes_the_stream() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    translator.feed(chunk({"content": "半句"}))
    payloads = sse_payloads(translator.fail("The upstream timed out."))
    assert [payload["type"] for payload in payloads] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "error",
        "response.failed",
    ]
    assert translator.finished and translator.close() == b""


def test_done_without_a_finish_reason_completes() -> None:
    translator, out = translate(chunk({"content": "好"}) + b"data: [DONE]\n\n")
    assert sse_payloads(out)[-1]["type"] == "response.completed"
    assert translator.finished


def test_refusal_delta_becomes_a_refusal_part() -> None:
    data = chunk({"refusal": "抱歉，"}) + chunk({"refusal": "无法协助。"}, "stop") + b"data: [DONE]\n\n"
    _, out = translate(data)
    payloads = sse_payloads(out)
    for payload in payloads:
        _EVENT_CLASSES[payload["type"]].model_validate(payload)
    assert "response.refusal.done" in [payload["type"] for payload in payloads]
    assert payloads[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": "抱歉，无法协助。"}]


def test_calls_all_numbered_zero_are_told_apart_by_id() -> None:
    calls = [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "a", "arguments": '{"x":1}'}},
        {"index": 0, "id": "call_2", "type": "function", "function": {"name": "b", "arguments": "{"}},
    ]
    data = chunk({"tool_calls": calls}) + chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]})
    translator, out = translate(data + chunk({}, "tool_calls") + b"data: [DONE]\n\n")
    output = sse_payloads(out)[-1]["response"]["output"]
    assert [(item["call_id"], item["name"], item["arguments"]) for item in output] == [
        ("call_1", "a", '{"x":1}'),
        ("call_2", "b", "{}"),
    ]


def test_reasoning_field_is_read_like_reasoning_content() -> None:
    data = chunk({"reasoning": "想"}) + chunk({"content": "答"}, "stop") + b"data: [DONE]\n\n"
    _, out = translate(data)
    output = sse_payloads(out)[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["summary"] == [{"type": "summary_text", "text": "想"}]


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (400, {}, (400, "invalid_request_error", False, None)),
        (429, {"retry-after": "2"}, (429, "rate_limit_exceeded", True, 2.0)),
        (500, {}, (502, "upstream_error", True, None)),
    ],
)
def test_map_error(status: int, headers: dict[str, str], expected: tuple[Any, ...]) -> None:
    body = b'{"error": {"message": "bad things", "type": "x"}}'
    error = adapter.map_error(status, body, httpx.Headers(headers))
    assert (error.status, error.code, error.retryable, error.retry_after) == expected
