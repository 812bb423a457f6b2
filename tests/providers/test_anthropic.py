"""Golden tests for the Anthropic Messages adapter: request mapping, whole replies and streams, each
checked against fixtures, against the official `openai` SDK's models (what we emit) and against the
official `anthropic` SDK (what we send, and that the upstream fixtures are what Anthropic's client accepts:
the fixture bytes are served verbatim by tests/upstream/anthropic_mock.py)."""

import collections.abc
import json
import re
from pathlib import Path
from typing import Any, get_args

import anthropic
import httpx
import msgspec
import openai
import pydantic
import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from openai.types.responses import Response, ResponseStreamEvent

from billing.pricing import Usage
from gateway.protocols.anthropic.channel import AnthropicAdapter, anthropic_usage
from gateway.protocols.channel import CallContext, UpstreamError
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import ParsedRequest, parse_request
from gateway.wire.sse import SSEDecoder
from gateway.wire.tokens import count_tokens
from tests.upstream.anthropic_mock import AnthropicMock, error_body

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
REQUESTS = sorted(path.name for path in FIXTURES.glob("request_*.json"))
MESSAGES = sorted(path.name for path in FIXTURES.glob("message_*.json"))
STREAMS = sorted(path.stem for path in FIXTURES.glob("stream_*.sse"))
COMPLETE_STREAMS = [name for name in STREAMS if name not in ("stream_error_mid", "stream_truncated")]
STREAM_REQUEST = {"model": "hm-claude", "input": "总结一下接入步骤", "stream": True}
NOT_IN_SDK_PARAMS = ("temperature", "top_p")  # dropped from anthropic≥1.0 signatures, still accepted by the API
_ID = re.compile(r"^(msg|fc|rs)_[0-9a-f]{48}$")
_RESPONSE_KEYS = ("id", "object", "status", "model", "output", "usage", "error", "incomplete_details")
_EVENT_CLASSES = {
    get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(get_args(ResponseStreamEvent)[0])
}
_CREATE_PARAMS = pydantic.TypeAdapter(MessageCreateParamsNonStreaming)

adapter = AnthropicAdapter()


# -- helpers -------------------------------------------------------------------------------------


def make_ctx(**overrides: Any) -> CallContext:
    values: dict[str, Any] = {
        "request_id": "req_test",
        "response_id": "resp_test",
        "public_model": "hm-claude",
        "upstream_model": "claude-sonnet-4-6",
        "base_url": "https://upstream.test/v1/",
        "secret": "sk-ant-upstream",
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


def stream_fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.sse").read_bytes()


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


def translate(data: bytes, *, chunk_size: int | None = None, request: dict | None = None) -> tuple[Any, bytes]:
    translator = adapter.stream_translator(parse(request or STREAM_REQUEST), make_ctx(stream=True))
    size = chunk_size or len(data) or 1
    out = b"".join(translator.feed(data[i : i + size]) for i in range(0, len(data), size))
    return translator, out + translator.close()


def event(name: str, **data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data}, ensure_ascii=False)}\n\n".encode()


MESSAGE_START = event(
    "message_start",
    message={
        "id": "msg_01T",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    },
)


def openai_client(body: bytes, content_type: str) -> openai.OpenAI:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://gateway.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(reply)),
        max_retries=0,
        _strict_response_validation=True,
    )


def sdk_params(body: dict[str, Any]) -> dict[str, Any]:
    """Our upstream body, validated with the anthropic SDK's own TypedDicts. Unknown keys are dropped by
    the validation, so comparing the result with the input also catches fields the SDK does not know."""

    def force(value: Any) -> Any:  # the SDK types use Iterable[...]: validation happens on iteration
        if isinstance(value, dict):
            return {key: force(item) for key, item in value.items()}
        if isinstance(value, (str, bytes, int, float, bool)) or value is None:
            return value
        if isinstance(value, collections.abc.Iterable):
            return [force(item) for item in value]
        return value

    return force(_CREATE_PARAMS.validate_python(body))


