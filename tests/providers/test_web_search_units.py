"""The web_search translation's edges, without a server: the shapes sent up are the official SDKs' own types,
every streamed event is one the OpenAI SDK knows, byte offsets become character offsets, and malformed upstream
search data is ignored rather than a 500 (the e2e file tests/e2e/test_web_search_translated.py covers the rest)."""

import json
from typing import Any, get_args

import pydantic
import pytest
from anthropic.types import ToolUnionParam
from google.genai import types
from openai.types.responses import Response, ResponseStreamEvent

from gateway.protocols.anthropic.channel import AnthropicAdapter
from gateway.protocols.channel import CallContext
from gateway.protocols.gemini.channel import GeminiAdapter
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder
from tests.upstream.anthropic_mock import message_events

_EVENTS = {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(get_args(ResponseStreamEvent)[0])}
_ANTHROPIC_TOOL = pydantic.TypeAdapter(ToolUnionParam)
SEARCH = {"type": "web_search", "filters": {"allowed_domains": ["a.cn"]}, "user_location": {"type": "approximate",
          "city": "上海", "timezone": "Asia/Shanghai", "region": "上海", "country": ""}}


def ctx(kind: str, **overrides: Any) -> CallContext:
    values: dict[str, Any] = {"request_id": "req_t", "response_id": "resp_t", "public_model": "m",
                              "upstream_model": "claude-sonnet-4-5" if kind == "anthropic" else "gemini-3-pro-preview",
                              "base_url": "https://upstream.test/v1", "secret": "s", "stream": False,
                              "max_output_tokens": 1024, "created_at": 1750000000, **overrides}
    return CallContext(**values)


def request(**body: Any):
    return parse_request(json.dumps({"model": "m", "input": "hi", **body}, ensure_ascii=False).encode())


def replay(translator, data: bytes) -> list[dict]:
    events = [json.loads(e.data) for e in SSEDecoder().feed(translator.feed(data) + translator.close())]
    for event in events:  # each one the SDK's own event type, validated
        _EVENTS[event["type"]].model_validate(event)
    return events


def test_the_anthropic_server_tool_is_the_sdk_s_own_shape():
    body = json.loads(AnthropicAdapter().build_request(request(tools=[SEARCH], max_tool_calls=2), ctx("anthropic")).body)
    [tool] = body["tools"]
    assert tool == {"type": "web_search_20250305", "name": "web_search", "max_uses": 2, "allowed_domains": ["a.cn"],
                    "user_location": {"type": "approximate", "city": "上海", "region": "上海",
                                      "timezone": "Asia/Shanghai"}}  # an empty country left out
    _ANTHROPIC_TOOL.validate_python(tool)


def test_google_search_is_the_sdk_s_own_shape():
    body = json.loads(GeminiAdapter().build_request(request(tools=[SEARCH]), ctx("gemini")).body)
    assert body["tools"] == [{"google_search": {}}] and "toolConfig" not in body
    assert types.Tool.model_validate(body["tools"][0]).google_search is not None


@pytest.mark.parametrize("bad", [{"filters": {"allowed_domains": "a.cn"}}, {"user_location": "Shanghai"}])
def test_a_malformed_search_filter_is_a_400_naming_it(bad):
    with pytest.raises(InvalidRequest) as caught:
        AnthropicAdapter().build_request(request(tools=[{"type": "web_search", **bad}]), ctx("anthropic"))
    assert caught.value.param.startswith("tools[0].")


def test_a_function_named_web_search_beside_the_tool_is_a_400():
    tools = [{"type": "function", "name": "web_search", "parameters": {"type": "object"}}, SEARCH]
    with pytest.raises(InvalidRequest) as caught:
        AnthropicAdapter().build_request(request(tools=tools), ctx("anthropic"))
    assert caught.value.param == "tools"


def test_a_forced_search_on_anthropic_is_its_tool_choice():
    body = json.loads(AnthropicAdapter().build_request(request(tools=[SEARCH], tool_choice={"type": "web_search_preview"}),
                                                       ctx("anthropic")).body)
    assert body["tool_choice"] == {"type": "tool", "name": "web_search"}


@pytest.mark.parametrize(("listed", "config"), [
    ([{"type": "web_search"}, {"type": "function", "name": "shell"}], {"mode": "VALIDATED", "allowedFunctionNames": ["shell"]}),
    ([{"type": "web_search"}], {"mode": "NONE"}),  # only the search: no function call, the search still offered
])
def test_allowed_tools_naming_the_search_leaves_it_out_of_gemini_s_function_names(listed, config):
    shell = {"type": "function", "name": "shell", "parameters": {"type": "object"}}
    choice = {"type": "allowed_tools", "mode": "auto", "tools": listed}
    body = json.loads(GeminiAdapter().build_request(request(tools=[shell, SEARCH], tool_choice=choice), ctx("gemini")).body)
    assert body["toolConfig"] == {"functionCallingConfig": config} and {"google_search": {}} in body["tools"]
    forced = {**choice, "mode": "required", "tools": [{"type": "web_search"}]}
    with pytest.raises(InvalidRequest) as caught:
        GeminiAdapter().build_request(request(tools=[shell, SEARCH], tool_choice=forced), ctx("gemini"))
    assert caught.value.param == "tool_choice.mode"


