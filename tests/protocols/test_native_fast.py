"""The passthrough stream's typed fast readers (gateway/protocols/native_fast.py) against the generic
reader they shortcut (native_kinds `read_event`), side by side: same text, end, drop, usage and state,
for every event shape we know and for random ones."""

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.protocols.door import DoorRequest
from gateway.protocols.native import _data_of, _payload_of
from gateway.protocols.native_kinds import KINDS

CHAT_EVENTS = [
    {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hello 世界 😀"}, "finish_reason": None}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning_content": "think", "content": None}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning": "r", "refusal": "no"}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                                 "function": {"name": "f", "arguments": "{\"a\""}}]}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}}]},
    {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"id": "c1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 50, "total_tokens": 62,
                                          "prompt_tokens_details": {"cached_tokens": 4},
                                          "completion_tokens_details": {"reasoning_tokens": 7}}},
    {"id": "c1", "choices": [{"index": 0, "delta": {"content": "x"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    {"error": {"message": "overloaded", "type": "server_error"}},
    {"error": None, "choices": [{"delta": {"content": "y"}}]},
    {"error": "", "choices": [{"delta": {"content": "z"}}]},
    {"choices": {"0": {"delta": {"content": "dict"}}}},
    {"choices": [{"delta": {"content": ["list", "content"]}}]},
    {"choices": [{"delta": "not an object"}]},
    {"choices": ["nope"]},
    {"choices": [{"delta": {"content": "a"}, "finish_reason": 3}]},
    {"id": 7, "choices": [{"delta": {"content": "a"}}]},
    {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": {"a": 1}}}]}}]},
    {"choices": [{"delta": {"tool_calls": "x"}}]},
    {"choices": [{"delta": {"tool_calls": True}}]},
    {"choices": True},
    {"usage": 5},
    [1, 2, 3],
    "just a string",
]
GEMINI_EVENTS = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi 世界"}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1, "totalTokenCount": 13}, "modelVersion": "g"},
    {"candidates": [{"content": {"parts": [{"text": "think", "thought": True}, {"text": "answer"}]}}]},
    {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "s"}]}}]},
    {"candidates": [{"content": {"parts": [{"text": "t", "functionCall": {"name": "f"}}]}}]},
    {"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}],
     "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 50, "thoughtsTokenCount": 3,
                       "cachedContentTokenCount": 2, "totalTokenCount": 65}},
    {"candidates": [{"finishReason": "MAX_TOKENS"}]},
    {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}},
    {"error": None, "candidates": [{"content": {"parts": [{"text": "n"}]}}]},
    {"candidates": [{"content": {"parts": [{"text": 5}]}}]},
    {"candidates": [{"content": "text"}]},
    {"candidates": ["x"]},
    {"candidates": True},
    {"candidates": [{"content": {"parts": True}}]},
    {"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": ""}]},
    {"usageMetadata": "bad"},
    {"usageMetadata": {"promptTokenCount": "12"}},
    [],
    None,
]


def _generic(kind, state, payload):
    seen = kind.read_event(state, _data_of(payload))
    return seen.text, seen.final, seen.drop, seen.error


def _fast_or_generic(kind, state, payload):
    quick = kind.fast(state, payload)
    if quick is None:
        return _generic(kind, state, payload)
    return (*quick, None)


def _compare(name, events, include_usage):
    kind = KINDS[name]
    request = DoorRequest(body={}, stream=True, model="m", extras={"include_usage": include_usage})
    slow_state, fast_state = kind.new_state(request), kind.new_state(request)
    for event in events:
        payload = msgspec.json.encode(event)
        assert _fast_or_generic(kind, fast_state, payload) == _generic(kind, slow_state, payload), event
        assert kind.stream_usage(fast_state) == kind.stream_usage(slow_state), event
        assert kind.ended(fast_state) == kind.ended(slow_state), event
        assert {k: v for k, v in fast_state.items()} == {k: v for k, v in slow_state.items()}, event


@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_fast_reader_matches_the_generic_one(include_usage):
    _compare("chat", CHAT_EVENTS, include_usage)


def test_gemini_fast_reader_matches_the_generic_one():
    _compare("gemini", GEMINI_EVENTS, False)


def test_the_fast_readers_take_the_common_events_themselves():
    """The shortcut is used at all: a plain content event never needs the generic reader."""
    request = DoorRequest(body={}, stream=True, model="m", extras={"include_usage": True})
    assert KINDS["chat"].fast(KINDS["chat"].new_state(request), msgspec.json.encode(CHAT_EVENTS[1])) is not None
    assert KINDS["gemini"].fast(KINDS["gemini"].new_state(request), msgspec.json.encode(GEMINI_EVENTS[0])) is not None


@pytest.mark.parametrize("raw,payload", [
    (b"data: {\"a\":1}\n\n", b"{\"a\":1}"),
    (b"data:{\"a\":1}\r\n\r\n", b"{\"a\":1}"),
    (b"data:   [DONE]\n\n", b"[DONE]"),
    (b"data: {\"a\":\ndata: 1}\n\n", b"{\"a\":\n1}"),
    (b"event: ping\ndata: {}\n\n", b"{}"),
    (b": comment\n\n", None),
    (b"data: x", b"x"),
])
def test_payload_of_matches_the_line_by_line_rule(raw, payload):
    assert _payload_of(raw) == payload
    lines = [line[5:].lstrip(b" ") for line in raw.splitlines() if line.startswith(b"data:")]
    assert (b"\n".join(lines) if lines else None) == payload


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4))
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                     max_leaves=8)
_chat_event = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=3), st.integers()),
    "error": _json,
    "usage": st.one_of(st.none(), st.fixed_dictionaries({}, optional={"prompt_tokens": st.integers(0, 9),
                                                                      "completion_tokens": st.integers(0, 9)}), _json),
    "choices": st.one_of(_json, st.lists(st.fixed_dictionaries({}, optional={
        "delta": st.one_of(_json, st.fixed_dictionaries({}, optional={
            "content": st.one_of(st.text(max_size=5), _json), "reasoning": _scalar, "refusal": _scalar,
            "reasoning_content": _scalar,
            "tool_calls": st.one_of(_json, st.lists(st.fixed_dictionaries({}, optional={
                "function": st.one_of(_json, st.fixed_dictionaries({}, optional={"arguments": _scalar}))}), max_size=2)),
        })),
        "finish_reason": _scalar}), max_size=2)),
})
_gemini_event = st.fixed_dictionaries({}, optional={
    "error": _json,
    "usageMetadata": st.one_of(_json, st.fixed_dictionaries({}, optional={"promptTokenCount": st.integers(0, 9),
                                                                          "candidatesTokenCount": st.integers(0, 9)})),
    "candidates": st.one_of(_json, st.lists(st.fixed_dictionaries({}, optional={
        "finishReason": _scalar,
        "content": st.one_of(_json, st.fixed_dictionaries({}, optional={"parts": st.one_of(_json, st.lists(
            st.fixed_dictionaries({}, optional={"text": _scalar, "functionCall": _json}), max_size=2))})),
    }), max_size=2)),
})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_chat_event, min_size=1, max_size=4), st.booleans())
def test_chat_readers_agree_on_random_events(events, include_usage):
    _compare("chat", events, include_usage)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_gemini_event, min_size=1, max_size=4))
def test_gemini_readers_agree_on_random_events(events):
    _compare("gemini", events, False)
