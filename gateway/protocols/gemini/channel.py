"""Google Gemini API upstream (REST v1beta `generateContent`, `streamGenerateContent?alt=sse`).

Requests are translated by `gemini_request`; replies, whole or streamed, are replayed through the
ResponseStreamBuilder so both paths produce the same Responses objects (wire-formats §7).

Thought signatures. Gemini attaches an opaque `thoughtSignature` to parts of its reply, above all to
the first `functionCall` of each step, and Gemini 3 answers 400 when the next request's history
lacks it. A Responses client replays only `call_id`, `name` and `arguments`, and must echo the
`call_id` on the `function_call_output` too, so the `call_id` is the one field sure to come back,
whether the client replays our output items verbatim or rebuilds them from its own records. So:

    call_id = <id> [ "__ts_" <signature as base64url, no padding> ]

where <id> is the functionCall's own `id` when Gemini gives one, else `call_` + 24 hex. The whole
call_id stays within [A-Za-z0-9_-]. On the next turn `split_call_id` restores the signature onto
the replayed functionCall part (standard base64) and strips it from the id; an id that is not one
of ours (`call_` + 24 hex) goes back as `functionCall.id` / `functionResponse.id`. A signature that
is not valid base64 or is longer than MAX_SIGNATURE_CHARS encoded is not carried (an id that long
would break clients before it helped). Signatures on text or thought parts are not carried: Gemini
requires only the function-call ones.

Channel options: `thought_signature_fallback` (e.g. `skip_thought_signature_validator`, the sentinel
Gemini client libraries send for history without signatures, such as another model's calls) goes on
the first functionCall of every unsigned model turn; `thinking_control` = "level" (Gemini 3) or
"budget" (2.5) says how `reasoning.effort` is sent, else it is not sent (the wrong one is a 400).

Google Search grounding stands in for the hosted `web_search` tool (gemini/grounding.py).

Other choices: thought parts (`thought: true`) become reasoning summary text, never output text.
finishReason STOP (and OTHER, unknown) → completed; MAX_TOKENS → incomplete/max_output_tokens;
SAFETY-like reasons and a `promptFeedback.blockReason` → incomplete/content_filter;
MALFORMED_FUNCTION_CALL and UNEXPECTED_TOOL_CALL → failed (a retry may well succeed, while a
"completed" turn with no output would end the client's agent loop silently).
"""

import math
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from billing.pricing import Usage
from gateway.protocols import agent_tools, extras
from gateway.protocols.channel import Adapter, CallContext, JsonResult, StreamTranslator, UpstreamError, UpstreamRequest
from gateway.protocols.gemini.channel_request import gemini_body, signed_call_id
from gateway.protocols.gemini.grounding import Grounding
from gateway.protocols.translating import ENDED_EARLY, HeldOpeningTranslator, as_str, new_builder
from gateway.protocols.upstream_errors import map_http_error, retry_after_seconds, upstream_message
from gateway.relay.field_policy import hosted_call_cap
from gateway.wire.responses import ResponseStreamBuilder, new_id, plausible_usage
from gateway.wire.schema import ParsedRequest
from gateway.wire.sse import SSEEvent

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_BLOCKED = "PROMPT_BLOCKED"  # our name for a promptFeedback.blockReason: no candidate at all
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        _BLOCKED,
    }
)
_FAILED = {
    "MALFORMED_FUNCTION_CALL": "The model produced a malformed function call.",
    "UNEXPECTED_TOOL_CALL": "The model called a tool that was not offered.",
}
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
# google.rpc status → HTTP status, for an error chunk in a stream that lacks its `code`.
_RPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def gemini_target(ctx: CallContext) -> tuple[str, dict[str, str]]:
    """The URL and headers of a generateContent call (translated or passthrough alike)."""
    model = ctx.upstream_model.strip("/")
    # `gemini-2.5-flash` or `models/gemini-2.5-flash`; `tunedModels/x` keeps its own collection.
    path = quote(model if "/" in model else f"models/{model}", safe="/-._~")
    url = f"{ctx.base_url.rstrip('/')}/{path}"
    headers = {"content-type": "application/json", "accept": "application/json"}
    if ctx.stream:
        url += ":streamGenerateContent?alt=sse"
        headers["accept"] = "text/event-stream"
    else:
        url += ":generateContent"
    if ctx.secret:
        headers["x-goog-api-key"] = ctx.secret
    return url, headers


