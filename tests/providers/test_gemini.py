"""Golden tests for the Gemini adapter: request mapping, whole replies and streams, checked against
fixtures, against the official `openai` SDK's models (what our clients parse) and against the official
`google-genai` SDK (what Gemini speaks), the latter through `tests/upstream/gemini_mock.py` serving the
very fixture bytes the golden tests translate."""

import base64
import json
import re
from pathlib import Path
from typing import Any, get_args

import httpx
import msgspec
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from openai.types.responses import Response, ResponseStreamEvent

from billing.pricing import Usage
from gateway.protocols.channel import CallContext, UpstreamError
from gateway.protocols.gemini.channel import GeminiAdapter
from gateway.protocols.gemini.channel_request import MAX_SIGNATURE_CHARS, signed_call_id, split_call_id
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import ParsedRequest, parse_request
from gateway.wire.sse import SSEDecoder
from tests.upstream.gemini_mock import GeminiMock

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
REQUESTS = sorted(path.name for path in FIXTURES.glob("request_*.json"))
COMPLETIONS = sorted(path.name for path in FIXTURES.glob("completion_*.json"))
STREAMS = sorted(path.stem for path in FIXTURES.glob("stream_*.sse"))
STREAM_REQUEST = {"model": "hm-gemini", "input": "总结一下接入步骤", "stream": True}
SIG_A = (
    "NbxYfHmHfLdCbsGXCID0FrAmk0rUrBlTsT5gWFV34lu+klYNH9nMwAHHTN57+riO5/NqrYvKT+0VyqeryDG+UQhXoMeM9hvi3fHFqzo6rEPm4G50"
    "R9f62xT7tp7/GsL0cg=="
)
_ID = re.compile(r"^(msg|fc|rs)_[0-9a-f]{48}$")
_CALL_ID = re.compile(r"^(call_[0-9a-f]{24})((?:__ts_.*)?)$", re.DOTALL)
_RESPONSE_KEYS = ("id", "object", "status", "model", "output", "usage", "error", "incomplete_details")
_EVENT_CLASSES = {
    get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(get_args(ResponseStreamEvent)[0])
}
# Gemini finishReason → (our status, incomplete reason); None = failed.
_OUTCOMES = {
    "STOP": ("completed", None),
    "MAX_TOKENS": ("incomplete", "max_output_tokens"),
    "SAFETY": ("incomplete", "content_filter"),
    "MALFORMED_FUNCTION_CALL": ("failed", None),
}

adapter = GeminiAdapter()


# -- helpers -------------------------------------------------------------------------------------


