"""Helpers for the Gemini door tests: a real Responses event sequence (the builder the channels use)
fed through the door's renderer, and a google-genai client whose HTTP goes to canned bytes."""

from typing import Any

import httpx
import msgspec
from google import genai
from google.genai import types

from billing.pricing import Usage
from gateway.protocols.gemini.stream import GeminiStreamRenderer
from gateway.wire.responses import ResponseStreamBuilder
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder


def builder(model: str = "gemini-2.5-flash") -> ResponseStreamBuilder:
    request = parse_request(b'{"model": "%s", "input": "hi"}' % model.encode()).typed
    return ResponseStreamBuilder(response_id="resp_test123", model=model, request=request, created_at=1)


def events(sse: bytes) -> list[tuple[str, dict[str, Any]]]:
    decoder = SSEDecoder()
    decoded = decoder.feed(sse) + decoder.flush()
    return [(event.event or "", msgspec.json.decode(event.data)) for event in decoded]


def render(sse_events: bytes, *, sse: bool, model: str = "gemini-2.5-flash") -> bytes:
    renderer = GeminiStreamRenderer(model, sse=sse)
    out = b"".join(renderer.feed(kind, data) for kind, data in events(sse_events))
    return out + renderer.close()


def text_answer(text_pieces: list[str], usage: Usage, *, incomplete: str | None = None) -> tuple[bytes, dict]:
    b = builder()
    out = b.start()
    for piece in text_pieces:
        out += b.text_delta(piece)
    out += b.finish(usage=usage, incomplete_reason=incomplete)
    return out, b.final_object()


def sdk_client(body: bytes, *, status: int = 200, content_type: str = "text/event-stream") -> genai.Client:
    """A real google-genai client; its transport answers every request with `body`."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    client = genai.Client(
        api_key="sk-test",
        http_options=types.HttpOptions(
            base_url="http://gateway.test", httpx_client=httpx.Client(transport=httpx.MockTransport(handler))
        ),
    )
    client.seen = seen  # type: ignore[attr-defined]
    return client
