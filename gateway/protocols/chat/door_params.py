"""Internal (Responses) field names → the Chat client's own, for 400s raised after the door.

The door checks everything whose name changes; the pipeline's validator then only finds fault with
fields named alike in both APIs. A translating channel may still refuse what its upstream cannot take
(an image by file id, say) and names the field as the internal form spells it: `input[4].file_id`.
`client_param` turns that into `messages[2].content[1].file.file_id`, using the item paths `parse`
left in `extras["input_paths"]`.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.wire.errors import ApiError

_INPUT = re.compile(r"input\[(\d+)\](.*)", re.DOTALL)
_PART = re.compile(r"(\.(?:content|output)\[\d+\])\.(\w+)(.*)", re.DOTALL)
_TOOL = re.compile(r"tools\[(\d+)\]\.(name|description|parameters|strict)(.*)", re.DOTALL)
_PART_FIELDS = {
    "image_url": "image_url.url",
    "detail": "image_url.detail",
    "file_id": "file.file_id",
    "file_data": "file.file_data",
    "filename": "file.filename",
    "file_url": "file",
}
_CALL_FIELDS = {".call_id": ".id", ".name": ".function.name", ".arguments": ".function.arguments"}
_PREFIXES = (  # (internal prefix, client prefix), longest first within a family
    ("tool_choice.name", "tool_choice.function.name"),
    ("tool_choice.tools", "tool_choice.allowed_tools.tools"),
    ("tool_choice.mode", "tool_choice.allowed_tools.mode"),
    ("text.format.type", "response_format.type"),
    ("text.format.", "response_format.json_schema."),
    ("text.format", "response_format"),
    ("text.verbosity", "verbosity"),
    ("text", "response_format"),
    ("reasoning.effort", "reasoning_effort"),
    ("reasoning", "reasoning_effort"),
)


def client_param(param: str | None, extras: dict[str, Any]) -> str | None:
    if not param:
        return param
    if param == "input":
        return "messages"
    if match := _INPUT.fullmatch(param):
        return _input_param(int(match[1]), match[2], extras) or param
    if match := _TOOL.fullmatch(param):
        return f"tools[{match[1]}].function.{match[2]}{match[3]}"
    if param == "max_output_tokens":
        return str(extras.get("max_tokens_param") or "max_completion_tokens")
    for internal, client in _PREFIXES:
        if _under(param, internal):
            return client + param[len(internal) :]
    return param


def _under(param: str, prefix: str) -> bool:
    """`param` is `prefix` or a field inside it (`text` covers `text.x`, `text[0]`, never `texts`)."""
    if prefix.endswith("."):
        return param.startswith(prefix)
    return param == prefix or param.startswith((prefix + ".", prefix + "["))


def translate_error(error: ApiError, extras: dict[str, Any]) -> ApiError:
    """The same error, naming the client's field (in `param` and wherever the message quotes it)."""
    param = client_param(error.param, extras)
    if error.param and param != error.param:
        error.message = error.message.replace(f"'{error.param}'", f"'{param}'")
        error.args = (error.message,)
        error.param = param
    return error


def _input_param(index: int, rest: str, extras: dict[str, Any]) -> str | None:
    paths = extras.get("input_paths")
    if not isinstance(paths, list) or index >= len(paths) or not isinstance(paths[index], str):
        return None
    base = paths[index]
    if ".tool_calls[" in base:  # a function_call item
        for internal, client in _CALL_FIELDS.items():
            if rest == internal or rest.startswith(internal + "."):
                return base + client + rest[len(internal) :]
        return base + rest
    if rest == ".call_id":  # a function_call_output item
        return base + ".tool_call_id"
    if rest.startswith(".output"):
        rest = ".content" + rest[len(".output") :]
    if match := _PART.fullmatch(rest):
        field = _PART_FIELDS.get(match[2], match[2])
        return f"{base}{match[1]}.{field}{match[3]}"
    return base + rest
