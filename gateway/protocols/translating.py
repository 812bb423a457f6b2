"""Pieces every translating adapter shares (Chat Completions, Anthropic, Gemini)."""

from abc import abstractmethod
from typing import Any

import msgspec

from gateway.protocols import agent_tools
from gateway.protocols.channel import CallContext, StreamTranslator, UpstreamError
from gateway.relay.meter import OutputMeter
from gateway.wire.errors import InvalidRequest
from gateway.wire.responses import ResponseStreamBuilder
from gateway.wire.schema import ParsedRequest
from gateway.wire.sse import SSEDecoder, SSEEvent

ENDED_EARLY = "The upstream ended the stream early."
# Standard or URL-safe alphabet, padding only at the end. Length is not checked: upstreams decide that.
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"


def refuse_stateful(request: ParsedRequest) -> None:
    """Translating upstreams keep no responses: a request that points at stored state is a 400."""
    if request.typed.previous_response_id:
        raise InvalidRequest(
            "'previous_response_id' needs stored responses, which this model does not keep; "
            "send the whole conversation in 'input' instead.",
            param="previous_response_id",
            code="unsupported_parameter",
        )
    if request.raw.get("conversation") is not None:
        raise InvalidRequest(
            "'conversation' is not supported for this model; send the whole conversation in 'input' instead.",
            param="conversation",
            code="unsupported_parameter",
        )


def optional_str(part: dict[str, Any], key: str, where: str) -> str | None:
    """A part's optional string field: absent/null → None, a string → itself, anything else → 400 naming it
    (found by fuzzing: a list there was a 500 in lookups and joins)."""
    value = part.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidRequest(f"'{key}' must be a string.", param=f"{where}.{key}", code="invalid_type")


def image_url(part: dict[str, Any], where: str) -> str:
    """An input_image's `image_url`; an image by `file_id` names a file in another upstream's store: 400."""
    url = part.get("image_url")
    if not isinstance(url, str):
        raise InvalidRequest(
            "Images by 'file_id' are not supported for this model; send 'image_url' (a URL or data URL).",
            param=f"{where}.file_id",
            code="unsupported_value",
        )
    return url


def require_function_tool(tool: dict[str, Any], index: int) -> None:
    """Translated upstreams take function tools only; a hosted one is refused by name."""
    if tool["type"] != "function":
        raise InvalidRequest(
            f"Tool type {tool['type']!r} is not supported for this model; only function tools are.",
            param=f"tools[{index}].type",
            code="unsupported_value",
        )


def allowed_function_names(choice: dict[str, Any]) -> list[str]:
    """The names an `allowed_tools` tool_choice lists; an entry that is not a named function tool: 400."""
    names = []
    for index, tool in enumerate(choice["tools"]):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            raise InvalidRequest(
                "allowed_tools may only list function tools for this model.",
                param=f"tool_choice.tools[{index}]",
                code="unsupported_value",
            )
        names.append(tool["name"])
    return names


def as_str(value: Any) -> str:
    """An upstream field that should be a string; anything else reads as "" (a list there must not be a 500)."""
    return value if isinstance(value, str) else ""


def require_base64(data: str, param: str) -> str:
    """Inline data we send up must be base64: anything else (non-ASCII, spaces, a URL) is the client's 400
    here, with its param, not an upstream's 400 without one (M5)."""
    body = data.rstrip("=")
    # C-level passes only (≈2 ms per MB; a regex took twice that): ASCII, then nothing left once the alphabet goes.
    if len(data) - len(body) > 2 or not body.isascii() or body.encode("ascii").translate(None, _BASE64_ALPHABET):
        raise InvalidRequest("The data is not valid base64.", param=param, code="invalid_value")
    return data


def new_builder(request: ParsedRequest, ctx: CallContext) -> ResponseStreamBuilder:
    """The builder a translating adapter replays its upstream through (the customer's model name;
    streams add `usage.cost` to their final event)."""
    builder = ResponseStreamBuilder(
        response_id=ctx.response_id,
        model=ctx.public_model,
        request=request.typed,
        created_at=ctx.created_at,
        usage_cost=ctx.usage_cost if ctx.stream else None,
    )
    if ctx.stream:  # a stream can be cut where the hold's output runs out; a JSON reply only capped upstream
        builder.meter = OutputMeter(ctx.max_output_tokens)
    builder.tools = agent_tools.names_for(request.typed)
    return builder


def decode_object(data: bytes) -> dict[str, Any] | None:
    """JSON that must be an object; anything else (or no JSON at all) is None."""
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


class BuilderTranslator(StreamTranslator):
    """An SSE stream replayed through a ResponseStreamBuilder. Subclasses turn decoded events into
    builder calls (`_events`) and say how a stream that ended without a terminal event ends (`_end`)."""

    def __init__(self, builder: ResponseStreamBuilder) -> None:
        self.builder = builder
        self.decoder = SSEDecoder()

    @property
    def finished(self) -> bool:  # type: ignore[override]  # a computed attribute of StreamTranslator
        return self.builder.finished

    @property
    def emitted_text(self) -> str:
        return self.builder.emitted_text

    def feed(self, chunk: bytes) -> bytes:
        return self._events(self.decoder.feed(chunk))

    def close(self) -> bytes:
        out = self._events(self.decoder.flush())
        return out if self.finished else out + self._end()

    def fail(self, message: str) -> bytes:
        return self.builder.fail(message=message)

    @property
    def meter(self) -> OutputMeter | None:  # type: ignore[override]  # a computed attribute of StreamTranslator
        return self.builder.meter

    def cut(self) -> bytes:
        """The hold's output is used up: end the response here, `incomplete` (max_output_tokens)."""
        return self.builder.finish(usage=None, incomplete_reason="max_output_tokens")

    @abstractmethod
    def _events(self, events: list[SSEEvent]) -> bytes: ...

    @abstractmethod
    def _end(self) -> bytes:
        """The upstream's stream is over and no terminal event went out: finish or fail."""


class HeldOpeningTranslator(BuilderTranslator):
    """A translator whose stream may fail before any content (an `error` event first): attempts.py holds
    the opening events back until `holds_content`, and fails over on `early_error` as if the upstream's
    error had come as HTTP. Subclasses keep that event in `_error` and map it in `_error_from`."""

    _error: dict[str, Any] | None = None

    @property
    def holds_content(self) -> bool:
        """Output beyond response.created/in_progress went out, or the response ended."""
        return bool(self.builder.output) or self.builder.finished

    @property
    def early_error(self) -> UpstreamError | None:
        """The stream failed before any content: the error failover acts on."""
        builder = self.builder
        if builder.status != "failed" or builder.output:
            return None
        if self._error is None:
            message = (builder.error or {}).get("message") or ENDED_EARLY
            return UpstreamError(status=502, code="upstream_error", message=message, retryable=True)
        return self._error_from(self._error)

    @abstractmethod
    def _error_from(self, event: dict[str, Any]) -> UpstreamError: ...