def make_ctx(**overrides: Any) -> CallContext:
    values: dict[str, Any] = {
        "request_id": "req_test",
        "response_id": "resp_test",
        "public_model": "hm-gemini",
        "upstream_model": "gemini-2.5-flash",
        "base_url": "https://generativelanguage.googleapis.com/v1beta/",
        "secret": "AIza-upstream",
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
    """Random ids → msg_1, fc_1, rs_1, call_1… by first appearance (a call_id keeps its signature
    suffix); response snapshots → the keys that vary."""
    names = {} if names is None else names
    if isinstance(value, list):
        return [normalise(item, names) for item in value]
    if isinstance(value, dict):
        if value.get("object") == "response":
            value = {key: value[key] for key in _RESPONSE_KEYS}
        return {key: normalise(item, names) for key, item in value.items()}
    if isinstance(value, str) and (_ID.match(value) or _CALL_ID.match(value)):
        match = _CALL_ID.match(value)
        base, suffix = (match.group(1), match.group(2)) if match else (value, "")
        if base not in names:
            prefix = base.split("_")[0]
            names[base] = f"{prefix}_{sum(name.startswith(prefix + '_') for name in names.values()) + 1}"
        return names[base] + suffix
    return value


def translate(
    data: bytes, *, chunk_size: int | None = None, request: dict[str, Any] | None = None
) -> tuple[Any, bytes]:
    translator = adapter.stream_translator(parse(request or STREAM_REQUEST), make_ctx(stream=True))
    size = chunk_size or len(data) or 1
    out = b"".join(translator.feed(data[i : i + size]) for i in range(0, len(data), size))
    return translator, out + translator.close()


def final_response(out: bytes) -> dict[str, Any]:
    return sse_payloads(out)[-1]["response"]


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


def signature_of(call_id: str) -> bytes | None:
    _, signature = split_call_id(call_id)
    return base64.b64decode(signature) if signature else None


def chunk(parts: list[dict[str, Any]] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    candidate: dict[str, Any] = {"index": 0}
    if parts is not None:
        candidate["content"] = {"role": "model", "parts": parts}
    if finish:
        candidate["finishReason"] = finish
    body = {"candidates": [candidate], **extra}
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\r\n\r\n"


# -- request mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUESTS)
def test_build_request_matches_golden(name: str) -> None:
    case = load(name)
    upstream = adapter.build_request(parse(case["request"]), make_ctx(**case.get("ctx", {})))
    assert json.loads(upstream.body) == case["expected"]


def test_build_request_targets_generate_content_with_our_key() -> None:
    upstream = adapter.build_request(parse(STREAM_REQUEST), make_ctx())
    assert upstream.method == "POST"
    assert upstream.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert upstream.headers == {
        "content-type": "application/json",
        "accept": "application/json",
        "x-goog-api-key": "AIza-upstream",
    }
    assert "authorization" not in upstream.headers and "key=" not in upstream.url


def test_build_request_streams_with_alt_sse() -> None:
    upstream = adapter.build_request(parse(STREAM_REQUEST), make_ctx(stream=True, secret=""))
    assert upstream.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert upstream.headers["accept"] == "text/event-stream"
    assert "x-goog-api-key" not in upstream.headers
    assert "stream" not in json.loads(upstream.body)


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("models/gemini-2.5-pro", "/v1beta/models/gemini-2.5-pro:generateContent"),
        ("tunedModels/my-tune-7", "/v1beta/tunedModels/my-tune-7:generateContent"),
        ("gemini-2.5-flash-lite", "/v1beta/models/gemini-2.5-flash-lite:generateContent"),
    ],
)
def test_build_request_model_path(model: str, path: str) -> None:
    upstream = adapter.build_request(
        parse(STREAM_REQUEST), make_ctx(upstream_model=model, base_url="https://g.test/v1beta")
    )
    assert upstream.url == "https://g.test" + path


def test_build_request_sends_raw_utf8() -> None:
    upstream = adapter.build_request(parse(load("request_plain_zh.json")["request"]), make_ctx())
    assert "使用简洁中文回答。".encode() in upstream.body
    assert b"\\u" not in upstream.body


def _rejected(body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        adapter.build_request(parse({"model": "hm-gemini", "input": "hi", **body}), make_ctx())
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"previous_response_id": "resp_abc"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"role": "user", "content": "hi"}, {"type": "item_reference", "id": "msg_1"}]}, "input[1]"),
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
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
            "input[0].content[0].file_id",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]},
            "input[0].content[0].file_data",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png,abc"}]}]},
            "input[0].content[0].image_url",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x/y.png"}]}]},
            "input[0].content[0].image_url",
        ),
        ({"input": [{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]}, "input[0].content[0].type"),
        (
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"role": "system", "content": "只有系统消息"}]}, "input"),
        (
            {
                "input": [
                    {"role": "user", "content": "hi"},
                    {"type": "function_call_output", "call_id": "c", "output": "1"},
                ]
            },
            "input[1].call_id",
        ),
    ],
)
def test_build_request_rejects_what_gemini_cannot_express(body: dict[str, Any], param: str) -> None:
    assert _rejected(body).param == param


def test_function_call_output_may_name_its_function_itself() -> None:
    output = {"type": "function_call_output", "call_id": "c1", "name": "get_time", "output": "12:00"}
    upstream = adapter.build_request(
        parse({"model": "m", "input": [{"role": "user", "content": "几点"}, output]}), make_ctx()
    )
    part = json.loads(upstream.body)["contents"][0]["parts"][1]
    assert part == {"functionResponse": {"name": "get_time", "response": {"output": "12:00"}, "id": "c1"}}


