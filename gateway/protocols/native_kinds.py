"""The per-protocol halves of the same-protocol passthrough (native.py): the body that goes up, what
an answer's events say (output text for the meter, usage, the end), and the door-shaped endings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from billing.pricing import Usage
from gateway.protocols import native_fast
from gateway.protocols.anthropic.channel import anthropic_target, anthropic_usage
from gateway.protocols.channel import Adapter, CallContext
from gateway.protocols.chat.channel import chat_usage
from gateway.protocols.door import DoorRequest
from gateway.protocols.gemini.channel import gemini_target, gemini_usage
from gateway.protocols.responses.channel import auth_headers

_encode = msgspec.json.encode


@dataclass(slots=True)
class Seen:
    text: str = ""  # output this event carries (counted against the hold)
    final: bool = False  # the protocol's own end of the answer
    error: str | None = None  # an error event's message
    drop: bool = False  # not for this client (a usage chunk it did not ask for)


class Kind:
    fast: native_fast.Fast | None = None  # a typed reader for the common events (falls back to read_event)

    def body(self, request: DoorRequest, ctx: CallContext) -> dict[str, Any]:
        raise NotImplementedError

    def target(self, adapter: Adapter, ctx: CallContext) -> tuple[str, dict[str, str]]:
        raise NotImplementedError

    def error_in(self, data: dict[str, Any]) -> str | None:
        error = data.get("error")
        if not error:
            return None
        message = error.get("message") if isinstance(error, dict) else None
        return f"The upstream reported an error: {str(message)[:500]}" if message else "The upstream reported an error."

    def usage_of(self, data: dict[str, Any]) -> Usage | None:
        raise NotImplementedError

    def new_state(self, request: DoorRequest) -> dict[str, Any]:
        return {}

    def read_event(self, state: dict[str, Any], data: Any) -> Seen:
        raise NotImplementedError

    def stream_usage(self, state: dict[str, Any]) -> Usage | None:
        return state.get("usage")

    def ended(self, state: dict[str, Any]) -> bool:
        return bool(state.get("done"))

    def closing(self, state: dict[str, Any]) -> bool:
        """The answer's end has begun: what follows carries the final usage (held for the receipt)."""
        return self.ended(state)

    def cut(self, state: dict[str, Any], ctx: CallContext, counted: int) -> bytes:
        raise NotImplementedError

    def fail(self, message: str) -> bytes:
        raise NotImplementedError


def _client_body(request: DoorRequest, ctx: CallContext) -> dict[str, Any]:
    body = dict(request.raw or {})
    body["model"] = ctx.upstream_model
    return body


