"""Anthropic `messages[]` → Responses `input[]` items (the reverse of
gateway/protocols/anthropic/channel_request.anthropic_messages, so the two directions round-trip).

Blocks keep their order: text, image and document blocks gather into one message item until a block
that is an item of its own (tool_use → function_call, tool_result → function_call_output, thinking →
reasoning) closes it. Signed and redacted thinking ride in `encrypted_content` by the channel's own
rule (gateway/protocols/anthropic/thinking). `cache_control` breakpoints and `is_error` have no
Responses field: they are collected for DoorRequest.extras.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from gateway.protocols.anthropic.fields import array, boolean, invalid, kind_of, obj, one_of, only_keys, refuse, string
from gateway.protocols.anthropic.thinking import redacted_content, signed_content
from gateway.protocols.translating import require_base64

Item = dict[str, Any]
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_CACHE_TTLS = frozenset({"5m", "1h"})
MAX_BREAKPOINTS = 4
_TEXT = frozenset({"type", "text", "cache_control"})
_IMAGE = frozenset({"type", "source", "cache_control"})
_DOCUMENT = frozenset({"type", "source", "cache_control", "title", "citations"})
_TOOL_USE = frozenset({"type", "id", "name", "input", "cache_control", "caller"})  # caller: checked below
_TOOL_RESULT = frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"})
_THINKING = frozenset({"type", "thinking", "signature"})
_REDACTED = frozenset({"type", "data"})
# Optional SDK fields that arrive as null when a client replays a dumped response object.
_NULLABLE = frozenset({"citations", "caller", "toolset_name", "context", "transformations"})


def cache_control(value: Any, param: str) -> dict[str, Any]:
    """Anthropic's breakpoint object, checked so a later mapping can trust it."""
    value = obj(value, param)
    only_keys(value, param, frozenset({"type", "ttl"}))
    if value.get("type") != "ephemeral":
        raise invalid(f"{param}.type", f"'{param}.type' must be 'ephemeral'.")
    if "ttl" in value and not one_of(value["ttl"], _CACHE_TTLS):
        raise invalid(f"{param}.ttl", f"'{param}.ttl' must be '5m' or '1h'.")
    return dict(value)


