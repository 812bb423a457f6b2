"""Helpers for the Gemini door tests: the golden files (tests/protocols/golden/gemini/), a real Responses
event sequence (the builder the channels use), the door's renderer, and a google-genai client whose HTTP goes
to canned bytes."""

from pathlib import Path
from typing import Any

import httpx
import msgspec
from google import genai
from google.genai import types

from gateway.protocols.door import DoorRequest
from gateway.protocols.gemini.door import GeminiDoor
from gateway.wire.responses import ResponseStreamBuilder
from gateway.wire.schema import parse_request
from gateway.wire.sse import SSEDecoder

from .golden_files import load

GOLDEN = Path(__file__).parent / "golden" / "gemini"
MODEL = "gemini-2.5-flash"
door = GeminiDoor()


def parse_golden(case: str) -> DoorRequest:
    """The door's reading of requests/<case>.json: the URL's model path, its query and the client's body."""
    case_file = load(GOLDEN / "requests" / f"{case}.json")
    return door.parse(case_file["request"], path_model=case_file["path"], query=case_file.get("query") or {})


def golden_events(case: str) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, data) for kind, data in load(GOLDEN / "streams" / f"{case}.events.json")["events"]]


def terminal_response(case: str) -> dict[str, Any]:
    kind, data = golden_events(case)[-1]
    assert kind in ("response.completed", "response.incomplete", "response.failed")
    return data["response"]


def render_stream(sse_events: list[tuple[str, dict[str, Any]]], *, sse: bool) -> bytes:
    renderer = door.stream_renderer(DoorRequest(body={}, stream=True, model=MODEL, extras={"sse": sse}))
    return b"".join(renderer.feed(kind, data) for kind, data in sse_events) + renderer.close()


def builder(model: str = "gemini-2.5-flash") -> ResponseStreamBuilder:
    request = parse_request(b'{"model": "%s", "input": "hi"}' % model.encode()).typed
    return ResponseStreamBuilder(response_id="resp_test123", model=model, request=request, created_at=1)


def events(sse: bytes) -> list[tuple[str, dict[str, Any]]]:
    decoder = SSEDecoder()
    decoded = decoder.feed(sse) + decoder.flush()
    return [(event.event or "", msgspec.json.decode(event.data)) for event in decoded]


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
