"""Same-protocol passthrough (issue 15 "Fidelity"): a door whose protocol is the channel's own.

Chat door → `openai_chat`, Messages door → `anthropic`, Gemini door → `gemini`: the client's own
body goes up with only the model name, the hold's output cap (in the protocol's own field), the
stream switch and the channel's field permissions applied, and the upstream's answer comes back
byte for byte (only the model name restored to the public id), its usage read on the way through.
Streams are forwarded event by event, each counted against the hold (gateway/relay/meter.py) and cut in
the door's own shape when the hold's output runs out.

Unknown top-level fields: the door records them instead of refusing (gateway/relay/doors.py); only a
channel of the door's own protocol whose `allow_fields` names each of them receives them; a
translating channel, or one that does not list them, never does (the request is refused by name).
The per-protocol halves live in native_kinds.py.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import httpx
import msgspec
from django.conf import settings

from billing.pricing import Usage
from gateway.protocols.channel import CallContext, JsonResult, StreamTranslator, UpstreamError, UpstreamRequest
from gateway.protocols.door import DoorRequest
from gateway.protocols.native_kinds import KINDS, Kind, Seen
from gateway.protocols.registry import get_adapter
from gateway.relay.meter import OutputMeter
from gateway.wire.schema import ParsedRequest

# door name → the channel kind that speaks the door's protocol
NATIVE_KIND = {"chat": "openai_chat", "messages": "anthropic", "gemini": "gemini"}
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
MAX_EVENT_BYTES = 8 * 1024 * 1024  # one SSE event larger than this is a broken upstream, not an answer


def enabled() -> bool:
    return bool(getattr(settings, "HARNMODEL_DOOR_PASSTHROUGH", True))


def applies(door_name: str, request: DoorRequest, provider: str) -> bool:
    """Does this request go through a channel of kind `provider` as it is?"""
    if NATIVE_KIND.get(door_name) != provider or not enabled():
        return False
    # A Gemini JSON-array stream (no `?alt=sse`) is rendered by the door; upstreams stream SSE.
    return not (door_name == "gemini" and request.stream and not request.extras.get("sse"))


def unknown_allowed(door_name: str, request: DoorRequest, channel: Any) -> bool:
    """May this channel receive the request's unknown fields? Only as they are, and only by name."""
    if not request.unknown:
        return True
    allowed = channel.options.get("allow_fields") or ()
    return applies(door_name, request, channel.provider) and all(name in allowed for name in request.unknown)


@functools.lru_cache(maxsize=256)
def _model_pattern(upstream: str) -> re.Pattern[bytes]:
    name = upstream.removeprefix("models/").encode()
    # `"model": "<upstream>…"` (Chat, Messages; dated variants too) and Gemini's `"modelVersion"`.
    return re.compile(rb'("model(?:Version)?"\s*:\s*")' + re.escape(name) + rb'[^"\\]*(")')


def restore_model(data: bytes, upstream: str, public: str) -> bytes:
    if not upstream:
        return data
    return _model_pattern(upstream).sub(lambda m: _renamed(m, public), data)


def _renamed(match: re.Match[bytes], public: str) -> bytes:
    return match.group(1) + public.encode() + match.group(2)


class ModelRestorer:
    """`restore_model` for the events of one stream, where every chunk repeats the same spelling
    (`"model":"gpt-4o-2024-08-06"`): once that spelling is known, an event whose every `"model` is that
    spelling is rewritten by bytes.replace, a quarter of the regex's cost per chunk; any other event goes
    through the regex. tests/doors/test_passthrough_units.py compares both over every spelling."""

    __slots__ = ("upstream", "public", "_literal", "_replacement")

    def __init__(self, upstream: str, public: str) -> None:
        self.upstream, self.public = upstream, public
        self._literal = self._replacement = b""

    def __call__(self, data: bytes) -> bytes:
        literal = self._literal
        if literal and data.count(b'"model') == data.count(literal):
            return data.replace(literal, self._replacement)  # every match of the regex, and nothing else
        if not literal and self.upstream:  # not learnt yet: the first match is the stream's spelling
            found = _model_pattern(self.upstream).search(data)
            if found is None:
                return data
            self._literal, self._replacement = found.group(0), _renamed(found, self.public)
        return restore_model(data, self.upstream, self.public)


