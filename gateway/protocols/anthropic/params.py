"""Internal field paths → the client's own (Anthropic) field names, for errors raised after the door, by
gateway.wire.schema or a channel (e.g. `input[3].content[1].file_data` → `messages[1].content[2].file_data`).

The door records where each input item and part came from (`DoorRequest.extras["paths"]`); a path is
mapped by its longest recorded prefix, and the rest is renamed where the two protocols differ.
"""

from __future__ import annotations

import re

from gateway.protocols.door import DoorRequest

_TOP = {
    "input": "messages",
    "instructions": "system",
    "max_output_tokens": "max_tokens",
    "safety_identifier": "metadata.user_id",
    "parallel_tool_calls": "tool_choice.disable_parallel_tool_use",
    "text": "output_config",
    "text.format": "output_config.format",
    "text.format.schema": "output_config.format.schema",
    "reasoning": "thinking",
}
_TOOL_FIELD = re.compile(r"^(tools\[\d+\])\.parameters")
_PREFIX = re.compile(r"^input\[\d+\](?:\.content\[\d+\])?")
_FIELD = re.compile(r"^\.(\w+)")
# The first field after an item or part path, where the two protocols name it differently.
_FIELDS = {
    "image_url": "source",
    "file_data": "source",
    "file_url": "source.url",
    "file_id": "source.file_id",
    "filename": "title",
    "arguments": "input",
    "output": "content",
    "encrypted_content": "signature",
    "summary": "thinking",
}


def client_param(request: DoorRequest, param: str | None) -> str | None:
    """The client's name for an internal `param` (None stays None; an unknown path is returned as is)."""
    if not param:
        return param
    if param in _TOP:
        return _TOP[param]
    if _TOOL_FIELD.match(param):
        return _TOOL_FIELD.sub(r"\1.input_schema", param)
    paths = request.extras.get("paths")
    if isinstance(paths, dict) and param in paths:  # exact entries first (a call's or result's call_id)
        return paths[param]
    match = _PREFIX.match(param)
    if match is None or not isinstance(paths, dict):
        return param
    for prefix in (match.group(0), match.group(0).split(".content[")[0]):
        if prefix in paths:
            rest = param[len(prefix) :]
            field = _FIELD.match(rest)
            if field is not None and field.group(1) in _FIELDS:
                rest = "." + _FIELDS[field.group(1)] + rest[field.end() :]
            return paths[prefix] + rest
    return param
