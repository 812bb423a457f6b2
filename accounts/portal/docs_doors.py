"""The doc pages of the client doors beside /v1/responses (issue 15): Chat Completions, Anthropic Messages
and Gemini. Data only; templates/portal/docs_door.html lays it out.

The refused fields are the ones the door modules refuse by name (gateway/protocols/*/); the error types
come from the doors' own tables, so the page says what the server sends.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from gateway.protocols.anthropic.render import error_type as anthropic_error_type
from gateway.protocols.gemini.render import status_name as gemini_status
from gateway.wire import errors as api_errors

from . import docs_content, docs_samples


@dataclass(frozen=True)
class DoorDoc:
    slug: str
    title: str
    sdk: str  # the official SDKs' names, for the sample headings
    endpoints: list[tuple[str, str]]
    auth: list[str]
    base_note: object  # a lazy string: which base URL the SDKs take
    accepted: list[str]
    refused: list[tuple[str, object]]
    streaming: object
    error_shape: str
    notes: list[object] = field(default_factory=list)


# The causes of our error table (docs_content.ERRORS), by status, with the code the Responses page names.
_CAUSES = [("401", "invalid_auth_header"), ("402", "insufficient_balance"), ("403", "model_not_allowed"),
           ("404", "model_not_found"), ("400", "invalid_request_error"), ("400", "unsupported_parameter"),
           ("429", "rate_limit_exceeded"), ("503", "model_not_available"),
           ("502", "upstream_error / upstream_timeout")]  # fmt: skip
_MEANING = {code: text for _status, code, text in docs_content.ERRORS}
# Same-protocol passthrough (gateway/protocols/native.py): a field no door knows goes only where it goes as sent.
_UNKNOWN = (_("any other top-level field"), _(
    "Refused by name, unless a channel of this protocol serving the model allows that field: there the request "
    "goes up as you sent it, and the answer comes back as the provider sent it."))

CHAT = DoorDoc(
    slug="chat",
    title="Chat Completions",
    sdk="openai",
    endpoints=[("POST", "/v1/chat/completions"), ("GET", "/v1/models")],
    auth=["Authorization: Bearer sk-..."],
    base_note=_("The OpenAI SDKs take the base URL ending in /v1."),
    accepted=[
        "model",
        "messages (system, developer, user, assistant + tool_calls, tool)",
        "text / image_url parts",
        "tools (function)",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "reasoning_effort",
        "verbosity",
        "user",
        "metadata",
        "stream",
        "stream_options.include_usage",
        "n: 1",
        "logprobs: false",
    ],
    refused=[
        ("n > 1", _("Only one choice is generated per request.")),
        ("logprobs, top_logprobs", _("Log probabilities cannot be returned.")),
        ("audio, modalities: audio", _("Only text output is offered.")),
        ("frequency_penalty, presence_penalty, logit_bias", _("Refused when they ask for anything but the default.")),
        ("prediction, web_search_options", _("Not offered through this gateway.")),
        ("functions, function_call", _("The legacy forms: send tools and tool_choice.")),
        _UNKNOWN,
    ],
    streaming=_(
        "With stream: true the answer is text/event-stream: data: lines carrying chat.completion.chunk objects, "
        "each delta as the model makes it. With stream_options.include_usage a last chunk with empty choices "
        "carries usage; the stream ends with data: [DONE]."
    ),
    error_shape='{"error": {"message": "…", "type": "invalid_request_error", "param": "n", "code": "unsupported_parameter"}}',
)

MESSAGES = DoorDoc(
    slug="messages",
    title="Anthropic Messages",
    sdk="anthropic",
    endpoints=[("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"), ("GET", "/v1/models")],
    auth=["x-api-key: sk-...", "Authorization: Bearer sk-...", "anthropic-version: 2023-06-01"],
    base_note=_("The Anthropic SDKs take the base URL without /v1: they add /v1/messages themselves."),
    accepted=[
        "model",
        "max_tokens",
        "messages",
        "system (string or blocks)",
        "text / image / document / tool_use / tool_result / thinking blocks",
        "tools (custom)",
        "tool_choice",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "thinking",
        "metadata.user_id",
        "stream",
        "service_tier",
        "output_config",
        "cache_control",
        "anthropic-beta",
    ],
    refused=[
        ("tools[].type: web_search_…, code_execution_…", _("Server tools are not offered: only custom tools.")),
        ("top_k, stop_sequences", _("Refused when the channel serving the model cannot honour them.")),
        ("mcp_servers, container, context_management", _("Any field the door does not carry is refused by name.")),
        _UNKNOWN,
    ],
    streaming=_(
        "With stream: true the answer is text/event-stream with Anthropic's named events: message_start, "
        "content_block_start, content_block_delta, content_block_stop, message_delta (stop_reason and usage), "
        "message_stop, and ping while the model is silent."
    ),
    error_shape='{"type": "error", "error": {"type": "invalid_request_error", "message": "…"}}',
    notes=[
        _("max_tokens is required, as Anthropic requires it."),
        _(
            'count_tokens takes the same body without max_tokens and stream, answers {"input_tokens": n} and is '
            "never charged."
        ),
    ],
)

GEMINI = DoorDoc(
    slug="gemini",
    title="Gemini",
    sdk="google-genai",
    endpoints=[
        ("POST", "/v1beta/models/{model}:generateContent"),
        ("POST", "/v1beta/models/{model}:streamGenerateContent"),
        ("GET", "/v1beta/models"),
    ],
    auth=["x-goog-api-key: sk-...", "?key=sk-..."],
    base_note=_("google-genai takes the base URL without a version; /v1/models/{model}:generateContent works too."),
    accepted=[
        "contents (user / model)",
        "parts: text, inlineData, functionCall, functionResponse, thoughtSignature",
        "systemInstruction",
        "tools.functionDeclarations",
        "toolConfig",
        "generationConfig.temperature",
        "topP",
        "topK",
        "maxOutputTokens",
        "stopSequences",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "thinkingConfig",
        "safetySettings",
    ],
    refused=[
        ("tools[].googleSearch, codeExecution, urlContext, …", _("Hosted tools are not offered through this gateway.")),
        ("cachedContent", _("Stored context caches are not supported: send the whole conversation.")),
        ("generationConfig.candidateCount > 1", _("Only one candidate is generated.")),
        ("generationConfig.responseLogprobs, logprobs", _("Log probabilities cannot be returned.")),
        ("generationConfig.responseModalities", _("Only text output is offered.")),
        ("fileData", _("Send files inline (inlineData).")),
        _UNKNOWN,
    ],
    streaming=_(
        "streamGenerateContent?alt=sse answers text/event-stream: data: lines, each a GenerateContentResponse, "
        "no [DONE]. Without alt=sse it answers one JSON array whose elements arrive as they are made. "
        "usageMetadata is in every answer."
    ),
    error_shape='{"error": {"code": 400, "message": "…", "status": "INVALID_ARGUMENT", "details": […]}}',
)

DOORS = {door.slug: door for door in (CHAT, MESSAGES, GEMINI)}
SAMPLES = {"chat": docs_samples.chat, "messages": docs_samples.messages, "gemini": docs_samples.gemini}


def _error_classes(cls: type[api_errors.ApiError]) -> list[type[api_errors.ApiError]]:
    return [cls] + [c for sub in cls.__subclasses__() for c in _error_classes(sub)]


# OpenAI's `type` for each of our codes, read off the error classes the gateway raises.
_OPENAI_TYPES = {
    c.code: c.type for c in _error_classes(api_errors.ApiError) if isinstance(getattr(c, "code", None), str)
}
_OPENAI_TYPES.setdefault("rate_limit_exceeded", "requests")


def errors(door: DoorDoc) -> list[tuple[str, str, str, object]]:
    """(HTTP status, the protocol's own error type or status, our code, meaning) rows."""
    rows = []
    for status, code in _CAUSES:
        number = int(status)
        if door.slug == "messages":
            native = anthropic_error_type(number)
        elif door.slug == "gemini":
            native = gemini_status(number)
        else:
            native = _OPENAI_TYPES.get(code.split(" ")[0], "invalid_request_error")
        rows.append((status, native, code, _MEANING[code]))
    return rows


def origin_of(base: str) -> str:
    """The base URL without its /v1: what the Anthropic and Google SDKs take."""
    return base[: -len("/v1")] if base.endswith("/v1") else base


def context(slug: str, base: str) -> dict:
    """Template context for the door page `slug`; `base` is the customer's base URL ending in /v1."""
    door = DOORS[slug]
    sdk_base = base if slug == "chat" else origin_of(base)
    return {
        "door": door,
        "base": base,
        "sdk_base": sdk_base,
        "errors": errors(door),
        "samples": SAMPLES[slug](sdk_base),
    }
