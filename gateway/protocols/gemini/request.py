"""Gemini `generateContent` body → the internal form (a Responses request body). Pure.

Rules worth knowing:
- Function calls. A Responses `function_call` needs a `call_id` that its output repeats. Gemini gives
  calls an `id` only sometimes, so a call without one gets `call_<24 hex>` derived from its position in
  the conversation (the same history always yields the same ids), and a `functionResponse` without an
  `id` answers the oldest unanswered call of the same name. A call's `thoughtSignature` rides inside the
  call_id exactly as the Gemini channel side carries it (`signed_call_id`: one rule, one place), so a
  Gemini upstream gets it back on the next turn.
- Thought parts (`thought: true`) of earlier model turns are dropped: Gemini ignores them in history,
  and other upstreams cannot use them. Signatures on text parts are not carried (Gemini needs only the
  function-call ones).
- Hosted tools (`googleSearch`, `codeExecution`, `urlContext`, …), `cachedContent`, several candidates,
  log-probabilities and non-text output are refused by name: we cannot meter or honour them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec

from gateway.protocols.gemini.channel_request import signed_call_id
from gateway.wire.errors import InvalidRequest
from gateway.wire.limits import MAX_TOKENS

Body = dict[str, Any]

MAX_MODEL_CHARS = 256
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$")
# Fields the door maps; anything else at the top level is refused by name.
_TOP_LEVEL = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings",
                        "model", "labels"})
_REFUSED_TOP = {"cachedContent": "stored context caches are not supported; send the whole conversation"}
# generationConfig keys carried in `extras` for channels that can honour them.
_EXTRA_CONFIG = ("stopSequences", "topK", "seed", "presencePenalty", "frequencyPenalty")
_REFUSED_CONFIG = ("responseLogprobs", "logprobs", "speechConfig", "imageConfig", "audioTimestamp",
                   "enableEnhancedCivicAnswers", "routingConfig", "modelSelectionConfig")
_KNOWN_CONFIG = frozenset({"temperature", "topP", "maxOutputTokens", "candidateCount", "responseMimeType",
                           "responseSchema", "responseJsonSchema", "_responseJsonSchema", "thinkingConfig",
                           "responseModalities", "mediaResolution", *_EXTRA_CONFIG, *_REFUSED_CONFIG})
_LEVELS = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required", "VALIDATED": "auto"}


def model_from_path(path_model: str) -> str:
    """`gemini-2.5-flash` or `models/gemini-2.5-flash` → the public id; other collections are refused."""
    model = path_model[len("models/"):] if path_model.startswith("models/") else path_model
    if len(model) > MAX_MODEL_CHARS or not _MODEL.match(model):
        raise InvalidRequest("The model in the URL must look like models/{model}.", param="model")
    return model


def to_responses(body: Body, model: str) -> tuple[Body, dict[str, Any]]:
    """(the Responses body, extras for the channel). Raises InvalidRequest for anything we cannot carry."""
    for name in body:
        if name in _REFUSED_TOP:
            raise _unsupported(name, _REFUSED_TOP[name])
        if name not in _TOP_LEVEL:
            raise _unsupported(name, "this field is not supported")
    extras: dict[str, Any] = {}
    out: Body = {"model": model, "input": _contents(body.get("contents"))}
    instructions = _system(body.get("systemInstruction"))
    if instructions:
        out["instructions"] = instructions
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    choice = _tool_choice(body.get("toolConfig"))
    if choice is not None:
        out["tool_choice"] = choice
    _generation_config(body.get("generationConfig"), out, extras)
    if body.get("safetySettings") is not None:
        if not isinstance(body["safetySettings"], list):
            raise InvalidRequest("'safetySettings' must be an array.", param="safetySettings")
        extras["safetySettings"] = body["safetySettings"]
    return out, extras


def _unsupported(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' is not supported: {why}.", param=param, code="unsupported_parameter")


def _obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    return value


def _list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{param}' must be an array.", param=param)
    return value


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'{param}' must be a string.", param=param)
    return value


# -- contents ------------------------------------------------------------------------------------


def _system(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    parts = _list(_obj(value, "systemInstruction").get("parts", []), "systemInstruction.parts")
    texts = []
    for index, part in enumerate(parts):
        where = f"systemInstruction.parts[{index}]"
        texts.append(_text(_obj(part, where).get("text"), f"{where}.text"))
    return "\n".join(texts)


class _Calls:
    """Call ids handed out so far, and the calls still waiting for their response (by name)."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[str]] = {}
        self.by_id: dict[str, str] = {}
        self.count = 0

    def call(self, gemini_id: Any, name: str, signature: Any) -> str:
        self.count += 1
        base = gemini_id if isinstance(gemini_id, str) and gemini_id else _position_id(self.count, name)
        call_id = signed_call_id(base, signature)
        self.waiting.setdefault(name, []).append(call_id)
        if isinstance(gemini_id, str) and gemini_id:
            self.by_id[gemini_id] = call_id
        return call_id

    def answer(self, gemini_id: Any, name: str, where: str) -> str:
        if isinstance(gemini_id, str) and gemini_id in self.by_id:
            call_id = self.by_id.pop(gemini_id)
            pending = self.waiting.get(name, [])
            if call_id in pending:
                pending.remove(call_id)
            return call_id
        pending = self.waiting.get(name) or []
        if not pending:
            raise InvalidRequest(
                f"This functionResponse answers no earlier functionCall named {name[:64]!r}.", param=f"{where}.name"
            )
        # Calls that carry an id will be answered by it: an answer without one takes the oldest call without one.
        named = set(self.by_id.values())
        call_id = next((candidate for candidate in pending if candidate not in named), pending[0])
        pending.remove(call_id)
        return call_id


