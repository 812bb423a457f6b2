"""The official openai SDK against the real gateway process, through each kind of channel.

Every channel kind must give the SDK the same thing: the doc page's request works, streams follow the
canonical event order, tools work with every `tool_choice` form, and a second turn with the tool's result
gets a text answer. The client validates every reply strictly (`_strict_response_validation=True`).
"""

import json
from typing import Any

import pytest

from tests.upstream.server import answer_chat, answer_responses, arguments_for

from .conftest import UPSTREAM_MODEL, UPSTREAM_SECRET, serve_model

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ["simulator", "openai_responses", "openai_chat"]
INSTRUCTIONS = "使用简洁中文回答。"
USER_TEXT = "总结一下接入步骤"
DOC_INPUT = [{"role": "user", "content": [{"type": "input_text", "text": USER_TEXT}]}]
ECHO = "你说：" + USER_TEXT  # what the test upstream answers, byte for byte
DEFAULT_CAP = 4096  # make_model's default_max_output_tokens: the cap a funded customer's hold pays for

LOOKUP_DOC = {
    "type": "function",
    "name": "lookupDoc",
    "description": "Search the developer docs.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["query", "limit"],
        "additionalProperties": False,
    },
    "strict": True,
}
GET_WEATHER = {
    "type": "function",
    "name": "getWeather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
TOOLS = [LOOKUP_DOC, GET_WEATHER]
SCHEMAS = {tool["name"]: tool["parameters"] for tool in TOOLS}


def _chat_fn(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


# (id, tool_choice as the client sends it, tool expected to be called or None,
#  tool_choice the Responses upstream must receive, tool_choice the Chat upstream must receive)
TOOL_CHOICES = [
    ("auto", "auto", "lookupDoc", "auto", "auto"),
    ("required", "required", "lookupDoc", "required", "required"),
    ("none", "none", None, "none", "none"),
    (
        "function",
        {"type": "function", "name": "getWeather"},
        "getWeather",
        {"type": "function", "name": "getWeather"},
        _chat_fn("getWeather"),
    ),
    (
        "allowed_tools",
        {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "getWeather"}]},
        "getWeather",
        {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "getWeather"}]},
        {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [_chat_fn("getWeather")]}},
    ),
    # Our doc page's object forms: {"type": "auto"}, and {"type": ..., "name": ...} to name the tool.
    ("doc_object_auto", {"type": "auto"}, "lookupDoc", "auto", "auto"),
    ("doc_object_none", {"type": "none"}, None, "none", "none"),
    (
        "doc_object_named",
        {"type": "required", "name": "getWeather"},
        "getWeather",
        {"type": "function", "name": "getWeather"},
        _chat_fn("getWeather"),
    ),
]


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def channel(kind, upstream):
    return serve_model(kind, upstream)


@pytest.fixture
def client(gateway, alice):
    return gateway.client(alice.key)


# -- helpers -------------------------------------------------------------------------------------


def upstream_call(upstream, kind: str, alice, *, stream: bool) -> dict[str, Any]:
    """The one request the upstream got for this test, with what every channel must send checked."""
    received = upstream.received()
    assert len(received) == 1, [r.path for r in received]
    rec = received[0]
    assert rec.path == ("/v1/responses" if kind == "openai_responses" else "/v1/chat/completions")
    assert rec.headers["authorization"] == f"Bearer {UPSTREAM_SECRET}"
    assert alice.key not in json.dumps(rec.headers) and alice.key not in rec.raw.decode()
    body = rec.body
    assert body["model"] == UPSTREAM_MODEL
    if kind == "openai_responses":
        assert body["max_output_tokens"] == DEFAULT_CAP
        assert body["stream"] is stream
    else:
        assert body["max_tokens"] == DEFAULT_CAP
        if stream:
            assert body["stream"] is True
            assert body["stream_options"] == {"include_usage": True}
        else:
            assert not body.get("stream")
            assert "stream_options" not in body
    return body


def expected_answer(kind: str, body: dict[str, Any]):
    return answer_responses(body) if kind == "openai_responses" else answer_chat(body)


def user_text_sent(kind: str, body: dict[str, Any]) -> str:
    if kind == "openai_responses":
        assert body["instructions"] == INSTRUCTIONS
        assert body["input"] == DOC_INPUT
        return body["input"][0]["content"][0]["text"]
    system, user = body["messages"][0], body["messages"][1]
    assert system == {"role": "system", "content": INSTRUCTIONS}
    assert user["role"] == "user"
    content = user["content"]
    return content if isinstance(content, str) else "".join(p["text"] for p in content if p["type"] == "text")


