"""Responses API request → Gemini `generateContent` body (wire-formats §7.2, §7.6). Pure; raises
InvalidRequest for what a stateless Gemini upstream cannot express.

Also home of the thought-signature codec shared with `gemini.py` (see its docstring for the scheme):
`signed_call_id` puts a signature into a call_id we hand out, `split_call_id` takes it back out.
"""

import base64
import binascii
import re
from typing import Any
from urllib.parse import urlsplit

import msgspec

from gateway.protocols.channel import CallContext
from gateway.protocols.gemini import grounding
from gateway.protocols.translating import (
    allowed_function_names,
    image_url,
    optional_str,
    refuse_stateful,
    require_base64,
    require_function_tool,
)
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import ParsedRequest

Part = dict[str, Any]
Content = dict[str, Any]

SIGNATURE_MARK = "__ts_"
MAX_SIGNATURE_CHARS = 32_768  # encoded; real signatures are a few hundred bytes to a few KB
_OUR_CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")
_DATA_URL = re.compile(r"^data:([^;,]*)((?:;[^;,]*)*),(.*)$", re.DOTALL)
_MIME_BY_EXTENSION = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "mp3": "audio/mp3",
    "wav": "audio/wav",
    "mp4": "video/mp4",
}
_AUDIO_MIME = {"mp3": "audio/mp3", "wav": "audio/wav"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_THINKING_LEVELS = {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
_THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


# -- thought signatures in call_ids --------------------------------------------------------------


def signed_call_id(base: str, signature: Any) -> str:
    """`base` plus the signature, base64url without padding, after `__ts_`. Unusable → `base`."""
    raw = _b64decode(signature) if isinstance(signature, str) else None
    if not raw:
        return base
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return base if len(encoded) > MAX_SIGNATURE_CHARS else f"{base}{SIGNATURE_MARK}{encoded}"


def split_call_id(call_id: str) -> tuple[str, str | None]:
    """call_id → (the id Gemini or we gave the call, the signature in standard base64 or None)."""
    base, mark, encoded = call_id.partition(SIGNATURE_MARK)
    if not mark or not base:
        return call_id, None
    raw = _b64decode(encoded)
    return base, base64.b64encode(raw).decode() if raw else None


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not (as protobuf JSON accepts it); None if invalid."""
    text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


# -- body ----------------------------------------------------------------------------------------


def gemini_body(request: ParsedRequest, ctx: CallContext) -> dict[str, Any]:
    req = request.typed
    refuse_stateful(request)
    system, contents = gemini_contents(req.instructions, req.input, ctx.options.get("thought_signature_fallback"))
    if not contents:
        raise InvalidRequest("'input' needs at least one user or assistant message for this model.", param="input")
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    offered = req.tools or []
    declarations = [_declaration(tool, index) for index, tool in enumerate(offered) if not grounding.is_web_search(tool)]
    search = grounding.search_tools(offered, request.raw, req.tool_choice)  # web_search: gemini/grounding.py
    if declarations or search:
        body["tools"] = ([{"functionDeclarations": declarations}] if declarations else []) + search
    choice = grounding.calling_choice(req.tool_choice, {d["name"] for d in declarations}) if search else req.tool_choice
    if declarations and choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(choice)}
    config = _generation_config(req, ctx)
    if config:
        body["generationConfig"] = config
    return body


def _generation_config(req: Any, ctx: CallContext) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if ctx.max_output_tokens is not None:
        config["maxOutputTokens"] = ctx.max_output_tokens
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.top_p is not None:
        config["topP"] = req.top_p
    fmt = (req.text or {}).get("format") or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if fmt.get("type") == "json_schema":
        config["responseJsonSchema"] = clean_schema(fmt["schema"])
    thinking = _thinking_config(req.reasoning or {}, ctx.options.get("thinking_control"))
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _thinking_config(reasoning: dict[str, Any], control: Any) -> dict[str, Any]:
    """Summaries asked for → thought parts included. Effort → a level (Gemini 3) or a budget (2.5),
    only when the channel says which one its model takes: the wrong one is a 400."""
    thinking: dict[str, Any] = {}
    if reasoning.get("summary") or reasoning.get("generate_summary"):
        thinking["includeThoughts"] = True
    effort = reasoning.get("effort")
    if isinstance(effort, str):
        if control == "level":
            thinking["thinkingLevel"] = _THINKING_LEVELS.get(effort, "XHIGH")  # xhigh, max
        elif control == "budget":
            thinking["thinkingBudget"] = _THINKING_BUDGETS.get(effort, -1)  # xhigh, max: dynamic
    return thinking


# -- contents ------------------------------------------------------------------------------------


def gemini_contents(
    instructions: str | None, items: str | list[dict[str, Any]], signature_fallback: Any = None
) -> tuple[list[Part], list[Content]]:
    """(systemInstruction parts, contents). Same-role neighbours share one content."""
    system: list[Part] = [{"text": instructions}] if instructions else []
    if isinstance(items, str):
        return system, [{"role": "user", "parts": [{"text": items}]}]
    contents: list[Content] = []
    names: dict[str, str] = {}  # call_id → function name, for the function responses
    held: list[Part] = []  # media from tool outputs, sent after the run of function responses
    for index, item in enumerate(items):
        where = f"input[{index}]"
        kind = item.get("type", "message")
        if kind != "function_call_output" and held:
            _add(contents, "user", held)
            held = []
        if kind == "message":
            role = item["role"]
            if role in ("system", "developer"):
                system.extend(_system_parts(item.get("content"), where))
            else:
                _add(contents, "model" if role == "assistant" else "user", _parts(item.get("content"), role, where))
        elif kind == "function_call":
            names[item["call_id"]] = item["name"]
            _add(contents, "model", [_function_call(item)])
        elif kind == "function_call_output":
            _add(contents, "user", [_function_response(item, names, held, where)])
        elif kind == "item_reference":
            raise InvalidRequest(
                "item_reference needs stored items, which this model does not keep; send the items themselves.",
                param=where,
                code="unsupported_value",
            )
        # reasoning items are dropped: Gemini takes its reasoning back only as thought signatures.
    if held:
        _add(contents, "user", held)
    if isinstance(signature_fallback, str) and signature_fallback:
        _fill_missing_signatures(contents, signature_fallback)
    return system, contents


def _add(contents: list[Content], role: str, parts: list[Part]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": list(parts)})


def _system_parts(content: Any, where: str) -> list[Part]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for index, part in enumerate(content or ()):
        if part.get("type") not in ("input_text", "output_text"):
            raise InvalidRequest(
                "System and developer messages may only hold text for this model.",
                param=f"{where}.content[{index}].type",
                code="unsupported_value",
            )
        if part["text"]:
            parts.append({"text": part["text"]})
    return parts


def _parts(content: Any, role: str, where: str) -> list[Part]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for index, part in enumerate(content or ()):
        mapped = _part(part, role, f"{where}.content[{index}]")
        if mapped is not None:
            parts.append(mapped)
    return parts


def _part(part: dict[str, Any], role: str, where: str) -> Part | None:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        return {"text": part["text"]} if part["text"] else None
    if kind == "refusal":
        if role != "assistant":
            raise InvalidRequest(f"A {kind} part is only allowed in assistant messages.", param=f"{where}.type")
        refusal = optional_str(part, "refusal", where)
        return {"text": refusal} if refusal else None
    if kind == "input_image":
        return _media(image_url(part, where), None, f"{where}.image_url", default_mime="image/jpeg")
    if kind == "input_file":
        if isinstance(part.get("file_data"), str):
            return _media(part["file_data"], part.get("filename"), f"{where}.file_data", default_mime="application/pdf")
        if isinstance(part.get("file_url"), str):
            return _media(part["file_url"], part.get("filename"), f"{where}.file_url", default_mime="application/pdf")
        raise InvalidRequest(
            "Files by 'file_id' are not supported for this model; send 'file_data' or 'file_url'.",
            param=f"{where}.file_data",
            code="unsupported_value",
        )
    if kind == "input_audio":
        audio = part.get("input_audio")
        audio = audio if isinstance(audio, dict) else {}
        audio_format = audio.get("format")
        mime = _AUDIO_MIME.get(audio_format) if isinstance(audio_format, str) else None
        if mime is None or not isinstance(audio.get("data"), str):
            raise InvalidRequest("input_audio needs base64 'data' and a 'format' of mp3 or wav.", param=where)
        return {"inlineData": {"mimeType": mime, "data": require_base64(audio["data"], f"{where}.input_audio.data")}}
    raise InvalidRequest(f"Content part type {kind!r} is not supported for this model.", param=f"{where}.type")


def _media(value: str, filename: Any, where: str, *, default_mime: str) -> Part:
    """A data URL → inlineData; an http(s) URL → fileData; bare base64 (input_file) → inlineData."""
    match = _DATA_URL.match(value)
    if match:
        mime, params, data = match.groups()
        if ";base64" not in params:
            raise InvalidRequest("Only base64 data URLs are supported for this model.", param=where)
        data = require_base64(data, where)
        return {"inlineData": {"mimeType": mime or _guess_mime(filename, default_mime), "data": data}}
    if value.startswith(("https://", "http://")):
        mime = _guess_mime(urlsplit(value).path, None) or _guess_mime(filename, default_mime)
        return {"fileData": {"mimeType": mime, "fileUri": value}}
    if where.endswith(".file_data"):
        return {"inlineData": {"mimeType": _guess_mime(filename, default_mime), "data": require_base64(value, where)}}
    field = where.rsplit(".", 1)[1]
    raise InvalidRequest(f"'{field}' must be an http(s) URL or a base64 data URL.", param=where)


def _guess_mime(name: Any, default: str | None) -> Any:
    if isinstance(name, str) and "." in name:
        return _MIME_BY_EXTENSION.get(name.rsplit(".", 1)[1].lower(), default)
    return default


def _function_call(item: dict[str, Any]) -> Part:
    base, signature = split_call_id(item["call_id"])
    call: dict[str, Any] = {"name": item["name"], "args": _arguments(item["arguments"])}
    if not _OUR_CALL_ID.match(base):
        call["id"] = base  # Gemini's own id (or another provider's): give it back as it came
    part: Part = {"functionCall": call}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _arguments(arguments: str) -> dict[str, Any]:
    """Gemini wants an object. Invalid or non-object JSON (a model's mistake, replayed) → {}."""
    try:
        value = msgspec.json.decode(arguments) if arguments else {}
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _function_response(item: dict[str, Any], names: dict[str, str], held: list[Part], where: str) -> Part:
    call_id = item["call_id"]
    name = names.get(call_id) or item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            f"No function_call with call_id {call_id!r} comes before this output; Gemini needs the call "
            "in the same request to name the function.",
            param=f"{where}.call_id",
            code="invalid_value",
        )
    output = item["output"]
    if isinstance(output, list):
        texts = []
        for index, part in enumerate(output):
            mapped = _part(part, "user", f"{where}.output[{index}]")
            if mapped is not None and "text" in mapped:
                texts.append(mapped["text"])
            elif mapped is not None:
                held.append(mapped)
        output = "\n".join(texts)
    response: dict[str, Any] = {"name": name, "response": {"output": _output_value(output)}}
    base, _ = split_call_id(call_id)
    if not _OUR_CALL_ID.match(base):
        response["id"] = base
    return {"functionResponse": response}


def _output_value(output: str) -> Any:
    """A JSON object or array output goes as structure; anything else as the string it is."""
    if output[:1] in ("{", "["):
        try:
            return msgspec.json.decode(output)
        except msgspec.DecodeError:
            pass
    return output


def _fill_missing_signatures(contents: list[Content], fallback: str) -> None:
    """Channel option `thought_signature_fallback`: the first functionCall of every model turn
    without any signature (history from another model, a client that rewrote call_ids) gets it."""
    for content in contents:
        calls = [part for part in content["parts"] if "functionCall" in part]
        if content["role"] == "model" and calls and not any("thoughtSignature" in part for part in calls):
            calls[0]["thoughtSignature"] = fallback


# -- tools and formats ---------------------------------------------------------------------------


def _declaration(tool: dict[str, Any], index: int) -> dict[str, Any]:
    require_function_tool(tool, index)
    declaration: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        declaration["description"] = tool["description"]
    if tool.get("parameters") is not None:
        # parametersJsonSchema takes plain JSON Schema (additionalProperties, anyOf, $ref, …);
        # `parameters` would take only Google's OpenAPI subset and 400 on every other keyword.
        declaration["parametersJsonSchema"] = clean_schema(tool["parameters"])
    return declaration


def clean_schema(schema: Any) -> Any:
    """Drop `$schema` (a meta-schema URL, meaningless to Gemini) wherever it is; keep the rest."""
    if isinstance(schema, dict):
        return {key: clean_schema(value) for key, value in schema.items() if key != "$schema"}
    if isinstance(schema, list):
        return [clean_schema(value) for value in schema]
    return schema


def _calling_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, str):
        return {"mode": _TOOL_MODES[choice]}
    kind = choice.get("type")
    if kind == "function":
        return {"mode": "ANY", "allowedFunctionNames": [choice["name"]]}
    if kind == "allowed_tools":
        names = allowed_function_names(choice)
        # AUTO takes no allowedFunctionNames; VALIDATED is "calls or text, calls limited to these".
        mode = "ANY" if choice["mode"] == "required" else "VALIDATED"
        return {"mode": mode, "allowedFunctionNames": names}
    raise InvalidRequest(
        f"tool_choice type {kind!r} is not supported for this model.",
        param="tool_choice.type",
        code="unsupported_value",
    )