def _position_id(position: int, name: str) -> str:
    return "call_" + hashlib.sha256(f"{position}:{name}".encode()).hexdigest()[:24]


def _contents(value: Any) -> list[Body]:
    contents = _list(value, "contents")
    if not contents:
        raise InvalidRequest("'contents' must not be empty.", param="contents")
    items: list[Body] = []
    calls = _Calls()
    for index, content in enumerate(contents):
        where = f"contents[{index}]"
        content = _obj(content, where)
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise InvalidRequest("A content 'role' must be user or model.", param=f"{where}.role")
        parts = _list(content.get("parts"), f"{where}.parts")
        items.extend(_model_turn(parts, where, calls) if role == "model" else _user_turn(parts, where, calls))
    return items


def _user_turn(parts: list[Any], where: str, calls: _Calls) -> list[Body]:
    items: list[Body] = []
    message: list[Body] = []
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        part = _obj(part, at)
        if "functionResponse" in part:
            if message:
                items.append({"type": "message", "role": "user", "content": message})
                message = []
            items.append(_function_response(_obj(part["functionResponse"], f"{at}.functionResponse"), at, calls))
        elif "text" in part:
            if part.get("thought"):
                continue
            message.append({"type": "input_text", "text": _text(part["text"], f"{at}.text")})
        elif "inlineData" in part:
            message.append(_inline(part["inlineData"], f"{at}.inlineData"))
        elif "fileData" in part:
            message.append(_file_data(part["fileData"], f"{at}.fileData"))
        else:
            raise _part_unsupported(part, at)
    if message:
        items.append({"type": "message", "role": "user", "content": message})
    return items


def _model_turn(parts: list[Any], where: str, calls: _Calls) -> list[Body]:
    items: list[Body] = []
    texts: list[Body] = []
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        part = _obj(part, at)
        if "functionCall" in part:
            if texts:
                items.append({"type": "message", "role": "assistant", "content": texts})
                texts = []
            call = _obj(part["functionCall"], f"{at}.functionCall")
            name = _text(call.get("name"), f"{at}.functionCall.name")
            args = call.get("args", {})
            if not isinstance(args, dict):
                raise InvalidRequest("'functionCall.args' must be an object.", param=f"{at}.functionCall.args")
            call_id = calls.call(call.get("id"), name, part.get("thoughtSignature"))
            arguments = msgspec.json.encode(args).decode()
            items.append({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})
        elif "text" in part:
            if part.get("thought"):
                continue
            texts.append({"type": "output_text", "text": _text(part["text"], f"{at}.text")})
        else:
            raise InvalidRequest(
                "A model turn may hold only text and functionCall parts.", param=at, code="unsupported_parameter"
            )
    if texts:
        items.append({"type": "message", "role": "assistant", "content": texts})
    return items


def _function_response(response: dict[str, Any], at: str, calls: _Calls) -> Body:
    name = _text(response.get("name"), f"{at}.functionResponse.name")
    payload = response.get("response", {})
    if not isinstance(payload, dict):
        raise InvalidRequest("'functionResponse.response' must be an object.", param=f"{at}.functionResponse.response")
    call_id = calls.answer(response.get("id"), name, f"{at}.functionResponse")
    # Gemini's convention: the tool's output under "output" (a failure under "error"); a lone string output
    # goes up as that string, anything else as the JSON object the client sent.
    only = payload.get("output") if set(payload) == {"output"} else None
    output = only if isinstance(only, str) else msgspec.json.encode(payload).decode()
    return {"type": "function_call_output", "call_id": call_id, "output": output}