def views_of_ours(response: dict[str, Any]) -> dict[str, Any]:
    output = response["output"]
    return {
        "text": "".join(p["text"] for i in output if i["type"] == "message" for p in i["content"]),
        "reasoning": "".join(s["text"] for i in output if i["type"] == "reasoning" for s in i["summary"]),
        "calls": [
            (i["call_id"], i["name"], json.loads(i["arguments"])) for i in output if i["type"] == "function_call"
        ],
    }


def views_of_sdk(message: anthropic.types.Message) -> dict[str, Any]:
    blocks = message.content
    return {
        "text": "".join(b.text for b in blocks if b.type == "text"),
        "reasoning": "".join(b.thinking for b in blocks if b.type == "thinking"),
        "calls": [(b.id, b.name, b.input) for b in blocks if b.type == "tool_use"],
    }


@pytest.fixture
def mock(anthropic_mock: AnthropicMock) -> AnthropicMock:
    return anthropic_mock  # one server for the module (tests/providers/conftest.py)


@pytest.fixture
def sdk(mock: AnthropicMock) -> anthropic.Anthropic:
    mock.reset()
    return anthropic.Anthropic(
        base_url=mock.base_url.removesuffix("/v1"), api_key="x", max_retries=0, _strict_response_validation=True
    )


# -- request mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUESTS)
def test_build_request_matches_golden(name: str) -> None:
    case = load(name)
    upstream = adapter.build_request(parse(case["request"]), make_ctx(**case.get("ctx", {})))
    assert json.loads(upstream.body) == case["expected"]


@pytest.mark.parametrize("name", REQUESTS)
def test_golden_requests_are_valid_anthropic_sdk_params(name: str) -> None:
    expected = load(name)["expected"]
    body = {key: value for key, value in expected.items() if key not in (*NOT_IN_SDK_PARAMS, "stream")}
    assert sdk_params(body) == body


@pytest.mark.parametrize("name", REQUESTS)
def test_golden_requests_go_through_the_anthropic_sdk_unchanged(name: str, sdk: anthropic.Anthropic, mock) -> None:
    expected = load(name)["expected"]
    params = {key: value for key, value in expected.items() if key not in NOT_IN_SDK_PARAMS}
    extra = {key: expected[key] for key in NOT_IN_SDK_PARAMS if key in expected}
    if params.pop("stream", False):
        with sdk.messages.stream(**params, extra_body=extra) as stream:
            stream.get_final_message()
    else:
        sdk.messages.create(**params, extra_body=extra)
    assert mock.requests[-1].body == expected


def test_build_request_targets_messages_with_anthropic_headers() -> None:
    upstream = adapter.build_request(parse(STREAM_REQUEST), make_ctx(stream=True))
    assert upstream.method == "POST"
    assert upstream.url == "https://upstream.test/v1/messages"
    assert upstream.headers == {
        "content-type": "application/json",
        "accept": "text/event-stream",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-upstream",
    }
    assert json.loads(upstream.body)["stream"] is True
    options = {"anthropic_version": "2026-10-21", "anthropic_beta": ["a-2025", "b-2026"]}
    plain = adapter.build_request(parse(STREAM_REQUEST), make_ctx(secret="", options=options))
    assert "x-api-key" not in plain.headers and "authorization" not in plain.headers
    assert plain.headers["accept"] == "application/json"
    assert plain.headers["anthropic-version"] == "2026-10-21"
    assert plain.headers["anthropic-beta"] == "a-2025,b-2026"
    assert "stream" not in json.loads(plain.body)


def test_build_request_sends_raw_utf8() -> None:
    upstream = adapter.build_request(parse(load("request_plain_zh.json")["request"]), make_ctx())
    assert "使用简洁中文回答。".encode() in upstream.body
    assert b"\\u" not in upstream.body


