"""Responses API request → Anthropic Messages request body (wire-formats §6.2, §6.6). Pure; raises
InvalidRequest for what a stateless Anthropic upstream cannot express.

Channel options read here: `default_max_tokens` (when the request has no cap; Anthropic requires one),
`send_top_p` (send `top_p` even beside `temperature`), `send_sampling` (false: send neither, for models
that reject them), `send_strict` (forward function tools' `strict`), `thinking` (an Anthropic `thinking`
object sent as is), `prompt_caching` (false: never add cache breakpoints; see anthropic/cache.py).
"""

import base64
from typing import Any

import msgspec

from gateway.protocols.anthropic import web_search
from gateway.protocols.anthropic.cache import add_breakpoints
from gateway.protocols.anthropic.thinking import thinking_block
from gateway.protocols.channel import CallContext
from gateway.protocols.translating import (
    image_url,
    optional_str,
    refuse_stateful,
    require_base64,
    require_function_tool,
)
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import ParsedRequest

Block = dict[str, Any]
Message = dict[str, Any]
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EMPTY_SCHEMA = {"type": "object", "properties": {}}


def anthropic_body(request: ParsedRequest, ctx: CallContext) -> dict[str, Any]:
    req = request.typed
    refuse_stateful(request)
    system, messages = anthropic_messages(req.instructions, req.input)
    max_tokens = ctx.max_output_tokens or int(ctx.options.get("default_max_tokens", 4096))
    body: dict[str, Any] = {"model": ctx.upstream_model, "max_tokens": max_tokens, "messages": messages}
    if system:
        body["system"] = system[0]["text"] if len(system) == 1 else system
    send_strict = bool(ctx.options.get("send_strict"))
    offered = req.tools or []
    tools = [_tool(tool, index, send_strict) for index, tool in enumerate(offered) if not web_search.is_web_search(tool)]
    tools += _server_tools(offered, request.raw, tools)
    if tools:
        body["tools"], choice = _tool_choice(req.tool_choice, tools)
        if req.parallel_tool_calls is False:
            choice = choice or {"type": "auto"}
            if choice["type"] != "none":  # Anthropic's `none` takes no flag
                choice["disable_parallel_tool_use"] = True
        if choice:
            body["tool_choice"] = choice
    if ctx.options.get("send_sampling", True):
        # Anthropic's range is 0–1; several models reject temperature and top_p together (§8.23).
        if req.temperature is not None:
            body["temperature"] = min(req.temperature, 1.0)
        if req.top_p is not None and (req.temperature is None or ctx.options.get("send_top_p")):
            body["top_p"] = req.top_p
    fmt = (req.text or {}).get("format")
    if fmt and fmt["type"] == "json_schema":
        body["output_config"] = {"format": {"type": "json_schema", "schema": fmt["schema"]}}
    # json_object has no Anthropic equivalent; OpenAI requires the prompt itself to ask for JSON.
    if isinstance(ctx.options.get("thinking"), dict):
        body["thinking"] = ctx.options["thinking"]
    user_id = req.safety_identifier or req.user
    if user_id:
        body["metadata"] = {"user_id": user_id}
    if ctx.stream:
        body["stream"] = True
    if req.prompt_cache_key and ctx.cache_writes_priced and ctx.options.get("prompt_caching", True):
        add_breakpoints(body)
    return body


# -- messages ------------------------------------------------------------------------------------


