"""Messages door, request side: client body → internal form (a Responses body), goldens, refusals, headers,
count_tokens (the fuzz test of hostile bodies is in test_messages_door_fuzz)."""

import copy
import json
from pathlib import Path

import msgspec
import pytest

from gateway.protocols.anthropic import headers as header_rules
from gateway.protocols.anthropic.channel_request import anthropic_body, anthropic_messages
from gateway.protocols.anthropic.door import MessagesDoor
from gateway.protocols.anthropic.params import client_param
from gateway.protocols.anthropic.request import parse_count_tokens
from gateway.protocols.channel import CallContext
from gateway.protocols.door import Door
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import parse_request

from .anthropic_requests import COUNT_TOKENS, REQUESTS

GOLDEN = Path(__file__).parent / "golden" / "anthropic"
door = MessagesDoor()


def golden(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def test_door_interface():
    assert isinstance(door, Door) and door.name == "messages"


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_goldens(name):
    case = REQUESTS[name]
    parsed = door.parse(copy.deepcopy(case["body"]), headers=case["headers"])
    expected = golden(f"request_{name}")
    assert parsed.body == expected["internal"]
    assert parsed.extras == expected["extras"]
    assert (parsed.stream, parsed.model) == (expected["stream"], expected["model"])
    # The internal form is what the pipeline validates: it must pass gateway.wire.schema as is.
    parse_request(msgspec.json.encode(parsed.body))


def test_request_text_round_trips_byte_exact():
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "中文 🎉 \u00e9\U0001f600"}]}
    parsed = door.parse(body)
    encoded = msgspec.json.encode(parsed.body)
    assert "中文 🎉 é😀".encode() in encoded
    assert parse_request(encoded).typed.input[0]["content"] == body["messages"][0]["content"]


def test_conversation_round_trips_through_the_anthropic_channel():
    """The channel's own Responses → Anthropic translation gives the client's messages back (what has no
    Responses field, cache_control and is_error, rides in extras instead)."""
    case = REQUESTS["tools_thinking"]
    parsed = parse_request(msgspec.json.encode(door.parse(copy.deepcopy(case["body"])).body))
    system, messages = anthropic_messages(parsed.typed.instructions, parsed.typed.input)
    sent = copy.deepcopy(case["body"])
    for block in sent["system"]:
        block.pop("cache_control")
    for message in sent["messages"]:
        for block in message["content"]:
            block.pop("cache_control", None)
            block.pop("is_error", None)
    # The channel sends a one-text-block result as a string: the same thing to Anthropic.
    sent["messages"][2]["content"][1]["content"] = [{"type": "text", "text": "clock broken"}]
    assert system == sent["system"]
    assert messages == sent["messages"]


def test_count_tokens():
    parsed = parse_count_tokens(copy.deepcopy(COUNT_TOKENS["body"]), COUNT_TOKENS["headers"])
    expected = golden("request_count_tokens")
    assert parsed.body == expected["internal"] and parsed.extras == expected["extras"]
    assert "max_output_tokens" not in parsed.body
    parse_request(msgspec.json.encode(parsed.body))
    with pytest.raises(InvalidRequest) as error:
        parse_count_tokens({**COUNT_TOKENS["body"], "max_tokens": 5})
    assert error.value.param == "max_tokens" and error.value.code == "unsupported_parameter"


