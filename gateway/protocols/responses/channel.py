"""OpenAI Responses API upstream: passthrough. The body goes up as sent (model renamed, output
capped, the field policy's `store: false` and hosted-call cap applied: gateway/relay/field_policy.py);
events come back untouched except the few lifecycle events, where the public model name is
restored and usage (tokens and hosted-tool calls) is read."""

import dataclasses
from typing import Any

import httpx
import msgspec

from billing.pricing import Usage
from gateway.protocols import extras
from gateway.protocols.channel import Adapter, CallContext, JsonResult, StreamTranslator, UpstreamError, UpstreamRequest
from gateway.protocols.upstream_errors import map_http_error
from gateway.relay.field_policy import count_tool_calls, passthrough_body
from gateway.relay.meter import OutputMeter
from gateway.wire.responses import usage_from_responses
from gateway.wire.schema import ParsedRequest
from gateway.wire.sse import SSEDecoder, encode_event

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_LIFECYCLE = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "response.queued",
    }
)
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.refusal.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
    }
)

# An `error` event's or failed response's code → the HTTP status that means the same, for failover
# before any content. Codes not listed are the request's own fault (invalid_prompt, invalid_image…).
_ERROR_STATUS = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "internal_error": 500,
    "server_is_overloaded": 503,
    "overloaded": 503,
    "service_unavailable": 503,
    "timeout": 504,
    "vector_store_timeout": 504,
    "": 500,  # no code at all: nothing says it was the request
}


class _Delta(msgspec.Struct):
    delta: str = ""


_decode_delta = msgspec.json.Decoder(_Delta).decode


def auth_headers(ctx: CallContext) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    if ctx.secret:
        headers["authorization"] = f"Bearer {ctx.secret}"
    return headers