ANTHROPIC_BLOCKS = [
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "天气"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [{"type": "web_search_result",
                                                                                 "url": "https://a.cn/x", "title": "A"}]},
    {"type": "text", "text": "晴😀。", "citations": [{"type": "web_search_result_location", "url": "https://a.cn/x",
                                                    "title": None, "cited_text": "晴"}]},
]


def anthropic_message(content: list, **usage: Any) -> dict:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": content,
            "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5, **usage}}


def test_a_streamed_anthropic_search_is_valid_sdk_events_and_the_same_object_as_json():
    req = request(tools=[SEARCH], stream=True)
    message = anthropic_message(ANTHROPIC_BLOCKS, server_tool_use={"web_search_requests": 1})
    translator = AnthropicAdapter().stream_translator(req, ctx("anthropic", stream=True))
    events = replay(translator, message_events(message))
    final = Response.model_validate(events[-1]["response"])
    whole = AnthropicAdapter().parse_response(json.dumps(message).encode(), request(tools=[SEARCH]), ctx("anthropic"))
    for output in (events[-1]["response"]["output"], whole.body["output"]):
        assert [(i["type"], i["status"]) for i in output] == [("web_search_call", "completed"), ("message", "completed")]
        assert output[0]["action"] == {"type": "search", "query": "天气"}
        assert output[1]["content"][0]["annotations"] == [{"type": "url_citation", "start_index": 0, "end_index": 3,
                                                           "url": "https://a.cn/x", "title": ""}]
    assert final.output[1].content[0].annotations[0].end_index == 3
    assert translator.usage.tool_calls == whole.usage.tool_calls == (("web_search", 1),)


@pytest.mark.parametrize("junk", [
    {"type": "server_tool_use", "name": "web_search", "input": ["not", "an", "object"]},
    {"type": "web_search_tool_result", "content": "nonsense"},
    {"type": "text", "text": "x", "citations": "nonsense"},
    {"type": "text", "text": "x", "citations": [None, {"type": "web_search_result_location", "url": 5}]},
])
def test_malformed_anthropic_search_blocks_are_ignored_not_a_500(junk):
    message = anthropic_message([junk], server_tool_use={"web_search_requests": "many"})
    result = AnthropicAdapter().parse_response(json.dumps(message).encode(), request(tools=[SEARCH]), ctx("anthropic"))
    Response.model_validate(result.body)
    translator = AnthropicAdapter().stream_translator(request(tools=[SEARCH], stream=True), ctx("anthropic", stream=True))
    replay(translator, message_events(message))


def gemini_reply(text: str, metadata: Any) -> dict:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
                            "groundingMetadata": metadata}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5}}


def test_gemini_byte_offsets_become_character_offsets():
    text = "😀 上海晴。Sunny!"
    cited = "上海晴。"
    start = len(text[: text.index(cited)].encode())
    metadata = {"webSearchQueries": ["上海天气", "上海天气"],  # a repeated query is one search
                "groundingChunks": [{"web": {"uri": "https://g.test/1", "title": "t"}}, {"retrievedContext": {}}],
                "groundingSupports": [{"segment": {"startIndex": start, "endIndex": start + len(cited.encode())},
                                       "groundingChunkIndices": [0, 1, 7, "x"]},
                                      {"segment": {"endIndex": 4}, "groundingChunkIndices": [0]}]}
    result = GeminiAdapter().parse_response(json.dumps(gemini_reply(text, metadata)).encode(),
                                            request(tools=[SEARCH]), ctx("gemini"))
    message, search = result.body["output"]
    spans = [(a["start_index"], a["end_index"]) for a in message["content"][0]["annotations"]]
    assert spans == [(text.index(cited), text.index(cited) + len(cited)), (0, 1)]  # 4 bytes: the emoji
    assert search["action"]["query"] == "上海天气"
    assert result.usage.tool_calls == (("web_search", 1),)


@pytest.mark.parametrize("metadata", ["nonsense", {"webSearchQueries": "q", "groundingSupports": [1, {"segment": 2}]},
                                      {"groundingSupports": [{"segment": {"startIndex": 3, "endIndex": 999}}]},
                                      {"groundingChunks": [None], "groundingSupports": [{"segment": {"endIndex": 2},
                                                                                         "groundingChunkIndices": [0]}]}])
def test_malformed_grounding_is_ignored_not_a_500(metadata):
    result = GeminiAdapter().parse_response(json.dumps(gemini_reply("abc", metadata)).encode(),
                                            request(tools=[SEARCH]), ctx("gemini"))
    Response.model_validate(result.body)
    assert [i["type"] for i in result.body["output"]] == ["message"] and result.usage.tool_calls == ()


def test_a_streamed_gemini_search_is_valid_sdk_events():
    metadata = {"webSearchQueries": ["q"], "groundingChunks": [{"web": {"uri": "https://g.test/1", "title": "t"}}],
                "groundingSupports": [{"segment": {"endIndex": 3}, "groundingChunkIndices": [0]}]}
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [{"text": "abc"}]}}]}, gemini_reply("", metadata)]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)
    translator = GeminiAdapter().stream_translator(request(tools=[SEARCH], stream=True), ctx("gemini", stream=True))
    events = replay(translator, body)
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["message", "web_search_call"]
    assert translator.usage.tool_calls == (("web_search", 1),)