def anthropic_messages(
    instructions: str | None, items: str | list[dict[str, Any]]
) -> tuple[list[Block], list[Message]]:
    """(system text blocks, messages). System and developer messages are hoisted into `system` in order;
    consecutive turns of one role are merged; tool results lead the user turn they land in."""
    system: list[Block] = [{"type": "text", "text": instructions}] if instructions else []
    messages: list[Message] = []
    if isinstance(items, str):
        return system, [{"role": "user", "content": items}]
    thinking: list[Block] = []  # signed thinking of the current assistant turn, waiting for its tool_use
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item["role"]
            if role in ("system", "developer"):
                system.extend({"type": "text", "text": text} for text in _system_texts(item.get("content"), where))
            else:
                if role != "assistant":
                    thinking = []
                _append(messages, role, _content(item.get("content"), role, where))
        elif kind == "function_call":
            block = {"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": _tool_input(item)}
            _append(messages, "assistant", [block])
            _add_thinking(messages[-1]["content"], thinking)
            thinking = []
        elif kind == "function_call_output":
            thinking = []
            _add_result(messages, _tool_result(item, where))
        elif kind == "reasoning" and (signed := thinking_block(item)):
            thinking.append(signed)
        elif kind == "item_reference":
            raise InvalidRequest(
                "item_reference needs stored items, which this model does not keep; send the items themselves.",
                param=where,
                code="unsupported_value",
            )
        # Other reasoning items are dropped, and signed ones not followed by a call in their turn: Anthropic
        # only needs thinking replayed with tool use (§8.24), and a signature it did not make is a 400.
    if not messages:
        raise InvalidRequest("'input' needs at least one user or assistant message for this model.", param="input")
    for message in messages:
        content = message["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            message["content"] = content[0]["text"]
    return system, messages


def _append(messages: list[Message], role: str, blocks: list[Block]) -> None:
    if not blocks:
        return  # Anthropic rejects empty turns
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _add_thinking(content: list[Block], blocks: list[Block]) -> None:
    """Thinking leads the assistant message, after any thinking already there, in the order sent."""
    position = 0
    while position < len(content) and content[position]["type"] in ("thinking", "redacted_thinking"):
        position += 1
    content[position:position] = blocks


def _add_result(messages: list[Message], block: Block) -> None:
    """Results go in the user turn after the calls, ahead of anything else in it."""
    if not messages or messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": [block]})
        return
    content = messages[-1]["content"]
    position = 0
    while position < len(content) and content[position]["type"] == "tool_result":
        position += 1
    content.insert(position, block)


def _system_texts(content: Any, where: str) -> list[str]:
    if isinstance(content, str):
        return [content] if content else []
    texts = []
    for index, part in enumerate(content or ()):
        if part["type"] not in ("input_text", "output_text"):
            raise InvalidRequest(
                "System and developer messages may only hold text for this model.",
                param=f"{where}.content[{index}].type",
                code="unsupported_value",
            )
        if part["text"]:
            texts.append(part["text"])
    return texts


def _content(content: Any, role: str, where: str) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for index, part in enumerate(content or ()):
        part_where = f"{where}.content[{index}]"
        if part["type"] == "refusal":
            if role != "assistant":
                raise InvalidRequest(
                    "A refusal part is only allowed in assistant messages.", param=f"{part_where}.type"
                )
            text = optional_str(part, "refusal", part_where) or ""
            block: Block | None = {"type": "text", "text": text} if text else None
        else:
            block = _part(part, part_where)
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: dict[str, Any], where: str) -> Block | None:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]} if part["text"] else None  # empty text blocks are rejected
    if kind == "input_image":
        return _image(part, where)
    if kind == "input_file":
        return _document(part, where)
    raise InvalidRequest(
        f"A {kind} part is not supported for this model.", param=f"{where}.type", code="unsupported_value"
    )