class OpenAIResponsesAdapter(Adapter):
    kind = "openai_responses"
    label = "OpenAI Responses API (passthrough)"

    def build_request(self, request: ParsedRequest, ctx: CallContext) -> UpstreamRequest:
        body = dict(request.raw)
        body["model"] = ctx.upstream_model
        body["stream"] = ctx.stream
        if ctx.max_output_tokens is not None:
            body["max_output_tokens"] = ctx.max_output_tokens
        passthrough_body(body, ctx.options)
        extras.apply(body, request.extras, extras.RESPONSES)
        headers = auth_headers(ctx)
        if ctx.stream:
            headers["accept"] = "text/event-stream"
        return UpstreamRequest(url=ctx.base_url.rstrip("/") + "/responses", headers=headers, body=_encode(body))

    def parse_response(self, body: bytes, request: ParsedRequest, ctx: CallContext) -> JsonResult:
        try:
            data = _decode(body)
        except msgspec.DecodeError:
            data = None
        output = data.get("output", []) if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or data.get("object") != "response"
            or not isinstance(output, list)
            or not all(isinstance(item, dict) for item in output)
        ):  # a malformed output would crash whoever reads it next (a door's renderer): fail over instead
            raise UpstreamError(
                status=502, code="upstream_error", message="The upstream sent an unreadable response.", retryable=True
            )
        data["model"] = ctx.public_model
        return JsonResult(body=data, usage=usage_with_tools(data))

    def stream_translator(self, request: ParsedRequest, ctx: CallContext) -> StreamTranslator:
        return PassthroughTranslator(ctx)

    def map_error(self, status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
        return map_http_error(status, body, headers)


class PassthroughTranslator(StreamTranslator):
    """Forwards events byte for byte; decodes only lifecycle events (a handful per stream)."""

    rewrite: Any = None  # set by the relay: called with each lifecycle response object (our response ids)

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.decoder = SSEDecoder()
        self.usage: Usage | None = None
        self.finished = False
        self.sequence = 0
        self.response_id = ctx.response_id
        self._deltas: list[str] = []  # output text and arguments passed on, for the meter and local counting
        self.meter: OutputMeter = OutputMeter(ctx.max_output_tokens)
        self._last: dict[str, Any] | None = None  # latest response snapshot, for a synthetic failure
        self._content = False  # an event beyond the opening lifecycle ones went through
        self._early: dict[str, Any] | None = None  # {"code", "message"}: the stream failed before any content

    @property
    def holds_content(self) -> bool:
        """Output beyond response.created/in_progress went out (or the response ended): see attempts."""
        return self._content

    @property
    def early_error(self) -> UpstreamError | None:
        """The stream failed before any content: the error failover acts on, as if it came as HTTP."""
        if self._early is None:
            return None
        code = str(self._early.get("code") or "")
        message = self._early.get("message")
        body = _encode({"error": {"message": message if isinstance(message, str) else ""}})
        return map_http_error(_ERROR_STATUS.get(code, 400), body, httpx.Headers())

    def _failed_early(self, error: Any) -> None:
        if not self._content and self._early is None:
            self._early = error if isinstance(error, dict) else {}

    @property
    def emitted_text(self) -> str:
        return "".join(self._deltas)

    def feed(self, chunk: bytes) -> bytes:
        return self._forward(self.decoder.feed(chunk))

    def _forward(self, events: list) -> bytes:
        out = []
        for event in events:
            if event.data == b"[DONE]":
                continue
            kind = event.event
            data = None
            if kind is None:
                try:
                    data = _decode(event.data)
                except msgspec.DecodeError:
                    continue
                if not isinstance(data, dict):
                    continue
                kind = data.get("type")
                kind = kind if isinstance(kind, str) and kind else "message"  # a number here was a 500 (fuzzing)
            if self.meter.spent:  # output is over: nothing more goes out, but a final usage is still read
                if kind in _TERMINAL:
                    response = (data if data is not None else _decode_object(event.data)).get("response")
                    self.usage = usage_with_tools(response) if isinstance(response, dict) else None
                continue
            if kind in _LIFECYCLE:
                data = data if data is not None else _decode_object(event.data)
                response = data.get("response") or {}
                if not isinstance(response, dict):
                    continue  # unreadable: dropped (a terminal one so lost ends the stream as failed, in close)
                response["model"] = self.ctx.public_model
                if self.rewrite is not None:
                    self.rewrite(response)
                self.response_id = response.get("id", self.response_id)
                self._last = response
                if kind == "response.failed":
                    self._failed_early(response.get("error"))
                if kind in _TERMINAL:
                    self._content = self._content or self._early is None
                    self.finished = True
                    self.usage = usage_with_tools(response)
                    if self.usage is not None and self.ctx.usage_cost is not None:
                        response["usage"]["cost"] = self.ctx.usage_cost(self.usage)
                out.append(encode_event(kind, data))
            else:
                if kind in _TEXT_DELTAS:
                    text = _delta_text(event.data)
                    if not self.meter.admit(text):
                        continue  # beyond what the hold pays for: the relay cuts the response here
                    self._deltas.append(text)
                if kind == "error":
                    error = data if data is not None else _decode_object(event.data)
                    nested = error.get("error")
                    self._failed_early(nested if isinstance(nested, dict) and nested.get("code") else error)
                    self.finished = True
                else:
                    self._content = True
                out.append(event.raw if data is None else encode_event(kind, data))
            self.sequence += 1
        return b"".join(out)

    def close(self) -> bytes:
        out = self._forward(self.decoder.flush())
        if not self.finished:
            out += self.fail("The upstream ended the stream without a final event.")
        return out

    def cut(self) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        response = dict(self._last or {"id": self.response_id, "object": "response", "output": []})
        response.update(status="incomplete", model=self.ctx.public_model, incomplete_details={"reason": "max_output_tokens"})
        self.sequence += 1
        return encode_event(
            "response.incomplete",
            {"type": "response.incomplete", "sequence_number": self.sequence - 1, "response": response},
        )

    def fail(self, message: str) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        self._failed_early({"code": "server_error", "message": message})
        error = {"type": "server_error", "code": "server_error", "message": message, "param": None}
        out = encode_event(
            "error",
            {
                "type": "error",
                "sequence_number": self.sequence,
                "code": "server_error",
                "message": message,
                "param": None,
                "error": error,
            },
        )
        response = dict(self._last or {"id": self.response_id, "object": "response", "output": []})
        response.update(
            status="failed", model=self.ctx.public_model, error={"code": "server_error", "message": message}
        )
        out += encode_event(
            "response.failed", {"type": "response.failed", "sequence_number": self.sequence + 1, "response": response}
        )
        self.sequence += 2
        return out


def usage_with_tools(response: dict[str, Any]) -> Usage | None:
    """The response's token usage plus the hosted-tool calls in its output (billed per call)."""
    usage = usage_from_responses(response.get("usage"))
    calls = count_tool_calls(response.get("output"))
    if usage is None or not calls:
        return usage
    return dataclasses.replace(usage, tool_calls=calls)


def _delta_text(data: bytes) -> str:
    try:
        return _decode_delta(data).delta
    except msgspec.DecodeError:  # not the shape we know: forwarded, counted as nothing
        return ""


def _decode_object(data: bytes) -> dict[str, Any]:
    try:
        value = _decode(data)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}