BASE = {"model": "claude-x", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def _with(**changes):
    body = copy.deepcopy(BASE)
    body.update(changes)
    return body


def _user(*blocks):
    return [{"role": "user", "content": list(blocks)}]


REFUSALS = [
    ({"max_tokens": None}, "max_tokens", "missing_required_parameter"),
    ({"max_tokens": 0}, "max_tokens", "invalid_value"),
    ({"max_tokens": True}, "max_tokens", "invalid_type"),
    ({"model": "  "}, "model", "invalid_value"),
    ({"messages": []}, "messages", "invalid_value"),
    ({"messages": "hi"}, "messages", "invalid_type"),
    ({"temperature": 1.5}, "temperature", "invalid_value"),
    ({"top_p": "x"}, "top_p", "invalid_type"),
    ({"top_k": -1}, "top_k", "invalid_value"),
    ({"stop_sequences": [""]}, "stop_sequences[0]", "invalid_value"),
    ({"stop_sequences": ["x"] * 65}, "stop_sequences", "array_above_max_length"),
    ({"container": "c1"}, "container", "unsupported_parameter"),
    ({"mcp_servers": []}, "mcp_servers", "unsupported_parameter"),
    ({"metadata": {"user_id": "u", "tenant": "t"}}, "metadata.tenant", "unsupported_parameter"),
    ({"stream": "yes"}, "stream", "invalid_type"),
    ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "thinking.budget_tokens", "invalid_value"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "thinking.budget_tokens", "invalid_value"),
    ({"thinking": {"type": "on"}}, "thinking.type", "invalid_value"),
    ({"service_tier": "priority"}, "service_tier", "invalid_value"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type", "unsupported_value"),
    ({"tools": [{"name": "bad name", "input_schema": {"type": "object"}}]}, "tools[0].name", "invalid_value"),
    ({"tools": [{"name": "f", "input_schema": {"type": "string"}}]}, "tools[0].input_schema.type", "invalid_value"),
    (
        {"tools": [{"name": "f", "input_schema": {"type": "object"}, "eager_input_streaming": True}]},
        "tools[0].eager_input_streaming",
        "unsupported_parameter",
    ),
    ({"tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name", "invalid_value"),
    ({"tool_choice": {"type": "required"}}, "tool_choice.type", "invalid_value"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role", "invalid_value"),
    ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name", "unsupported_parameter"),
    ({"messages": [{"role": "user", "content": ""}]}, "messages[0].content", "invalid_value"),
    ({"messages": _user({"type": "text", "text": ""})}, "messages[0].content[0].text", "invalid_value"),
    (
        {"messages": _user({"type": "text", "text": "x", "citations": [{"type": "char_location"}]})},
        "messages[0].content[0].citations",
        "unsupported_parameter",
    ),
    (
        {"messages": _user({"type": "text", "text": "x", "cache_control": {"type": "forever"}})},
        "messages[0].content[0].cache_control.type",
        "invalid_value",
    ),
    (
        {"messages": _user({"type": "thinking", "thinking": "t", "signature": "s"})},
        "messages[0].content[0].type",
        "unsupported_value",
    ),
    ({"messages": _user({"type": "search_result"})}, "messages[0].content[0].type", "unsupported_value"),
    (
        {"messages": _user({"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}})},
        "messages[0].content[0].source.media_type",
        "invalid_value",
    ),
    (
        {
            "messages": _user(
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}}
            )
        },
        "messages[0].content[0].source.data",
        "invalid_value",
    ),
    (
        {"messages": _user({"type": "document", "source": {"type": "content", "content": []}})},
        "messages[0].content[0].source.type",
        "unsupported_value",
    ),
    (
        {"messages": _user({"type": "document", "source": {"type": "url", "url": "u"}, "context": "c"})},
        "messages[0].content[0].context",
        "unsupported_parameter",
    ),
    (
        {
            "messages": _user(
                {"type": "document", "source": {"type": "url", "url": "u"}, "citations": {"enabled": True}}
            )
        },
        "messages[0].content[0].citations",
        "unsupported_parameter",
    ),
    (
        {"messages": _user({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "search_result"}]})},
        "messages[0].content[0].content[0].type",
        "unsupported_value",
    ),
    (
        {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": []}]}]},
        "messages[0].content[0].input",
        "invalid_type",
    ),
    (
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "t",
                            "name": "f",
                            "input": {},
                            "caller": {"type": "code_execution_20250825"},
                        }
                    ],
                }
            ]
        },
        "messages[0].content[0].caller",
        "unsupported_parameter",
    ),
    (
        {"messages": [{"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}]}]},
        "messages[0].content[0].signature",
        "invalid_type",
    ),
    (
        {"messages": [{"role": "assistant", "content": [{"type": "image", "source": {"type": "url", "url": "u"}}]}]},
        "messages[0].content[0].type",
        "unsupported_value",
    ),
    ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type", "invalid_value"),
    ({"system": [{"type": "image"}]}, "system[0].type", "invalid_value"),
    # Found by review: a list where a string belongs must be a 400, not an unhashable-type 500.
    ({"service_tier": []}, "service_tier", "invalid_value"),
    ({"output_config": {"effort": ["high"]}}, "output_config.effort", "invalid_value"),
    ({"cache_control": {"type": "ephemeral", "ttl": []}}, "cache_control.ttl", "invalid_value"),
    (
        {"messages": _user({"type": "image", "source": {"type": "base64", "media_type": [], "data": "AA=="}})},
        "messages[0].content[0].source.media_type",
        "invalid_value",
    ),
    ({"messages": _user({"type": []})}, "messages[0].content[0].type", "missing_required_parameter"),
    ({"tool_choice": {"type": {}}}, "tool_choice.type", "missing_required_parameter"),
    (
        {"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}] * 5},
        "system[4].cache_control",
        "invalid_value",
    ),
]


@pytest.mark.parametrize(("changes", "param", "code"), REFUSALS)
def test_refusals_name_the_clients_field(changes, param, code):
    with pytest.raises(InvalidRequest) as error:
        door.parse(_with(**changes))
    assert (error.value.param, error.value.code) == (param, code), error.value.message
    assert error.value.status == 400


def test_replayed_sdk_objects_with_null_fields_are_accepted():
    """A client replaying `message.content` from the SDK dumps optional fields as null."""
    body = _with(
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "ok", "citations": None},
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "f",
                        "input": {},
                        "caller": {"type": "direct"},
                        "toolset_name": None,
                    },
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": None}]},
        ]
    )
    items = door.parse(body).body["input"]
    assert items[-1] == {"type": "function_call_output", "call_id": "t1", "output": ""}