def test_input_file_and_audio_become_inline_data() -> None:
    content = [
        {"type": "input_file", "filename": "合同.pdf", "file_data": "JVBERi0xLjQK"},
        {"type": "input_file", "file_data": "data:text/plain;base64,5L2g5aW9"},
        {"type": "input_file", "file_url": "https://files.example.com/report.pdf"},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]
    upstream = adapter.build_request(parse({"model": "m", "input": [{"role": "user", "content": content}]}), make_ctx())
    assert json.loads(upstream.body)["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQK"}},
        {"inlineData": {"mimeType": "text/plain", "data": "5L2g5aW9"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://files.example.com/report.pdf"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
    ]


# -- thought signatures --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 97, 420, 3000])
def test_signature_round_trips_through_the_call_id(size: int) -> None:
    raw = bytes(range(256)) * (size // 256 + 1)
    signature = base64.b64encode(raw[:size]).decode()
    call_id = signed_call_id("call_0123456789abcdef01234567", signature)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", call_id)
    assert split_call_id(call_id) == ("call_0123456789abcdef01234567", signature)


def test_signature_codec_leaves_plain_and_unusable_ids_alone() -> None:
    assert split_call_id("call_wdK2xR9mPq3TfL8nV1cJ0aZs") == ("call_wdK2xR9mPq3TfL8nV1cJ0aZs", None)
    assert split_call_id("call_x__ts_!!!") == ("call_x", None)  # mangled by a client: no corrupt signature sent
    assert split_call_id("__ts_QUJD") == ("__ts_QUJD", None)
    assert signed_call_id("call_x", None) == "call_x"
    assert signed_call_id("call_x", "") == "call_x"
    assert signed_call_id("call_x", "not base64!") == "call_x"
    assert signed_call_id("call_x", "A" * (MAX_SIGNATURE_CHARS + 4)) == "call_x"  # absurdly long: not carried
    # URL-safe input (protobuf JSON allows it) is carried as the same bytes.
    assert (
        split_call_id(signed_call_id("call_x", "-_-_"))[1]
        == base64.b64encode(base64.urlsafe_b64decode("-_-_")).decode()
    )


def _second_turn(first_output: list[dict[str, Any]], results: dict[str, str]) -> dict[str, Any]:
    """What a stateless client sends next: its question, our output replayed verbatim, tool results."""
    outputs = [
        {"type": "function_call_output", "call_id": item["call_id"], "output": results[item["name"]]}
        for item in first_output
        if item["type"] == "function_call"
    ]
    return {
        "model": "hm-gemini",
        "input": [{"role": "user", "content": "北京和上海天气？"}, *first_output, *outputs],
        "tools": [{"type": "function", "name": "get_weather"}],
    }


def test_two_turn_tool_conversation_replays_the_signature_json() -> None:
    case = load("completion_thought_tools.json")
    first = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), make_ctx())
    second = _second_turn(first.body["output"], {"get_weather": "晴"})
    body = json.loads(adapter.build_request(parse(second), make_ctx()).body)
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "北京和上海天气？"}]},
        {
            "role": "model",
            "parts": [
                {"text": "我来查一下。"},
                {"functionCall": {"name": "get_weather", "args": {"city": "北京"}}, "thoughtSignature": SIG_A},
                {"functionCall": {"name": "get_weather", "args": {"city": "上海"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "晴"}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "晴"}}},
            ],
        },
    ]


def test_two_turn_tool_conversation_replays_the_signature_stream() -> None:
    _, out = translate(stream_fixture("stream_thought_then_call"))
    output = final_response(out)["output"]
    # A client that rebuilds the call from call_id/name/arguments only (no item ids, no reasoning).
    rebuilt = [
        {"type": "function_call", "call_id": item["call_id"], "name": item["name"], "arguments": item["arguments"]}
        for item in output
        if item["type"] == "function_call"
    ]
    body = json.loads(adapter.build_request(parse(_second_turn(rebuilt, {"get_weather": "18°C"})), make_ctx()).body)
    signed = body["contents"][1]["parts"][0]
    raw = (FIXTURES / "stream_thought_then_call.sse").read_text(encoding="utf-8")
    assert signed["thoughtSignature"] == re.search(r'"thoughtSignature": "([^"]+)"', raw).group(1)
    assert signed["functionCall"] == {"name": "get_weather", "args": {"city": "北京"}}