class GeminiAdapter(Adapter):
    kind = "gemini"
    label = "Google Gemini API"

    def build_request(self, request: ParsedRequest, ctx: CallContext) -> UpstreamRequest:
        url, headers = gemini_target(ctx)
        body = extras.apply(gemini_body(agent_tools.flatten(request, ctx.options), ctx), request.extras, extras.GEMINI)
        return UpstreamRequest(url=url, headers=headers, body=_encode(body))

    def parse_response(self, body: bytes, request: ParsedRequest, ctx: CallContext) -> JsonResult:
        data = _decode_json(body)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]  # errors sometimes come wrapped in an array
        if not isinstance(data, dict):
            raise _bad_reply("The upstream sent an unreadable response.")
        if data.get("error"):
            raise _bad_reply(_error_message(data))
        usage = gemini_usage(data.get("usageMetadata"))
        reason = _finish_reason(data)
        candidate = _candidate(data)
        if candidate is None and reason is None:
            raise _bad_reply("The upstream sent a response without candidates.")
        if reason in _FAILED:
            raise _bad_reply(_FAILED[reason])
        builder = new_builder(request, ctx)
        emit_parts(builder, _parts(candidate))
        found = Grounding(hosted_call_cap(request.raw))
        found.add(candidate)
        found.emit(builder)
        usage = found.with_searches(usage)
        builder.finish(usage=usage, incomplete_reason=_incomplete_reason(reason))
        return JsonResult(body=builder.final_object(), usage=usage)

    def stream_translator(self, request: ParsedRequest, ctx: CallContext) -> StreamTranslator:
        translator = GeminiStreamTranslator(new_builder(request, ctx))
        translator.grounding = Grounding(hosted_call_cap(request.raw))
        return translator

    def map_error(self, status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
        return map_gemini_error(status, body, headers)


class GeminiStreamTranslator(HeldOpeningTranslator):
    """Gemini SSE chunks → Responses events. Each `data:` is a whole GenerateContentResponse holding
    only new parts; there is no terminator, so the terminal event waits for the end of the stream."""

    def __init__(self, builder: ResponseStreamBuilder) -> None:
        super().__init__(builder)
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._error: dict[str, Any] | None = None  # the upstream's error chunk
        self.grounding = Grounding(0)  # web search results, shown at the end (gemini/grounding.py)

    def _error_from(self, event: dict[str, Any]) -> UpstreamError:
        error = event.get("error")
        error = error if isinstance(error, dict) else {}
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else _RPC_STATUS.get(as_str(error.get("status")), 500)
        return map_gemini_error(status, _encode(event), httpx.Headers())

    def _end(self) -> bytes:
        reason = self.finish_reason
        if reason is None:
            return self.fail(ENDED_EARLY)
        if reason in _FAILED:
            return self.fail(_FAILED[reason])
        out = self.grounding.emit(self.builder)
        self.usage = self.grounding.with_searches(self.usage)
        return out + self.builder.finish(usage=self.usage, incomplete_reason=_incomplete_reason(reason))

    def _events(self, events: list[SSEEvent]) -> bytes:
        out: list[bytes] = []
        for event in events:
            data = _decode_json(event.data)
            for chunk in data if isinstance(data, list) else [data]:
                if self.finished:
                    return b"".join(out)
                if isinstance(chunk, dict):
                    out.append(self._chunk(chunk))
        return b"".join(out)

    def _chunk(self, data: dict[str, Any]) -> bytes:
        if data.get("error"):
            self._error = data
            return self.fail(_error_message(data))
        usage = gemini_usage(data.get("usageMetadata"))
        if usage is not None:
            self.usage = usage  # running totals: the last one is the final count
        candidate = _candidate(data)
        out = emit_parts(self.builder, _parts(candidate))
        self.grounding.add(candidate)
        reason = _finish_reason(data)
        if reason is not None:
            self.finish_reason = reason
        return out


# -- replies -------------------------------------------------------------------------------------


def emit_parts(builder: ResponseStreamBuilder, parts: list[Any]) -> bytes:
    """Gemini parts → builder steps. A functionCall arrives whole: start + one arguments delta."""
    out = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall")
        if isinstance(call, dict):
            given = call.get("id")
            base = given if isinstance(given, str) and given else _call_id()
            call_id = signed_call_id(base, part.get("thoughtSignature"))
            out.append(builder.tool_call_start(call_id=call_id, name=str(call.get("name") or "")))
            args = call.get("args")
            out.append(builder.tool_call_arguments(_encode(args).decode() if isinstance(args, dict) else "{}"))
            continue
        text = part.get("text")
        if isinstance(text, str) and text:
            out.append(builder.reasoning_delta(text) if part.get("thought") else builder.text_delta(text))
        # executableCode, inlineData output and signature-only parts carry nothing for the client.
    return b"".join(out)


def gemini_usage(data: Any) -> Usage | None:
    """usageMetadata → Usage (§7.6): thoughts count as output and as reasoning; tool-use prompt
    tokens as input; promptTokenCount already includes the cached tokens."""
    if not isinstance(data, dict):
        return None
    try:
        thoughts = int(data.get("thoughtsTokenCount") or 0)
        return plausible_usage(
            Usage(
                input_tokens=int(data.get("promptTokenCount") or 0) + int(data.get("toolUsePromptTokenCount") or 0),
                cached_input_tokens=int(data.get("cachedContentTokenCount") or 0),
                output_tokens=int(data.get("candidatesTokenCount") or 0) + thoughts,
                reasoning_tokens=thoughts,
            )
        )
    except (AttributeError, TypeError, ValueError, OverflowError):  # a malformed upstream count: no usage (estimated)
        return None


def _candidate(data: dict[str, Any]) -> dict[str, Any] | None:
    candidates = data.get("candidates")
    if not isinstance(candidates, list):
        return None
    # We never ask for candidateCount > 1; index may be absent (it defaults to 0).
    for candidate in candidates:
        if isinstance(candidate, dict) and candidate.get("index", 0) == 0:
            return candidate
    return None


def _parts(candidate: dict[str, Any] | None) -> list[Any]:
    content = candidate.get("content") if candidate else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return parts if isinstance(parts, list) else []


def _finish_reason(data: dict[str, Any]) -> str | None:
    candidate = _candidate(data)
    if candidate is not None and isinstance(candidate.get("finishReason"), str):
        return candidate["finishReason"]
    feedback = data.get("promptFeedback")
    if candidate is None and isinstance(feedback, dict) and feedback.get("blockReason"):
        return _BLOCKED
    return None


def _incomplete_reason(reason: str | None) -> str | None:
    if reason == "MAX_TOKENS":
        return "max_output_tokens"
    return "content_filter" if reason in _FILTERED else None


def _decode_json(data: bytes) -> Any:
    try:
        return _decode(data)
    except msgspec.DecodeError:
        return None


def _call_id() -> str:
    return new_id("call")[:29]  # `call_` + 24 hex, the shape `gemini_request` recognises as ours


def _error_message(data: dict[str, Any]) -> str:
    message = upstream_message(data)
    return f"The upstream reported an error: {message}" if message else "The upstream reported an error."


def _bad_reply(message: str) -> UpstreamError:
    return UpstreamError(status=502, code="upstream_error", message=message, retryable=True)


# -- errors --------------------------------------------------------------------------------------


def map_gemini_error(status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
    """Gemini's `{"error": {code, message, status, details}}` (sometimes in an array) → ours.
    Google answers a bad API key with 400 INVALID_ARGUMENT and an unusable account (region, billing)
    with 400 FAILED_PRECONDITION: those are the channel's trouble, retried elsewhere, not the client's."""
    data = _decode_json(body)
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    details = error.get("details")
    details = [item for item in details if isinstance(item, dict)] if isinstance(details, list) else []
    reasons = {item.get("reason") for item in details if isinstance(item.get("reason"), str)}
    if reasons & _AUTH_REASONS:
        return UpstreamError(
            status=502, code="upstream_auth_error", message="The upstream refused our credentials.", retryable=True
        )
    if error.get("status") == "FAILED_PRECONDITION":
        return UpstreamError(
            status=502,
            code="upstream_error",
            message="The upstream cannot serve this request for our account.",
            retryable=True,
        )
    mapped = map_http_error(status, _encode({"error": error}), headers)
    if mapped.retry_after is None and mapped.retryable:
        mapped.retry_after = retry_after_seconds(headers) or _retry_delay(details)
    return mapped


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """google.rpc.RetryInfo `retryDelay` ("37s", "1.5s") → seconds."""
    for item in details:
        delay = item.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                continue
            if math.isfinite(seconds):  # "infs" parses; round(inf) in our Retry-After header was a 500
                return min(max(0.0, seconds), 86_400.0)
    return None
