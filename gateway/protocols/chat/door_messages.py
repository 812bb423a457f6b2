"""Chat `messages` → Responses `input` items (the reverse of gateway/protocols/chat/channel_request.py).

Order is kept exactly: system and developer messages stay where the client put them (a channel that
needs them hoisted does so itself); an assistant message becomes a message item followed by one
`function_call` item per tool call; a tool message becomes a `function_call_output`.
"""

from __future__ import annotations

from typing import Any

from gateway.protocols.chat.door_checks import array, bad, obj, one_of, only_keys, string, unsupported
from gateway.wire.schema import _TOOL_NAME

Item = dict[str, Any]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_IMAGE_DETAILS = frozenset({"auto", "low", "high"})
_KEYS = {
    "system": frozenset({"role", "content"}),
    "developer": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    # reasoning_content: our own non-standard output field, replayed by some clients (see _assistant).
    "assistant": frozenset({"role", "content", "refusal", "tool_calls", "reasoning_content"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}
# Fields OpenAI defines that the internal form has no place for: refused with a reason, not as unknown.
_REFUSED = {
    "name": "participant names have no equivalent here; put the name into the content.",
    "audio": "audio output is not supported.",
    "function_call": "the legacy 'function_call' is not supported; send 'tool_calls'.",
}


def input_items(messages: Any, max_items: int) -> tuple[list[Item], list[str]]:
    """→ (input items, the client's path of each item), the paths for naming fields in later errors."""
    array(messages, "messages", max_items)
    items: list[Item] = []
    paths: list[str] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        message = obj(message, where)
        if message.get("role") == "function":
            unsupported(f"{where}.role", "legacy 'function' messages are not supported; send 'tool' messages.")
        role = one_of(message.get("role"), ROLES, f"{where}.role")
        for key in _REFUSED:
            if message.get(key) is not None:
                unsupported(f"{where}.{key}", _REFUSED[key])
        only_keys(message, _KEYS[role], where)
        if role == "assistant":
            items.extend(_assistant(message, where, max_items))
        elif role == "tool":
            items.append(_tool(message, where, max_items))
        else:
            items.append({"type": "message", "role": role, "content": _content(message, role, where, max_items)})
        calls = 0
        for item in items[len(paths) :]:
            if item["type"] == "function_call":
                paths.append(f"{where}.tool_calls[{calls}]")
                calls += 1
            else:
                paths.append(where)
        if len(items) > max_items:  # tool calls expand one message into several items
            bad(
                f"The conversation has more than {max_items} messages and tool calls.",
                "messages",
                "array_above_max_length",
            )
    return items, paths


def _content(message: dict[str, Any], role: str, where: str, max_items: int) -> str | list[Item]:
    content = message.get("content")
    if isinstance(content, str):
        return string(content, f"{where}.content", "text")
    if content is None:
        bad(f"'{where}.content' is required for a {role} message.", f"{where}.content", "missing_required_parameter")
    parts = array(content, f"{where}.content", max_items)
    return [_part(part, role, f"{where}.content[{index}]") for index, part in enumerate(parts)]


def _part(part: Any, role: str, where: str) -> Item:
    part = obj(part, where)
    kind = part.get("type")
    if kind == "text":
        only_keys(part, frozenset({"type", "text"}), where)
        return {"type": "input_text", "text": string(part.get("text"), f"{where}.text", "text")}
    if role != "user":
        if kind in ("image_url", "file", "input_audio"):
            bad(f"A {role} message takes only text parts.", f"{where}.type")
        bad("A content part 'type' must be 'text'.", f"{where}.type")
    if kind == "image_url":
        only_keys(part, frozenset({"type", "image_url"}), where)
        image = obj(part.get("image_url"), f"{where}.image_url")
        only_keys(image, frozenset({"url", "detail"}), f"{where}.image_url")
        url = string(image.get("url"), f"{where}.image_url.url", "text", allow_empty=False)
        detail = image.get("detail")
        detail = "auto" if detail is None else one_of(detail, _IMAGE_DETAILS, f"{where}.image_url.detail")
        return {"type": "input_image", "image_url": url, "detail": detail}
    if kind == "file":
        only_keys(part, frozenset({"type", "file"}), where)
        file = obj(part.get("file"), f"{where}.file")
        only_keys(file, frozenset({"file_id", "file_data", "filename"}), f"{where}.file")
        mapped: Item = {"type": "input_file"}
        for key, kind_of in (("file_id", "id"), ("file_data", "text"), ("filename", "id")):
            if file.get(key) is not None:
                mapped[key] = string(file[key], f"{where}.file.{key}", kind_of, allow_empty=False)
        if "file_id" not in mapped and "file_data" not in mapped:
            bad("A file part needs 'file_id' or 'file_data'.", f"{where}.file", "missing_required_parameter")
        return mapped
    if kind == "input_audio":
        unsupported(f"{where}.type", "audio input is not supported.")
    bad("A content part 'type' must be text, image_url or file.", f"{where}.type")


def _assistant(message: dict[str, Any], where: str, max_items: int) -> list[Item]:
    # `reasoning_content` (what this door renders reasoning as) is dropped when replayed: no upstream
    # accepts reasoning text back without the signature it was issued with.
    if message.get("reasoning_content") is not None:
        string(message["reasoning_content"], f"{where}.reasoning_content", "text")
    parts: list[Item] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append({"type": "output_text", "text": string(content, f"{where}.content", "text")})
    elif content is not None:
        for index, part in enumerate(array(content, f"{where}.content", max_items, allow_empty=True)):
            part_where = f"{where}.content[{index}]"
            part = obj(part, part_where)
            if part.get("type") == "refusal":
                only_keys(part, frozenset({"type", "refusal"}), part_where)
                text = string(part.get("refusal"), f"{part_where}.refusal", "text")
                parts.append({"type": "refusal", "refusal": text})
            elif part.get("type") == "text":
                only_keys(part, frozenset({"type", "text"}), part_where)
                parts.append({"type": "output_text", "text": string(part.get("text"), f"{part_where}.text", "text")})
            else:
                bad("An assistant content part 'type' must be text or refusal.", f"{part_where}.type")
    if message.get("refusal") is not None:
        parts.append({"type": "refusal", "refusal": string(message["refusal"], f"{where}.refusal", "text")})
    calls = message.get("tool_calls")
    calls = [] if calls is None else array(calls, f"{where}.tool_calls", max_items, allow_empty=True)
    items: list[Item] = []
    # A turn of tool calls alone has no message item; any other assistant turn keeps one, even empty,
    # so the conversation's turns stay as the client sent them.
    if parts or not calls:
        if all(part["type"] == "output_text" for part in parts):
            items.append({"type": "message", "role": "assistant", "content": "".join(p["text"] for p in parts)})
        else:
            for part in parts:
                if part["type"] == "output_text":
                    part["annotations"] = []
            items.append({"type": "message", "role": "assistant", "content": parts})
    items.extend(_tool_call(call, f"{where}.tool_calls[{index}]") for index, call in enumerate(calls))
    return items


def _tool_call(call: Any, where: str) -> Item:
    call = obj(call, where)
    if call.get("type", "function") != "function":
        unsupported(f"{where}.type", "only function tool calls are supported.")
    only_keys(call, frozenset({"id", "type", "function"}), where)
    function = obj(call.get("function"), f"{where}.function")
    only_keys(function, frozenset({"name", "arguments"}), f"{where}.function")
    name = string(function.get("name"), f"{where}.function.name", "name", allow_empty=False)
    if not _TOOL_NAME.match(name):
        bad("A function name must be 1-64 letters, digits, '_' or '-'.", f"{where}.function.name")
    return {
        "type": "function_call",
        "call_id": string(call.get("id"), f"{where}.id", "id", allow_empty=False),
        "name": name,
        "arguments": string(function.get("arguments"), f"{where}.function.arguments", "text"),
    }


def _tool(message: dict[str, Any], where: str, max_items: int) -> Item:
    call_id = string(message.get("tool_call_id"), f"{where}.tool_call_id", "id", allow_empty=False)
    content = message.get("content")
    output: str | list[Item]
    if isinstance(content, str):
        output = string(content, f"{where}.content", "text")
    elif content is None:
        bad(f"'{where}.content' is required for a tool message.", f"{where}.content", "missing_required_parameter")
    else:
        output = [
            _part(part, "tool", f"{where}.content[{index}]")
            for index, part in enumerate(array(content, f"{where}.content", max_items))
        ]
    return {"type": "function_call_output", "call_id": call_id, "output": output}