def test_gemini_call_ids_are_kept_and_sent_back() -> None:
    reply = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"functionCall": {"id": "gm-1", "name": "f", "args": {}}}]},
                "finishReason": "STOP",
            }
        ]
    }
    result = adapter.parse_response(json.dumps(reply).encode(), parse(STREAM_REQUEST), make_ctx())
    call = result.body["output"][0]
    assert (call["call_id"], call["arguments"]) == ("gm-1", "{}")
    body = json.loads(adapter.build_request(parse(_second_turn([call], {"f": "ok"})), make_ctx()).body)
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {}, "id": "gm-1"}}]
    assert body["contents"][2]["parts"][0]["functionResponse"]["id"] == "gm-1"


# -- whole replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", COMPLETIONS)
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


def test_parse_response_is_accepted_by_the_openai_sdk() -> None:
    case = load("completion_thought_tools.json")
    result = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), make_ctx())
    response = openai_client(msgspec.json.encode(result.body), "application/json").responses.create(
        model="hm-gemini", input="北京和上海天气？"
    )
    assert response.output_text == "我来查一下。"
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call", "function_call"]
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens == 95


def test_tool_use_prompt_tokens_count_as_input() -> None:
    reply = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "好"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 10, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 1},
    }
    result = adapter.parse_response(json.dumps(reply).encode(), parse(STREAM_REQUEST), make_ctx())
    assert result.usage == Usage(input_tokens=15, cached_input_tokens=0, output_tokens=1, reasoning_tokens=0)
    assert result.body["usage"]["total_tokens"] == 16


def test_parse_response_without_usage_reports_none() -> None:
    reply = {"candidates": [{"content": {"role": "model", "parts": [{"text": "好"}]}, "finishReason": "OTHER"}]}
    result = adapter.parse_response(json.dumps(reply).encode(), parse(STREAM_REQUEST), make_ctx())
    assert result.usage is None and result.body["usage"] is None
    assert result.body["status"] == "completed"
    Response.model_validate(result.body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>502 Bad Gateway</html>", "unreadable"),
        (b"[]", "unreadable"),
        (b"{}", "without candidates"),
        (b'{"candidates": []}', "without candidates"),
        (
            b'[{"error": {"code": 500, "message": "Internal error, see https://ai.google.dev/x", "status": "INTERNAL"}}]',
            "Internal error, see [url]",
        ),
        (b'{"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}]}', "malformed function call"),
        (b'{"candidates": [{"finishReason": "UNEXPECTED_TOOL_CALL"}]}', "not offered"),
    ],
)
def test_parse_response_rejects_unusable_replies(body: bytes, message: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        adapter.parse_response(body, parse(STREAM_REQUEST), make_ctx())
    error = caught.value
    assert (error.status, error.code, error.retryable) == (502, "upstream_error", True)
    assert message in error.message
    assert "https" not in error.message


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


def test_stream_with_lf_line_endings_equals_crlf() -> None:
    data = stream_fixture("stream_text_zh")
    assert b"\r\n\r\n" in data
    _, lf = translate(data.replace(b"\r\n", b"\n"), chunk_size=7)
    assert normalise(sse_payloads(lf)) == load("stream_text_zh.events.json")


@pytest.mark.parametrize(
    ("name", "output_text", "types"),
    [
        ("stream_text_zh", "接入步骤如下：1. 创建密钥；2. 把 base_url 指向网关。", ["message"]),
        ("stream_parallel_calls", "我来查一下两地天气。", ["message", "function_call", "function_call"]),
        ("stream_thought_then_text", "先注册，再创建密钥。", ["reasoning", "message"]),
        ("stream_thought_then_call", "", ["reasoning", "function_call"]),
        ("stream_empty_text", "", []),
        ("stream_usage_only_final", "好的。马上开始。", ["message"]),
    ],
)
def test_stream_is_accepted_by_the_openai_sdk_stream_helper(name: str, output_text: str, types: list[str]) -> None:
    _, out = translate(stream_fixture(name))
    with openai_client(out, "text/event-stream").responses.stream(model="hm-gemini", input="x") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert events[0].type == "response.created"
    assert final.output_text == output_text
    assert [item.type for item in final.output] == types
    assert final.id == "resp_test" and final.model == "hm-gemini"


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("stream_text_zh", Usage(input_tokens=12, cached_input_tokens=0, output_tokens=15, reasoning_tokens=0)),
        (
            "stream_parallel_calls",
            Usage(input_tokens=120, cached_input_tokens=64, output_tokens=41, reasoning_tokens=0),
        ),
        (
            "stream_thought_then_text",
            Usage(input_tokens=18, cached_input_tokens=0, output_tokens=30, reasoning_tokens=21),
        ),
        (
            "stream_thought_then_call",
            Usage(input_tokens=131, cached_input_tokens=0, output_tokens=110, reasoning_tokens=95),
        ),
        ("stream_usage_only_final", Usage(input_tokens=7, cached_input_tokens=0, output_tokens=4, reasoning_tokens=0)),
    ],
)
def test_stream_usage_is_the_last_usage_metadata(name: str, usage: Usage) -> None:
    translator, out = translate(stream_fixture(name))
    assert translator.usage == usage and translator.finished
    assert final_response(out)["usage"]["total_tokens"] == usage.input_tokens + usage.output_tokens


