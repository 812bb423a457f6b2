"""How long every string of a /v1/responses request may be: one table the validator enforces
(gateway/wire/schema.py) and the OpenAPI document declares as `maxLength` (gateway/protocols/responses/openapi.py).

Identifiers are short (a model id, a call id, an end-user id); free text (instructions, input text, tool
descriptions, image data URLs) is bounded generously, since the body size limit bounds it anyway. Nothing
a client sends is ever echoed back in full: `clip` cuts what a message quotes.
"""

from typing import Any

from django.conf import settings

from gateway.wire import agent_items
from gateway.wire.errors import InvalidRequest

# kind → (setting, default). Kinds without a setting are fixed by the protocol.
KINDS: dict[str, tuple[str | None, int]] = {
    "model": ("HARNMODEL_MAX_MODEL_CHARS", 256),  # the catalog's own ids are at most 128
    "id": ("HARNMODEL_MAX_ID_CHARS", 256),  # call ids, item ids, file ids, end-user ids, cache keys
    "text": ("HARNMODEL_MAX_TEXT_CHARS", 10_485_760),  # OpenAI's own limit for one input string
    "name": (None, 64),  # function and format names (OpenAI: 1-64 characters)
    "word": (None, 64),  # short values forwarded unchecked: truncation, service_tier, detail, status
    "response_id": (None, 1024),  # what gateway/relay/response_ids.py reads at most
    # A call id may carry a Gemini thought signature (gateway/protocols/gemini/channel_request.py: at most 32,768
    # characters encoded, after the id and `__ts_`), so it is bounded like a short text, not an id.
    "call_id": (None, 33_280),
}
MAX_INCLUDE_ITEMS = 32
# Any token count a client may ask for (max_output_tokens, Chat max_tokens, Anthropic max_tokens, Gemini
# maxOutputTokens): far above every model's limit, and small enough that a hold on it fits a 64-bit column.
MAX_TOKENS = 1_000_000_000
ECHO_CHARS = 64

# Component of the OpenAPI document → its string properties and their kind. A property named here is
# checked wherever the validator meets that component; `[]` marks an array of such strings.
FIELDS: dict[str, dict[str, str]] = {
    "ResponsesRequest": {
        "model": "model",
        "input": "text",
        "instructions": "text",
        "user": "id",
        "previous_response_id": "response_id",
        "safety_identifier": "id",
        "prompt_cache_key": "id",
        "truncation": "word",
        "service_tier": "word",
        "include": "word[]",
    },
    "MessageItem": {"content": "text", "id": "id", "status": "word"},
    "FunctionCallItem": {"call_id": "call_id", "name": "id", "arguments": "text", "id": "id", "status": "word"},
    "FunctionCallOutputItem": {"call_id": "call_id", "output": "text"},
    "ReasoningItem": {"id": "id", "encrypted_content": "text"},
    "ItemReference": {"id": "id"},
    "CustomToolCallItem": {"call_id": "call_id", "name": "id", "namespace": "id", "input": "text", "id": "id",
                           "status": "word"},
    "CustomToolCallOutputItem": {"call_id": "call_id", "id": "id", "output": "text"},
    "LocalShellCallItem": {"call_id": "call_id", "id": "id", "status": "word"},
    "LocalShellCallOutputItem": {"call_id": "call_id", "id": "id", "output": "text", "status": "word"},
    "WebSearchCallItem": {"id": "id", "status": "word"},
    "ToolSearchCallItem": {"call_id": "call_id", "id": "id", "status": "word", "execution": "word"},
    "ToolSearchOutputItem": {"call_id": "call_id", "id": "id", "status": "word", "execution": "word"},
    "InputTextPart": {"text": "text"},
    "InputImagePart": {"image_url": "text", "file_id": "id", "detail": "word"},
    "InputFilePart": {"file_id": "id", "file_data": "text", "file_url": "text", "filename": "id"},
    "OutputTextPart": {"text": "text"},
    "RefusalPart": {"refusal": "text"},
    "FunctionTool": {"name": "name", "description": "text"},
    "HostedTool": {"type": "word"},
    "ToolChoice": {"type": "word", "name": "name"},
    "TextFormatJsonSchema": {"name": "name", "description": "text"},
}
# The validator's type strings → the components above (gateway/protocols/responses/openapi_request.py documents by them).
ITEMS = {
    "message": "MessageItem",
    "function_call": "FunctionCallItem",
    "function_call_output": "FunctionCallOutputItem",
    "reasoning": "ReasoningItem",
    "item_reference": "ItemReference",
    **agent_items.COMPONENTS,
}
PARTS = {
    "input_text": "InputTextPart",
    "input_image": "InputImagePart",
    "input_file": "InputFilePart",
    "input_audio": "InputAudioPart",
    "output_text": "OutputTextPart",
    "refusal": "RefusalPart",
}
FORMATS = {"text": "TextFormatText", "json_object": "TextFormatJsonObject", "json_schema": "TextFormatJsonSchema"}