def test_max_tokens_is_always_sent() -> None:
    body = json.loads(adapter.build_request(parse(STREAM_REQUEST), make_ctx(max_output_tokens=None)).body)
    assert body["max_tokens"] == 4096
    ctx = make_ctx(max_output_tokens=None, options={"default_max_tokens": 512})
    assert json.loads(adapter.build_request(parse(STREAM_REQUEST), ctx).body)["max_tokens"] == 512


def test_sampling_parameters_can_be_switched_off_per_channel() -> None:
    request = parse({**STREAM_REQUEST, "temperature": 0.5, "top_p": 0.5})
    body = json.loads(adapter.build_request(request, make_ctx(options={"send_sampling": False})).body)
    assert "temperature" not in body and "top_p" not in body
    only_top_p = json.loads(adapter.build_request(parse({**STREAM_REQUEST, "top_p": 0.5}), make_ctx()).body)
    assert only_top_p["top_p"] == 0.5 and "temperature" not in only_top_p


def test_tool_strict_is_only_forwarded_when_the_channel_opts_in() -> None:
    request = parse(load("request_tools_auto.json")["request"])
    tools = json.loads(adapter.build_request(request, make_ctx()).body)["tools"]
    assert [tool.get("strict") for tool in tools] == [None, None, None]


def _user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"input": [{"role": "user", "content": list(parts)}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"previous_response_id": "resp_abc"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"role": "user", "content": "hi"}, {"type": "item_reference", "id": "msg_1"}]}, "input[1]"),
        ({"input": [{"role": "system", "content": "只有系统消息"}]}, "input"),
        ({"tools": [{"type": "function", "name": "f"}, {"type": "file_search"}]}, "tools[1].type"),  # web_search: mapped
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
            {
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "g"}]},
            },
            "tool_choice.tools[0]",
        ),
        (
            {
                "tools": [{"type": "function", "name": "f"}],
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []},
            },
            "tool_choice.tools",
        ),
        (_user({"type": "input_image", "file_id": "file_1"}), "input[0].content[0].file_id"),
        (_user({"type": "input_image", "image_url": "data:image/bmp;base64,Qk0="}), "input[0].content[0].image_url"),
        (_user({"type": "input_image", "image_url": "data:image/png,iVBOR"}), "input[0].content[0].image_url"),
        (_user({"type": "input_file", "file_id": "file_1"}), "input[0].content[0].file_data"),
        (
            _user({"type": "input_file", "file_data": "data:application/zip;base64,UEs="}),
            "input[0].content[0].file_data",
        ),
        (_user({"type": "input_file", "file_data": "data:text/plain;base64,!!!"}), "input[0].content[0].file_data"),
        (_user({"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}), "input[0].content[0].type"),
        (_user({"type": "refusal", "refusal": "no"}), "input[0].content[0].type"),
        (
            {
                "input": [
                    {"role": "developer", "content": [{"type": "input_image", "image_url": "https://x.test/a.png"}]}
                ]
            },
            "input[0].content[0].type",
        ),
    ],
)
def test_build_request_rejects_what_anthropic_cannot_express(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        adapter.build_request(parse({"model": "hm-claude", "input": "hi", **body}), make_ctx())
    assert caught.value.param == param
    assert caught.value.status == 400


# -- whole replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MESSAGES)
def test_parse_response_matches_golden(name: str) -> None:
    case = load(name)
    ctx = make_ctx(**case.get("ctx", {}))
    result = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), ctx)
    Response.model_validate(result.body)  # strict pydantic validation with the openai SDK's own model
    assert normalise(result.body) == case["expected"]
    usage = case["expected"]["usage"]
    assert result.usage == Usage(
        input_tokens=usage["input_tokens"],
        cached_input_tokens=usage["input_tokens_details"]["cached_tokens"],
        cache_write_tokens=usage["input_tokens_details"]["cache_write_tokens"],
        output_tokens=usage["output_tokens"],
        reasoning_tokens=usage["output_tokens_details"]["reasoning_tokens"],
    )


