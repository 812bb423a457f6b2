"""The client doors beside `/v1/responses`: Chat Completions, Anthropic Messages, Gemini `generateContent`.

A door parses its protocol into the internal form (a Responses request body) and hands it to the very
pipeline `/v1/responses` uses — same key, limits, hold, routing, relay, settlement, idempotency, usage
record, live log and metrics — then renders answers, streams and errors back in its own shape
(gateway/protocols/*/door.py). Sampling controls the internal form has no field for (`stop`, `seed`,
`top_k`, penalties, Gemini safety settings) travel as neutral *extras* that every channel honours or
refuses by name (gateway/protocols/extras.py): never silently dropped. A channel of the door's own protocol
gets the client's body as it is instead, and its answer goes back byte for byte (gateway/protocols/native.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from django.http import HttpResponse, HttpResponseBase

from gateway.observe import metrics, request_log
from gateway.protocols import native
from gateway.protocols.anthropic.door import MessagesDoor
from gateway.protocols.anthropic.request import _MESSAGES_FIELDS
from gateway.protocols.chat.door import ChatDoor
from gateway.protocols.chat.door_request import _KNOWN as _CHAT_KNOWN
from gateway.protocols.chat.door_request import _REFUSED as _CHAT_REFUSED
from gateway.protocols.door import Door, DoorRequest
from gateway.protocols.gemini.door import GeminiDoor
from gateway.protocols.gemini.render import api_key as gemini_key
from gateway.protocols.gemini.request import _REFUSED_TOP as _GEMINI_REFUSED
from gateway.protocols.gemini.request import _TOP_LEVEL as _GEMINI_KNOWN
from gateway.relay import offload
from gateway.wire import limits
from gateway.wire.errors import ApiError, InvalidAuth, InvalidRequest, UpstreamFailed, error_response
from gateway.wire.sse import SSEDecoder

CHAT, MESSAGES, GEMINI = ChatDoor(), MessagesDoor(), GeminiDoor()
# Each door's top-level fields (mapped or refused by its parser); any other is "unknown" (_unknown_fields).
_KNOWN_FIELDS = {"chat": _CHAT_KNOWN | _CHAT_REFUSED.keys(), "messages": _MESSAGES_FIELDS,
                 "gemini": _GEMINI_KNOWN | _GEMINI_REFUSED.keys()}
MAX_UNKNOWN_FIELDS = 16  # unknown top-level fields one request may carry to a passthrough channel
_decode = msgspec.json.decode

# door-specific extras → (neutral name, the client's own param for errors)
_NEUTRAL: dict[str, dict[str, tuple[str, str]]] = {
    "chat": {"stop": ("stop", "stop"), "seed": ("seed", "seed")},
    "messages": {"stop_sequences": ("stop", "stop_sequences"), "top_k": ("top_k", "top_k")},
    "gemini": {
        "stopSequences": ("stop", "generationConfig.stopSequences"),
        "topK": ("top_k", "generationConfig.topK"),
        "seed": ("seed", "generationConfig.seed"),
        "presencePenalty": ("presence_penalty", "generationConfig.presencePenalty"),
        "frequencyPenalty": ("frequency_penalty", "generationConfig.frequencyPenalty"),
        "safetySettings": ("safety_settings", "safetySettings"),
    },
}


@dataclass(slots=True)
class DoorCall:
    """One request's door: how the relay renders its answer, stream and errors."""

    door: Door
    request: DoorRequest

    @property
    def name(self) -> str:
        return self.door.name

    def neutral_extras(self) -> dict[str, tuple[Any, str]]:
        """{neutral name: (value, client param)} for the channel adapters."""
        mapping = _NEUTRAL.get(self.door.name, {})
        return {mapping[key][0]: (value, mapping[key][1]) for key, value in self.request.extras.items()
                if key in mapping and value is not None}

    def error_response(self, error: ApiError, request_id: str | None = None) -> HttpResponse:
        error = self.door.client_error(error, self.request)
        return error_response(error, request_id=request_id, body=self.door.error_body(error))

    def json_body(self, response: dict[str, Any]) -> bytes:
        try:
            return msgspec.json.encode(self.door.render_json(response, self.request))
        except (TypeError, ValueError, AttributeError, KeyError):  # an odd shape a passthrough upstream sent
            raise UpstreamFailed("The upstream's answer could not be rendered in this protocol.") from None

    @property
    def stream_content_type(self) -> str:
        return self.door.stream_content_type_for(self.request)

    async def stream(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The relay's Responses SSE bytes → the door's stream. Every content delta goes out as it comes."""
        decoder = SSEDecoder()
        renderer = self.door.stream_renderer(self.request)
        try:
            async for chunk in chunks:
                out = b"".join(renderer.feed(*_event(event)) for event in decoder.feed(chunk))
                if out:
                    yield out
            tail = b"".join(renderer.feed(*_event(event)) for event in decoder.flush()) + renderer.close()
            if tail:
                yield tail
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]  # the relay learns a client left


def _event(event: Any) -> tuple[str, dict[str, Any]]:
    data = _decode(event.data)
    return event.event or str(data.get("type") or ""), data


def door_for(method: str, path: str) -> tuple[Door, str | None, str] | None:
    """(door, model from the path, what to do) for a door path, else None."""
    if path in ("/v1/chat/completions", "/v1/chat/completions/"):
        return CHAT, None, "generate"
    if path in ("/v1/messages", "/v1/messages/"):
        return MESSAGES, None, "generate"
    if path in ("/v1/messages/count_tokens", "/v1/messages/count_tokens/"):
        return MESSAGES, None, "count"
    if path.startswith("/v1/models/") and ":" in path:  # Gemini's v1 API (google-genai's default with a base_url)
        return GEMINI, path[len("/v1/models/"):], "generate"
    if path.startswith("/v1beta/"):
        rest = path[len("/v1beta/"):]
        if rest.rstrip("/") == "models":
            return GEMINI, None, "list"
        if rest.startswith("models/"):
            tail = rest[len("models/"):]
            return GEMINI, tail, "generate" if ":" in tail else "get"
        return GEMINI, None, "unknown"
    return None


def secret_for(door: Door, headers: dict[str, str], query: dict[str, str]) -> str | None:
    if door is GEMINI:
        return gemini_key(headers, query)
    if door is MESSAGES:
        return MESSAGES.api_key(headers)
    scheme, _, secret = (headers.get("authorization") or "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else None


def bearer_headers(door: Door, headers: dict[str, str], query: dict[str, str]) -> dict[str, str]:
    """The request's headers with its key moved into `Authorization: Bearer`, where the pipeline reads it."""
    secret = secret_for(door, headers, query)
    out = {name: value for name, value in headers.items() if name not in ("x-api-key", "x-goog-api-key")}
    if secret:
        out["authorization"] = f"Bearer {secret}"
    else:
        out.pop("authorization", None)
    return out


def parse_body(door: Door, body: bytes, path_model: str | None, query: dict[str, str],
               headers: dict[str, str], *, count: bool = False) -> tuple[DoorRequest, bytes]:
    """Client bytes → (door request, internal body bytes). The same JSON guards as /v1/responses."""
    from gateway.wire.schema import decode_object

    raw = decode_object(body)
    if count:
        request = MESSAGES.parse_count_tokens(raw, headers)
    else:
        unknown = _unknown_fields(door, raw)
        known = {name: value for name, value in raw.items() if name not in unknown} if unknown else raw
        request = door.parse(known, path_model=path_model, query=query, headers=headers)
        request.raw, request.unknown = raw, unknown
    return request, msgspec.json.encode(request.body)


def _unknown_fields(door: Door, raw: Any) -> tuple[str, ...]:
    """Top-level fields the door does not know. With the same-protocol passthrough on they are recorded,
    not refused here: only a channel of the door's own protocol that allows each by name gets them
    (gateway/protocols/native.py); any other route refuses them by name before the hold."""
    if not isinstance(raw, dict) or not native.enabled():
        return ()
    known = _KNOWN_FIELDS[door.name]
    unknown = tuple(name for name in raw if name not in known)
    if len(unknown) > MAX_UNKNOWN_FIELDS:
        raise InvalidRequest(f"Too many unrecognized parameters (at most {MAX_UNKNOWN_FIELDS}).",
                             param=limits.clip(unknown[0]), code="unsupported_parameter")
    return unknown


def refuse_unknown(name: str) -> InvalidRequest:
    name = limits.clip(name)
    return InvalidRequest(
        f"Unrecognized or unsupported parameter '{name}': no channel of this model takes it as it is.",
        param=name, code="unsupported_parameter",
    )


async def parse(door: Door, body: bytes, path_model: str | None, query: dict[str, str],
                headers: dict[str, str], *, count: bool = False) -> tuple[DoorRequest, bytes]:
    # A big body is parsed off the event loop, like /v1/responses (gateway/relay/offload.py).
    return await offload.run(len(body), functools.partial(parse_body, count=count), door, body, path_model, query,
                             headers)


def refuse(door: Door, error: ApiError, request_id: str) -> HttpResponseBase:
    """A refusal before admission, in the door's shape: logged and counted like the pipeline's."""
    metrics.observe_rejection(status=error.status, code=error.code, door=door.name)
    request_log.log_rejection(request_id=request_id, status=error.status, code=error.code)
    return error_response(error, request_id=request_id, body=door.error_body(error))


def started_at() -> float:
    return time.perf_counter()


__all__ = ["DoorCall", "InvalidAuth", "InvalidRequest", "door_for", "parse", "refuse", "bearer_headers"]