def check_event_stream(events: list, *, final_type: str = "response.completed"):
    """The canonical order of wire-formats §3.3/§3.4, as the SDK helpers and strict clients need it."""
    types = [e.type for e in events]
    assert types[0] == "response.created", types
    assert types[1] == "response.in_progress", types
    assert types[-1] == final_type, types
    assert types.count(final_type) == 1
    assert [e.sequence_number for e in events] == list(range(len(events))), "sequence_number must be 0, 1, 2, …"
    created, final = events[0].response, events[-1].response
    assert created.status == "in_progress" and created.output == [] and created.usage is None
    assert created.id == events[1].response.id == final.id
    assert created.model == final.model == "gpt-4o"

    added = [e.output_index for e in events if e.type == "response.output_item.added"]
    assert added == list(range(len(added))), f"output_index not dense: {added}"
    done = [e.output_index for e in events if e.type == "response.output_item.done"]
    assert sorted(done) == added
    open_items: dict[int, Any] = {}
    for event in events:
        if event.type == "response.output_item.added":
            open_items[event.output_index] = event.item
            if event.item.type == "function_call":
                assert event.item.arguments == ""
            if event.item.type == "message":
                assert event.item.content == []
        elif event.type == "response.output_item.done":
            assert event.item.id == open_items[event.output_index].id
            assert event.item.type == open_items[event.output_index].type
        elif hasattr(event, "output_index"):
            assert event.output_index in open_items, f"{event.type} before its output_item.added"
    assert len(final.output) == len(added)
    for event in events:
        if event.type == "response.output_item.done":
            assert final.output[event.output_index].id == event.item.id

    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.output_text
    for index, item in enumerate(final.output):
        if item.type == "function_call":
            deltas = [
                e.delta
                for e in events
                if e.type == "response.function_call_arguments.delta" and e.output_index == index
            ]
            assert "".join(deltas) == item.arguments
    usage = final.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    return final


def function_calls(response) -> list:
    return [item for item in response.output if item.type == "function_call"]


# -- text --------------------------------------------------------------------------------------------


def test_doc_page_request_json(kind, channel, client, upstream, alice):
    raw = client.responses.with_raw_response.create(
        model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT, stream=False
    )
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["x-request-id"].startswith("req_")
    response = raw.parse()
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == "gpt-4o"
    assert response.id.startswith("resp_")
    assert response.output_text.strip()
    assert USER_TEXT in response.output_text
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    if kind == "simulator":
        assert upstream.received() == []
        return
    body = upstream_call(upstream, kind, alice, stream=False)
    assert user_text_sent(kind, body) == USER_TEXT
    # Byte-exact both ways: the upstream's answer reaches the client unchanged, as raw UTF-8.
    assert response.output_text == ECHO
    assert ECHO.encode() in raw.content
    expected = expected_answer(kind, body)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (
        expected.input_tokens,
        expected.output_tokens,
    )


def test_doc_page_request_stream(kind, channel, client, upstream, alice):
    events = list(client.responses.create(model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT, stream=True))
    final = check_event_stream(events)
    assert final.status == "completed"
    assert USER_TEXT in final.output_text
    assert [e.type for e in events if e.type.startswith("response.output_item")] == [
        "response.output_item.added",
        "response.output_item.done",
    ]
    if kind == "simulator":
        return
    body = upstream_call(upstream, kind, alice, stream=True)
    assert user_text_sent(kind, body) == USER_TEXT
    assert final.output_text == ECHO
    expected = expected_answer(kind, body)
    assert (final.usage.input_tokens, final.usage.output_tokens) == (expected.input_tokens, expected.output_tokens)


def test_stream_helper_final_response(kind, channel, client, upstream, alice):
    with client.responses.stream(model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT) as stream:
        events = list(stream)
        final = stream.get_final_response()
    check_event_stream(events)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert final.output_text == deltas
    assert USER_TEXT in final.output_text
    assert final.status == "completed" and final.usage.output_tokens > 0
    if kind != "simulator":
        upstream_call(upstream, kind, alice, stream=True)
        assert final.output_text == ECHO


def test_plain_string_input(kind, channel, client, upstream):
    response = client.responses.create(model="gpt-4o", input="你好，世界 👋")
    assert "你好，世界 👋" in response.output_text
    if kind != "simulator":
        assert response.output_text == "你说：你好，世界 👋"


