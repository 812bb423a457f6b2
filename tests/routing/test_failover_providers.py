"""Failover on Anthropic and Gemini channels, over real HTTP (tests/upstream/anthropic_mock.py and
gemini_mock.py): an upstream that answers 200 and then starts its stream with an error, before any
content, is failed over like an HTTP 529/429; a non-retryable one is a clean 400 that costs nothing.
Both channels of a test sit on one mock; its queued replies go to the first request (channel "a"),
and the echo answers the next (channel "b")."""

import json
from collections.abc import Iterator

import pytest

from billing.models import Hold, LedgerEntry
from gateway.db import run_db
from gateway.protocols.channel import CallContext
from gateway.protocols.responses.channel import PassthroughTranslator
from tests.routing.conftest import ANSWER, Reply, ask, make_channels, record_of, tried
from tests.upstream.anthropic_mock import AnthropicMock, error_body, sse
from tests.upstream.gemini_mock import GeminiMock, google_error

pytestmark = pytest.mark.django_db(transaction=True)
STREAMS = pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
MESSAGE_START = sse(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_01Overloaded000000000000",
            "type": "message",
            "role": "assistant",
            "model": "up-model",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    },
)


def anthropic_error_stream(kind: str, message: str, *, started: bool = True) -> bytes:
    error = sse("error", error_body(kind, message))
    return (MESSAGE_START + sse("ping", {"type": "ping"}) + error) if started else error


def gemini_error_stream(code: int, status: str, message: str) -> bytes:
    return b"data: " + google_error(code, status, message) + b"\r\n\r\n"


@pytest.fixture(scope="module")
def _anthropic() -> Iterator[AnthropicMock]:
    server = AnthropicMock().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def _gemini() -> Iterator[GeminiMock]:
    server = GeminiMock().start()
    yield server
    server.stop()


@pytest.fixture
def anthropic(_anthropic):
    _anthropic.reset()
    yield _anthropic
    _anthropic.reset()


@pytest.fixture
def gemini(_gemini):
    _gemini.reset()
    _gemini.requests.clear()
    yield _gemini
    _gemini.reset()