@pytest.mark.parametrize("name", MESSAGES)
def test_golden_messages_are_what_the_anthropic_sdk_reads(name: str, sdk: anthropic.Anthropic, mock) -> None:
    """The fixture bytes, served verbatim, parse strictly in the official client — and say what we say."""
    case = load(name)
    mock.queue(json.dumps(case["upstream"], ensure_ascii=False).encode())
    message = sdk.messages.create(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "x"}])
    result = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), make_ctx())
    assert views_of_ours(result.body) == views_of_sdk(message)
    assert anthropic_usage(message.usage.model_dump()) == result.usage


def test_parse_response_is_accepted_by_the_openai_sdk() -> None:
    case = load("message_text_parallel_tools.json")
    result = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), make_ctx())
    response = openai_client(msgspec.json.encode(result.body), "application/json").responses.create(
        model="hm-claude", input="北京和上海天气？"
    )
    assert response.output_text == "我来查一下。"
    assert [item.type for item in response.output] == ["message", "function_call", "function_call"]
    assert response.usage.input_tokens_details.cached_tokens == 400


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"[]",
        b"{}",
        b'{"type": "message", "content": null}',
        b'{"type": "error", "error": {"type": "api_error", "message": "Internal error, see https://status.test/x"}}',
    ],
)
def test_parse_response_rejects_unusable_replies(body: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_response(body, parse(STREAM_REQUEST), make_ctx())
    error = caught.value
    assert (error.status, error.code, error.retryable) == (502, "upstream_error", True)
    assert "http" not in error.message and "status.test" not in error.message


def test_parse_response_without_usage_reports_none() -> None:
    upstream = {"type": "message", "content": [{"type": "text", "text": "好"}], "stop_reason": "end_turn"}
    result = adapter.parse_response(json.dumps(upstream).encode(), parse(STREAM_REQUEST), make_ctx())
    assert result.usage is None and result.body["usage"] is None
    Response.model_validate(result.body)


# -- streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
def test_stream_matches_golden(name: str) -> None:
    _, out = translate(stream_fixture(name))
    assert normalise(sse_payloads(out)) == load(f"{name}.events.json")


@pytest.mark.parametrize("name", STREAMS)
def test_stream_events_validate_against_the_openai_sdk_models(name: str) -> None:
    _, out = translate(stream_fixture(name))
    payloads = sse_payloads(out)
    assert [payload["sequence_number"] for payload in payloads] == list(range(len(payloads)))
    for payload in payloads:
        _EVENT_CLASSES[payload["type"]].model_validate(payload)
    Response.model_validate(payloads[-1]["response"])


@pytest.mark.parametrize("name", STREAMS)
def test_stream_fed_byte_by_byte_equals_stream_fed_whole(name: str) -> None:
    whole_translator, whole = translate(stream_fixture(name))
    bytewise_translator, bytewise = translate(stream_fixture(name), chunk_size=1)
    assert normalise(sse_payloads(bytewise)) == normalise(sse_payloads(whole))
    assert bytewise_translator.usage == whole_translator.usage


@pytest.mark.parametrize("name", COMPLETE_STREAMS)
def test_golden_streams_are_what_the_anthropic_sdk_reads(name: str, sdk: anthropic.Anthropic, mock) -> None:
    """The fixture bytes, served verbatim, are accumulated by the official client into the same
    text, thinking, calls and usage that our translation reports."""
    mock.queue(stream_fixture(name), sse=True)
    with sdk.messages.stream(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "x"}]) as stream:
        message = stream.get_final_message()
    translator, out = translate(stream_fixture(name))
    final = sse_payloads(out)[-1]["response"]
    assert views_of_ours(final) == views_of_sdk(message)
    assert anthropic_usage(message.usage.model_dump()) == translator.usage


def test_anthropic_sdk_raises_on_the_mid_stream_error_fixture(sdk: anthropic.Anthropic, mock) -> None:
    mock.queue(stream_fixture("stream_error_mid"), sse=True)
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        with sdk.messages.stream(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "x"}]) as s:
            s.get_final_message()


