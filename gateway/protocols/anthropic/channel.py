"""Anthropic Messages API upstream (wire-formats §6).

Requests are translated by `anthropic_request`; replies, whole or streamed, are replayed through the
ResponseStreamBuilder so both paths produce the same Responses objects (§6.6). Thinking becomes a
reasoning item (never text) whose `encrypted_content` keeps the signature, or a redacted block's data, for
the next turn (`anthropic_thinking`); web search server-tool blocks become web_search_call items and their
citations url_citation annotations (anthropic/web_search.py); other server-tool blocks are not shown.

Channel options read here: `anthropic_version` (default 2023-06-01), `anthropic_beta` (a string or a
list, sent as the `anthropic-beta` header); the request options are listed in `anthropic_request`.
"""

import dataclasses
import re
from typing import Any

import httpx
import msgspec

from billing.pricing import Usage
from gateway.protocols import agent_tools, extras
from gateway.protocols.anthropic import web_search
from gateway.protocols.anthropic.channel_request import anthropic_body
from gateway.protocols.anthropic.thinking import (
    close_reasoning,
    opaque_reasoning,
    open_reasoning,
    redacted_content,
    sign,
)
from gateway.protocols.channel import Adapter, CallContext, JsonResult, StreamTranslator, UpstreamError, UpstreamRequest
from gateway.protocols.translating import ENDED_EARLY, HeldOpeningTranslator, as_str, decode_object, new_builder
from gateway.protocols.upstream_errors import map_http_error, retry_after_seconds, upstream_message
from gateway.relay.field_policy import hosted_call_cap
from gateway.wire.responses import ResponseStreamBuilder, new_id, plausible_usage
from gateway.wire.schema import ParsedRequest
from gateway.wire.sse import SSEEvent
from gateway.wire.tokens import count_tokens