class Converter:
    """Builds the input items of one request; `breakpoints` and `tool_errors` go to extras."""

    def __init__(self, max_items: int) -> None:
        self.items: list[Item] = []
        self.breakpoints: list[dict[str, Any]] = []
        self.tool_errors: list[str] = []
        self.paths: dict[str, str] = {}  # internal item/part path → the client's message/block path
        self.max_items = max_items
        self._open: Item | None = None  # the message item blocks are gathering into

    # -- bookkeeping -----------------------------------------------------------------------------
    def _item(self, item: Item, param: str) -> None:
        self._open = None
        if len(self.items) >= self.max_items:
            raise invalid(
                param, f"The conversation maps to more than {self.max_items} input items.", "array_above_max_length"
            )
        self.items.append(item)
        self.paths[f"input[{len(self.items) - 1}]"] = param

    def _part(self, role: str, part: dict[str, Any], param: str) -> str:
        """Add a content part to the open message of `role`; returns its internal path."""
        if self._open is None or self._open["role"] != role:
            # The item stands for the client's message (`messages[1]`), or for `system` as a whole.
            owner = param.rpartition(".content[")[0] or param.partition("[")[0]
            self._item({"type": "message", "role": role, "content": []}, owner)
            self._open = self.items[-1]
        self._open["content"].append(part)
        at = f"input[{len(self.items) - 1}].content[{len(self._open['content']) - 1}]"
        self.paths[at] = param
        return at

    def breakpoint(self, holder: dict[str, Any], where: str, at: str) -> None:
        """Record `holder`'s cache_control, if any: where the client put it (`where`, "" for the top level),
        the internal path it marks (`at`, "" for the whole prompt), and the object."""
        if holder.get("cache_control") is None:
            return
        param = f"{where}.cache_control" if where else "cache_control"
        if len(self.breakpoints) >= MAX_BREAKPOINTS:  # Anthropic's own limit, which bounds extras too
            raise invalid(param, f"At most {MAX_BREAKPOINTS} blocks may carry cache_control.")
        control = cache_control(holder["cache_control"], param)
        self.breakpoints.append({"param": where or "cache_control", "at": at, "cache_control": control})

    # -- messages --------------------------------------------------------------------------------
    def system(self, blocks: list[Any], param: str) -> None:
        """System text blocks → one system message at the front, one part per block."""
        for index, block in enumerate(blocks):
            where = f"{param}[{index}]"
            block = obj(block, where)
            if kind_of(block, where) != "text":
                raise invalid(f"{where}.type", f"'{where}.type' must be 'text'.")
            only_keys(block, where, _TEXT, _NULLABLE)
            at = self._part("system", {"type": "input_text", "text": _text(block, where)}, where)
            self.breakpoint(block, where, at)
        self._open = None

    def message(self, message: dict[str, Any], param: str, max_blocks: int) -> None:
        only_keys(message, param, frozenset({"role", "content"}))
        role = message.get("role")
        if role not in ("user", "assistant", "system"):
            raise invalid(f"{param}.role", f"'{param}.role' must be 'user' or 'assistant'.")
        content = message.get("content")
        self._open = None  # a new turn is a new message item, as the client sent it
        if isinstance(content, str):
            string(content, f"{param}.content", empty=False)
            self._item({"type": "message", "role": role, "content": content}, param)
            self._open = None
            return
        blocks = array(content, f"{param}.content", max_blocks)
        if not blocks:
            raise invalid(f"{param}.content", f"'{param}.content' must not be empty.")
        for index, block in enumerate(blocks):
            where = f"{param}.content[{index}]"
            block = obj(block, where)
            kind = kind_of(block, where)
            if role == "system" and kind != "text":
                raise invalid(f"{where}.type", "System messages may only hold text blocks.")
            handler = (_USER if role == "user" else _ASSISTANT).get(kind) if role != "system" else Converter._text
            if handler is None:
                raise invalid(
                    f"{where}.type",
                    f"A {limit_name(kind)} block is not supported in a {role} message.",
                    "unsupported_value",
                )
            handler(self, role, block, where)
        self._open = None

    # -- blocks ----------------------------------------------------------------------------------
    def _text(self, role: str, block: dict[str, Any], where: str) -> None:
        only_keys(block, where, _TEXT, _NULLABLE)
        kind = "output_text" if role == "assistant" else "input_text"
        part: dict[str, Any] = {"type": kind, "text": _text(block, where)}
        if kind == "output_text":
            part["annotations"] = []
        self.breakpoint(block, where, self._part(role, part, where))

    def _image(self, role: str, block: dict[str, Any], where: str) -> None:
        only_keys(block, where, _IMAGE, _NULLABLE)
        self.breakpoint(block, where, self._part(role, image_part(block, where), where))

    def _document(self, role: str, block: dict[str, Any], where: str) -> None:
        only_keys(block, where, _DOCUMENT, _NULLABLE)
        self.breakpoint(block, where, self._part(role, document_part(block, where), where))

    def _tool_use(self, role: str, block: dict[str, Any], where: str) -> None:
        only_keys(block, where, _TOOL_USE, _NULLABLE)
        if block.get("caller") not in (None, {"type": "direct"}):
            raise refuse(f"{where}.caller", "only direct tool calls can be carried.")
        call_id = string(block.get("id"), f"{where}.id", "id", empty=False)
        name = string(block.get("name"), f"{where}.name", "id", empty=False)
        arguments = json_text(obj(block.get("input"), f"{where}.input"), f"{where}.input")
        self._item({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}, where)
        self.paths[f"input[{len(self.items) - 1}].call_id"] = f"{where}.id"
        self.breakpoint(block, where, f"input[{len(self.items) - 1}]")

    def _tool_result(self, role: str, block: dict[str, Any], where: str) -> None:
        only_keys(block, where, _TOOL_RESULT, _NULLABLE)
        call_id = string(block.get("tool_use_id"), f"{where}.tool_use_id", "id", empty=False)
        content = block.get("content")
        output: str | list[dict[str, Any]]
        if content is None or isinstance(content, str):
            output = string(content or "", f"{where}.content")
        else:
            output = [
                _result_part(part, f"{where}.content[{index}]")
                for index, part in enumerate(array(content, f"{where}.content", self.max_items))
            ]
        if block.get("is_error") is not None and boolean(block["is_error"], f"{where}.is_error"):
            self.tool_errors.append(call_id)
        self._item({"type": "function_call_output", "call_id": call_id, "output": output}, where)
        self.paths[f"input[{len(self.items) - 1}].call_id"] = f"{where}.tool_use_id"
        self.breakpoint(block, where, f"input[{len(self.items) - 1}]")

    def _thinking(self, role: str, block: dict[str, Any], where: str) -> None:
        only_keys(block, where, _THINKING)
        text = string(block.get("thinking"), f"{where}.thinking")
        signature = string(block.get("signature"), f"{where}.signature")
        item: Item = {"type": "reasoning", "summary": [{"type": "summary_text", "text": text}] if text else []}
        if encrypted := signed_content(signature):  # an unsigned block still keeps its text
            item["encrypted_content"] = encrypted
        self._item(item, where)

    def _redacted(self, role: str, block: dict[str, Any], where: str) -> None:
        only_keys(block, where, _REDACTED)
        data = string(block.get("data"), f"{where}.data", empty=False)
        self._item({"type": "reasoning", "summary": [], "encrypted_content": redacted_content(data)}, where)


_USER = {
    "text": Converter._text,
    "image": Converter._image,
    "document": Converter._document,
    "tool_result": Converter._tool_result,
}
_ASSISTANT = {
    "text": Converter._text,
    "tool_use": Converter._tool_use,
    "thinking": Converter._thinking,
    "redacted_thinking": Converter._redacted,
}