def max_chars(kind: str) -> int:
    setting, default = KINDS[kind.removesuffix("[]")]
    return getattr(settings, setting, default) if setting else default


def model_chars() -> int:
    return max_chars("model")


def clip(value: Any, limit: int = ECHO_CHARS) -> str:
    """A client value as a message may quote it: at most `limit` characters, then an ellipsis."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def too_long(param: str, limit: int, length: int) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {length} instead.",
        param=param,
        code="string_above_max_length",
    )


def check(obj: Any, component: str, where: str = "") -> None:
    """Raise a 400 naming the first string of `obj` (a JSON object of `component`) that is too long."""
    if not isinstance(obj, dict):
        return
    prefix = f"{where}." if where else ""
    for name, kind in FIELDS.get(component, {}).items():
        value = obj.get(name)
        if isinstance(value, str):
            if len(value) > (limit := max_chars(kind)):
                raise too_long(prefix + name, limit, len(value))
        elif kind.endswith("[]") and isinstance(value, list):
            if len(value) > MAX_INCLUDE_ITEMS:
                raise InvalidRequest(
                    f"Invalid '{prefix}{name}': array too long. Expected an array with maximum length "
                    f"{MAX_INCLUDE_ITEMS}, but got an array with length {len(value)} instead.",
                    param=prefix + name,
                    code="array_above_max_length",
                )
            limit = max_chars(kind)
            for index, entry in enumerate(value):
                if isinstance(entry, str) and len(entry) > limit:
                    raise too_long(f"{prefix}{name}[{index}]", limit, len(entry))


def _bound(schema: dict[str, Any], kind: str) -> None:
    """Put the kind's bound on every string branch of a property's schema."""
    if kind.endswith("[]") and schema.get("type") == "array":
        schema["maxItems"] = MAX_INCLUDE_ITEMS
        _bound(schema["items"], kind[:-2])
    elif schema.get("type") == "string":
        schema["maxLength"] = max_chars(kind)
    for branch in schema.get("anyOf", ()):
        _bound(branch, kind)


def _declare_in(schema: dict[str, Any], name: str, kind: str) -> None:
    properties = schema.get("properties")
    if properties is not None and name in properties:
        _bound(properties[name], kind)
    elif schema.get("type") == "object":
        # An object form that does not name it (a tool_choice form, the image part besides its one-of branches):
        # the validator bounds the field in every form, so every form states it.
        schema.setdefault("properties", {})[name] = {"type": "string", "maxLength": max_chars(kind)}
    for branch in schema.get("anyOf", ()):
        _declare_in(branch, name, kind)


def declare(schemas: dict[str, dict[str, Any]]) -> None:
    """Write every bound of FIELDS into the document's component schemas (`maxLength`, `maxItems`)."""
    for component, fields in FIELDS.items():
        for name, kind in fields.items():
            _declare_in(schemas[component], name, kind)