ANTHROPIC_VERSION = "2023-06-01"
_encode = msgspec.json.encode
_decode = msgspec.json.decode
# stop_reason → Responses incomplete reason; end_turn, stop_sequence and tool_use complete.
# A refusal is Anthropic's streaming classifier stopping the answer: OpenAI calls that content_filter.
# pause_turn only follows server tools (never sent by us): "stopped early, continue" is the closest.
_INCOMPLETE = {
    "max_tokens": "max_output_tokens",
    "model_context_window_exceeded": "max_output_tokens",
    "pause_turn": "max_output_tokens",
    "refusal": "content_filter",
}
_CREDIT = re.compile(r"credit balance", re.IGNORECASE)  # Anthropic says "out of credit" with a 400
# An `event: error` in a stream carries only the error type: the HTTP status Anthropic gives that type.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicAdapter(Adapter):
    kind = "anthropic"
    label = "Anthropic Messages API"

    def build_request(self, request: ParsedRequest, ctx: CallContext) -> UpstreamRequest:
        url, headers = anthropic_target(ctx)
        body = anthropic_body(agent_tools.flatten(request, ctx.options), ctx)
        return UpstreamRequest(url=url, headers=headers, body=_encode(extras.apply(body, request.extras, extras.ANTHROPIC)))

    def parse_response(self, body: bytes, request: ParsedRequest, ctx: CallContext) -> JsonResult:
        data = decode_object(body)
        if data is None:
            raise _bad_reply("The upstream sent an unreadable response.")
        if data.get("type") == "error" or data.get("error"):
            raise _bad_reply(_error_message(data))
        content = data.get("content")
        if not isinstance(content, list):
            raise _bad_reply("The upstream sent a response without content.")
        usage = anthropic_usage(data.get("usage"))
        builder = new_builder(request, ctx)
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                builder.text_delta(_text(block.get("text")))
                web_search.cite(builder, block.get("citations"), _text(block.get("text")))
            elif web_search.is_search_use(block):
                web_search.start(builder, block)
            elif kind == "web_search_tool_result":
                web_search.result(builder, block, request.raw.get("include"))
            elif kind == "thinking":
                close_reasoning(builder)
                builder.reasoning_delta(_text(block.get("thinking")))
                sign(builder, open_reasoning(builder), _text(block.get("signature")))
            elif kind == "redacted_thinking" and (encrypted := redacted_content(block.get("data"))):
                opaque_reasoning(builder, encrypted)
            elif kind == "tool_use":
                builder.tool_call_start(call_id=as_str(block.get("id")) or _call_id(), name=as_str(block.get("name")))
                builder.tool_call_arguments(_arguments(block.get("input")))
        usage = web_search.with_searches(usage, data.get("usage"), builder.output, hosted_call_cap(request.raw))
        builder.finish(usage=usage, incomplete_reason=_INCOMPLETE.get(as_str(data.get("stop_reason"))))
        return JsonResult(body=builder.final_object(), usage=usage)

    def stream_translator(self, request: ParsedRequest, ctx: CallContext) -> StreamTranslator:
        translator = AnthropicStreamTranslator(new_builder(request, ctx))
        translator.search_cap, translator.include = hosted_call_cap(request.raw), request.raw.get("include")
        return translator

    def map_error(self, status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
        kind = _error_type(body)
        retry_after = retry_after_seconds(headers)
        if status == 529 or kind == "overloaded_error":
            return UpstreamError(
                status=503,
                code="upstream_overloaded",
                message="The upstream is overloaded; try again shortly.",
                retryable=True,
                retry_after=retry_after,
            )
        if status == 402 or kind == "billing_error" or (status == 400 and _CREDIT.search(upstream_message(body))):
            # Our account with the upstream, not the client's request: another channel may work.
            return UpstreamError(
                status=502, code="upstream_billing_error", message="The upstream refused to bill us.", retryable=True
            )
        if status == 404 or kind == "not_found_error":
            # The model name is the channel's, never the client's: a misconfigured channel.
            return UpstreamError(
                status=502, code="upstream_error", message="The upstream does not serve this model.", retryable=True
            )
        return map_http_error(status, body, headers)


class AnthropicStreamTranslator(HeldOpeningTranslator):
    """Anthropic events → Responses events. The terminal event goes at `message_stop`, or at the end of
    the stream if `message_delta` already said why the message stopped."""

    def __init__(self, builder: ResponseStreamBuilder) -> None:
        super().__init__(builder)
        self.stop_reason: str | None = None
        self._usage: dict[str, Any] = {}  # Anthropic usage fields, merged as the SDK merges them
        self._final = False  # the usage counts are the upstream's last word
        self._blocks: dict[Any, dict[str, Any]] = {}  # content block index → what we made of it
        self._open_call: dict[str, Any] | None = None  # the function_call item of the tool_use block being streamed
        self._error: dict[str, Any] | None = None  # the upstream's `error` event
        self.search_cap = 0  # web searches the request may be charged for (anthropic/web_search.py)
        self.include: Any = None  # the request's `include`

    def _error_from(self, event: dict[str, Any]) -> UpstreamError:
        error = event.get("error")
        kind = error.get("type") if isinstance(error, dict) else None
        return AnthropicAdapter().map_error(_ERROR_STATUS.get(as_str(kind), 500), _encode(event), httpx.Headers())

    @property
    def usage(self) -> Usage | None:  # type: ignore[override]  # a computed attribute of StreamTranslator
        usage = anthropic_usage(self._usage) if self._usage else None
        usage = web_search.with_searches(usage, self._usage, self.builder.output, self.search_cap)
        if usage is None or self._final:
            return usage
        # Only message_start's counts so far (output_tokens ≈ 1): count what was already sent.
        return dataclasses.replace(usage, output_tokens=max(usage.output_tokens, count_tokens(self.emitted_text)))

    @property
    def usage_estimated(self) -> bool:  # type: ignore[override]  # a computed attribute of StreamTranslator
        """True while `usage` holds our own output count (see the suggested StreamTranslator flag)."""
        return bool(self._usage) and not self._final

    def _end(self) -> bytes:
        if self.stop_reason is None:
            return self.fail(ENDED_EARLY)
        return self._finish()

    # -- events ----------------------------------------------------------------------------------
    def _events(self, events: list[SSEEvent]) -> bytes:
        out = []
        for event in events:
            if self.finished:
                break
            data = decode_object(event.data)
            if data is not None:
                out.append(self._event(data.get("type") or event.event, data))
        return b"".join(out)

    def _event(self, kind: str | None, data: dict[str, Any]) -> bytes:
        index = data.get("index")
        index = index if isinstance(index, int) else None  # blocks are keyed by it: a list here was a 500
        if kind == "message_start":
            message = data.get("message")
            self._merge_usage(message.get("usage") if isinstance(message, dict) else None)
            return self.builder.start()
        if kind == "content_block_start":
            return self._block_start(index, data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(index, data.get("delta") or {})
        if kind == "content_block_stop":
            state = self._blocks.get(index)
            if state and state["type"] == "thinking" and not state.get("signed"):
                state["signed"] = True  # a signed block without text gets its own item, once
                return sign(self.builder, state.get("reasoning"), state.get("signature", ""))
            if state and state.get("searching"):  # announced once its query is known
                return self.builder.web_search_call(query=state["query"] or web_search.streamed_query(state["json"]))
            if state and state["type"] == "text" and state.get("citations"):
                return web_search.cite(self.builder, state["citations"], state.get("text", ""))
            return self._leave_call() if state and state.get("item") is self._open_call else b""
        if kind == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") and isinstance(delta["stop_reason"], str):
                self.stop_reason = delta["stop_reason"]
            self._merge_usage(data.get("usage"))
            return b""
        if kind == "message_stop":
            return self._finish()
        if kind == "error":
            self._error = data
            error = data.get("error")
            limited = isinstance(error, dict) and error.get("type") == "rate_limit_error"
            return self.builder.fail(
                message=_error_message(data), code="rate_limit_exceeded" if limited else "server_error"
            )
        return b""  # ping, and events newer than this code

    def _block_start(self, index: Any, block: Any) -> bytes:
        if not isinstance(block, dict):
            return b""
        kind = block.get("type")
        state: dict[str, Any] = {"type": kind}
        self._blocks[index] = state
        out = self._leave_call()
        if kind == "text":
            state["text"], state["citations"] = _text(block.get("text")), list(block.get("citations") or ())
            return out + self.builder.text_delta(state["text"])
        if web_search.is_search_use(block):
            state.update(searching=True, query=web_search.query_of(block.get("input")), json="")
            return out
        if kind == "web_search_tool_result":
            return out + web_search.result(self.builder, block, self.include)
        if kind == "thinking":
            out += close_reasoning(self.builder) + self.builder.reasoning_delta(_text(block.get("thinking")))
            state["reasoning"] = open_reasoning(self.builder)
            state["signature"] = _text(block.get("signature"))
            return out
        if kind == "redacted_thinking":
            encrypted = redacted_content(block.get("data"))
            return out + opaque_reasoning(self.builder, encrypted) if encrypted else out
        if kind != "tool_use":
            return out  # server tools and their results: not ours to show
        out += self.builder.tool_call_start(call_id=as_str(block.get("id")) or _call_id(), name=as_str(block.get("name")))
        state["item"] = self._open_call = self.builder.output[-1]
        initial = block.get("input")
        if isinstance(initial, dict) and initial:
            # Anthropic starts with `input: {}` and streams the JSON; a server sending it whole is taken at its word.
            state["whole"] = True
            out += self.builder.tool_call_arguments(_encode(initial).decode())
        return out

    def _block_delta(self, index: Any, delta: Any) -> bytes:
        if not isinstance(delta, dict):
            return b""
        kind = delta.get("type")
        state = self._blocks.get(index)
        if kind == "text_delta":
            text = _text(delta.get("text"))
            if state is not None and state["type"] == "text":
                state["text"] += text
            return self._leave_call() + self.builder.text_delta(text) if text else b""
        if kind == "citations_delta":
            if state is not None and state["type"] == "text" and isinstance(delta.get("citation"), dict):
                state["citations"].append(delta["citation"])
            return b""
        if kind == "thinking_delta":
            text = _text(delta.get("thinking"))
            if not text:
                return b""
            out = self._leave_call() + self.builder.reasoning_delta(text)
            if state is not None and state["type"] == "thinking":
                state["reasoning"] = open_reasoning(self.builder)
            return out
        if kind == "signature_delta":
            if state is not None and state["type"] == "thinking":
                state["signature"] = _text(delta.get("signature"))  # replaced, as the SDK accumulates it
                if state.get("reasoning") is not None:
                    sign(self.builder, state["reasoning"], state["signature"])  # in the item by its done event
            return b""
        if kind != "input_json_delta":
            return b""
        piece = _text(delta.get("partial_json"))
        if state is not None and state.get("searching"):
            state["json"] += piece  # the query, read when the block stops
            return b""
        if not piece or not state or "item" not in state or state.get("whole"):
            return b""
        item = state["item"]
        if item is self._open_call:
            return self.builder.tool_call_arguments(piece)
        # A fragment for a call already closed (never seen from Anthropic): its events are gone,
        # but the final response must still carry the whole arguments.
        item["arguments"] += piece
        return b""

    def _leave_call(self) -> bytes:
        """When the open call's block ends, or other output begins: a call with no input gets `{}`."""
        item, self._open_call = self._open_call, None
        if item is None or item["arguments"]:
            return b""
        if self.builder.output and self.builder.output[-1] is item and item["status"] == "in_progress":
            return self.builder.tool_call_arguments("{}")
        item["arguments"] = "{}"
        return b""

    def _merge_usage(self, data: Any) -> None:
        """Counts are cumulative: later values replace earlier ones, absent ones keep them."""
        if isinstance(data, dict):
            self._usage.update((key, value) for key, value in data.items() if value is not None)

    def _finish(self) -> bytes:
        self._final = True
        out = self._leave_call()
        reason = _INCOMPLETE.get(self.stop_reason or "")
        return out + self.builder.finish(usage=self.usage, incomplete_reason=reason)


# -- helpers -------------------------------------------------------------------------------------


def anthropic_target(ctx: CallContext) -> tuple[str, dict[str, str]]:
    """The URL and headers of a Messages call (translated or passthrough alike)."""
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if ctx.stream else "application/json",
        "anthropic-version": str(ctx.options.get("anthropic_version") or ANTHROPIC_VERSION),
    }
    if ctx.secret:
        headers["x-api-key"] = ctx.secret
    beta = ctx.options.get("anthropic_beta")  # the operator's betas only: a client's could be unmetered
    if beta:
        headers["anthropic-beta"] = beta if isinstance(beta, str) else ",".join(beta)
    return ctx.base_url.rstrip("/") + "/messages", headers


def anthropic_usage(data: Any) -> Usage | None:
    """Anthropic `usage` → Usage (§6.6): its input_tokens exclude cache reads and writes; ours include them."""
    if not isinstance(data, dict):
        return None
    try:
        cache_read = int(data.get("cache_read_input_tokens") or 0)
        cache_write = int(data.get("cache_creation_input_tokens") or 0)
        output = int(data.get("output_tokens") or 0)
        details = data.get("output_tokens_details")
        thinking = int(details.get("thinking_tokens") or 0) if isinstance(details, dict) else 0
        return plausible_usage(
            Usage(
                input_tokens=int(data.get("input_tokens") or 0) + cache_read + cache_write,
                cached_input_tokens=cache_read,
                cache_write_tokens=cache_write,
                output_tokens=output,
                reasoning_tokens=min(thinking, output),
            )
        )
    except (AttributeError, TypeError, ValueError, OverflowError):  # a malformed upstream count: no usage (estimated)
        return None


def _error_type(body: bytes) -> str | None:
    data = decode_object(body)
    error = data.get("error") if data else None
    return as_str(error.get("type")) or None if isinstance(error, dict) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _arguments(value: Any) -> str:
    if isinstance(value, dict):
        return _encode(value).decode() if value else "{}"
    return value if isinstance(value, str) and value else "{}"


def _call_id() -> str:
    return new_id("toolu")[:30]  # same shape as Anthropic's ids: `toolu_` + 24 characters


def _error_message(data: dict[str, Any]) -> str:
    message = upstream_message(data)
    return f"The upstream reported an error: {message}" if message else "The upstream reported an error."


def _bad_reply(message: str) -> UpstreamError:
    return UpstreamError(status=502, code="upstream_error", message=message, retryable=True)