def test_unsigned_thinking_keeps_its_text_without_encrypted_content():
    body = _with(messages=[{"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": ""}]}])
    assert door.parse(body).body["input"] == [{"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}]}]


def test_item_limit_names_messages(settings):
    settings.HARNMODEL_MAX_INPUT_ITEMS = 3
    blocks = [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "x"} for i in range(3)]
    with pytest.raises(InvalidRequest) as error:
        door.parse(_with(messages=[{"role": "user", "content": [*blocks, {"type": "text", "text": "y"}]}]))
    assert error.value.code == "array_above_max_length" and error.value.param.startswith("messages[0]")


def test_text_limit_names_the_field(settings):
    settings.HARNMODEL_MAX_TEXT_CHARS = 10
    with pytest.raises(InvalidRequest) as error:
        door.parse(_with(messages=_user({"type": "text", "text": "x" * 11})))
    assert error.value.param == "messages[0].content[0].text" and error.value.code == "string_above_max_length"


# -- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": "sk-a"}, "sk-a"),
        ({"X-Api-Key": " sk-a "}, "sk-a"),
        ({"authorization": "Bearer sk-b"}, "sk-b"),
        ({"Authorization": "bearer   sk-b"}, "sk-b"),
        ({"x-api-key": "sk-a", "authorization": "Bearer sk-b"}, "sk-a"),
        ({"x-api-key": "", "authorization": "Bearer sk-b"}, "sk-b"),
        ({"authorization": "Basic abc"}, None),
        ({"authorization": "Bearer "}, None),
        ({}, None),
        (None, None),
    ],
)
def test_api_key(headers, key):
    assert header_rules.api_key(headers) == key


def test_version_and_beta_headers():
    assert header_rules.anthropic_version({"anthropic-version": "2023-06-01"}) == "2023-06-01"
    assert header_rules.anthropic_version({}) is None
    with pytest.raises(InvalidRequest) as error:
        header_rules.anthropic_version({"anthropic-version": "latest"})
    assert error.value.param == "anthropic-version"
    assert header_rules.anthropic_beta({"anthropic-beta": "a-1, b.2,,a-1"}) == ["a-1", "b.2"]
    with pytest.raises(InvalidRequest):
        header_rules.anthropic_beta({"anthropic-beta": "bad flag"})
    with pytest.raises(InvalidRequest):
        header_rules.anthropic_beta({"anthropic-beta": ",".join(f"f{i}" for i in range(33))})


# -- errors raised after the door speak the client's names --------------------------------------


@pytest.mark.parametrize(
    ("internal", "client"),
    [
        (None, None),
        ("model", "model"),
        ("input", "messages"),
        ("max_output_tokens", "max_tokens"),
        ("instructions", "system"),
        ("tools[1].parameters", "tools[1].input_schema"),
        ("tools[1].name", "tools[1].name"),
        ("input[0]", "system"),
        ("input[0].content[0].text", "system[0].text"),
        ("input[1].content[1].image_url", "messages[0].content[1].source"),
        ("input[2].encrypted_content", "messages[1].content[0].signature"),
        ("input[5].arguments", "messages[1].content[3].input"),
        ("input[5].call_id", "messages[1].content[3].id"),
        ("input[7].call_id", "messages[2].content[0].tool_use_id"),
        ("input[8].output[0].text", "messages[2].content[1].content[0].text"),
        ("input[9].content[0]", "messages[2].content[2]"),
        ("input[99].content[0]", "input[99].content[0]"),
    ],
)
def test_client_param(internal, client):
    parsed = door.parse(copy.deepcopy(REQUESTS["tools_thinking"]["body"]))
    assert client_param(parsed, internal) == client


def test_a_channel_refusal_maps_to_the_clients_block():
    body = _with(
        messages=_user(
            {"type": "text", "text": "look"}, {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
        )
    )
    parsed = door.parse(body)
    request = parse_request(msgspec.json.encode(parsed.body))
    ctx = CallContext(
        request_id="r",
        response_id="resp_1",
        public_model="m",
        upstream_model="m",
        base_url="",
        secret="",
        stream=False,
        max_output_tokens=64,
        created_at=0,
    )
    with pytest.raises(InvalidRequest) as error:
        anthropic_body(request, ctx)
    assert client_param(parsed, error.value.param) == "messages[0].content[1].source.file_id"
