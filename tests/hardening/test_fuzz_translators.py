"""Hostile input through every door and every translator (issue M5): nothing a client or an upstream sends may
end in anything but a clean 4xx (ApiError) or an upstream failure (UpstreamError → 502/503/504).

* every door's hostile bodies (wrong types at every level, odd unicode, lone surrogates, huge numbers,
  NaN/Infinity, base64 with non-ASCII, malformed data: URLs, bad tools, tool_choice, reasoning items,
  signatures) → the door's parser → every adapter's `build_request`;
* hostile upstream bytes in each provider's own shape (wrong types in usage, huge and negative numbers, garbage
  SSE, truncated JSON, chunks cut anywhere) → `parse_response`, the stream translator, `map_error`;
* the same, end to end: the real ASGI app, one channel of every kind on a real HTTP upstream that answers
  with the hostile bytes drawn for that request. 0 × 5xx except 502/503/504 (an upstream's fault).

A new door is one more `Door` in DOORS. Deterministic (derandomize) and bounded: HARNMODEL_FUZZ_EXAMPLES
scales every count for a longer local run.
"""

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.models import Hold
from gateway.protocols.channel import CallContext, UpstreamError
from gateway.protocols.registry import ADAPTERS, get_adapter
from gateway.relay import doors
from gateway.wire.errors import ApiError
from gateway.wire.schema import ParsedRequest, parse_request
from tests.factories import make_channel, make_model
from tests.hardening import hostile, hostile_doors
from tests.hardening.test_fuzz import charged, check_error_shape
from tests.upstream.threaded import ThreadedServer

SCALE = int(os.environ.get("HARNMODEL_FUZZ_EXAMPLES", "200")) / 200


def bounded(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,
        derandomize=True,  # CI sees the same cases every run
        suppress_health_check=list(HealthCheck),
    )


@dataclass(frozen=True)
class Door:
    """A client protocol: where it is served, how its body becomes the internal request, its hostile bodies."""

    path: str  # "{model}" is replaced by the model under test (Gemini names it in the URL)
    parse: Callable[[bytes], ParsedRequest]
    bodies: Callable[[int], st.SearchStrategy]  # hostile bodies with up to n broken places
    set_model: Callable[[Any, str], Any]  # name the model under test in a (possibly broken) body
    check_error: Callable[[int, str, bytes], None]
    headers: tuple[tuple[str, str], ...] = ()  # besides the key (as Bearer, which every door accepts)
    stream_path: str = ""  # a door that streams by URL rather than by a body field


def _responses_model(body: Any, model: str) -> Any:
    if isinstance(body, dict) and body.get("model") == "m":
        return {**body, "model": model}
    return body


DOORS = {
    "responses": Door("/v1/responses", parse_request, hostile.responses_bodies, _responses_model, check_error_shape),
    "chat": Door("/v1/chat/completions", hostile_doors.door_parser(doors.CHAT), hostile_doors.chat_bodies,
                 _responses_model, check_error_shape),
    "messages": Door("/v1/messages", hostile_doors.door_parser(doors.MESSAGES), hostile_doors.messages_bodies,
                     _responses_model, hostile_doors.check_anthropic_error,
                     headers=(("anthropic-version", "2023-06-01"),)),
    "gemini": Door("/v1beta/models/{model}:generateContent", hostile_doors.door_parser(doors.GEMINI, "m:generateContent"),
                   hostile_doors.gemini_bodies, hostile_doors.gemini_model, hostile_doors.check_google_error,
                   stream_path="/v1beta/models/{model}:streamGenerateContent?alt=sse"),
}
KINDS = list(ADAPTERS)
FAMILY = {"simulator": "openai_responses"}  # whose wire format a kind's replies are in


def context(*, stream: bool = False) -> CallContext:
    return CallContext(
        request_id="req_fuzz",
        response_id="resp_fuzz",
        public_model="m",
        upstream_model="upstream-m",
        base_url="http://upstream.invalid/v1",
        secret="s",
        stream=stream,
        max_output_tokens=100,
        created_at=1,
        usage_cost=lambda usage: "0.000001",
    )