def _image(part: dict[str, Any], where: str) -> Block:
    url = image_url(part, where)
    if not url.startswith("data:"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    media_type, data = _data_url(url, f"{where}.image_url")
    media_type = "image/jpeg" if media_type == "image/jpg" else media_type
    if media_type not in _IMAGE_TYPES:
        raise InvalidRequest(
            f"Image type {media_type!r} is not supported for this model; send JPEG, PNG, GIF or WebP.",
            param=f"{where}.image_url",
            code="unsupported_image_media_type",
        )
    data = require_base64(data, f"{where}.image_url")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document(part: dict[str, Any], where: str) -> Block:
    if isinstance(part.get("file_url"), str):
        block: Block = {"type": "document", "source": {"type": "url", "url": part["file_url"]}}
    elif isinstance(part.get("file_data"), str):
        data = part["file_data"]
        media_type, data = (
            _data_url(data, f"{where}.file_data") if data.startswith("data:") else ("application/pdf", data)
        )
        if media_type == "application/pdf":
            source = {"type": "base64", "media_type": media_type, "data": require_base64(data, f"{where}.file_data")}
        elif media_type == "text/plain":
            source = {"type": "text", "media_type": media_type, "data": _decode_text(data, f"{where}.file_data")}
        else:
            raise InvalidRequest(
                f"File type {media_type!r} is not supported for this model; send a PDF or plain text.",
                param=f"{where}.file_data",
                code="unsupported_value",
            )
        block = {"type": "document", "source": source}
    else:
        raise InvalidRequest(
            "Files by 'file_id' are not supported for this model; send 'file_data' or 'file_url'.",
            param=f"{where}.file_data",
            code="unsupported_value",
        )
    if optional_str(part, "filename", where):
        block["title"] = part["filename"]
    return block


def _data_url(url: str, param: str) -> tuple[str, str]:
    """`data:<media type>;base64,<data>` → (media type, data)."""
    header, comma, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not comma or encoding.lower() != "base64" or not media_type:
        raise InvalidRequest(
            "A data URL must look like 'data:<type>;base64,<data>'.", param=param, code="invalid_value"
        )
    return media_type.lower(), data


def _decode_text(data: str, param: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and a non-ASCII str (M5: that one was a 500)
        raise InvalidRequest(
            "'file_data' is not base64-encoded UTF-8 text.", param=param, code="invalid_value"
        ) from None


def _tool_input(item: dict[str, Any]) -> dict[str, Any]:
    """Responses arguments are a JSON string, Anthropic input an object. Replayed invalid or non-object
    JSON (a model can produce it) must not fail the request: it goes up as `{}`."""
    try:
        value = msgspec.json.decode(item["arguments"] or "{}")
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_result(item: dict[str, Any], where: str) -> Block:
    block: Block = {"type": "tool_result", "tool_use_id": item["call_id"]}
    output = item["output"]
    if isinstance(output, str):
        if output:
            block["content"] = output
        return block
    parts = [_part(part, f"{where}.output[{index}]") for index, part in enumerate(output)]
    content = [part for part in parts if part is not None]
    if content:
        block["content"] = content
    return block


# -- tools ---------------------------------------------------------------------------------------


def _tool(tool: dict[str, Any], index: int, send_strict: bool) -> dict[str, Any]:
    require_function_tool(tool, index)
    schema = tool.get("parameters")
    schema = dict(_EMPTY_SCHEMA) if schema is None else {"type": "object", **schema}
    mapped: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        mapped["description"] = tool["description"]
    mapped["input_schema"] = schema
    # Anthropic's strict tool use is model-dependent (older models reject the field): opt-in per channel.
    if send_strict and tool.get("strict") is not None:
        mapped["strict"] = tool["strict"]
    return mapped


def _server_tools(offered: list[dict[str, Any]], raw: dict[str, Any], functions: list[dict[str, Any]]) -> list:
    """Anthropic's web search for a web_search tool (anthropic/web_search.py); it takes the name `web_search`."""
    mapped = web_search.server_tools(offered, raw)
    if mapped and any(tool["name"] == web_search.NAME for tool in functions):
        raise InvalidRequest(
            "A function named 'web_search' cannot be offered beside the web_search tool for this model.",
            param="tools", code="unsupported_value",
        )
    return mapped


def _tool_choice(choice: str | dict[str, Any] | None, tools: list[dict[str, Any]]) -> tuple[list[dict], dict | None]:
    """(tools to send, Anthropic tool_choice or None for the upstream's default)."""
    if choice is None:
        return tools, None
    if isinstance(choice, str):
        return tools, {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}
    kind = choice.get("type")
    if kind == "function":
        return tools, {"type": "tool", "name": choice["name"]}
    if isinstance(kind, str) and web_search.is_web_search(choice) and any(t["name"] == web_search.NAME for t in tools):
        return tools, web_search.forced_choice()
    if kind == "allowed_tools":
        names = {tool["name"] for tool in tools}
        allowed = []
        for index, entry in enumerate(choice["tools"]):
            name = entry.get("name") if isinstance(entry, dict) else None  # a list or object here is unhashable
            if not isinstance(name, str) or name not in names or entry.get("type") != "function":
                raise InvalidRequest(
                    "allowed_tools may only list function tools sent in 'tools' for this model.",
                    param=f"tool_choice.tools[{index}]",
                    code="unsupported_value",
                )
            allowed.append(entry["name"])
        if not allowed:
            raise InvalidRequest("allowed_tools must list at least one tool.", param="tool_choice.tools")
        # Anthropic has no allowed-subset choice: the tools outside it are simply not offered.
        subset = [tool for tool in tools if tool["name"] in allowed]
        return subset, {"type": "any" if choice["mode"] == "required" else "auto"}
    raise InvalidRequest(
        f"tool_choice type {kind!r} is not supported for this model.",
        param="tool_choice.type",
        code="unsupported_value",
    )