def test_anthropic_sdk_reads_the_truncated_fixture_as_a_valid_prefix(sdk: anthropic.Anthropic, mock) -> None:
    mock.queue(stream_fixture("stream_truncated"), sse=True)
    with sdk.messages.stream(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "x"}]) as stream:
        message = stream.get_final_message()
    assert message.stop_reason is None  # the SDK does not notice; we must
    assert message.content[0].text == "接入步骤如下：1. 创建密钥；2. 把 base_url 指向网关，然后"


def test_stream_split_inside_a_chinese_character() -> None:
    data = stream_fixture("stream_text_zh")
    split = data.index("步骤".encode()) + 1  # between the first and second byte of 步
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    out = translator.feed(data[:split]) + translator.feed(data[split:]) + translator.close()
    assert translator.emitted_text == "接入步骤如下：1. 创建密钥；2. 把 base_url 指向网关。"
    assert normalise(sse_payloads(out)) == load("stream_text_zh.events.json")


def test_stream_with_crlf_line_endings_equals_lf() -> None:
    data = stream_fixture("stream_text_then_parallel_tools")
    _, crlf = translate(data.replace(b"\n", b"\r\n"), chunk_size=7)
    assert normalise(sse_payloads(crlf)) == load("stream_text_then_parallel_tools.events.json")


@pytest.mark.parametrize(
    ("name", "output_text", "types"),
    [
        ("stream_text_zh", "接入步骤如下：1. 创建密钥；2. 把 base_url 指向网关。", ["message"]),
        (
            "stream_text_then_parallel_tools",
            "我来查一下两地天气。",
            ["message", "function_call", "function_call", "function_call"],
        ),
        ("stream_thinking_then_text", "先注册，再创建密钥。", ["reasoning", "reasoning", "message"]),
    ],
)
def test_stream_is_accepted_by_the_openai_sdk_stream_helper(name: str, output_text: str, types: list[str]) -> None:
    _, out = translate(stream_fixture(name))
    with openai_client(out, "text/event-stream").responses.stream(model="hm-claude", input="x") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert events[0].type == "response.created"
    assert final.output_text == output_text
    assert [item.type for item in final.output] == types
    assert final.id == "resp_test" and final.model == "hm-claude"


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("stream_text_zh", Usage(input_tokens=1045, cached_input_tokens=1024, output_tokens=23)),
        ("stream_text_then_parallel_tools", Usage(input_tokens=593, cache_write_tokens=128, output_tokens=88)),
        ("stream_thinking_then_text", Usage(input_tokens=42, output_tokens=96, reasoning_tokens=71)),
        ("stream_max_tokens", Usage(input_tokens=18, output_tokens=4)),
    ],
)
def test_stream_usage_joins_message_start_and_message_delta(name: str, usage: Usage) -> None:
    translator, out = translate(stream_fixture(name))
    assert translator.usage == usage
    assert translator.finished and not translator.usage_estimated
    assert sse_payloads(out)[-1]["response"]["usage"]["total_tokens"] == usage.input_tokens + usage.output_tokens


def test_stream_emitted_text_covers_text_and_calls() -> None:
    translator, _ = translate(stream_fixture("stream_text_then_parallel_tools"))
    assert (
        translator.emitted_text
        == '我来查一下两地天气。get_weather{"city": "北京"}get_weather{"city": "上海"}get_time{}'
    )


def test_truncated_stream_ends_with_error_and_failed() -> None:
    translator, out = translate(stream_fixture("stream_truncated"))
    payloads = sse_payloads(out)
    assert [payload["type"] for payload in payloads[-2:]] == ["error", "response.failed"]
    assert payloads[-2]["message"] == "The upstream ended the stream early."
    assert translator.finished
    # The upstream's input count, and at least what was already sent as output.
    sent = "接入步骤如下：1. 创建密钥；2. 把 base_url 指向网关，然后"
    assert translator.emitted_text == sent
    assert translator.usage == Usage(input_tokens=21, output_tokens=count_tokens(sent))
    assert translator.usage_estimated
    with pytest.raises(openai.APIError, match="ended the stream early"):
        with openai_client(out, "text/event-stream").responses.stream(model="hm-claude", input="x") as stream:
            list(stream)


