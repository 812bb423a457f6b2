"""OpenAI-compatible Chat Completions upstream (DeepSeek, Qwen, vLLM, Ollama, …).

Requests are translated by `chat_request`; replies, whole or streamed, are replayed through the
ResponseStreamBuilder so both paths produce the same Responses objects (wire-formats §5.6, §5.7).
"""

from typing import Any

import httpx
import msgspec

from billing.pricing import Usage
from gateway.protocols import agent_tools, extras
from gateway.protocols.channel import Adapter, CallContext, JsonResult, StreamTranslator, UpstreamError, UpstreamRequest
from gateway.protocols.chat.channel_request import chat_body
from gateway.protocols.responses.channel import auth_headers
from gateway.protocols.translating import ENDED_EARLY, BuilderTranslator, as_str, decode_object, new_builder
from gateway.protocols.upstream_errors import map_http_error, upstream_message
from gateway.wire.responses import ResponseStreamBuilder, new_id, plausible_usage
from gateway.wire.schema import ParsedRequest
from gateway.wire.sse import SSEEvent

_encode = msgspec.json.encode
_decode = msgspec.json.decode
# finish_reason → Responses incomplete reason; anything else (stop, tool_calls, …) completes.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


class OpenAIChatAdapter(Adapter):
    kind = "openai_chat"
    label = "OpenAI-compatible Chat Completions"

    def build_request(self, request: ParsedRequest, ctx: CallContext) -> UpstreamRequest:
        headers = auth_headers(ctx)
        if ctx.stream:
            headers["accept"] = "text/event-stream"
        url = ctx.base_url.rstrip("/") + "/chat/completions"
        return UpstreamRequest(url=url, headers=headers, body=_encode(extras.apply(chat_body(agent_tools.flatten(request, ctx.options), ctx), request.extras, extras.CHAT)))

    def parse_response(self, body: bytes, request: ParsedRequest, ctx: CallContext) -> JsonResult:
        data = decode_object(body)
        if data is None:
            raise _bad_reply("The upstream sent an unreadable response.")
        if data.get("error"):
            raise _bad_reply(_error_message(data))
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _bad_reply("The upstream sent a response without choices.")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise _bad_reply("The upstream sent a response without a message.")
        usage = chat_usage(data.get("usage"))
        builder = new_builder(request, ctx)
        builder.reasoning_delta(_text(message.get("reasoning_content")) or _text(message.get("reasoning")))
        builder.text_delta(_text(message.get("content")))
        builder.text_delta(_text(message.get("refusal")), kind="refusal")
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            builder.tool_call_start(call_id=as_str(call.get("id")) or _call_id(), name=as_str(function.get("name")))
            builder.tool_call_arguments(_arguments(function.get("arguments")) or "{}")
        builder.finish(usage=usage, incomplete_reason=_INCOMPLETE.get(as_str(choices[0].get("finish_reason"))))
        return JsonResult(body=builder.final_object(), usage=usage)

    def stream_translator(self, request: ParsedRequest, ctx: CallContext) -> StreamTranslator:
        return ChatStreamTranslator(new_builder(request, ctx))

    def map_error(self, status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
        return map_http_error(status, body, headers)


class ChatStreamTranslator(BuilderTranslator):
    """Chat chunks → Responses events. The terminal event waits for `[DONE]` or the end of the
    stream, because the usage chunk comes after the finish chunk."""

    def __init__(self, builder: ResponseStreamBuilder) -> None:
        super().__init__(builder)
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._keys: dict[int, int] = {}  # Chat tool-call index → our key for that call
        self._calls: dict[int, dict[str, Any]] = {}  # our key → the function_call item (the builder's)
        self._open_call: int | None = None  # the key whose item is the builder's open item

    def _end(self) -> bytes:
        if self.finish_reason is None:
            return self.fail(ENDED_EARLY)
        return self._finish()

    # -- chunks ----------------------------------------------------------------------------------
    def _events(self, events: list[SSEEvent]) -> bytes:
        out = []
        for event in events:
            if self.finished:
                break
            if event.data == b"[DONE]":
                # An explicit end with no finish_reason still means the upstream said all it had.
                out.append(self._finish())
                break
            data = decode_object(event.data)
            if data is not None:
                out.append(self._chunk(data))
        return b"".join(out)

    def _chunk(self, data: dict[str, Any]) -> bytes:
        if data.get("error"):
            return self.fail(_error_message(data))
        usage = chat_usage(data.get("usage"))
        if usage is not None:
            self.usage = usage
        out = b""
        choices = data.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # we never ask for n > 1
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                out += self._delta(delta)
            if choice.get("finish_reason") and isinstance(choice["finish_reason"], str):
                self.finish_reason = choice["finish_reason"]
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        out = b""
        reasoning = _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
        if reasoning:
            out += self._leave_call() + self.builder.reasoning_delta(reasoning)
        content = _text(delta.get("content"))
        if content:
            out += self._leave_call() + self.builder.text_delta(content)
        refusal = _text(delta.get("refusal"))
        if refusal:
            out += self._leave_call() + self.builder.text_delta(refusal, kind="refusal")
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                out += self._tool_call(call)
        return out

    def _tool_call(self, call: dict[str, Any]) -> bytes:
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        key = self._call_key(call)
        out = b""
        if key not in self._calls:
            out += self._leave_call()
            out += self.builder.tool_call_start(
                call_id=as_str(call.get("id")) or _call_id(), name=as_str(function.get("name"))
            )
            self._calls[key] = self.builder.output[-1]
            self._open_call = key
        pieces = _arguments(function.get("arguments"))
        if not pieces:
            return out
        if key == self._open_call:
            return out + self.builder.tool_call_arguments(pieces)
        # A fragment for a call already closed (interleaved calls, never seen in recorded traffic):
        # its events are gone, but the final response must still carry the whole arguments.
        self._calls[key]["arguments"] += pieces
        return out

    def _call_key(self, call: dict[str, Any]) -> int:
        """Which call a fragment belongs to. Chat says: by `index`; the `id` is only on the first."""
        call_id = call.get("id")
        index = call.get("index")
        if not isinstance(index, int):
            known = [key for key, item in self._calls.items() if call_id and item["call_id"] == call_id]
            if known:
                return known[0]
            return len(self._calls) if call_id or not self._calls else max(self._calls)
        key = self._keys.get(index)
        # Some servers number every call 0; a new id is then the only sign of a new call.
        if key is None or (call_id and self._calls[key]["call_id"] != call_id):
            key = self._keys[index] = len(self._calls)
        return key

    def _leave_call(self) -> bytes:
        """Before the open call is closed by other output: an empty call gets `{}` arguments."""
        if self._open_call is None:
            return b""
        item, self._open_call = self._calls[self._open_call], None
        return b"" if item["arguments"] else self.builder.tool_call_arguments("{}")

    def _finish(self) -> bytes:
        out = self._leave_call()
        reason = _INCOMPLETE.get(self.finish_reason or "")
        return out + self.builder.finish(usage=self.usage, incomplete_reason=reason)


# -- helpers -------------------------------------------------------------------------------------


def chat_usage(data: Any) -> Usage | None:
    """A Chat `usage` object → Usage (§5.6). Details read as 0 when absent."""
    if not isinstance(data, dict):
        return None
    prompt_details = data.get("prompt_tokens_details") or {}
    completion_details = data.get("completion_tokens_details") or {}
    try:
        # Some servers report cache hits only as a top-level `prompt_cache_hit_tokens`.
        cached = prompt_details.get("cached_tokens") or data.get("prompt_cache_hit_tokens") or 0
        return plausible_usage(
            Usage(
                input_tokens=int(data.get("prompt_tokens") or 0),
                cached_input_tokens=int(cached),
                output_tokens=int(data.get("completion_tokens") or 0),
                reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
            )
        )
    except (AttributeError, TypeError, ValueError, OverflowError):  # a malformed upstream count: no usage (estimated)
        return None


def _text(value: Any) -> str:
    """Content as a string; a few servers send a list of text parts instead."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part.get("text") or "" for part in value if isinstance(part, dict))
    return ""


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # some servers send the arguments already parsed
        return _encode(value).decode()
    return ""


def _call_id() -> str:
    return new_id("call")[:29]  # same shape as upstream ids: `call_` + 24 characters


def _error_message(data: dict[str, Any]) -> str:
    message = upstream_message(data)
    return f"The upstream reported an error: {message}" if message else "The upstream reported an error."


def _bad_reply(message: str) -> UpstreamError:
    return UpstreamError(status=502, code="upstream_error", message=message, retryable=True)
