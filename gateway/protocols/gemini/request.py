"""Gemini `generateContent` body → the internal form (a Responses request body). Pure.

The conversation itself (`contents`, `systemInstruction`) is translated in request_contents.py; this module
checks the top level and maps tools, toolConfig and generationConfig. Hosted tools (`googleSearch`,
`codeExecution`, `urlContext`, …), `cachedContent`, several candidates, log-probabilities and non-text output
are refused by name: we cannot meter or honour them.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.protocols.gemini.request_checks import Body, array, obj, string, unsupported
from gateway.protocols.gemini.request_contents import input_items, system_instruction
from gateway.wire.errors import InvalidRequest
from gateway.wire.limits import MAX_TOKENS

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
            raise unsupported(name, _REFUSED_TOP[name])
        if name not in _TOP_LEVEL:
            raise unsupported(name, "this field is not supported")
    extras: dict[str, Any] = {}
    out: Body = {"model": model, "input": input_items(body.get("contents"))}
    instructions = system_instruction(body.get("systemInstruction"))
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



# -- tools and config ----------------------------------------------------------------------------


def _tools(value: Any) -> list[Body]:
    if value is None:
        return []
    tools: list[Body] = []
    for index, tool in enumerate(array(value, "tools")):
        at = f"tools[{index}]"
        tool = obj(tool, at)
        for kind in tool:
            if kind != "functionDeclarations":
                raise unsupported(f"{at}.{kind[:64]}", "hosted tools are not offered through this gateway")
        for number, declaration in enumerate(array(tool.get("functionDeclarations", []), f"{at}.functionDeclarations")):
            tools.append(_declaration(obj(declaration, f"{at}.functionDeclarations[{number}]"),
                                      f"{at}.functionDeclarations[{number}]"))
    return tools


def _declaration(declaration: dict[str, Any], at: str) -> Body:
    tool: Body = {"type": "function", "name": string(declaration.get("name"), f"{at}.name")}
    if declaration.get("description") is not None:
        tool["description"] = string(declaration["description"], f"{at}.description")
    if declaration.get("parametersJsonSchema") is not None:
        tool["parameters"] = obj(declaration["parametersJsonSchema"], f"{at}.parametersJsonSchema")
    elif declaration.get("parameters") is not None:
        tool["parameters"] = openapi_to_json_schema(obj(declaration["parameters"], f"{at}.parameters"))
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
    config = obj(obj(value, "toolConfig").get("functionCallingConfig", {}), "toolConfig.functionCallingConfig")
    mode = config.get("mode", "AUTO")
    if not isinstance(mode, str) or mode not in _MODES:  # a list or object is unhashable: a 400, not a 500
        raise InvalidRequest("'functionCallingConfig.mode' must be AUTO, ANY, NONE or VALIDATED.",
                             param="toolConfig.functionCallingConfig.mode")
    names = config.get("allowedFunctionNames")
    if names is None or mode == "NONE":
        return _MODES[mode]
    names = [string(name, "toolConfig.functionCallingConfig.allowedFunctionNames") for name in
             array(names, "toolConfig.functionCallingConfig.allowedFunctionNames")]
    if mode == "ANY" and len(names) == 1:
        return {"type": "function", "name": names[0]}
    return {"type": "allowed_tools", "mode": "required" if mode == "ANY" else "auto",
            "tools": [{"type": "function", "name": name} for name in names]}


def _generation_config(value: Any, out: Body, extras: dict[str, Any]) -> None:
    if value is None:
        return
    config = obj(value, "generationConfig")
    for key in config:
        if key not in _KNOWN_CONFIG:
            raise unsupported(f"generationConfig.{key[:64]}", "this setting is not supported")
        if key in _REFUSED_CONFIG and config[key] not in (None, False):
            raise unsupported(f"generationConfig.{key}", "this gateway cannot honour it on every upstream")
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
        raise unsupported("generationConfig.candidateCount", "only one candidate is generated")
    modalities = config.get("responseModalities")
    if modalities is not None and modalities not in (["TEXT"], ["text"], []):
        raise unsupported("generationConfig.responseModalities", "only text output is offered")
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
        raise unsupported("generationConfig.responseMimeType", "only text/plain and application/json are offered")
    if schema is None:
        out["text"] = {"format": {"type": "json_object"}}
    else:
        out["text"] = {"format": {"type": "json_schema", "name": "response",
                                  "schema": obj(schema, "generationConfig.responseJsonSchema")}}


def _thinking(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    config = obj(value, "generationConfig.thinkingConfig")
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
