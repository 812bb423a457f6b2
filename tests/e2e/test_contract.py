"""The gateway's contract, once per provider kind: the same `/v1/responses` requests, through the real gateway
process and a real HTTP upstream of that kind, must give the official SDK (strict validation) the same things —
a completed answer with usage, a canonical event stream, the stream helper's final response, a two-turn tool
conversation — and every request must be billed exactly once.

Upstreams: the in-process simulator, tests/upstream/server.py (openai_responses, openai_chat),
tests/upstream/anthropic_mock.py and tests/upstream/gemini_mock.py (started once for this module).
"""

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from billing.models import UsageRecord
from gateway.protocols.registry import ADAPTERS
from tests.factories import make_channel, make_model
from tests.upstream.anthropic_mock import AnthropicMock
from tests.upstream.gemini_mock import GeminiMock

from .conftest import UPSTREAM_SECRET, serve_model, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = list(ADAPTERS)  # every provider kind the gateway knows
UPSTREAM_NAMES = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
INSTRUCTIONS = "使用简洁中文回答。"
USER_TEXT = "总结一下接入步骤"
DOC_INPUT = [{"role": "user", "content": [{"type": "input_text", "text": USER_TEXT}]}]
GET_WEATHER = {
    "type": "function",
    "name": "getWeather",
    "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
FORCE_WEATHER = {"type": "function", "name": "getWeather"}
TOOL_OUTPUT = json.dumps({"temp_c": 18})
SIGNATURE = base64.b64encode(b"opaque thought signature \x00\xff").decode()  # what Gemini attaches to a call
GEMINI_CALL = {  # the Gemini mock only echoes text: a forced call is queued, as Gemini would send it
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "getWeather", "args": {"city": "北京"}}, "thoughtSignature": SIGNATURE}
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 21, "candidatesTokenCount": 7, "totalTokenCount": 28},
    "modelVersion": "mock",
}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def anthropic_mock() -> Iterator[AnthropicMock]:
    mock = AnthropicMock().start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def gemini_mock() -> Iterator[GeminiMock]:
    mock = GeminiMock().start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture
def fakes(anthropic_mock, gemini_mock, upstream) -> Iterator[dict[str, Any]]:
    anthropic_mock.reset()
    anthropic_mock.expected_key = UPSTREAM_SECRET
    gemini_mock.requests.clear()
    gemini_mock.reset()
    yield {"anthropic": anthropic_mock, "gemini": gemini_mock, "upstream": upstream}
    anthropic_mock.reset()
    gemini_mock.requests.clear()
    gemini_mock.reset()


@pytest.fixture
def channel(kind, fakes):
    if kind not in UPSTREAM_NAMES:
        return serve_model(kind, fakes["upstream"])
    base_url = fakes["anthropic"].base_url if kind == "anthropic" else fakes["gemini"].api_base  # …/v1, …/v1beta
    make_model("gpt-4o")
    return make_channel(
        f"{kind}-gpt-4o",
        provider=kind,
        base_url=base_url,
        secret=UPSTREAM_SECRET,
        models={"gpt-4o": UPSTREAM_NAMES[kind]},
    )


@pytest.fixture
def request_ids() -> list[str]:
    """The x-request-id of every reply the client got in this test."""
    return []


@pytest.fixture
def client(gateway, alice, channel, request_ids):
    def record(response: httpx.Response) -> None:
        request_ids.append(response.headers["x-request-id"])

    with httpx.Client(timeout=30, event_hooks={"response": [record]}) as http_client:
        yield gateway.client(alice.key, http_client=http_client)


# -- helpers -------------------------------------------------------------------------------------


def upstream_calls(kind: str, fakes: dict[str, Any]) -> int:
    if kind == "simulator":
        return 0
    if kind in UPSTREAM_NAMES:
        return len(fakes[kind].requests)
    return len(fakes["upstream"].received())