class ChatKind(Kind):
    fast = staticmethod(native_fast.chat)

    def body(self, request: DoorRequest, ctx: CallContext) -> dict[str, Any]:
        body = _client_body(request, ctx)
        body.pop("max_tokens", None)  # the cap goes in the field every Chat upstream reads first
        if ctx.cache_key and body.get("prompt_cache_key"):  # namespaced per account (relay/prompt_cache.py)
            body["prompt_cache_key"] = ctx.cache_key
        if ctx.max_output_tokens is not None:
            body["max_completion_tokens"] = ctx.max_output_tokens
        if ctx.stream:
            body["stream"] = True
            options = body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    def target(self, adapter: Adapter, ctx: CallContext) -> tuple[str, dict[str, str]]:
        headers = auth_headers(ctx)
        if ctx.stream:
            headers["accept"] = "text/event-stream"
        return ctx.base_url.rstrip("/") + "/chat/completions", headers

    def usage_of(self, data: dict[str, Any]) -> Usage | None:
        return chat_usage(data.get("usage"))

    def new_state(self, request: DoorRequest) -> dict[str, Any]:
        return {"include_usage": bool(request.extras.get("include_usage"))}

    def read_event(self, state: dict[str, Any], data: Any) -> Seen:
        if data == "[DONE]":
            state["done"] = True
            return Seen(final=True)
        if not isinstance(data, dict):
            return Seen()
        if data.get("error"):
            return Seen(error=self.error_in(data))
        seen = Seen()
        if data.get("usage") is not None:
            state["usage"] = chat_usage(data["usage"])
            # We always ask for the usage chunk; a client that did not ask never sees it.
            seen.drop = not state["include_usage"] and not data.get("choices")
        choices = data.get("choices")
        for choice in choices if isinstance(choices, list) else ():  # an upstream's `true` here raised (fuzzing)
            if not isinstance(choice, dict):
                continue
            state["id"] = data.get("id")
            delta = choice.get("delta")
            if isinstance(delta, dict):
                seen.text += _chat_text(delta)
            if choice.get("finish_reason"):
                state["finish"] = choice["finish_reason"]
        return seen

    def ended(self, state: dict[str, Any]) -> bool:
        return bool(state.get("done") or state.get("finish"))

    def cut(self, state: dict[str, Any], ctx: CallContext, counted: int) -> bytes:
        chunk = {"id": state.get("id") or f"chatcmpl-{ctx.request_id}", "object": "chat.completion.chunk",
                 "created": ctx.created_at, "model": ctx.public_model,
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
        return b"data: " + _encode(chunk) + b"\n\ndata: [DONE]\n\n"

    def fail(self, message: str) -> bytes:
        error = {"message": message, "type": "server_error", "param": None, "code": "upstream_error"}
        return b"data: " + _encode({"error": error}) + b"\n\n"


def _chat_text(delta: dict[str, Any]) -> str:
    parts = [delta.get(name) for name in ("content", "reasoning_content", "reasoning", "refusal")]
    text = "".join(part for part in parts if isinstance(part, str))
    calls = delta.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            text += function["arguments"]
    return text


class MessagesKind(Kind):
    def body(self, request: DoorRequest, ctx: CallContext) -> dict[str, Any]:
        body = _client_body(request, ctx)
        if ctx.max_output_tokens is not None:
            body["max_tokens"] = ctx.max_output_tokens
        if ctx.stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        return body

    def target(self, adapter: Adapter, ctx: CallContext) -> tuple[str, dict[str, str]]:
        return anthropic_target(ctx)

    def error_in(self, data: dict[str, Any]) -> str | None:
        return super().error_in(data) if data.get("type") == "error" or "content" not in data else None

    def usage_of(self, data: dict[str, Any]) -> Usage | None:
        return anthropic_usage(data.get("usage"))

    def new_state(self, request: DoorRequest) -> dict[str, Any]:
        return {"counts": {}, "open": None}

    def read_event(self, state: dict[str, Any], data: Any) -> Seen:
        if not isinstance(data, dict):
            return Seen()
        kind = data.get("type")
        if kind == "error":
            return Seen(error=self.error_in(data) or "The upstream reported an error.")
        if kind == "message_start" and isinstance(data.get("message"), dict):
            self._count(state, data["message"].get("usage"))
            state["id"] = data["message"].get("id")
        elif kind == "message_delta":
            self._count(state, data.get("usage"))
            state["closing"] = True
        elif kind == "content_block_start":
            state["open"] = data.get("index")
        elif kind == "content_block_stop":
            state["open"] = None
        elif kind == "content_block_delta" and isinstance(data.get("delta"), dict):
            delta = data["delta"]
            text = delta.get("text") or delta.get("thinking") or delta.get("partial_json") or ""
            return Seen(text=text if isinstance(text, str) else "")
        elif kind == "message_stop":
            state["done"] = True
            return Seen(final=True)
        return Seen()

    @staticmethod
    def _count(state: dict[str, Any], usage: Any) -> None:
        """Counts are cumulative: later values replace earlier ones."""
        if isinstance(usage, dict):
            state["counts"].update((key, value) for key, value in usage.items() if value is not None)

    def closing(self, state: dict[str, Any]) -> bool:
        return bool(state.get("closing") or state.get("done"))

    def stream_usage(self, state: dict[str, Any]) -> Usage | None:
        counts = state["counts"]
        return anthropic_usage(counts) if "output_tokens" in counts else None

    def cut(self, state: dict[str, Any], ctx: CallContext, counted: int) -> bytes:
        out = b""
        if state.get("open") is not None:
            out += _sse("content_block_stop", {"type": "content_block_stop", "index": state["open"]})
        delta = {"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                 "usage": {"output_tokens": counted}}
        return out + _sse("message_delta", delta) + _sse("message_stop", {"type": "message_stop"})

    def fail(self, message: str) -> bytes:
        return _sse("error", {"type": "error", "error": {"type": "api_error", "message": message}})


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _encode(data) + b"\n\n"


class GeminiKind(Kind):
    fast = staticmethod(native_fast.gemini)

    def body(self, request: DoorRequest, ctx: CallContext) -> dict[str, Any]:
        body = dict(request.raw or {})
        body.pop("model", None)  # the model is named in the URL
        if ctx.max_output_tokens is not None:
            config = body.get("generationConfig")
            body["generationConfig"] = {**(config if isinstance(config, dict) else {}),
                                        "maxOutputTokens": ctx.max_output_tokens}
        return body

    def target(self, adapter: Adapter, ctx: CallContext) -> tuple[str, dict[str, str]]:
        return gemini_target(ctx)

    def usage_of(self, data: dict[str, Any]) -> Usage | None:
        return gemini_usage(data.get("usageMetadata"))

    def read_event(self, state: dict[str, Any], data: Any) -> Seen:
        if not isinstance(data, dict):
            return Seen()
        if data.get("error"):
            return Seen(error=self.error_in(data))
        if data.get("usageMetadata") is not None:
            state["usage_metadata"] = data["usageMetadata"]  # read once, at the end (every chunk repeats it)
        seen = Seen()
        candidates = data.get("candidates")
        for candidate in candidates if isinstance(candidates, list) else ():
            if not isinstance(candidate, dict):
                continue
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict):
                    seen.text += _gemini_text(part)
            if candidate.get("finishReason"):
                state["done"] = True
        return seen

    def stream_usage(self, state: dict[str, Any]) -> Usage | None:
        metadata = state.get("usage_metadata")
        return None if metadata is None else gemini_usage(metadata)

    def cut(self, state: dict[str, Any], ctx: CallContext, counted: int) -> bytes:
        candidate = {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "MAX_TOKENS", "index": 0}
        return b"data: " + _encode({"candidates": [candidate], "modelVersion": ctx.public_model}) + b"\r\n\r\n"

    def fail(self, message: str) -> bytes:
        return b"data: " + _encode({"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}}) + b"\r\n\r\n"


def _gemini_text(part: dict[str, Any]) -> str:
    text = part.get("text")
    if isinstance(text, str):
        return text
    call = part.get("functionCall")
    if isinstance(call, dict):
        return _encode(call.get("args") or {}).decode()
    return ""


KINDS: dict[str, Kind] = {"chat": ChatKind(), "messages": MessagesKind(), "gemini": GeminiKind()}