# Crashes this suite found, kept as explicit regressions (before the fix each was a 500).
NON_ASCII_TEXT_FILE = {"type": "input_file", "file_data": "data:text/plain;base64,é"}  # M5 itself (anthropic)
CRASHES = [
    {"model": "m", "input": [{"role": "user", "content": [NON_ASCII_TEXT_FILE]}]},
    {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x", "detail": []}]}]},
    {"model": "m", "input": [{"role": "assistant", "content": [{"type": "refusal", "refusal": [1]}]}]},
    {"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"format": []}}]}]},
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("door_name", list(DOORS))
def test_every_translator_builds_or_refuses_hostile_bodies(door_name, kind):
    door, adapter = DOORS[door_name], get_adapter(kind)

    @bounded(300)
    @given(body=door.bodies(4), stream=st.booleans())
    def run(body, stream):
        try:
            parsed = door.parse(hostile.dumps(body))
        except ApiError as refused:
            assert 400 <= refused.status < 500
            return
        try:
            built = adapter.build_request(parsed, context(stream=stream))
        except ApiError as refused:
            assert 400 <= refused.status < 500 and refused.param, (refused.status, refused.param)
            return
        assert isinstance(built.body, bytes)

    for body in CRASHES:
        example(body=body, stream=False)(run)
    run()


@pytest.mark.parametrize("body", CRASHES, ids=["anthropic-non-ascii-base64", "detail-list", "refusal-list", "audio"])
@pytest.mark.parametrize("kind", KINDS)
def test_found_crashes_are_400_with_param(kind, body):
    parsed = parse_request(json.dumps(body).encode())
    try:
        get_adapter(kind).build_request(parsed, context())
    except ApiError as refused:
        assert refused.status == 400 and refused.type == "invalid_request_error" and refused.param


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_image", "image_url": "data:image/png;base64,é€"}, "input[0].content[0].image_url"),
        ({"type": "input_file", "file_data": "data:application/pdf;base64,JVB ERi0="}, "input[0].content[0].file_data"),
    ],
)
def test_inline_data_that_is_not_base64_is_a_400_naming_the_field(kind, part, param):
    """Sent up as it was, the upstream's 400 came back without a param (and, for text files, a 500: M5)."""
    parsed = parse_request(json.dumps({"model": "m", "input": [{"role": "user", "content": [part]}]}).encode())
    with pytest.raises(ApiError) as refused:
        get_adapter(kind).build_request(parsed, context())
    assert (refused.value.status, refused.value.param) == (400, param)


# Door bodies this suite found crashing a door's parser (each was a 500: an unhashable value looked up in a table).
DOOR_CRASHES = [
    ("gemini", {"contents": [{"parts": [{"text": "hi"}]}], "toolConfig": {"functionCallingConfig": {"mode": []}}},
     "toolConfig.functionCallingConfig.mode"),
    ("gemini", {"contents": [{"parts": [{"text": "hi"}]}],
                "generationConfig": {"thinkingConfig": {"thinkingLevel": {"a": 1}}}},
     "generationConfig.thinkingConfig.thinkingLevel"),
]


@pytest.mark.parametrize(("door_name", "body", "param"), DOOR_CRASHES, ids=["gemini-mode-list", "gemini-level-dict"])
def test_found_door_crashes_are_400_with_param(door_name, body, param):
    with pytest.raises(ApiError) as refused:
        DOORS[door_name].parse(hostile.dumps(body))
    assert (refused.value.status, refused.value.param) == (400, param)


def _usage_ok(usage: Any) -> None:
    if usage is not None:
        for name in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"):
            value = getattr(usage, name)
            assert type(value) is int and 0 <= value < 2**63, (name, value)  # an integer the ledger can hold


REQUEST = parse_request(hostile.dumps({**hostile.RESPONSES_TEMPLATE, "input": "hi", "tool_choice": "auto"}))


@pytest.mark.parametrize("kind", KINDS)
def test_json_replies_translate_or_fail_upstream(kind):
    adapter = get_adapter(kind)

    @bounded(300)
    @given(body=hostile.json_answers(FAMILY.get(kind, kind)))
    def run(body):
        try:
            result = adapter.parse_response(body, REQUEST, context())
        except UpstreamError as failed:
            assert failed.status >= 500 or failed.status in (400, 429), failed.status
            return
        msgspec.json.encode(result.body)  # renderable
        _usage_ok(result.usage)

    run()


@pytest.mark.parametrize("kind", KINDS)
def test_streams_translate_or_fail_upstream(kind):
    adapter = get_adapter(kind)

    @bounded(300)
    @given(chunks=hostile.stream_answers(FAMILY.get(kind, kind)), cut=st.booleans())
    def run(chunks, cut):
        translator = adapter.stream_translator(REQUEST, context(stream=True))
        out = b"".join(translator.feed(chunk) for chunk in chunks)
        out += translator.fail("cut") if cut else translator.close()
        assert isinstance(out, bytes)
        _usage_ok(translator.usage)
        assert isinstance(translator.emitted_text, str)
        early = getattr(translator, "early_error", None)
        assert early is None or isinstance(early, UpstreamError)

    run()


@pytest.mark.parametrize("kind", KINDS)
def test_upstream_errors_map_cleanly(kind):
    adapter = get_adapter(kind)

    @bounded(200)
    @given(
        status=st.sampled_from([400, 401, 403, 404, 408, 409, 413, 422, 429, 499, 500, 502, 503, 504, 529, 599]),
        body=hostile.error_answers(),
        retry_after=st.sampled_from(["", "1", "-5", "1e400", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT", "é"]),
    )
    def run(status, body, retry_after):
        raw = retry_after.encode()  # as the wire has it: bytes, not always ASCII
        headers = httpx.Headers([(b"retry-after", raw), (b"retry-after-ms", raw)])
        error = adapter.map_error(status, body, headers)
        assert isinstance(error, UpstreamError)
        assert 400 <= error.status < 600 and isinstance(error.message, str)
        assert error.retry_after is None or 0 <= error.retry_after < float("inf")

    run()


# Upstream bytes this suite found crashing a translator (each was an exception out of the relay), kept explicit.
UPSTREAM_CRASHES = [
    ("openai_responses", "json", b'{"object": "response", "output": [], "usage": {"input_tokens_details": [1]}}'),
    ("anthropic", "json", b'{"type": "message", "content": [], "stop_reason": [1]}'),
    ("anthropic", "json", b'{"type": "message", "content": [], "usage": {"input_tokens": ' + b"1" + b"0" * 30 + b"}}"),
    ("openai_chat", "json", b'{"choices": [{"message": {"tool_calls": [{"function": [1]}]}}]}'),
    ("openai_chat", "json", b'{"choices": [{"message": {"content": "hi"}, "finish_reason": []}]}'),
    ("openai_chat", "json", b'{"choices": [{"message": {"tool_calls": 400}}]}'),
    ("openai_responses", "stream", b'event: response.completed\ndata: {"type": "response.completed", "response": "x"}\n\n'),
    ("openai_responses", "stream", b'data: {"type": 1.5}\n\n'),
    ("openai_responses", "stream", b"event: response.created\ndata: NaN\n\n"),
    ("anthropic", "stream", b'data: {"type": "content_block_stop", "index": []}\n\n'),
    ("anthropic", "stream", b'event: error\ndata: {"type": "error", "error": {"type": [1]}}\n\n'),
    ("openai_chat", "stream", b'data: {"choices": 1.5}\n\n'),
    ("openai_chat", "stream", b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": {"a": 1}}}]}}]}\n\n'),
    ("gemini", "stream", b'data: {"error": {"status": [], "message": "m"}}\n\n'),
    ("gemini", "error", b'{"error": {"details": [{"reason": []}]}}'),
    ("gemini", "error", b'{"error": {"details": 5}}'),
    ("gemini", "error", b'{"error": {"details": [{"retryDelay": "infs"}]}}'),
]


@pytest.mark.parametrize(("kind", "mode", "raw"), UPSTREAM_CRASHES)
def test_found_upstream_crashes_translate_or_fail_upstream(kind, mode, raw):
    adapter = get_adapter(kind)
    if mode == "json":
        try:
            _usage_ok(adapter.parse_response(raw, REQUEST, context()).usage)
        except UpstreamError:
            pass
    elif mode == "stream":
        translator = adapter.stream_translator(REQUEST, context(stream=True))
        assert isinstance(translator.feed(raw) + translator.close(), bytes)
        early = getattr(translator, "early_error", None)
        assert early is None or isinstance(early, UpstreamError)
    else:
        error = adapter.map_error(429, raw, httpx.Headers())
        assert error.retry_after is None or error.retry_after < float("inf")


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", "-inf"])
def test_infinite_retry_after_is_ignored(value):
    """Retry-After: inf parsed as a float; round(inf) in our own Retry-After header was a 500."""
    error = get_adapter("openai_chat").map_error(429, b"{}", httpx.Headers({"retry-after": value}))
    assert error.retry_after is None


# -- end to end: the real ASGI app, every kind on a real upstream that answers with hostile bytes ----------------------
class HostileUpstream(ThreadedServer):
    """Answers every POST with what the test set last: a JSON reply, an SSE stream in chunks, or an error."""

    host, port, thread_name = "127.0.0.1", 0, "hostile-upstream"

    def __init__(self) -> None:
        self.answer: tuple[int, bytes, list[bytes]] = (200, b"{}", [])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        status, body, chunks = self.answer
        wants_stream = request.query.get("alt") == "sse" or b'"stream":true' in (await request.read())
        if status != 200 or not wants_stream:
            return web.Response(status=status, body=body, content_type="application/json")
        response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
def hostile_upstream():
    server = HostileUpstream().start()
    yield server
    server.stop()


@st.composite
def upstream_answers(draw, kind: str) -> tuple[int, bytes, list[bytes]]:
    family = FAMILY.get(kind, kind)
    status = draw(st.sampled_from([200] * 6 + [400, 401, 404, 429, 500, 503]))
    body = draw(hostile.json_answers(family)) if status == 200 else draw(hostile.error_answers())
    return status, body, draw(hostile.stream_answers(family))


@pytest.mark.parametrize("door_name", list(DOORS))
def test_end_to_end_no_5xx_but_upstream_faults(door_name, funded, asgi, hostile_upstream, settings):
    door = DOORS[door_name]
    # A breaker that never opens: every case reaches its upstream instead of a 503 after the first few faults.
    settings.HARNMODEL_BREAKER_FAILURES = settings.HARNMODEL_BREAKER_MIN_CALLS = 10**9
    settings.HARNMODEL_BREAKER_COOLDOWN = settings.HARNMODEL_BREAKER_MAX_COOLDOWN = 0
    for kind in KINDS:
        make_model(f"fz-{kind}")
        make_channel(
            f"fz-{kind}",
            provider=kind,
            base_url=hostile_upstream.base_url,
            secret="s",
            models={f"fz-{kind}": "upstream-m"},
            options={"latency_ms": 0, "token_delay_ms": 0} if kind == "simulator" else {},
        )
    statuses: dict[int, int] = {}

    @bounded(300)
    # Fewer broken places than above: most bodies should get past the door and reach the upstream.
    @given(data=st.data(), kind=st.sampled_from(KINDS), body=door.bodies(2))
    def run(data, kind, body):
        hostile_upstream.answer = data.draw(upstream_answers(kind))
        raw = hostile.dumps(door.set_model(body, f"fz-{kind}"))
        path = door.stream_path if door.stream_path and data.draw(st.booleans()) else door.path
        headers = {**funded.auth, **dict(door.headers), "content-type": "application/json"}
        response = asgi.post(path.format(model=f"fz-{kind}"), content=raw, headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code >= 400:
            assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text[:500]
            door.check_error(response.status_code, response.headers["content-type"], response.content)
            if response.status_code < 500:
                assert not charged(response.headers.get("x-request-id"))
        else:
            response.read()

    run()
    asgi.settled()
    print(f"\n[fuzz] {door_name} end to end: {sum(statuses.values())} cases, statuses {sorted(statuses.items())}")
    assert not Hold.objects.filter(status=Hold.Status.OPEN).exists()
