"""The raw SSE wire of /v1/responses, read with plain httpx from the real server, for every channel kind.

The openai SDK forgives a missing `event:` line, a trailing `data: [DONE]` and several ordering mistakes
(openai/_streaming.py), so the SDK tests cannot prove the wire itself. Here every block must be exactly one
`event: <type>` line and one `data: <json>` line whose `type` is that same name, no `[DONE]` anywhere,
`sequence_number` counting up by one from 0 (or 1), and the events in the exact order of wire-formats §3.3/§3.4.
"""

import json

import httpx
import pytest

from .conftest import serve_model

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ["simulator", "openai_responses", "openai_chat"]
INSTRUCTIONS = "使用简洁中文回答。"
DOC_INPUT = [{"role": "user", "content": [{"type": "input_text", "text": "总结一下接入步骤"}]}]
GET_WEATHER = {
    "type": "function",
    "name": "getWeather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}

TEXT_HEAD = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
TEXT_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
TOOL_HEAD = ["response.created", "response.in_progress", "response.output_item.added"]
TOOL_TAIL = ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]


@pytest.fixture(params=KINDS)
def kind(request, upstream):
    serve_model(request.param, upstream)
    return request.param


def read_wire(gateway, key: str, body: dict) -> tuple[httpx.Response, bytes]:
    with httpx.Client(timeout=30) as client:
        with client.stream(
            "POST", gateway.responses_url, json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            raw = response.read()
    return response, raw


def parse_blocks(raw: bytes) -> list[tuple[str, dict]]:
    """Split the wire into SSE blocks; each must be exactly `event: X` + `data: {...}` with data.type == X."""
    text = raw.decode("utf-8")  # strict: a multi-byte character cut between two events would fail here
    assert "[DONE]" not in text
    assert "\r" not in text
    assert text.endswith("\n\n"), "the stream must end with a complete block"
    blocks = text[:-2].split("\n\n")
    events = []
    for block in blocks:
        lines = block.split("\n")
        assert len(lines) == 2, f"a block must be one event: and one data: line, got {lines!r}"
        event_line, data_line = lines
        assert event_line.startswith("event: "), f"missing event: line in {block!r}"
        assert data_line.startswith("data: "), f"missing data: line in {block!r}"
        name = event_line[len("event: ") :]
        data = json.loads(data_line[len("data: ") :])
        assert isinstance(data, dict)
        assert data["type"] == name, f"event: {name} carries data of type {data.get('type')}"
        events.append((name, data))
    return events


def check_common(events: list[tuple[str, dict]]) -> dict:
    seq = [data["sequence_number"] for _, data in events]
    assert seq[0] in (0, 1)
    assert seq == list(range(seq[0], seq[0] + len(seq))), f"sequence_number not increasing by one: {seq}"
    added = [data["output_index"] for name, data in events if name == "response.output_item.added"]
    assert added == list(range(len(added))), f"output_index not dense: {added}"
    for name, data in events:
        if "output_index" in data:
            assert data["output_index"] in added, f"{name} names an output_index never added"
    created, in_progress, completed = events[0][1], events[1][1], events[-1][1]
    assert created["response"]["status"] == "in_progress" and created["response"]["output"] == []
    assert created["response"]["id"] == in_progress["response"]["id"] == completed["response"]["id"]
    final = completed["response"]
    assert final["status"] == "completed"
    usage = final["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert len(final["output"]) == len(added)
    return final


def test_text_stream_wire(gateway, kind, alice):
    body = {"model": "gpt-4o", "instructions": INSTRUCTIONS, "input": DOC_INPUT, "stream": True}
    response, raw = read_wire(gateway, alice.key, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_blocks(raw)
    names = [name for name, _ in events]
    deltas = len(names) - len(TEXT_HEAD) - len(TEXT_TAIL)
    assert deltas >= 1, names
    assert names == TEXT_HEAD + ["response.output_text.delta"] * deltas + TEXT_TAIL
    final = check_common(events)
    text = "".join(data["delta"] for name, data in events if name == "response.output_text.delta")
    [done] = [data for name, data in events if name == "response.output_text.done"]
    assert text == done["text"] == final["output"][0]["content"][0]["text"]
    for name, data in events[2:-1]:
        assert data["output_index"] == 0
        if name != "response.output_item.added" and name != "response.output_item.done":
            assert data["content_index"] == 0


def test_tool_call_stream_wire(gateway, kind, alice):
    body = {
        "model": "gpt-4o",
        "instructions": INSTRUCTIONS,
        "input": DOC_INPUT,
        "tools": [GET_WEATHER],
        "tool_choice": {"type": "function", "name": "getWeather"},
        "stream": True,
    }
    response, raw = read_wire(gateway, alice.key, body)
    assert response.status_code == 200
    events = parse_blocks(raw)
    names = [name for name, _ in events]
    deltas = len(names) - len(TOOL_HEAD) - len(TOOL_TAIL)
    assert deltas >= 1, names
    assert names == TOOL_HEAD + ["response.function_call_arguments.delta"] * deltas + TOOL_TAIL
    final = check_common(events)
    assert events[2][1]["item"]["type"] == "function_call" and events[2][1]["item"]["arguments"] == ""
    arguments = "".join(data["delta"] for name, data in events if name == "response.function_call_arguments.delta")
    assert arguments == final["output"][0]["arguments"]
    json.loads(arguments)