def test_mid_stream_error_event_fails_without_leaking_the_url() -> None:
    translator, out = translate(stream_fixture("stream_error_mid"))
    error = sse_payloads(out)[-2]
    assert error["type"] == "error" and error["code"] == "server_error"
    assert error["message"] == "The upstream reported an error: Overloaded, see [url]"
    assert "status.internal.example" not in out.decode()
    assert translator.finished and translator.close() == b""
    assert translator.usage == Usage(input_tokens=21, output_tokens=count_tokens("接入步骤"))


def test_mid_stream_rate_limit_error_keeps_its_code() -> None:
    data = MESSAGE_START + event("error", error={"type": "rate_limit_error", "message": "Rate limited"})
    translator, out = translate(data)
    assert sse_payloads(out)[-1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "The upstream reported an error: Rate limited",
    }


def test_message_delta_without_message_stop_completes_at_close() -> None:
    data = stream_fixture("stream_max_tokens").replace(b'event: message_stop\ndata: {"type":"message_stop"}\n\n', b"")
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    first = translator.feed(data)
    assert not translator.finished and b"response.incomplete" not in first
    terminal = sse_payloads(translator.close())[-1]
    assert terminal["type"] == "response.incomplete"
    assert terminal["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_nothing_is_sent_before_message_start_and_pings_are_ignored() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    assert translator.feed(b"") == b""
    assert translator.feed(event("ping") + b": comment\n\n") == b""
    assert not translator.finished and translator.usage is None
    started = sse_payloads(translator.feed(MESSAGE_START))
    assert [payload["type"] for payload in started] == ["response.created", "response.in_progress"]


def test_events_after_message_stop_and_unknown_events_are_ignored() -> None:
    block = event("content_block_start", index=0, content_block={"type": "text", "text": "好"})
    future = event("content_block_delta", index=0, delta={"type": "future_delta", "x": 1})
    stop = event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 2}) + event("message_stop")
    late = event("content_block_delta", index=0, delta={"type": "text_delta", "text": "晚"})
    translator, out = translate(MESSAGE_START + block + future + event("brand_new_event") + stop + late)
    assert sse_payloads(out)[-1]["response"]["output"][0]["content"][0]["text"] == "好"
    assert translator.usage == Usage(input_tokens=10, output_tokens=2)


def test_tool_use_sent_whole_in_content_block_start_is_taken_as_is() -> None:
    start = event(
        "content_block_start",
        index=0,
        content_block={"type": "tool_use", "id": "toolu_01W", "name": "get_weather", "input": {"city": "北京"}},
    )
    stop = event("content_block_stop", index=0) + event("message_delta", delta={"stop_reason": "tool_use"}, usage={})
    _, out = translate(MESSAGE_START + start + stop + event("message_stop"))
    call = sse_payloads(out)[-1]["response"]["output"][0]
    assert (call["call_id"], call["arguments"]) == ("toolu_01W", '{"city":"北京"}')


def test_fail_from_the_relay_closes_the_stream() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    translator.feed(
        MESSAGE_START + event("content_block_start", index=0, content_block={"type": "text", "text": "半句"})
    )
    payloads = sse_payloads(translator.fail("The upstream timed out."))
    assert [payload["type"] for payload in payloads] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "error",
        "response.failed",
    ]
    assert translator.finished and translator.close() == b""