def test_stream_emitted_text_counts_output_and_arguments() -> None:
    translator, _ = translate(stream_fixture("stream_parallel_calls"))
    assert translator.emitted_text == '我来查一下两地天气。get_weather{"city":"北京"}get_weather{"city":"上海"}'


def test_thought_parts_are_reasoning_never_text() -> None:
    translator, out = translate(stream_fixture("stream_thought_then_text"))
    output = final_response(out)["output"]
    assert output[0]["summary"] == [{"type": "summary_text", "text": "**规划回答**\n\n先列出步骤。\n\n再检查格式。"}]
    assert output[1]["content"][0]["text"] == "先注册，再创建密钥。"


def test_terminal_event_waits_for_the_end_of_the_stream() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    first = translator.feed(chunk([{"text": "好"}], "STOP"))
    assert b"response.completed" not in first and not translator.finished
    late_usage = b'data: {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}\n\n'
    assert translator.feed(late_usage) == b""
    completed = sse_payloads(translator.close())[-1]
    assert completed["type"] == "response.completed"
    assert completed["response"]["usage"]["total_tokens"] == 4
    assert translator.close() == b"" and translator.fail("late") == b""


def test_nothing_is_sent_before_the_first_part() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    assert translator.feed(b"") == b""
    assert translator.feed(b": keep-alive\n\n") == b""
    assert translator.feed(b'data: {"usageMetadata": {"promptTokenCount": 3}}\n\n') == b""
    assert not translator.finished and translator.usage is not None


def test_truncated_stream_ends_with_error_and_failed() -> None:
    translator, out = translate(stream_fixture("stream_truncated"))
    payloads = sse_payloads(out)
    assert [payload["type"] for payload in payloads[-2:]] == ["error", "response.failed"]
    assert payloads[-2]["message"] == "The upstream ended the stream early."
    assert payloads[-1]["response"]["error"]["code"] == "server_error"
    assert translator.finished and translator.emitted_text == "接入步骤"
    with pytest.raises(openai.APIError, match="ended the stream early"):
        with openai_client(out, "text/event-stream").responses.stream(model="hm-gemini", input="x") as stream:
            list(stream)


def test_malformed_function_call_fails_the_stream() -> None:
    translator, out = translate(stream_fixture("stream_malformed_call"))
    payloads = sse_payloads(out)
    assert payloads[-2]["message"] == "The model produced a malformed function call."
    assert payloads[-1]["type"] == "response.failed"
    assert translator.usage == Usage(input_tokens=30, cached_input_tokens=0, output_tokens=5, reasoning_tokens=0)


def test_mid_stream_error_chunk_fails_without_leaking_the_url() -> None:
    _, out = translate(stream_fixture("stream_error_chunk"))
    error = sse_payloads(out)[-2]
    assert error["type"] == "error"
    assert error["message"] == "The upstream reported an error: Internal error encountered. See [url]"
    assert b"ai.google.dev" not in out


