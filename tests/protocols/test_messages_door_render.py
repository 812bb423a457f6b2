"""Messages door, JSON side: Responses response → Anthropic message (goldens, validated by the official SDK's
own types), usage, stop reasons, errors (shape and the SDK exception each status raises), count_tokens."""

import json
from pathlib import Path

import anthropic
import httpx2 as httpx  # the Anthropic SDK 2.x runs on httpx2, whose objects it requires
import pytest
from anthropic.types import Message
from anthropic.types.shared import ErrorResponse

from gateway.protocols.anthropic.door import MessagesDoor
from gateway.protocols.anthropic.render import anthropic_usage, count_tokens_body, message_object
from gateway.protocols.door import DoorRequest
from gateway.wire.errors import (
    ApiError,
    InsufficientBalance,
    InvalidAuth,
    InvalidRequest,
    ModelNotAllowed,
    ModelNotAvailable,
    ModelNotFound,
    UpstreamFailed,
    UpstreamTimeout,
)

from .anthropic_scenarios import SCENARIOS

GOLDEN = Path(__file__).parent / "golden" / "anthropic"
door = MessagesDoor()
REQUEST = DoorRequest(body={}, stream=False, model="claude-x")


def golden(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def sdk_client(handler) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-test",
        base_url="http://gateway.test",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


@pytest.mark.parametrize("name", ["text_and_tool", "thinking_incomplete", "refusal"])
def test_response_goldens(name):
    case = golden(f"response_{name}")
    rendered = door.render_json(case["response"], REQUEST)
    assert rendered == case["message"]
    assert Message.model_validate(rendered).model_dump(exclude_unset=True) == rendered


@pytest.mark.parametrize("name", ["text_and_tool", "thinking_incomplete", "refusal"])
def test_goldens_are_what_the_builder_makes(name):
    """The fixtures' responses come from the channels' own builder: regenerate them if it changes."""
    _, final = SCENARIOS[name]()
    final.pop("completed_at", None)
    expected = golden(f"response_{name}")["response"]
    expected.pop("completed_at", None)
    assert [item["type"] for item in final["output"]] == [item["type"] for item in expected["output"]]
    assert final["usage"] == expected["usage"] and final["status"] == expected["status"]


def test_the_sdk_reads_the_json_answer_byte_exact():
    rendered = golden("response_text_and_tool")["message"]
    body = json.dumps(rendered, ensure_ascii=False).encode()
    client = sdk_client(lambda request: httpx.Response(200, content=body, headers={"content-type": "application/json"}))
    message = client.messages.create(model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "你好，世界 🌍"
    assert message.content[1].input == {"city": "北京"}
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 60 and message.usage.cache_read_input_tokens == 40


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, (0, 0, 0, 0)),
        ({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40}, "output_tokens": 5}, (60, 5, 0, 40)),
        (
            {
                "input_tokens": 100,
                "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 30},
                "output_tokens": 5,
            },
            (30, 5, 30, 40),
        ),
        (
            {
                "input_tokens": 10,
                "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 30},
                "output_tokens": 5,
            },
            (0, 5, 0, 10),
        ),  # inconsistent counts never go negative
        ({"input_tokens": "x"}, (0, 0, 0, 0)),
    ],
)
def test_usage(usage, expected):
    got = anthropic_usage(usage)
    assert (
        got["input_tokens"],
        got["output_tokens"],
        got["cache_creation_input_tokens"],
        got["cache_read_input_tokens"],
    ) == expected
    assert all(type(value) is int for value in got.values())


def _response(output, **extra):
    return {"id": "resp_1", "model": "claude-x", "status": "completed", "output": output, "usage": None, **extra}


def test_stop_reasons():
    text = {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "not json"}
    assert message_object(_response([text]), "m")["stop_reason"] == "end_turn"
    tool = message_object(_response([text, call]), "m")
    assert tool["stop_reason"] == "tool_use" and tool["content"][1]["input"] == {}
    assert message_object(_response([text], stop_sequence="END"), "m")["stop_sequence"] == "END"
    incomplete = _response([text], status="incomplete", incomplete_details={"reason": "content_filter"})
    assert message_object(incomplete, "m")["stop_reason"] == "refusal"


def test_foreign_reasoning_shows_text_with_an_empty_signature():
    """Another provider's encrypted reasoning cannot be an Anthropic signature; empty reasoning is not shown."""
    output = [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}],
            "encrypted_content": "gAAAAB",
        },
        {"type": "reasoning", "id": "rs_2", "summary": []},
        {"type": "web_search_call", "id": "ws_1"},
    ]
    rendered = message_object(_response(output), "m")
    assert rendered["content"] == [{"type": "thinking", "thinking": "a\n\nb", "signature": ""}]
    Message.model_validate(rendered)


ERRORS = [
    (InvalidRequest("bad", param="messages"), "invalid_request_error", anthropic.BadRequestError),
    (InvalidAuth("no key"), "authentication_error", anthropic.AuthenticationError),
    (InsufficientBalance("pay"), "billing_error", anthropic.PaymentRequiredError),
    (ModelNotAllowed("no"), "permission_error", anthropic.PermissionDeniedError),
    (ModelNotFound("none"), "not_found_error", anthropic.NotFoundError),
    (ApiError("big", status=413), "invalid_request_error", anthropic.APIStatusError),
    (ApiError("slow down", status=429, type="rate_limit_error"), "rate_limit_error", anthropic.RateLimitError),
    (ApiError("boom", status=500), "api_error", anthropic.InternalServerError),
    (UpstreamFailed("upstream"), "api_error", anthropic.APIStatusError),
    (ModelNotAvailable("later"), "overloaded_error", anthropic.APIStatusError),
    (UpstreamTimeout("late"), "timeout_error", anthropic.APIStatusError),
    (ApiError("busy", status=529), "overloaded_error", anthropic.OverloadedError),
]


@pytest.mark.parametrize(("error", "kind", "exception"), ERRORS)
def test_error_bodies(error, kind, exception):
    body = door.error_body(error)
    assert body == {"type": "error", "error": {"type": kind, "message": error.message}}
    ErrorResponse.model_validate(body)
    payload = json.dumps(body).encode()
    client = sdk_client(
        lambda request: httpx.Response(error.status, content=payload, headers={"content-type": "application/json"})
    )
    with pytest.raises(exception) as raised:
        client.messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == error.status
    assert raised.value.body == body


def test_count_tokens_body():
    assert count_tokens_body(42) == {"input_tokens": 42}
    answer = json.dumps(count_tokens_body(7)).encode()
    client = sdk_client(
        lambda request: httpx.Response(200, content=answer, headers={"content-type": "application/json"})
    )
    counted = client.messages.count_tokens(model="m", messages=[{"role": "user", "content": "x"}])
    assert counted.input_tokens == 7
