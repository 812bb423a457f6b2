"""Responses API request → Chat Completions request body (wire-formats §5.5). Pure; raises
InvalidRequest for what a stateless Chat upstream cannot express."""

from typing import Any

from gateway.protocols.channel import CallContext
from gateway.protocols.translating import optional_str, refuse_stateful
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import ParsedRequest

Message = dict[str, Any]
_IMAGE_DETAILS = frozenset({"auto", "low", "high"})


def chat_body(request: ParsedRequest, ctx: CallContext) -> dict[str, Any]:
    req = request.typed
    refuse_stateful(request)
    body: dict[str, Any] = {"model": ctx.upstream_model, "messages": chat_messages(req.instructions, req.input)}
    tools = [_tool(tool, index) for index, tool in enumerate(req.tools or ())]
    if tools:
        body["tools"] = tools
        # Chat servers reject these two without tools, and they mean nothing then anyway.
        if req.tool_choice is not None:
            body["tool_choice"] = _tool_choice(req.tool_choice)
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if ctx.max_output_tokens is not None:
        field = (
            "max_completion_tokens" if ctx.options.get("max_tokens_field") == "max_completion_tokens" else "max_tokens"
        )
        body[field] = ctx.max_output_tokens
    fmt = (req.text or {}).get("format")
    if fmt:
        body["response_format"] = _response_format(fmt)
    effort = (req.reasoning or {}).get("effort")
    if effort:
        body["reasoning_effort"] = effort
    if req.user:
        body["user"] = req.user
    if req.metadata and ctx.options.get("send_metadata"):
        body["metadata"] = req.metadata
    if ctx.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # else compatible servers never report usage
    return body


# -- messages ------------------------------------------------------------------------------------


def chat_messages(instructions: str | None, items: str | list[dict[str, Any]]) -> list[Message]:
    messages: list[Message] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    # Chat forbids anything between an assistant's tool_calls and its tool replies, so media found in
    # tool outputs waits here and goes up as one user message after the run of tool messages.
    held_parts: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item.get("type", "message")
        if kind != "function_call_output" and held_parts:
            messages.append({"role": "user", "content": held_parts})
            held_parts = []
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            _add_tool_call(messages, item)
        elif kind == "function_call_output":
            messages.append(_tool_message(item, held_parts, where))
        elif kind == "item_reference":
            raise InvalidRequest(
                "item_reference needs stored items, which this model does not keep; send the items themselves.",
                param=where,
                code="unsupported_value",
            )
        # reasoning items are dropped: a Chat upstream has no field that accepts them back.
    if held_parts:
        messages.append({"role": "user", "content": held_parts})
    return messages


def _message(item: dict[str, Any], where: str) -> Message:
    role = item["role"]
    content = item.get("content")
    if role == "assistant":
        return _assistant_message(content, where)
    # `developer` is newer than most compatible servers; `system` is what it means to them.
    role = "system" if role == "developer" else role
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content or ())]
    if all(part["type"] == "text" for part in parts):
        return {"role": role, "content": _join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _assistant_message(content: Any, where: str) -> Message:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts, refusals = [], []
    for index, part in enumerate(content or ()):
        if part.get("type") == "refusal":
            refusals.append(optional_str(part, "refusal", f"{where}.content[{index}]") or "")
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    message: Message = {"role": "assistant", "content": _join(texts) if texts else None}
    if refusals:
        message["refusal"] = _join(refusals)
    return message


def _part(part: dict[str, Any], where: str) -> dict[str, Any]:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        if not isinstance(part.get("image_url"), str):
            raise InvalidRequest(
                "Images by 'file_id' are not supported for this model; send 'image_url' (a URL or data URL).",
                param=f"{where}.file_id",
                code="unsupported_value",
            )
        image: dict[str, Any] = {"url": part["image_url"]}
        if optional_str(part, "detail", where) in _IMAGE_DETAILS:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not isinstance(part.get("file_data"), str):
            raise InvalidRequest(
                "Files by 'file_id' or 'file_url' are not supported for this model; send 'file_data'.",
                param=f"{where}.file_data",
                code="unsupported_value",
            )
        file = {"file_data": part["file_data"]}
        if optional_str(part, "filename", where):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio")}
    raise InvalidRequest(f"A {kind} part is only allowed in assistant messages.", param=f"{where}.type")


def _add_tool_call(messages: list[Message], item: dict[str, Any]) -> None:
    call = {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": item["arguments"] or "{}"},
    }
    last = messages[-1] if messages else None
    # Assistant text and the calls that follow it were one turn; Chat wants them as one message.
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _tool_message(item: dict[str, Any], held_parts: list[dict[str, Any]], where: str) -> Message:
    output = item["output"]
    if isinstance(output, str):
        return {"role": "tool", "tool_call_id": item["call_id"], "content": output}
    texts = []
    for index, part in enumerate(output):
        mapped = _part(part, f"{where}.output[{index}]")
        if mapped["type"] == "text":
            texts.append(mapped["text"])
        else:
            held_parts.append(mapped)
    return {"role": "tool", "tool_call_id": item["call_id"], "content": _join(texts)}


def _join(texts: Any) -> str:
    # Newline, as vLLM flattens text parts, so a prompt renders the same whichever form we send.
    return "\n".join(texts)


# -- tools and formats ---------------------------------------------------------------------------


def _tool(tool: dict[str, Any], index: int) -> dict[str, Any]:
    if tool["type"] != "function":
        raise InvalidRequest(
            f"Tool type {tool['type']!r} is not supported for this model; only function tools are.",
            param=f"tools[{index}].type",
            code="unsupported_value",
        )
    function: dict[str, Any] = {"name": tool["name"]}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        return choice
    kind = choice.get("type")
    if kind == "function":
        return {"type": "function", "function": {"name": choice["name"]}}
    if kind == "allowed_tools":
        tools = []
        for index, tool in enumerate(choice["tools"]):
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("name"), str):
                raise InvalidRequest(
                    "allowed_tools may only list function tools for this model.",
                    param=f"tool_choice.tools[{index}]",
                    code="unsupported_value",
                )
            tools.append({"type": "function", "function": {"name": tool["name"]}})
        return {"type": "allowed_tools", "allowed_tools": {"mode": choice["mode"], "tools": tools}}
    raise InvalidRequest(
        f"tool_choice type {kind!r} is not supported for this model.",
        param="tool_choice.type",
        code="unsupported_value",
    )


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt["type"] != "json_schema":
        return {"type": fmt["type"]}
    schema: dict[str, Any] = {"name": fmt["name"], "schema": fmt["schema"]}
    for key in ("description", "strict"):
        if fmt.get(key) is not None:
            schema[key] = fmt[key]
    return {"type": "json_schema", "json_schema": schema}