class NativeAdapter:
    """The adapter interface (gateway/protocols/channel.py) for one passthrough request: `parsed` (the
    internal form) is ignored; the client's own body is what goes up."""

    def __init__(self, door_name: str, request: DoorRequest, provider: str) -> None:
        self.kind: Kind = KINDS[door_name]
        self.request = request
        self.base = get_adapter(provider)

    def build_request(self, parsed: ParsedRequest, ctx: CallContext) -> UpstreamRequest:
        body = self.kind.body(self.request, ctx)
        url, headers = self.kind.target(self.base, ctx)
        return UpstreamRequest(url=url, headers=headers, body=msgspec.json.encode(body))

    def parse_response(self, body: bytes, parsed: ParsedRequest, ctx: CallContext) -> JsonResult:
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            data = None
        if not isinstance(data, dict):
            raise _bad("The upstream sent an unreadable response.")
        failed = self.kind.error_in(data)
        if failed is not None:
            raise _bad(failed)
        raw = restore_model(body, ctx.upstream_model, ctx.public_model)
        return JsonResult(body={}, usage=self.kind.usage_of(data), raw=raw)

    def stream_translator(self, parsed: ParsedRequest, ctx: CallContext) -> StreamTranslator:
        return NativeStream(self.kind, self.request, ctx)

    def map_error(self, status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
        return self.base.map_error(status, body, headers)

    async def send(self, client: httpx.AsyncClient, upstream: UpstreamRequest, ctx: CallContext) -> httpx.Response:
        return await self.base.send(client, upstream, ctx)


class NativeStream(StreamTranslator):
    """Forwards the upstream's SSE events as they are (model name restored), reading usage and
    counting output on the way. An event whose output would go beyond the hold is not sent."""

    def __init__(self, kind: Kind, request: DoorRequest, ctx: CallContext) -> None:
        self.kind = kind
        self.state: dict[str, Any] = kind.new_state(request)
        self.ctx = ctx
        self._restore = ModelRestorer(ctx.upstream_model, ctx.public_model)
        self.meter = self._meter = OutputMeter(ctx.max_output_tokens)
        self.early_error: UpstreamError | None = None
        self._buffer = b""
        self._text: list[str] = []
        self._sent = False  # any content event went to the client

    @property
    def usage(self) -> Usage | None:  # type: ignore[override]  # computed from what the stream reported so far
        return self.kind.stream_usage(self.state)

    @property
    def holds_content(self) -> bool:
        """Opening events (message_start, ping, a role-only chunk) are held back until the first content or
        the end (gateway/relay/attempts.py), so an error before any content still fails over."""
        return self._sent or self.finished

    @property
    def emitted_text(self) -> str:
        return "".join(self._text)

    @property
    def closing(self) -> bool:
        return self.finished or self.kind.closing(self.state)

    def feed(self, chunk: bytes) -> bytes:
        self._buffer += chunk
        out: list[bytes] = []
        start = 0
        plain = b"\r" not in self._buffer  # most upstreams end lines with \n alone: find beats the regex
        while not self._meter.spent:
            if plain:
                end = self._buffer.find(b"\n\n", start)
                if end < 0:
                    break
                end += 2
            else:
                found = _EVENT_END.search(self._buffer, start)
                if found is None:
                    break
                end = found.end()
            out.append(self._event(self._buffer[start:end]))
            start = end
        self._buffer = self._buffer[start:]
        if len(self._buffer) > MAX_EVENT_BYTES:
            self._buffer = b""
            return b"".join(out) + self.fail("The upstream sent an oversized stream event.")
        return b"".join(out)

    def _event(self, raw: bytes) -> bytes:
        if self.finished:
            return b""
        payload = _payload_of(raw)
        quick = self.kind.fast(self.state, payload) if self.kind.fast and payload and payload != b"[DONE]" else None
        if quick is not None:
            seen = Seen(text=quick[0], final=quick[1], drop=quick[2])
        else:
            seen = self.kind.read_event(self.state, _data_of(payload))
        if seen.error is not None and not self._sent:  # before any content: failover may try another channel
            self.early_error = _bad(seen.error)
            return b""
        if seen.text and not self._meter.admit(seen.text):
            return b""
        if seen.text:
            self._text.append(seen.text)
            self._sent = True
        if seen.final:
            self.finished = True
        if seen.drop:
            return b""
        return self._restore(raw)

    def close(self) -> bytes:
        tail, self._buffer = self._buffer, b""
        out = self._event(tail) if tail.strip() and not self._meter.spent else b""
        if not self.finished and self.kind.ended(self.state):
            self.finished = True
        return out

    def cut(self) -> bytes:
        self.finished = True
        return self.kind.cut(self.state, self.ctx, self._meter.counted)

    def fail(self, message: str) -> bytes:
        self.finished = True
        return self.kind.fail(message)


def _payload_of(raw: bytes) -> bytes | None:
    """An SSE event's `data:` lines joined (None for a comment or an event without data)."""
    if raw.startswith(b"data:"):  # the common event: one data line
        line = raw.rstrip(b"\r\n")
        if b"\n" not in line and b"\r" not in line:
            return line[5:].lstrip(b" ")
    lines = [line[5:].lstrip(b" ") for line in raw.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _data_of(payload: bytes | None) -> Any:
    """The JSON of an event's data (None for no data or unreadable data, "[DONE]" for the chat end)."""
    if payload is None:
        return None
    if payload == b"[DONE]":
        return "[DONE]"
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None


def _bad(message: str) -> UpstreamError:
    return UpstreamError(status=502, code="upstream_error", message=message, retryable=True)
