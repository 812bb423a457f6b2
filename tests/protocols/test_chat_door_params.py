"""Errors raised after the door (the pipeline's validator, a channel) name the Chat client's fields."""

import msgspec
import pytest

from gateway.protocols.channel import CallContext
from gateway.protocols.chat.channel_request import chat_body
from gateway.protocols.chat.door import ChatDoor
from gateway.protocols.chat.door_params import client_param
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import parse_request

door = ChatDoor()
BODY = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "file", "file": {"file_id": "file-1"}}]},
        {"role": "assistant", "content": "a", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "r"}]},
        {"role": "tool", "tool_call_id": "c2", "content": "r"},
    ],
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "max_tokens": 10,
}  # fmt: skip


@pytest.mark.parametrize(
    ("internal", "client"),
    [
        ("input", "messages"),
        ("input[0].content", "messages[0].content"),
        ("input[1].content[1].file_data", "messages[1].content[1].file.file_data"),
        ("input[1].content[1].file_id", "messages[1].content[1].file.file_id"),
        ("input[1].content[0].image_url", "messages[1].content[0].image_url.url"),
        ("input[2].content", "messages[2].content"),
        ("input[3]", "messages[2].tool_calls[0]"),
        ("input[4].call_id", "messages[2].tool_calls[1].id"),
        ("input[4].name", "messages[2].tool_calls[1].function.name"),
        ("input[4].arguments", "messages[2].tool_calls[1].function.arguments"),
        ("input[5].call_id", "messages[3].tool_call_id"),
        ("input[5].output", "messages[3].content"),
        ("input[5].output[0].text", "messages[3].content[0].text"),
        ("input[6].output", "messages[4].content"),
        ("input[99].role", "input[99].role"),  # unknown: left as it is rather than guessed
        ("tools[0].name", "tools[0].function.name"),
        ("tools[0].parameters", "tools[0].function.parameters"),
        ("tools[0].type", "tools[0].type"),
        ("tool_choice.name", "tool_choice.function.name"),
        ("tool_choice.tools[1]", "tool_choice.allowed_tools.tools[1]"),
        ("tool_choice.type", "tool_choice.type"),
        ("text.format", "response_format"),
        ("text.format.type", "response_format.type"),
        ("text.format.name", "response_format.json_schema.name"),
        ("text.verbosity", "verbosity"),
        ("reasoning.effort", "reasoning_effort"),
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("metadata.k", "metadata.k"),
        ("textual", "textual"),
        (None, None),
    ],
)
def test_client_param(internal, client):
    assert client_param(internal, door.parse(BODY).extras) == client


def test_input_paths_line_up_with_the_items():
    parsed = door.parse(BODY)
    assert parsed.extras["input_paths"] == [
        "messages[0]", "messages[1]", "messages[2]", "messages[2].tool_calls[0]", "messages[2].tool_calls[1]",
        "messages[3]", "messages[4]",
    ]  # fmt: skip
    assert len(parsed.extras["input_paths"]) == len(parsed.body["input"])
    assert door.parse({**BODY, "max_tokens": None, "max_completion_tokens": 5}).extras["max_tokens_param"] == (
        "max_completion_tokens"
    )


def test_a_chat_channel_refusal_names_the_clients_field():
    """End to end: the door's body, refused by the real Chat Completions channel (files by id)."""
    parsed = door.parse(BODY)
    request = parse_request(msgspec.json.encode(parsed.body))
    ctx = CallContext(
        request_id="r", response_id="resp_1", public_model="gpt-4o", upstream_model="m", base_url="http://u",
        secret="s", stream=False, max_output_tokens=10, created_at=0,
    )  # fmt: skip
    with pytest.raises(InvalidRequest) as caught:
        chat_body(request, ctx)
    assert caught.value.param == "input[1].content[1].file_data"
    error = door.client_error(caught.value, parsed)
    assert error.param == "messages[1].content[1].file.file_data"
    assert door.error_body(error)["error"]["param"] == "messages[1].content[1].file.file_data"


def test_quoted_param_in_the_message_is_rewritten():
    parsed = door.parse(BODY)
    error = InvalidRequest("Invalid 'input[4].arguments': string too long.", param="input[4].arguments")
    door.client_error(error, parsed)
    assert error.message == "Invalid 'messages[2].tool_calls[1].function.arguments': string too long."
    assert door.error_body(error)["error"]["message"] == error.message