class At:
    """make_channels takes a faulty upstream; these mocks serve every channel at one base URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def url(self, name: str) -> str:
        return self.base_url


async def channels(kind: str, mock) -> dict:
    base = mock.base_url if kind == "anthropic" else mock.api_base
    return await run_db(make_channels, At(base), "a", "b", kind=kind)


async def charges(request_id: str) -> int:
    return await run_db(LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, request_id=request_id).count)


def assert_answered(reply: Reply) -> None:
    assert reply.status == 200, reply.body or reply.types
    assert reply.text == ANSWER
    if reply.events is not None:
        assert reply.types[:2] == ["response.created", "response.in_progress"]
        assert reply.types[-1] == "response.completed"
        assert "error" not in reply.types and "response.failed" not in reply.types
        assert reply.final["usage"]["output_tokens"] > 0
        assert [data["sequence_number"] for _, data in reply.events] == list(range(len(reply.events)))


async def assert_failed_over(reply: Reply, chans: dict, status: int, error: str) -> None:
    assert_answered(reply)
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b"]
    assert [a["status"] for a in record.attempts] == [status, 200]
    assert record.attempts[0]["error"] == error and "error" not in record.attempts[1]
    assert (record.channel_id, record.status) == (chans["b"].pk, 200)
    assert record.cost_micros > 0
    assert await charges(reply.request_id) == 1  # one charge: the answer, never the failed attempt


async def assert_clean_400(reply: Reply, chans: dict) -> None:
    assert reply.status == 400, reply.body or reply.types
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert reply.headers["x-should-retry"] == "false"
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a"]
    assert (record.status, record.cost_micros) == (400, 0)
    hold = await run_db(Hold.objects.get, request_id=reply.request_id)
    assert hold.status == Hold.Status.RELEASED
    assert await charges(reply.request_id) == 0


# -- Anthropic -----------------------------------------------------------------------------------


@pytest.mark.parametrize("started", [True, False], ids=["after_message_start", "first_event"])
@pytest.mark.parametrize("kind", ["overloaded_error", "api_error"])
async def test_anthropic_stream_starting_with_an_error_fails_over(anthropic, customer, kind, started):
    chans = await channels("anthropic", anthropic)
    anthropic.queue(anthropic_error_stream(kind, "Overloaded", started=started), sse=True)
    reply = await ask(customer.key, stream=True)
    await assert_failed_over(
        reply, chans, 200, "upstream_overloaded" if kind == "overloaded_error" else "upstream_error"
    )
    assert len(anthropic.requests) == 2


@STREAMS
async def test_anthropic_529_fails_over(anthropic, customer, stream):
    chans = await channels("anthropic", anthropic)
    anthropic.queue(error_body("overloaded_error", "Overloaded"), status=529)
    reply = await ask(customer.key, stream=stream)
    await assert_failed_over(reply, chans, 529, "upstream_overloaded")


async def test_anthropic_invalid_request_at_stream_start_is_a_clean_400(anthropic, customer):
    chans = await channels("anthropic", anthropic)
    anthropic.queue(
        anthropic_error_stream("invalid_request_error", "messages: text content blocks must be non-empty"), sse=True
    )
    reply = await ask(customer.key, stream=True)
    await assert_clean_400(reply, chans)
    assert "must be non-empty" in reply.body["error"]["message"]
    assert len(anthropic.requests) == 1


async def test_anthropic_error_after_content_ends_the_stream_without_failover(anthropic, customer):
    chans = await channels("anthropic", anthropic)
    text = sse(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    delta = {"type": "text_delta", "text": "你说"}
    text += sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    anthropic.queue(MESSAGE_START + text + sse("error", error_body("overloaded_error", "Overloaded")), sse=True)
    reply = await ask(customer.key, stream=True)
    assert reply.status == 200
    assert reply.types[-2:] == ["error", "response.failed"] and reply.text == "你说"
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a"] and len(anthropic.requests) == 1


# -- Gemini --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [(429, "RESOURCE_EXHAUSTED", "rate_limit_exceeded"), (503, "UNAVAILABLE", "upstream_error")],
)
async def test_gemini_stream_starting_with_an_error_fails_over(gemini, customer, code, status, error):
    chans = await channels("gemini", gemini)
    gemini.reply(gemini_error_stream(code, status, "Resource has been exhausted (e.g. check quota)."))
    reply = await ask(customer.key, stream=True)
    await assert_failed_over(reply, chans, 200, error)
    assert len(gemini.requests) == 2


@STREAMS
async def test_gemini_429_resource_exhausted_fails_over(gemini, customer, stream):
    chans = await channels("gemini", gemini)
    body = google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
    gemini.reply(body, status=429, content_type="application/json")
    reply = await ask(customer.key, stream=stream)
    await assert_failed_over(reply, chans, 429, "rate_limit_exceeded")


async def test_gemini_invalid_argument_at_stream_start_is_a_clean_400(gemini, customer):
    chans = await channels("gemini", gemini)
    gemini.reply(gemini_error_stream(400, "INVALID_ARGUMENT", "Request contains an invalid argument."))
    reply = await ask(customer.key, stream=True)
    await assert_clean_400(reply, chans)
    assert "invalid argument" in reply.body["error"]["message"]
    assert len(gemini.requests) == 1


# -- the Responses passthrough (its translator; the failover path is the one above) ------------------


def _passthrough() -> PassthroughTranslator:
    ctx = CallContext(
        request_id="req",
        response_id="resp_x",
        public_model="gpt-4o",
        upstream_model="up",
        base_url="",
        secret="",
        stream=True,
        max_output_tokens=None,
        created_at=0,
    )
    return PassthroughTranslator(ctx)


def _event(kind: str, **data) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


CREATED = _event("response.created", response={"id": "resp_up", "object": "response", "output": []})


@pytest.mark.parametrize(
    ("tail", "status", "retryable"),
    [
        (_event("error", code="server_error", message="boom"), 502, True),
        (_event("error", code="rate_limit_exceeded", message="slow down"), 429, True),
        (_event("response.failed", response={"id": "r", "error": {"code": "server_error", "message": "x"}}), 502, True),
        (_event("error", code="invalid_prompt", message="flagged"), 400, False),
    ],
)
def test_passthrough_reports_an_error_before_content(tail, status, retryable):
    translator = _passthrough()
    assert translator.feed(CREATED) and not translator.holds_content and translator.early_error is None
    translator.feed(tail)
    error = translator.early_error
    assert error is not None and (error.status, error.retryable) == (status, retryable)


def test_passthrough_error_after_content_is_not_early():
    translator = _passthrough()
    delta = _event("response.output_item.added", output_index=0, item={"type": "message", "id": "m", "content": []})
    translator.feed(CREATED + delta)
    assert translator.holds_content
    translator.feed(_event("error", code="server_error", message="boom"))
    assert translator.early_error is None and translator.finished