# -- against the mock over real HTTP -------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_round_trip_through_the_mock_upstream(stream: bool, mock: AnthropicMock) -> None:
    mock.reset()
    mock.expected_key = "sk-ant-upstream"
    request = parse({**load("request_plain_zh.json")["request"], "stream": stream})
    ctx = make_ctx(base_url=mock.base_url, stream=stream)
    upstream = adapter.build_request(request, ctx)
    reply = httpx.post(upstream.url, headers=upstream.headers, content=upstream.body)
    assert reply.status_code == 200
    if stream:
        translator = adapter.stream_translator(request, ctx)
        final = sse_payloads(translator.feed(reply.content) + translator.close())[-1]["response"]
    else:
        final = adapter.parse_response(reply.content, request, ctx).body
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "你说：总结一下接入步骤"
    assert mock.requests[-1].headers["x-api-key"] == "sk-ant-upstream"
    assert mock.requests[-1].headers["anthropic-version"] == "2023-06-01"


def test_mock_refuses_a_wrong_key_like_anthropic(mock: AnthropicMock) -> None:
    mock.reset()
    mock.expected_key = "right"
    upstream = adapter.build_request(parse(STREAM_REQUEST), make_ctx(base_url=mock.base_url, secret="wrong"))
    reply = httpx.post(upstream.url, headers=upstream.headers, content=upstream.body)
    error = adapter.map_error(reply.status_code, reply.content, reply.headers)
    assert (reply.status_code, error.status, error.code, error.retryable) == (401, 502, "upstream_auth_error", True)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "message", "headers", "expected"),
    [
        (529, "overloaded_error", "Overloaded", {}, (503, "upstream_overloaded", True, None)),
        (503, "overloaded_error", "Overloaded", {"retry-after": "3"}, (503, "upstream_overloaded", True, 3.0)),
        (
            429,
            "rate_limit_error",
            "Number of requests has exceeded",
            {"retry-after": "2"},
            (429, "rate_limit_exceeded", True, 2.0),
        ),
        (
            400,
            "invalid_request_error",
            "messages: roles must alternate",
            {},
            (400, "invalid_request_error", False, None),
        ),
        (
            400,
            "invalid_request_error",
            "Your credit balance is too low",
            {},
            (502, "upstream_billing_error", True, None),
        ),
        (402, "billing_error", "Payment required", {}, (502, "upstream_billing_error", True, None)),
        (401, "authentication_error", "invalid x-api-key", {}, (502, "upstream_auth_error", True, None)),
        (403, "permission_error", "not allowed", {}, (502, "upstream_auth_error", True, None)),
        (404, "not_found_error", "model: claude-nope", {}, (502, "upstream_error", True, None)),
        (413, "request_too_large", "Request exceeds the maximum size", {}, (400, "invalid_request_error", False, None)),
        (500, "api_error", "Internal server error", {}, (502, "upstream_error", True, None)),
        (504, "timeout_error", "Request timed out", {}, (504, "upstream_timeout", True, None)),
    ],
)
def test_map_error(status: int, kind: str, message: str, headers: dict[str, str], expected: tuple) -> None:
    body = json.dumps(error_body(kind, message)).encode()
    error = adapter.map_error(status, body, httpx.Headers(headers))
    assert (error.status, error.code, error.retryable, error.retry_after) == expected
    assert "claude-nope" not in error.message  # a 404 names the channel's model, not the client's


def test_invalid_request_keeps_the_upstream_message_without_urls() -> None:
    body = json.dumps(error_body("invalid_request_error", "max_tokens: too large, see https://docs.test/x")).encode()
    error = adapter.map_error(400, body, httpx.Headers())
    assert error.message == "The upstream rejected the request: max_tokens: too large, see [url]"


@pytest.mark.parametrize(("status", "cls"), [(529, anthropic.APIStatusError), (400, anthropic.BadRequestError)])
def test_mock_error_bodies_are_what_the_anthropic_sdk_reads(status: int, cls: type, sdk, mock) -> None:
    mock.queue(error_body("overloaded_error" if status == 529 else "invalid_request_error", "boom"), status=status)
    with pytest.raises(cls) as caught:
        sdk.messages.create(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status
    assert caught.value.body["error"]["message"] == "boom"