def test_client_max_output_tokens_reaches_upstream(kind, channel, client, upstream, alice):
    """A cap the client sets is the cap the upstream is told; a cut answer is `incomplete`."""
    response = client.responses.create(model="gpt-4o", input=DOC_INPUT, max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert 0 < response.usage.output_tokens <= 3
    if kind == "openai_responses":
        assert upstream.received()[0].body["max_output_tokens"] == 3
    elif kind == "openai_chat":
        assert upstream.received()[0].body["max_tokens"] == 3


# -- tools ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected_tool", "upstream_responses_choice", "upstream_chat_choice"),
    [case[1:] for case in TOOL_CHOICES],
    ids=[case[0] for case in TOOL_CHOICES],
)
def test_tool_choice_forms(
    kind, channel, client, upstream, alice, choice, expected_tool, upstream_responses_choice, upstream_chat_choice
):
    response = client.responses.create(
        model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT, tools=TOOLS, tool_choice=choice
    )
    assert response.status == "completed"
    assert [t.name for t in response.tools] == ["lookupDoc", "getWeather"]
    calls = function_calls(response)
    if expected_tool is None:
        assert calls == []
        assert USER_TEXT in response.output_text
    else:
        [call] = calls
        assert call.name == expected_tool
        assert call.call_id and call.id
        arguments = json.loads(call.arguments)
        schema = SCHEMAS[expected_tool]
        assert set(arguments) == set(schema["properties"])
        if expected_tool == "getWeather":
            assert arguments["unit"] in ("celsius", "fahrenheit")
        if kind != "simulator":
            assert call.arguments == arguments_for(schema, USER_TEXT)  # Chinese inside arguments, byte-exact
    if kind == "simulator":
        return
    body = upstream_call(upstream, kind, alice, stream=False)
    if kind == "openai_responses":
        assert body["tool_choice"] == upstream_responses_choice
        assert body["tools"] == TOOLS
    else:
        assert body["tool_choice"] == upstream_chat_choice
        assert [t["type"] for t in body["tools"]] == ["function", "function"]
        for sent, tool in zip(body["tools"], TOOLS, strict=True):
            assert sent["function"]["name"] == tool["name"]
            assert sent["function"]["parameters"] == tool["parameters"]


def test_doc_page_tool_without_parameters(kind, channel, client, upstream):
    """The doc page's own example: a tool with only a name, tool_choice {"type": "auto"}."""
    response = client.responses.create(
        model="gpt-4o",
        input=DOC_INPUT,
        tools=[{"type": "function", "name": "lookupDoc"}],
        tool_choice={"type": "auto"},
    )
    [call] = function_calls(response)
    assert call.name == "lookupDoc"
    assert json.loads(call.arguments) == {}


def test_stream_tool_call(kind, channel, client, upstream, alice):
    with client.responses.stream(
        model="gpt-4o", input=DOC_INPUT, tools=TOOLS, tool_choice={"type": "function", "name": "getWeather"}
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    check_event_stream(events)
    [call] = function_calls(final)
    assert call.name == "getWeather"
    assert json.loads(call.arguments)["unit"] == "celsius"
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in done] == [call.arguments]
    if kind != "simulator":
        upstream_call(upstream, kind, alice, stream=True)
        assert call.arguments == arguments_for(GET_WEATHER["parameters"], USER_TEXT)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_second_turn_with_tool_output(kind, channel, client, upstream, alice, stream):
    first = client.responses.create(model="gpt-4o", input=DOC_INPUT, tools=TOOLS, tool_choice="required")
    [call] = function_calls(first)
    tool_output = json.dumps({"steps": ["配置 Base URL", "填入 API Key", "发起请求"]}, ensure_ascii=False)
    second_input = [
        *DOC_INPUT,
        call.model_dump(exclude_none=True),  # replayed as clients do: the output item verbatim
        {"type": "function_call_output", "call_id": call.call_id, "output": tool_output},
    ]
    if stream:
        with client.responses.stream(model="gpt-4o", input=second_input, tools=TOOLS) as s:
            events = list(s)
            second = s.get_final_response()
        check_event_stream(events)
    else:
        second = client.responses.create(model="gpt-4o", input=second_input, tools=TOOLS)
    assert second.status == "completed"
    assert function_calls(second) == []
    assert tool_output in second.output_text
    if kind == "simulator":
        return
    assert second.output_text == "工具返回：" + tool_output
    received = upstream.received()
    assert len(received) == 2
    body = received[1].body
    assert body["model"] == UPSTREAM_MODEL
    if kind == "openai_responses":
        assert body["input"][-1] == {"type": "function_call_output", "call_id": call.call_id, "output": tool_output}
        assert body["input"][1]["call_id"] == call.call_id
    else:
        assistant, tool_message = body["messages"][-2], body["messages"][-1]
        assert assistant["role"] == "assistant"
        assert assistant["tool_calls"] == [
            {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
        ]
        assert tool_message == {"role": "tool", "tool_call_id": call.call_id, "content": tool_output}
