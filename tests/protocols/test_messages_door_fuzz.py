"""Messages door: the renderers never raise on odd input (the relay's events are trusted, but an upstream's
oddities pass through them), and every byte they emit is whole SSE events of valid JSON; wiring helpers."""

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.protocols.anthropic.door import MessagesDoor
from gateway.protocols.anthropic.request import parse_count_tokens, require_supported
from gateway.protocols.door import DoorRequest
from gateway.wire.errors import ApiError, InvalidRequest
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder

door = MessagesDoor()
_scalar = st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=6)
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
_types = st.sampled_from(
    [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.refusal.delta",
        "response.refusal.done",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.output_item.done",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
        "other",
    ]
)
_item = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b"]) | _scalar,
        "type": st.sampled_from(["message", "function_call", "reasoning", "web_search_call"]) | _scalar,
    },
    optional={
        "call_id": _scalar,
        "name": _scalar,
        "arguments": _scalar,
        "encrypted_content": st.sampled_from(["anthropic-signature:s", "anthropic-redacted:d", "x"]) | _scalar,
        "summary": _json,
        "content": _json,
    },
)
_payload = st.fixed_dictionaries(
    {},
    optional={
        "item": _item | _json,
        "item_id": st.sampled_from(["a", "b"]) | _scalar,
        "content_index": _scalar,
        "summary_index": _scalar,
        "delta": _scalar,
        "text": _scalar,
        "arguments": _scalar,
        "part": st.fixed_dictionaries({"type": st.sampled_from(["output_text", "refusal"]) | _scalar}) | _json,
        "response": st.fixed_dictionaries(
            {},
            optional={
                "id": _scalar,
                "model": _scalar,
                "status": _scalar,
                "output": st.lists(_item | _json, max_size=3) | _json,
                "usage": _json,
                "error": _json,
                "incomplete_details": _json,
            },
        )
        | _json,
        "error": _json,
        "code": _scalar,
        "message": _scalar,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(st.tuples(_types, _payload), max_size=12))
def test_stream_renderer_never_raises_and_emits_whole_events(events):
    renderer = door.stream_renderer(DoorRequest(body={}, stream=True, model="m"))
    raw = b"".join(renderer.feed(kind, data) for kind, data in events) + renderer.close()
    decoder = SSEDecoder()
    decoded = decoder.feed(raw)
    assert decoder.flush() == []
    kinds = [msgspec.json.decode(event.data)["type"] for event in decoded]
    assert kinds[-1] in ("message_stop", "error")
    assert kinds.count("message_stop") + kinds.count("error") == 1
    if kinds[0] != "error":
        assert kinds[0] == "message_start"


@settings(max_examples=300, deadline=None)
@given(response=_payload.map(lambda p: p.get("response")) | _json)
def test_render_json_never_raises(response):
    if isinstance(response, dict):
        rendered = door.render_json(response, DoorRequest(body={}, stream=False, model="m"))
        assert rendered["type"] == "message" and isinstance(rendered["content"], list)


def test_require_supported():
    parsed = door.parse(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
            "top_k": 5,
            "stop_sequences": ["END"],
        }
    )
    require_supported(parsed, {"top_k", "stop_sequences"})
    with pytest.raises(InvalidRequest) as error:
        require_supported(parsed, {"top_k"})
    assert (error.value.param, error.value.code) == ("stop_sequences", "unsupported_parameter")
    plain = door.parse({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    require_supported(plain, ())


def test_wiring_helpers_on_the_door():
    assert door.api_key({"Authorization": "Bearer sk-1"}) == "sk-1"
    assert door.count_tokens_body(3) == {"input_tokens": 3}
    counted = door.parse_count_tokens({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert counted.extras["count_tokens"] is True and counted.stream is False


# -- request bodies ----------------------------------------------------------------------------------------

_body_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_kinds = st.sampled_from(
    [
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "base64",
        "url",
        "file",
        "custom",
        "ephemeral",
        "json_schema",
        "image/png",
        "application/pdf",
        "text/plain",
        "high",
        "standard_only",
        "auto",
        "any",
        "tool",
        "none",
        "enabled",
        "adaptive",
    ]
)
_keys = st.sampled_from(
    [
        "type",
        "text",
        "source",
        "media_type",
        "data",
        "url",
        "id",
        "name",
        "input",
        "content",
        "tool_use_id",
        "is_error",
        "thinking",
        "signature",
        "cache_control",
        "title",
        "citations",
        "input_schema",
        "strict",
        "budget_tokens",
        "disable_parallel_tool_use",
        "user_id",
        "ttl",
        "effort",
        "format",
        "schema",
        "display",
        "file_id",
        "context",
        "role",
    ]
)
_field = st.deferred(lambda: _body_json | _kinds | _block | st.lists(_block, max_size=3))
_block = st.dictionaries(_keys, _field, max_size=5)
_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "x"]),
        "content": st.text(max_size=5) | st.lists(_block, max_size=4),
    }
)
_body = st.fixed_dictionaries(
    {
        "model": st.just("m") | _body_json,
        "max_tokens": st.integers(-2, 3000) | _body_json,
        "messages": st.lists(_message, max_size=4) | _body_json,
    },
    optional={
        name: _field
        for name in [
            "system",
            "tools",
            "tool_choice",
            "thinking",
            "metadata",
            "temperature",
            "top_p",
            "top_k",
            "stop_sequences",
            "stream",
            "output_config",
            "service_tier",
            "cache_control",
            "bogus",
        ]
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_body | _body_json, count=st.booleans())
def test_hostile_bodies_raise_only_api_errors(body, count):
    try:
        parsed = parse_count_tokens(body) if count else door.parse(body)
    except ApiError:
        return
    # Anything accepted is a valid internal form (else the pipeline would answer with internal names).
    parse_request(msgspec.json.encode(parsed.body))


# -- the shared mutation fuzzer (tests/hardening/hostile.py) over this door's golden bodies ----------------------


def _templates() -> list:
    from .anthropic_requests import COUNT_TOKENS, REQUESTS

    return [case["body"] for case in REQUESTS.values()] + [COUNT_TOKENS["body"]]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), count=st.booleans())
def test_mutated_golden_bodies_raise_only_api_errors(data, count):
    from tests.hardening.hostile import dumps, mutated

    template = data.draw(st.sampled_from(_templates()))
    raw = dumps(data.draw(mutated(template, max_changes=4)))
    try:  # what the relay does first: bytes → JSON (NaN and lone surrogates are refused there)
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return
    try:
        parsed = parse_count_tokens(body) if count else door.parse(body)
    except ApiError:
        return
    parse_request(msgspec.json.encode(parsed.body))