def test_array_wrapped_error_chunk_fails_the_stream() -> None:
    data = (
        chunk([{"text": "半句"}])
        + b'data: [{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}]\n\n'
    )
    translator, out = translate(data + chunk([{"text": "never"}], "STOP"))
    assert [payload["type"] for payload in sse_payloads(out)[-2:]] == ["error", "response.failed"]
    assert translator.emitted_text == "半句"


def test_prompt_blocked_stream_is_incomplete_content_filter() -> None:
    data = b'data: {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}\n\n'
    _, out = translate(data)
    response = final_response(out)
    assert (response["status"], response["incomplete_details"], response["output"]) == (
        "incomplete",
        {"reason": "content_filter"},
        [],
    )


def test_fail_from_the_relay_closes_the_stream() -> None:
    translator = adapter.stream_translator(parse(STREAM_REQUEST), make_ctx(stream=True))
    translator.feed(chunk([{"text": "半句"}]))
    payloads = sse_payloads(translator.fail("The upstream timed out."))
    assert [payload["type"] for payload in payloads] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "error",
        "response.failed",
    ]
    assert translator.finished and translator.close() == b""


# -- errors --------------------------------------------------------------------------------------


def _google_error(code: int, status: str, message: str, *details: dict[str, Any]) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return json.dumps({"error": error}).encode()


_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
}
_RETRY_37 = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (400, _google_error(400, "INVALID_ARGUMENT", "Bad schema"), {}, (400, "invalid_request_error", False, None)),
        (
            400,
            _google_error(400, "INVALID_ARGUMENT", "API key not valid.", _KEY_INVALID),
            {},
            (502, "upstream_auth_error", True, None),
        ),
        (
            400,
            _google_error(400, "FAILED_PRECONDITION", "User location is not supported."),
            {},
            (502, "upstream_error", True, None),
        ),
        (401, _google_error(401, "UNAUTHENTICATED", "no"), {}, (502, "upstream_auth_error", True, None)),
        (403, _google_error(403, "PERMISSION_DENIED", "no"), {}, (502, "upstream_auth_error", True, None)),
        (
            404,
            _google_error(404, "NOT_FOUND", "models/x is not found"),
            {},
            (502, "upstream_error", True, None),  # the model name is the channel's: another channel may serve it
        ),
        (
            429,
            _google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", _RETRY_37),
            {},
            (429, "rate_limit_exceeded", True, 37.0),
        ),
        (
            429,
            _google_error(429, "RESOURCE_EXHAUSTED", "Quota", _RETRY_37),
            {"retry-after": "2"},
            (429, "rate_limit_exceeded", True, 2.0),
        ),
        (500, _google_error(500, "INTERNAL", "boom"), {}, (502, "upstream_error", True, None)),
        (503, _google_error(503, "UNAVAILABLE", "The model is overloaded."), {}, (502, "upstream_error", True, None)),
        (504, _google_error(504, "DEADLINE_EXCEEDED", "slow"), {}, (504, "upstream_timeout", True, None)),
        (503, b"[" + _google_error(503, "UNAVAILABLE", "overloaded") + b"]", {}, (502, "upstream_error", True, None)),
        (502, b"<html>bad gateway</html>", {}, (502, "upstream_error", True, None)),
    ],
)
def test_map_error(status: int, body: bytes, headers: dict[str, str], expected: tuple[Any, ...]) -> None:
    error = adapter.map_error(status, body, httpx.Headers(headers))
    assert (error.status, error.code, error.retryable, error.retry_after) == expected


def test_map_error_surfaces_a_sanitised_message_for_client_mistakes() -> None:
    body = _google_error(400, "INVALID_ARGUMENT", "Invalid value at 'tools[0]'; see https://ai.google.dev/api")
    error = adapter.map_error(400, body, httpx.Headers())
    assert error.message == "The upstream rejected the request: Invalid value at 'tools[0]'; see [url]"
    assert error.type == "invalid_request_error"


# -- the official google-genai SDK against the mock ----------------------------------------------


@pytest.fixture
def mock(gemini_mock: GeminiMock) -> GeminiMock:
    return gemini_mock  # one server for the module (tests/providers/conftest.py)