def check_completed(response) -> None:
    assert response.status == "completed", response.error
    assert response.model == "gpt-4o"
    assert response.output_text.strip()
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def check_events(events: list) -> Any:
    """The canonical order: created first, sequence numbers 0, 1, 2, …, output indexes dense in added order,
    every delta after its item was added, completed last with usage; text deltas add up to output_text."""
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed", types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added: list[int] = []
    for event in events:
        if event.type == "response.output_item.added":
            added.append(event.output_index)
        elif hasattr(event, "output_index"):
            assert event.output_index in added, f"{event.type} before its response.output_item.added"
    assert added == list(range(len(added))), f"output_index not dense: {added}"
    final = events[-1].response
    check_completed(final)
    assert len(final.output) == len(added)
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text
    return final


def check_billed(request_ids: list[str], alice, channel) -> None:
    """Each request: exactly one UsageRecord, priced (> 0), on this channel; nothing else billed to alice."""
    assert len(set(request_ids)) == len(request_ids) > 0
    wait_for(
        lambda: UsageRecord.objects.filter(request_id__in=request_ids).count() == len(request_ids),
        timeout=10,
        what="a usage record for every request",
    )
    for request_id in request_ids:
        [record] = UsageRecord.objects.filter(request_id=request_id)
        assert record.status == 200 and record.model_id == "gpt-4o" and record.channel_id == channel.pk
        assert record.input_tokens > 0 and record.output_tokens > 0 and record.cost_micros > 0
    assert UsageRecord.objects.filter(account=alice.account).count() == len(request_ids)


# -- the contract --------------------------------------------------------------------------------


def test_create(kind, client, fakes, request_ids, alice, channel):
    response = client.responses.create(model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT)
    check_completed(response)
    assert response.object == "response" and response.id.startswith("resp_")
    if kind != "simulator":
        assert response.output_text == "你说：" + USER_TEXT  # every fake echoes, byte for byte
    assert upstream_calls(kind, fakes) == (0 if kind == "simulator" else 1)
    check_billed(request_ids, alice, channel)


def test_stream_events(kind, client, fakes, request_ids, alice, channel):
    events = list(client.responses.create(model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT, stream=True))
    final = check_events(events)
    if kind != "simulator":
        assert final.output_text == "你说：" + USER_TEXT
    assert upstream_calls(kind, fakes) == (0 if kind == "simulator" else 1)
    check_billed(request_ids, alice, channel)


def test_stream_helper(kind, client, fakes, request_ids, alice, channel):
    with client.responses.stream(model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT) as stream:
        events = list(stream)
        final = stream.get_final_response()
    streamed = check_events(events)
    check_completed(final)
    assert final.output_text == streamed.output_text
    assert final.output_text == "".join(e.delta for e in events if e.type == "response.output_text.delta")
    check_billed(request_ids, alice, channel)


def test_tool_two_turns(kind, client, fakes, request_ids, alice, channel):
    if kind == "gemini":
        fakes["gemini"].reply(GEMINI_CALL)
    first = client.responses.create(
        model="gpt-4o", instructions=INSTRUCTIONS, input=DOC_INPUT, tools=[GET_WEATHER], tool_choice=FORCE_WEATHER
    )
    assert first.status == "completed" and first.model == "gpt-4o"
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "getWeather" and call.call_id
    assert isinstance(json.loads(call.arguments), dict)
    if kind == "gemini":
        assert "__ts_" in call.call_id  # the thought signature rides in the call_id

    second = client.responses.create(
        model="gpt-4o",
        instructions=INSTRUCTIONS,
        input=[
            *DOC_INPUT,
            call.model_dump(exclude_none=True),  # the item as returned
            {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_OUTPUT},
        ],
        tools=[GET_WEATHER],
        tool_choice="auto",
    )
    check_completed(second)
    assert [item.type for item in second.output if item.type == "function_call"] == []
    assert upstream_calls(kind, fakes) == (0 if kind == "simulator" else 2)
    if kind == "anthropic":
        sent = fakes["anthropic"].requests[1].body["messages"]
        assert sent[-2]["content"][-1]["id"] == sent[-1]["content"][0]["tool_use_id"] == call.call_id
    if kind == "gemini":  # the signature goes back on the replayed functionCall part
        parts = [part for content in fakes["gemini"].requests[1].body["contents"] for part in content["parts"]]
        [replayed] = [part for part in parts if "functionCall" in part]
        assert replayed["thoughtSignature"] == SIGNATURE
        assert any("functionResponse" in part for part in parts)
    check_billed(request_ids, alice, channel)
