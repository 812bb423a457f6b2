"""The typed request: parsed once, validated once, read by every later step.

Field policy (documented in README): the core fields and `max_output_tokens`, `metadata`,
`parallel_tool_calls`, `text`, `user`, `reasoning`, `store`, `include`, `truncation`,
`safety_identifier`, `prompt_cache_key`, `service_tier`, `top_logprobs`, `previous_response_id`
are validated here. Which fields may reach an upstream at all is the field policy's question
(field_policy.py: an allowlist; gated and unknown fields are refused unless a channel allows them);
fields a translating channel cannot honour are rejected there.
"""

import re
from itertools import accumulate
from typing import Any

import msgspec
from django.conf import settings

from gateway.wire import agent_items, limits
from gateway.wire.errors import InvalidRequest

_decode = msgspec.json.Decoder()

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
CONTENT_TYPES = frozenset({"input_text", "input_image", "input_file", "input_audio", "output_text", "refusal"})
ITEM_TYPES = frozenset({"message", "function_call", "function_call_output", "reasoning", "item_reference"}
                       | agent_items.AGENT_ITEM_TYPES)
TOOL_CHOICE_STRINGS = frozenset({"auto", "none", "required"})
TEXT_FORMATS = frozenset({"text", "json_object", "json_schema"})
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Limits (settings HARNMODEL_MAX_*; the defaults are OpenAI's own limits for input items and tools).
DEFAULT_MAX_INPUT_ITEMS = 2048
DEFAULT_MAX_TOOLS = 128
DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_MAX_JSON_CONTAINERS = 100_000  # arrays and objects in one body; a usual request has tens
_SCAN_CHUNK = 64 * 1024
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = [0] * 256
for _byte in b"[{":
    _BRACKET_STEP[_byte] = 1
for _byte in b"]}":
    _BRACKET_STEP[_byte] = -1


def _one_of(value: Any, choices: frozenset[str] | set) -> bool:
    """`value in choices` that cannot raise: a list or object where a string belongs is unhashable (found by
    fuzzing: `{"type": []}` was a 500)."""
    return isinstance(value, str) and value in choices


def _limit(name: str, default: int) -> int:
    return getattr(settings, name, default)


def json_shape(body: bytes, max_depth: int, max_containers: int, chunk: int = _SCAN_CHUNK) -> tuple[int, int]:
    """(deepest nesting, number of arrays and objects) of the JSON text outside strings, before anything is
    decoded: enough to tell whether either bound is passed (the scan stops as soon as one is, and a body with
    too few brackets to pass either is not scanned at all: (0, 0)).

    msgspec decodes recursively: a body of 100k `[` ends in a RecursionError (a 500), and every later step
    walks the tree recursively too; 5 million `{}` take a second to decode in one call that never lets another
    thread run. The scan is C-level byte operations: drop escaped backslashes and quotes, keep what lies
    outside strings, keep only brackets, take the running maximum of +1/-1. It goes 64 KiB at a time, so
    run in a worker thread (gateway/relay/offload.py) it hands the GIL back between chunks.
    """
    if body.count(b"[") + body.count(b"{") <= min(max_depth, max_containers):
        return 0, 0  # cannot pass either bound (brackets inside strings only over-count)
    depth = deepest = containers = 0
    inside = False  # whether the chunk starts inside a string
    start, size = 0, len(body)
    while start < size and deepest <= max_depth and containers <= max_containers:
        end = min(start + chunk, size)
        while end < size and body[end - 1] == 0x5C:  # never cut an escape sequence in two
            end += 1
        pieces = body[start:end].replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')
        brackets = b"".join(pieces[inside::2]).translate(None, _NOT_BRACKETS)
        inside ^= len(pieces) % 2 == 0  # an odd number of quotes flips it
        if brackets:
            containers += brackets.count(b"[") + brackets.count(b"{")
            levels = list(accumulate(map(_BRACKET_STEP.__getitem__, brackets), initial=depth))
            deepest, depth = max(deepest, max(levels)), levels[-1]
        start = end
    return deepest, containers


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects deeper than `limit`."""
    return json_shape(body, limit, 2**62)[0] > limit


_INTEGER_FIELDS = ("max_output_tokens", "top_logprobs")


class ResponsesRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    user: str | None = None
    reasoning: dict[str, Any] | None = None
    store: bool | None = None
    include: list[str] | None = None
    truncation: str | None = None
    previous_response_id: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    top_logprobs: int | None = None


class ParsedRequest(msgspec.Struct):
    typed: ResponsesRequest
    raw: dict[str, Any]  # the body as sent, for passthrough channels
    # Sampling controls a door carried that the Responses form has no field for: {neutral name: (value,
    # the client's param)}, honoured or refused by every channel (gateway/protocols/extras.py).
    extras: dict[str, tuple[Any, str]] = msgspec.field(default_factory=dict)


def parse_request(body: bytes) -> ParsedRequest:
    raw = decode_object(body)
    client_metadata = raw.pop("client_metadata", None)  # Codex's trace metadata: for us, never for an upstream
    if client_metadata is not None and not isinstance(client_metadata, dict):
        raise InvalidRequest("Invalid 'client_metadata': expected an object.", param="client_metadata")
    for name in ("model", "input"):
        if raw.get(name) is None:
            raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name)
    return parse_object(raw)


def decode_object(body: bytes) -> dict[str, Any]:
    """A request body → its JSON object, with the nesting and container bounds checked before decoding.
    Every door decodes through here."""
    if not body:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    max_depth = _limit("HARNMODEL_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    max_containers = _limit("HARNMODEL_MAX_JSON_CONTAINERS", DEFAULT_MAX_JSON_CONTAINERS)
    deepest, containers = json_shape(body, max_depth, max_containers)
    if deepest > max_depth:
        raise InvalidRequest(f"The request body nests arrays or objects deeper than {max_depth} levels.")
    if containers > max_containers:
        raise InvalidRequest(f"The request body holds more than {max_containers} arrays and objects.")
    try:
        raw = _decode.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"The request body is not valid UTF-8 JSON: {exc}") from None
    except RecursionError:  # only when HARNMODEL_MAX_JSON_DEPTH is set beyond what msgspec can decode
        raise InvalidRequest("The request body nests arrays or objects too deeply.") from None
    if not isinstance(raw, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return raw


def parse_object(raw: dict[str, Any]) -> ParsedRequest:
    """A decoded Responses body (with `model` and `input`) → the typed request, validated."""
    limits.check(raw, "ResponsesRequest")  # before anything reads, caches or quotes a field
    for name in _INTEGER_FIELDS:  # OpenAI and JSON Schema take 1.0 as an integer; so do we (and pass on 1)
        value = raw.get(name)
        if type(value) is float and value.is_integer():
            raw[name] = int(value)
    try:
        typed = msgspec.convert(raw, ResponsesRequest)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$.")
        param = limits.clip(path.rstrip("`"), 200) or None  # a path may hold a client's object key
        raise InvalidRequest(f"Invalid type for '{param}': {message}." if param else message, param=param) from None
    _validate(typed)
    if typed.tool_choice is not None:
        typed.tool_choice = raw["tool_choice"] = normalize_tool_choice(typed.tool_choice)
    return ParsedRequest(typed=typed, raw=raw)


def normalize_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """Our doc page's object forms (`{"type": "auto"}`, `{"type": "required", "name": "f"}`) →
    the OpenAI forms every upstream understands."""
    if isinstance(choice, dict) and _one_of(choice.get("type"), TOOL_CHOICE_STRINGS):
        if choice.get("name") and choice["type"] != "none":
            return {"type": "function", "name": choice["name"]}
        return choice["type"]
    return choice


def _validate(req: ResponsesRequest) -> None:
    if not req.model.strip():
        raise InvalidRequest("'model' must not be empty.", param="model")
    if isinstance(req.input, str):
        if not req.input:
            raise InvalidRequest("'input' must not be empty.", param="input")
    else:
        if not req.input:
            raise InvalidRequest("'input' must not be an empty array.", param="input")
        _check_length(req.input, "input", _limit("HARNMODEL_MAX_INPUT_ITEMS", DEFAULT_MAX_INPUT_ITEMS))
        for index, item in enumerate(req.input):
            _validate_item(item, f"input[{index}]")
    if req.temperature is not None and not 0 <= req.temperature <= 2:
        raise InvalidRequest("'temperature' must be between 0 and 2.", param="temperature")
    if req.top_p is not None and not 0 <= req.top_p <= 1:
        raise InvalidRequest("'top_p' must be between 0 and 1.", param="top_p")
    if req.max_output_tokens is not None and not 1 <= req.max_output_tokens <= limits.MAX_TOKENS:
        raise InvalidRequest(
            f"'max_output_tokens' must be between 1 and {limits.MAX_TOKENS}.", param="max_output_tokens"
        )
    if req.top_logprobs is not None and not 0 <= req.top_logprobs <= 20:
        raise InvalidRequest("'top_logprobs' must be between 0 and 20.", param="top_logprobs")
    if req.metadata is not None:
        if len(req.metadata) > 16:
            raise InvalidRequest("'metadata' takes at most 16 pairs.", param="metadata")
        for key, value in req.metadata.items():
            if len(key) > 64 or len(value) > 512:
                raise InvalidRequest(
                    "'metadata' keys are at most 64 and values at most 512 characters.",
                    param=f"metadata.{limits.clip(key)}",
                )
    if req.tools:
        _check_length(req.tools, "tools", _limit("HARNMODEL_MAX_TOOLS", DEFAULT_MAX_TOOLS))
    for index, tool in enumerate(req.tools or ()):
        _validate_tool(tool, f"tools[{index}]")
    if req.tool_choice is not None:
        _validate_tool_choice(req.tool_choice, req.tools or [])
    if req.text is not None:
        fmt = req.text.get("format")
        if fmt is not None:
            if not isinstance(fmt, dict) or not _one_of(fmt.get("type"), TEXT_FORMATS):
                raise InvalidRequest(
                    "'text.format.type' must be text, json_object or json_schema.", param="text.format"
                )
            limits.check(fmt, limits.FORMATS[fmt["type"]], "text.format")
            if fmt["type"] == "json_schema" and (
                not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict)
            ):
                raise InvalidRequest("A json_schema format needs a 'name' and a 'schema' object.", param="text.format")


def _check_length(items: list, param: str, limit: int) -> None:
    if len(items) > limit:
        raise InvalidRequest(
            f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
            f"but got an array with length {len(items)} instead.",
            param=param,
            code="array_above_max_length",
        )


def _validate_item(item: dict[str, Any], where: str) -> None:
    kind = item.get("type", "message" if "role" in item else None)
    if not _one_of(kind, ITEM_TYPES):
        raise InvalidRequest(f"Unsupported input item type {limits.clip(repr(kind))}.", param=f"{where}.type")
    limits.check(item, limits.ITEMS[str(kind)], where)
    if kind in agent_items.AGENT_ITEM_TYPES:
        return agent_items.validate(item, where)
    if kind == "message":
        if not _one_of(item.get("role"), MESSAGE_ROLES):
            raise InvalidRequest(
                "A message 'role' must be user, assistant, system or developer.",
                param=f"{where}.role",
            )
        content = item.get("content")
        if isinstance(content, str):
            return
        if not isinstance(content, list):
            raise InvalidRequest("A message 'content' must be a string or an array of parts.", param=f"{where}.content")
        for index, part in enumerate(content):
            _validate_part(part, f"{where}.content[{index}]")
    elif kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            if not isinstance(item.get(name), str):
                raise InvalidRequest(f"A function_call item needs a string '{name}'.", param=f"{where}.{name}")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise InvalidRequest("A function_call_output item needs a string 'call_id'.", param=f"{where}.call_id")
        output = item.get("output")
        if not isinstance(output, (str, list)):
            raise InvalidRequest("'output' must be a string or an array of parts.", param=f"{where}.output")
        if isinstance(output, list):  # found by fuzzing: a non-object part crashed token counting (500)
            for index, part in enumerate(output):
                _validate_part(part, f"{where}.output[{index}]")
    elif kind == "reasoning":
        summary = item.get("summary")
        if summary is not None and (
            not isinstance(summary, list) or not all(isinstance(part, dict) for part in summary)
        ):  # found by fuzzing, as above
            raise InvalidRequest("A reasoning item's 'summary' must be an array of objects.", param=f"{where}.summary")
        for index, part in enumerate(summary or ()):  # found by fuzzing: a non-string text crashed token counting
            if part.get("text") is not None and not isinstance(part["text"], str):
                raise InvalidRequest("A summary part's 'text' must be a string.", param=f"{where}.summary[{index}].text")
    elif kind == "item_reference" and not isinstance(item.get("id"), str):
        raise InvalidRequest("An item_reference needs a string 'id'.", param=f"{where}.id")


def _validate_part(part: Any, where: str) -> None:
    if not isinstance(part, dict) or not _one_of(part.get("type"), CONTENT_TYPES):
        raise InvalidRequest(
            "Each content part needs a 'type' of input_text, input_image, input_file, output_text or refusal.",
            param=f"{where}.type",
        )
    kind = part["type"]
    limits.check(part, limits.PARTS[kind], where)
    if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
        raise InvalidRequest(f"An {kind} part needs a string 'text'.", param=f"{where}.text")
    if (
        kind == "input_image"
        and not isinstance(part.get("image_url"), str)
        and not isinstance(part.get("file_id"), str)
    ):
        raise InvalidRequest("An input_image part needs 'image_url' or 'file_id'.", param=f"{where}.image_url")


def _validate_tool(tool: Any, where: str) -> None:
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        raise InvalidRequest("Each tool needs a 'type'.", param=f"{where}.type")
    limits.check(tool, "FunctionTool" if tool["type"] == "function" else "HostedTool", where)
    if tool["type"] != "function":
        return  # hosted tools: a passthrough upstream may run them; translating channels refuse
    name = tool.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise InvalidRequest(
            "A function tool 'name' must be 1-64 letters, digits, '_' or '-'.",
            param=f"{where}.name",
        )
    if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
        raise InvalidRequest(
            "A function tool's 'parameters' must be a JSON Schema object.", param=f"{where}.parameters"
        )


def _validate_tool_choice(choice: str | dict[str, Any], tools: list[dict[str, Any]]) -> None:
    if isinstance(choice, str):
        if choice not in TOOL_CHOICE_STRINGS:
            raise InvalidRequest("'tool_choice' must be auto, none, required or an object.", param="tool_choice")
        return
    limits.check(choice, "ToolChoice", "tool_choice")
    kind = choice.get("type")
    names = {t.get("name") for t in tools if t.get("type") == "function"}
    if _one_of(kind, TOOL_CHOICE_STRINGS) and not choice.get("name"):
        return  # the doc page's object form: {"type": "auto"}
    if kind == "function" or _one_of(kind, TOOL_CHOICE_STRINGS):
        if not _one_of(choice.get("name"), names):
            raise InvalidRequest(
                "'tool_choice.name' must name one of the function tools sent.",
                param="tool_choice.name",
            )
    elif kind == "allowed_tools":
        if choice.get("mode") not in ("auto", "required") or not isinstance(choice.get("tools"), list):
            raise InvalidRequest("allowed_tools needs 'mode' (auto|required) and a 'tools' array.", param="tool_choice")
    elif not isinstance(kind, str):
        raise InvalidRequest("'tool_choice.type' is required.", param="tool_choice.type")