@pytest.fixture
def gemini(mock: GeminiMock) -> genai.Client:
    mock.requests.clear()
    return genai.Client(api_key="x", http_options=types.HttpOptions(base_url=mock.base_url))


def _view_of_sdk(responses: list[types.GenerateContentResponse]) -> dict[str, Any]:
    """What the official SDK understood of a reply, in neutral terms."""
    view: dict[str, Any] = {"text": "", "thoughts": "", "calls": [], "finish": None, "usage": None}
    for response in responses:
        if response.usage_metadata is not None:
            view["usage"] = response.usage_metadata
        for candidate in response.candidates or ():
            for part in (candidate.content.parts if candidate.content else None) or ():
                if part.function_call is not None:
                    view["calls"].append((part.function_call.name, part.function_call.args, part.thought_signature))
                elif part.text:
                    view["thoughts" if part.thought else "text"] += part.text
            if candidate.finish_reason is not None:
                view["finish"] = candidate.finish_reason.value
    return view


def _assert_same_understanding(sdk: dict[str, Any], ours: dict[str, Any], usage: Usage | None) -> None:
    """Our Responses object says what the SDK read: text, thoughts, calls (signature included), status, usage."""
    items = ours["output"]
    assert "".join(p["text"] for i in items if i["type"] == "message" for p in i["content"]) == sdk["text"]
    assert "".join(s["text"] for i in items if i["type"] == "reasoning" for s in i["summary"]) == sdk["thoughts"]
    calls = [
        (i["name"], json.loads(i["arguments"]), signature_of(i["call_id"]))
        for i in items
        if i["type"] == "function_call"
    ]
    assert calls == sdk["calls"]
    status, reason = _OUTCOMES[sdk["finish"]]
    assert ours["status"] == status
    assert (ours["incomplete_details"] or {}).get("reason") == reason
    meta = sdk["usage"]
    thoughts = meta.thoughts_token_count or 0
    assert usage == Usage(
        input_tokens=meta.prompt_token_count,
        cached_input_tokens=meta.cached_content_token_count or 0,
        output_tokens=(meta.candidates_token_count or 0) + thoughts,
        reasoning_tokens=thoughts,
    )
    assert usage.input_tokens + usage.output_tokens == meta.total_token_count


@pytest.mark.parametrize("name", [n for n in COMPLETIONS if n != "completion_prompt_blocked.json"])
def test_google_sdk_reads_our_json_fixtures_as_we_do(name: str, mock: GeminiMock, gemini: genai.Client) -> None:
    case = load(name)
    mock.reply(json.dumps(case["upstream"], ensure_ascii=False).encode())
    sdk = _view_of_sdk([gemini.models.generate_content(model="gemini-2.5-flash", contents="x")])
    ours = adapter.parse_response(json.dumps(case["upstream"]).encode(), parse(case["request"]), make_ctx())
    _assert_same_understanding(sdk, ours.body, ours.usage)


def test_google_sdk_reads_a_blocked_prompt(mock: GeminiMock, gemini: genai.Client) -> None:
    mock.reply(load("completion_prompt_blocked.json")["upstream"])
    response = gemini.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert response.candidates is None
    assert response.prompt_feedback is not None and response.prompt_feedback.block_reason.value == "PROHIBITED_CONTENT"


@pytest.mark.parametrize("name", [n for n in STREAMS if n not in ("stream_error_chunk", "stream_truncated")])
def test_google_sdk_reads_our_stream_fixtures_as_we_do(name: str, mock: GeminiMock, gemini: genai.Client) -> None:
    mock.reply(stream_fixture(name), chunk_size=97)
    sdk = _view_of_sdk(list(gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="x")))
    translator, out = translate(stream_fixture(name))
    _assert_same_understanding(sdk, final_response(out), translator.usage)


def test_google_sdk_reads_the_truncated_stream_without_a_finish_reason(mock: GeminiMock, gemini: genai.Client) -> None:
    mock.reply(stream_fixture("stream_truncated"))
    sdk = _view_of_sdk(list(gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="x")))
    assert (sdk["text"], sdk["finish"]) == ("接入步骤", None)  # the SDK cannot tell: we fail it (test above)