_URLSAFE = str.maketrans("-_", "+/")


def _either(blob: Body, camel: str, snake: str) -> Any:
    # Google's JSON accepts both spellings, and google-genai sends blob fields snake_case (`mime_type`).
    return blob[camel] if camel in blob else blob.get(snake)


def _inline(value: Any, at: str) -> Body:
    blob = _obj(value, at)
    mime = _text(_either(blob, "mimeType", "mime_type"), f"{at}.mimeType")
    data = _text(blob.get("data"), f"{at}.data")
    if not data.isascii():
        raise InvalidRequest("'inlineData.data' must be base64.", param=f"{at}.data")
    # google-genai encodes bytes URL-safe (`-`, `_`), which Google accepts; a data: URL for any other upstream
    # must use the standard alphabet.
    data = data.translate(_URLSAFE)
    url = f"data:{mime};base64,{data}"
    if mime.startswith("image/"):
        return {"type": "input_image", "image_url": url}
    if mime == "application/pdf" or mime.startswith("text/"):
        return {"type": "input_file", "file_data": url, "filename": "document"}
    raise InvalidRequest(f"inlineData of type {mime[:64]!r} is not supported.", param=f"{at}.mimeType",
                         code="unsupported_parameter")


def _file_data(value: Any, at: str) -> Body:
    blob = _obj(value, at)
    uri = _text(_either(blob, "fileUri", "file_uri"), f"{at}.fileUri")
    mime = _either(blob, "mimeType", "mime_type") or ""
    if not uri.startswith(("https://", "http://")):
        raise InvalidRequest("Only http(s) fileUri values are supported (no Files API uploads).",
                             param=f"{at}.fileUri", code="unsupported_parameter")
    if isinstance(mime, str) and mime.startswith("image/"):
        return {"type": "input_image", "image_url": uri}
    return {"type": "input_file", "file_url": uri}


def _part_unsupported(part: dict[str, Any], at: str) -> InvalidRequest:
    kind = next(iter(part), "part")
    return InvalidRequest(f"Parts of kind {kind[:64]!r} are not supported.", param=f"{at}.{kind[:64]}",
                          code="unsupported_parameter")


# -- tools and config ----------------------------------------------------------------------------


def _tools(value: Any) -> list[Body]:
    if value is None:
        return []
    tools: list[Body] = []
    for index, tool in enumerate(_list(value, "tools")):
        at = f"tools[{index}]"
        tool = _obj(tool, at)
        for kind in tool:
            if kind != "functionDeclarations":
                raise _unsupported(f"{at}.{kind[:64]}", "hosted tools are not offered through this gateway")
        for number, declaration in enumerate(_list(tool.get("functionDeclarations", []), f"{at}.functionDeclarations")):
            tools.append(_declaration(_obj(declaration, f"{at}.functionDeclarations[{number}]"),
                                      f"{at}.functionDeclarations[{number}]"))
    return tools


def _declaration(declaration: dict[str, Any], at: str) -> Body:
    tool: Body = {"type": "function", "name": _text(declaration.get("name"), f"{at}.name")}
    if declaration.get("description") is not None:
        tool["description"] = _text(declaration["description"], f"{at}.description")
    if declaration.get("parametersJsonSchema") is not None:
        tool["parameters"] = _obj(declaration["parametersJsonSchema"], f"{at}.parametersJsonSchema")
    elif declaration.get("parameters") is not None:
        tool["parameters"] = openapi_to_json_schema(_obj(declaration["parameters"], f"{at}.parameters"))
    return tool


