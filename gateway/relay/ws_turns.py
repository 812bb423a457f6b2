"""One `response.create` frame on a Responses WebSocket: frame → HTTP body → the same pipeline → frames.

Nothing here admits, routes or bills: a turn is handed to `handle.responses` exactly as a POST
/v1/responses with `stream: true` would be (one admission, one hold, one RelayJob, one settlement), and the
relay's SSE bytes are decoded back into one JSON text frame per event. See docs/websocket.md.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from django.http import HttpResponseBase

from gateway.wire import ids
from gateway.wire.errors import ApiError, InvalidRequest
from gateway.wire.schema import parse_request

SendText = Callable[[str], Awaitable[None]]
# Headers an HTTP error carries that a client needs on the socket too (Codex reads `headers` of an error frame).
ERROR_HEADERS = ("retry-after", "retry-after-ms", "x-request-id", "x-should-retry")
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
# Envelope fields of a frame that are not part of the Responses body: the event type, our per-turn idempotency
# key, and `client_metadata` (what HTTP carries in headers: Codex puts its trace and turn metadata here).
ENVELOPE = ("type", "idempotency_key", "client_metadata")

_decode = msgspec.json.Decoder()
_encode = msgspec.json.encode


class ClientGone(Exception):
    """The client closed the socket while a turn was streaming."""


@dataclass
class Turn:
    """A `response.create` frame made ready for the pipeline."""

    body: dict[str, Any]
    generate: bool = True
    idempotency_key: str | None = None
    input_items: list[Any] = field(default_factory=list)  # the whole input after continuity, for the next turn


@dataclass
class Continuity:
    """The socket's last response, so `previous_response_id` works with `store: false` (as Codex uses it):
    the next turn's input is this context plus its own items, whatever channel served the last one."""

    response_id: str | None = None
    context: list[Any] = field(default_factory=list)

    def remember(self, response_id: str, input_items: list[Any], output: list[Any]) -> None:
        self.response_id, self.context = response_id, [*input_items, *output]


def error_frame(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    """The `error` event: the OpenAI error object plus the HTTP status it would have had (what Codex and the
    SDK's ResponseWsError read), and the headers that matter for a retry."""
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    frame: dict[str, Any] = {
        "type": "error",
        "status": status,
        "error": {
            "type": error.get("type") or "server_error",
            "code": error.get("code"),
            "message": error.get("message") or "The request failed.",
            "param": error.get("param"),
        },
    }
    if headers:
        frame["headers"] = headers
    return _encode(frame).decode()


def api_error_frame(error: ApiError) -> str:
    return error_frame(error.status, error.body(), dict(error.headers) or None)


def _as_items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return list(value)
    raise InvalidRequest("'input' must be a string or an array of input items.", param="input")


def prepare(frame: dict[str, Any], continuity: Continuity) -> Turn:
    """Check the envelope and apply socket continuity; the body itself is validated by the pipeline."""
    key = frame.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 255):
        raise InvalidRequest("'idempotency_key' must be a string of 1 to 255 characters.", param="idempotency_key")
    body = {name: value for name, value in frame.items() if name not in ENVELOPE}
    if body.get("background"):
        raise InvalidRequest("'background' is not supported over WebSocket.", param="background")
    if "stream_id" in body:
        raise InvalidRequest("'stream_id' lanes are not supported: one response at a time per socket.",
                             param="stream_id")
    generate = body.pop("generate", True)
    if not isinstance(generate, bool):
        raise InvalidRequest("'generate' must be a boolean.", param="generate")
    body.pop("stream_options", None)  # the socket always streams; nothing to tune
    body["stream"] = True
    items = _as_items(body.get("input", []))
    previous = body.get("previous_response_id")
    if previous is not None and previous == continuity.response_id:
        items = [*continuity.context, *items]
        del body["previous_response_id"]
        body["input"] = items
    return Turn(body=body, generate=generate, idempotency_key=key, input_items=items)


async def warm_up(turn: Turn, send_text: SendText, continuity: Continuity) -> None:
    """`generate: false`: validate the body and remember its input under a new response id; no upstream call,
    no hold, no charge. The id is only good as `previous_response_id` on this same socket."""
    parse_request(_encode(turn.body))  # the same validation a generating turn gets (400 as an error frame)
    response_id = "resp_ws" + ids.token_hex(16)
    base: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": turn.body.get("model"),
        "output": [],
        "previous_response_id": turn.body.get("previous_response_id"),
        "usage": None,
    }
    await send_text(_encode({"type": "response.created", "sequence_number": 0,
                             "response": {**base, "status": "in_progress"}}).decode())
    usage = {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 0,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0}
    await send_text(_encode({"type": "response.completed", "sequence_number": 1,
                             "response": {**base, "status": "completed", "usage": usage}}).decode())
    continuity.remember(response_id, turn.input_items, [])


class SseFrames:
    """Splits the relay's SSE bytes into events and sends each `data:` JSON as one text frame, untouched.
    Remembers the terminal event's response (id and output) for continuity."""

    def __init__(self, send_text: SendText) -> None:
        self.send_text = send_text
        self.buffer = b""
        self.final: dict[str, Any] | None = None
        self.frames = 0

    async def feed(self, chunk: bytes) -> None:
        self.buffer += chunk
        while True:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                return
            block, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            await self._block(block)

    async def close(self) -> None:
        if self.buffer.strip():
            await self._block(self.buffer)
        self.buffer = b""

    async def _block(self, block: bytes) -> None:
        name, data = "", b""
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
            elif line.startswith(b"data:"):
                data = line[5:].strip()
        if not data:
            return
        text = data.decode("utf-8")
        if name in TERMINAL:
            try:
                self.final = _decode.decode(data).get("response")
            except (msgspec.DecodeError, AttributeError):
                self.final = None
        self.frames += 1
        await self.send_text(text)


async def deliver(response: HttpResponseBase, send_text: SendText, gone: asyncio.Event) -> dict[str, Any] | None:
    """Send one pipeline answer as frames; returns the final response object when the turn produced one.
    If the client leaves mid-stream, the stream is cancelled exactly as the HTTP front cancels it, so the relay
    drains the upstream for its usage and bills the turn as it would an HTTP request (then ClientGone)."""
    content_type = response.get("content-type", "")
    if not response.streaming:
        content = response.content
        if response.status_code >= 400:
            try:
                body = _decode.decode(content)
            except msgspec.DecodeError:
                body = {}
            headers = {name: response[name] for name in ERROR_HEADERS if response.has_header(name)}
            headers.update({name: value for name, value in response.items() if name.startswith("x-ratelimit-")})
            await send_text(error_frame(response.status_code, body if isinstance(body, dict) else {}, headers))
            return None
        frames = SseFrames(send_text)
        if content_type.startswith("text/event-stream"):  # an idempotent replay of a stored stream
            await frames.feed(content)
            await frames.close()
            return frames.final
        final = _decode.decode(content)
        await send_text(_encode({"type": "response.completed", "sequence_number": 0, "response": final}).decode())
        return final
    frames = SseFrames(send_text)
    stream = response.streaming_content

    async def pump() -> None:
        async for chunk in stream:
            await frames.feed(chunk)
        await frames.close()

    pumping = asyncio.ensure_future(pump())
    leaving = asyncio.ensure_future(gone.wait())
    try:
        await asyncio.wait({pumping, leaving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, leaving):
            if not task.done():
                task.cancel()
        results = await asyncio.gather(pumping, leaving, return_exceptions=True)
    if gone.is_set() or isinstance(results[0], OSError):
        raise ClientGone
    if isinstance(results[0], BaseException):
        raise results[0]
    return frames.final
