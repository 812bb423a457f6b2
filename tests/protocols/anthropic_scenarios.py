"""Responses answers for the Messages door tests, made by the gateway's own ResponseStreamBuilder (the
same builder the translating channels replay upstream answers through), so the door is tested on event
sequences the relay really produces. Used to (re)write the golden fixtures and by the SDK round trips."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from unittest import mock

import msgspec

from billing.pricing import Usage
from gateway.protocols.anthropic.thinking import opaque_reasoning, open_reasoning, redacted_content, sign
from gateway.wire.responses import ResponseStreamBuilder
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder

Events = list[tuple[str, dict[str, Any]]]


def _builder() -> ResponseStreamBuilder:
    request = parse_request(b'{"model":"claude-x","input":"hi"}').typed
    return ResponseStreamBuilder(
        response_id="resp_" + "ab" * 24, model="claude-x", request=request, created_at=1750000000
    )


def _events(raw: bytes) -> Events:
    return [(event.event or "", msgspec.json.decode(event.data)) for event in SSEDecoder().feed(raw)]


def text_and_tool() -> tuple[Events, dict[str, Any]]:
    b = _builder()
    raw = b.start() + b.text_delta("你好") + b.text_delta("，世界 🌍")
    raw += b.tool_call_start(call_id="toolu_01", name="get_weather")
    raw += b.tool_call_arguments('{"city":') + b.tool_call_arguments('"北京"}')
    raw += b.finish(usage=Usage(input_tokens=100, cached_input_tokens=40, output_tokens=20))
    return _events(raw), b.final_object()


def thinking_incomplete() -> tuple[Events, dict[str, Any]]:
    b = _builder()
    raw = b.start() + b.reasoning_delta("Let me think… ") + b.reasoning_delta("思考 🤔")
    raw += sign(b, open_reasoning(b), "sigXYZ==")
    raw += opaque_reasoning(b, redacted_content("UkVEQUNURUQ="))
    raw += b.text_delta("Answer: 42")
    raw += b.finish(
        usage=Usage(input_tokens=50, output_tokens=64, reasoning_tokens=30), incomplete_reason="max_output_tokens"
    )
    return _events(raw), b.final_object()


def refusal() -> tuple[Events, dict[str, Any]]:
    b = _builder()
    raw = b.start() + b.text_delta("I can't help with that.", kind="refusal")
    raw += b.finish(usage=Usage(input_tokens=7, output_tokens=6))
    return _events(raw), b.final_object()


def failed() -> tuple[Events, dict[str, Any]]:
    b = _builder()
    raw = (
        b.start()
        + b.text_delta("partial ✂")
        + b.fail(message="The upstream is overloaded.", code="upstream_overloaded")
    )
    return _events(raw), b.final_object()


def _fixed(make: Callable[[], tuple[Events, dict[str, Any]]]) -> Callable[[], tuple[Events, dict[str, Any]]]:
    """Item ids and `completed_at` fixed, so regenerated goldens only change when the code does."""

    def run() -> tuple[Events, dict[str, Any]]:
        counter = itertools.count(1)
        clock = mock.Mock(time=lambda: 1750000002)
        with (
            mock.patch("gateway.wire.ids.token_hex", lambda n: f"{next(counter):0{2 * n}x}"),
            mock.patch("gateway.wire.responses.time", clock),
        ):
            return make()

    return run


SCENARIOS = {
    "text_and_tool": _fixed(text_and_tool),
    "thinking_incomplete": _fixed(thinking_incomplete),
    "refusal": _fixed(refusal),
    "failed": _fixed(failed),
}