def openapi_to_json_schema(schema: Any) -> Any:
    """Google's OpenAPI-subset Schema (`type: "STRING"`, `nullable`) → plain JSON Schema."""
    if isinstance(schema, list):
        return [openapi_to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "nullable":
            continue
        elif key in ("properties", "defs", "$defs") and isinstance(value, dict):
            out[key] = {name: openapi_to_json_schema(item) for name, item in value.items()}
        elif key in ("items", "anyOf", "additionalProperties"):
            out[key] = openapi_to_json_schema(value)
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _tool_choice(value: Any) -> Any:
    if value is None:
        return None
    config = _obj(_obj(value, "toolConfig").get("functionCallingConfig", {}), "toolConfig.functionCallingConfig")
    mode = config.get("mode", "AUTO")
    if not isinstance(mode, str) or mode not in _MODES:  # a list or object is unhashable: a 400, not a 500
        raise InvalidRequest("'functionCallingConfig.mode' must be AUTO, ANY, NONE or VALIDATED.",
                             param="toolConfig.functionCallingConfig.mode")
    names = config.get("allowedFunctionNames")
    if names is None or mode == "NONE":
        return _MODES[mode]
    names = [_text(name, "toolConfig.functionCallingConfig.allowedFunctionNames") for name in
             _list(names, "toolConfig.functionCallingConfig.allowedFunctionNames")]
    if mode == "ANY" and len(names) == 1:
        return {"type": "function", "name": names[0]}
    return {"type": "allowed_tools", "mode": "required" if mode == "ANY" else "auto",
            "tools": [{"type": "function", "name": name} for name in names]}


def _generation_config(value: Any, out: Body, extras: dict[str, Any]) -> None:
    if value is None:
        return
    config = _obj(value, "generationConfig")
    for key in config:
        if key not in _KNOWN_CONFIG:
            raise _unsupported(f"generationConfig.{key[:64]}", "this setting is not supported")
        if key in _REFUSED_CONFIG and config[key] not in (None, False):
            raise _unsupported(f"generationConfig.{key}", "this gateway cannot honour it on every upstream")
    for key in ("temperature", "topP"):
        if config.get(key) is not None:
            if isinstance(config[key], bool) or not isinstance(config[key], (int, float)):
                raise InvalidRequest(f"'generationConfig.{key}' must be a number.", param=f"generationConfig.{key}")
            out["temperature" if key == "temperature" else "top_p"] = config[key]
    if config.get("maxOutputTokens") is not None:
        tokens = config["maxOutputTokens"]
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_TOKENS:
            raise InvalidRequest(f"'generationConfig.maxOutputTokens' must be an integer from 1 to {MAX_TOKENS}.",
                                 param="generationConfig.maxOutputTokens")
        out["max_output_tokens"] = tokens
    count = config.get("candidateCount")
    if count not in (None, 1):
        raise _unsupported("generationConfig.candidateCount", "only one candidate is generated")
    modalities = config.get("responseModalities")
    if modalities is not None and modalities not in (["TEXT"], ["text"], []):
        raise _unsupported("generationConfig.responseModalities", "only text output is offered")
    _response_format(config, out)
    thinking = _thinking(config.get("thinkingConfig"))
    if thinking:
        out["reasoning"] = thinking
    for key in _EXTRA_CONFIG:
        if config.get(key) is not None:
            extras[key] = config[key]


def _response_format(config: dict[str, Any], out: Body) -> None:
    mime = config.get("responseMimeType")
    schema = config.get("responseJsonSchema", config.get("_responseJsonSchema"))
    if schema is None and config.get("responseSchema") is not None:
        schema = openapi_to_json_schema(config["responseSchema"])
    if mime in (None, "text/plain"):
        if schema is not None:
            raise InvalidRequest("A response schema needs responseMimeType application/json.",
                                 param="generationConfig.responseMimeType")
        return
    if mime != "application/json":
        raise _unsupported("generationConfig.responseMimeType", "only text/plain and application/json are offered")
    if schema is None:
        out["text"] = {"format": {"type": "json_object"}}
    else:
        out["text"] = {"format": {"type": "json_schema", "name": "response",
                                  "schema": _obj(schema, "generationConfig.responseJsonSchema")}}


def _thinking(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    config = _obj(value, "generationConfig.thinkingConfig")
    reasoning: dict[str, Any] = {}
    if config.get("includeThoughts"):
        reasoning["summary"] = "auto"
    level = config.get("thinkingLevel")
    budget = config.get("thinkingBudget")
    if level is not None:
        if not isinstance(level, str) or level not in _LEVELS:  # unhashable values too: a 400
            raise InvalidRequest("'thinkingLevel' must be MINIMAL, LOW, MEDIUM or HIGH.",
                                 param="generationConfig.thinkingConfig.thinkingLevel")
        reasoning["effort"] = _LEVELS[level]
    elif budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < -1:
            raise InvalidRequest("'thinkingBudget' must be an integer, -1 for dynamic.",
                                 param="generationConfig.thinkingConfig.thinkingBudget")
        if budget == 0:
            reasoning["effort"] = "minimal"
        elif budget > 0:
            reasoning["effort"] = "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    return reasoning