def test_google_sdk_raises_on_our_error_chunk(mock: GeminiMock, gemini: genai.Client) -> None:
    mock.reply(stream_fixture("stream_error_chunk"))
    with pytest.raises(genai_errors.APIError, match="Internal error encountered"):
        list(gemini.models.generate_content_stream(model="gemini-2.5-flash", contents="x"))


_STRUCTS = frozenset({"args", "response", "parametersJsonSchema", "responseJsonSchema"})  # user data inside


def _proto_json(value: Any, *, inside_struct: bool = False) -> Any:
    """Two spellings of one protobuf JSON message → one. Proto JSON parsers take a field by its lowerCamel
    json name or its original snake_case name, and the SDK sends some nested fields snake_case; bytes go
    as standard base64 from us and URL-safe from the SDK. Keys inside Struct fields are data, kept as is."""
    if isinstance(value, list):
        return [_proto_json(item, inside_struct=inside_struct) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if not inside_struct:
            key = re.sub(r"_([a-z])", lambda match: match.group(1).upper(), key)
        if not inside_struct and key in ("data", "thoughtSignature") and isinstance(item, str):
            out[key] = base64.urlsafe_b64decode(item.replace("+", "-").replace("/", "_"))
        else:
            out[key] = _proto_json(item, inside_struct=inside_struct or key in _STRUCTS)
    return out


@pytest.mark.parametrize("name", REQUESTS)
def test_google_sdk_sends_our_golden_request_bodies(name: str, mock: GeminiMock, gemini: genai.Client) -> None:
    """Each expected body, read into the SDK's own (extra='forbid') types and sent by it, comes out the same:
    every key we send is one the SDK knows and places where we do."""
    expected = load(name)["expected"]
    contents = [types.Content.model_validate_json(json.dumps(content)) for content in expected["contents"]]
    config = dict(expected.get("generationConfig", {}))
    for key in ("systemInstruction", "tools", "toolConfig"):
        if key in expected:
            config[key] = expected[key]
    gemini.models.generate_content(
        model="gemini-2.5-flash",
        contents=contents,
        config=types.GenerateContentConfig.model_validate_json(json.dumps(config)),
    )
    assert _proto_json(mock.requests[-1].body) == _proto_json(expected)


def test_adapter_talks_to_the_mock_over_http(mock: GeminiMock) -> None:
    mock.requests.clear()
    request = parse({"model": "hm-gemini", "instructions": "使用简洁中文回答。", "input": "总结一下接入步骤"})
    ctx = make_ctx(base_url=mock.api_base)
    with httpx.Client() as client:
        upstream = adapter.build_request(request, ctx)
        reply = client.post(upstream.url, headers=upstream.headers, content=upstream.body)
        result = adapter.parse_response(reply.content, request, ctx)
        upstream = adapter.build_request(request, make_ctx(base_url=mock.api_base, stream=True))
        streamed = client.post(upstream.url, headers=upstream.headers, content=upstream.body)
    translator = adapter.stream_translator(request, make_ctx(stream=True))
    events = sse_payloads(translator.feed(streamed.content) + translator.close())
    assert result.body["output"][0]["content"][0]["text"] == "你说：总结一下接入步骤"
    assert events[-1]["type"] == "response.completed"
    assert translator.emitted_text == "你说：总结一下接入步骤"
    first, second = mock.requests
    assert (first.model, first.method, first.headers["x-goog-api-key"]) == (
        "gemini-2.5-flash",
        "generateContent",
        "AIza-upstream",
    )
    assert (second.method, second.query) == ("streamGenerateContent", {"alt": "sse"})
    assert first.body["systemInstruction"] == {"parts": [{"text": "使用简洁中文回答。"}]}


def test_mock_refuses_unauthenticated_calls_like_google(mock: GeminiMock) -> None:
    upstream = adapter.build_request(parse(STREAM_REQUEST), make_ctx(base_url=mock.api_base, secret=""))
    reply = httpx.post(upstream.url, headers=upstream.headers, content=upstream.body)
    error = adapter.map_error(reply.status_code, reply.content, reply.headers)
    assert (reply.status_code, error.status, error.code, error.retryable) == (403, 502, "upstream_auth_error", True)