def json_text(value: Any, param: str) -> str:
    """An object as the JSON string Responses arguments are (UTF-8 kept raw, key order kept)."""
    try:
        return msgspec.json.encode(value).decode()
    except (UnicodeEncodeError, msgspec.EncodeError):  # a lone surrogate escaped in the client's JSON
        raise invalid(param, f"'{param}' holds text that is not valid Unicode.") from None


def utf8(text: str, param: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(param, f"'{param}' holds text that is not valid Unicode.") from None


def limit_name(kind: str) -> str:
    return kind if len(kind) <= 64 else kind[:64] + "…"


def _text(block: dict[str, Any], where: str) -> str:
    # Anthropic rejects empty text blocks too: say so here, with the client's field name.
    return string(block.get("text"), f"{where}.text", empty=False)


def _result_part(part: Any, where: str) -> dict[str, Any]:
    part = obj(part, where)
    kind = kind_of(part, where)
    if kind == "text":
        only_keys(part, where, _TEXT, _NULLABLE)
        _no_cache(part, where)
        return {"type": "input_text", "text": _text(part, where)}
    if kind == "image":
        only_keys(part, where, _IMAGE, _NULLABLE)
        _no_cache(part, where)
        return image_part(part, where)
    if kind == "document":
        only_keys(part, where, _DOCUMENT, _NULLABLE)
        _no_cache(part, where)
        return document_part(part, where)
    raise invalid(
        f"{where}.type", f"A {limit_name(kind)} block is not supported in a tool result.", "unsupported_value"
    )


def _no_cache(part: dict[str, Any], where: str) -> None:
    # A breakpoint inside a tool result has no internal path of its own; the one on the tool_result does.
    if part.get("cache_control") is not None:
        raise refuse(f"{where}.cache_control", "put the breakpoint on the tool_result block itself.")


def image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = obj(block.get("source"), f"{where}.source")
    param = f"{where}.source"
    kind = kind_of(source, param)
    if kind == "base64":
        only_keys(source, param, frozenset({"type", "media_type", "data"}))
        media_type = source.get("media_type")
        if not one_of(media_type, IMAGE_TYPES):
            raise invalid(f"{param}.media_type", "'media_type' must be image/jpeg, image/png, image/gif or image/webp.")
        data = require_base64(string(source.get("data"), f"{param}.data", empty=False), f"{param}.data")
        return {"type": "input_image", "image_url": f"data:{media_type};base64,{data}", "detail": "auto"}
    if kind == "url":
        only_keys(source, param, frozenset({"type", "url"}))
        return {
            "type": "input_image",
            "image_url": string(source.get("url"), f"{param}.url", empty=False),
            "detail": "auto",
        }
    if kind == "file":
        only_keys(source, param, frozenset({"type", "file_id"}))
        return {
            "type": "input_image",
            "file_id": string(source.get("file_id"), f"{param}.file_id", "id", empty=False),
            "detail": "auto",
        }
    raise invalid(f"{param}.type", "An image 'source.type' must be base64, url or file.", "unsupported_value")


def document_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    citations = block.get("citations")
    if citations is not None and citations != {"enabled": False}:
        raise refuse(f"{where}.citations", "citations cannot be carried.")
    source = obj(block.get("source"), f"{where}.source")
    param = f"{where}.source"
    kind = kind_of(source, param)
    part: dict[str, Any] = {"type": "input_file"}
    if kind == "base64":
        only_keys(source, param, frozenset({"type", "media_type", "data"}))
        if source.get("media_type") != "application/pdf":
            raise invalid(f"{param}.media_type", "A base64 document's 'media_type' must be application/pdf.")
        data = require_base64(string(source.get("data"), f"{param}.data", empty=False), f"{param}.data")
        part["file_data"] = f"data:application/pdf;base64,{data}"
    elif kind == "text":
        only_keys(source, param, frozenset({"type", "media_type", "data"}))
        if source.get("media_type") != "text/plain":
            raise invalid(f"{param}.media_type", "A text document's 'media_type' must be text/plain.")
        # The channel reads text/plain data URLs back into a text source: the same text arrives upstream.
        text = utf8(string(source.get("data"), f"{param}.data"), f"{param}.data")
        part["file_data"] = "data:text/plain;base64," + base64.b64encode(text).decode("ascii")
    elif kind == "url":
        only_keys(source, param, frozenset({"type", "url"}))
        part["file_url"] = string(source.get("url"), f"{param}.url", empty=False)
    elif kind == "file":
        only_keys(source, param, frozenset({"type", "file_id"}))
        part["file_id"] = string(source.get("file_id"), f"{param}.file_id", "id", empty=False)
    else:
        raise invalid(
            f"{param}.type", "A document 'source.type' must be base64, text, url or file.", "unsupported_value"
        )
    if block.get("title") is not None:
        part["filename"] = string(block["title"], f"{where}.title", "id")
    return part
