"""A Chat Completions request body → the internal form (a Responses request body) + the door's extras.

Fields with the same name and meaning in both APIs (model, temperature, top_p, parallel_tool_calls,
metadata, user, store, safety_identifier, prompt_cache_key, service_tier) are copied untouched and
validated once, by gateway.wire.schema, whose `param` is then already the client's own name. Fields that
change name or shape are checked here. `stop` and `seed` have no Responses field: they travel in
`extras`. Everything else is refused by name (`unsupported_parameter`), never dropped.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from gateway.protocols.chat.door_checks import array, bad, boolean, integer, obj, one_of, only_keys, string, unsupported
from gateway.protocols.chat.door_messages import input_items
from gateway.wire import schema
from gateway.wire.errors import InvalidRequest
from gateway.wire.limits import MAX_TOKENS

_SAME = (
    "model",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "metadata",
    "user",
    "store",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
)
_KNOWN = frozenset(
    {
        *_SAME,
        "messages",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "response_format",
        "max_tokens",
        "max_completion_tokens",
        "reasoning_effort",
        "verbosity",
        "stop",
        "seed",
        "n",
        "logprobs",
        "top_logprobs",
        "modalities",
    }
)
# Chat-only fields the internal form cannot carry: refused whenever they ask for anything
# (a value equal to the API's default asks nothing, and some clients always send it).
_REFUSED: dict[str, tuple[Any, str]] = {
    "frequency_penalty": (0, "penalties cannot be passed on."),
    "presence_penalty": (0, "penalties cannot be passed on."),
    "logit_bias": ({}, "token biases cannot be passed on."),
    "audio": (None, "audio output is not supported."),
    "prediction": (None, "predicted outputs are not supported."),
    "web_search_options": (None, "web search is not supported on this endpoint."),
    "functions": (None, "the legacy 'functions' is not supported; send 'tools'."),
    "function_call": (None, "the legacy 'function_call' is not supported; send 'tool_choice'."),
    "prompt_cache_retention": (None, "cache retention cannot be passed on."),
}
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh", "max"})
_VERBOSITY = frozenset({"low", "medium", "high"})
_MODES = frozenset({"none", "auto", "required"})
_FORMATS = frozenset({"text", "json_object", "json_schema"})
MAX_STOP = 4  # OpenAI's own limit
MAX_STOP_CHARS = 1024  # no upstream documents one; long enough for any real stop sequence
MAX_SEED = 2**63 - 1  # OpenAI takes a 64-bit signed seed


def parse_body(body: Any) -> tuple[dict[str, Any], bool, str, dict[str, Any]]:
    """→ (internal body, stream, model, extras)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for name, (default, why) in _REFUSED.items():
        if body.get(name) is not None and body[name] != default:
            unsupported(name, why)
    only_keys(body, _KNOWN | _REFUSED.keys(), "")
    model = body.get("model")
    if model is None:
        bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    model = string(model, "model", "model", allow_empty=False)
    if body.get("messages") is None:
        bad("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    max_items = getattr(settings, "HARNMODEL_MAX_INPUT_ITEMS", schema.DEFAULT_MAX_INPUT_ITEMS)
    items, paths = input_items(body["messages"], max_items)
    out: dict[str, Any] = {"model": model, "input": items}
    for name in _SAME[1:]:
        if body.get(name) is not None:
            out[name] = body[name]
    _refuse_choices_and_logprobs(body)
    stream = False if body.get("stream") is None else boolean(body["stream"], "stream")
    if stream:
        out["stream"] = True
    extras: dict[str, Any] = {"include_usage": _include_usage(body.get("stream_options"), stream)}
    # Where each internal field came from, so a later 400 (a channel's) can name the client's field.
    extras["input_paths"] = paths
    extras["max_tokens_param"] = (
        "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    )
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"], {tool["name"] for tool in tools})
    cap = _max_tokens(body)
    if cap is not None:
        out["max_output_tokens"] = cap
    text: dict[str, Any] = {}
    if body.get("response_format") is not None:
        text["format"] = _response_format(body["response_format"])
    if body.get("verbosity") is not None:
        text["verbosity"] = one_of(body["verbosity"], _VERBOSITY, "verbosity")
    if text:
        out["text"] = text
    if body.get("reasoning_effort") is not None:
        out["reasoning"] = {"effort": one_of(body["reasoning_effort"], _EFFORTS, "reasoning_effort")}
    if body.get("stop") is not None:
        stop = _stop(body["stop"])
        if stop:
            extras["stop"] = stop
    if body.get("seed") is not None:
        extras["seed"] = integer(body["seed"], "seed", -MAX_SEED - 1, MAX_SEED)
    return out, stream, model, extras


def _refuse_choices_and_logprobs(body: dict[str, Any]) -> None:
    if body.get("n") is not None and integer(body["n"], "n", 1, 128) != 1:
        unsupported("n", "only one choice (n=1) can be generated per request.")
    if body.get("logprobs") is not None and boolean(body["logprobs"], "logprobs"):
        unsupported("logprobs", "log probabilities cannot be returned on this endpoint.")
    if body.get("top_logprobs") is not None:
        unsupported("top_logprobs", "log probabilities cannot be returned on this endpoint.")
    modalities = body.get("modalities")
    if modalities is not None and array(modalities, "modalities", 4, allow_empty=True) not in ([], ["text"]):
        unsupported("modalities", "only text output is supported.")


def _include_usage(options: Any, stream: bool) -> bool:
    if options is None:
        return False
    if not stream:
        bad("'stream_options' is only allowed when 'stream' is true.", "stream_options")
    options = obj(options, "stream_options")
    # include_obfuscation asks for random padding on deltas; leaving it out changes no content.
    only_keys(options, frozenset({"include_usage", "include_obfuscation"}), "stream_options")
    if options.get("include_obfuscation") is not None:
        boolean(options["include_obfuscation"], "stream_options.include_obfuscation")
    value = options.get("include_usage")
    return False if value is None else boolean(value, "stream_options.include_usage")


def _max_tokens(body: dict[str, Any]) -> int | None:
    """Both names mean the same cap here (reasoning included, as Responses' max_output_tokens)."""
    caps = {
        name: integer(body[name], name, 1, MAX_TOKENS)
        for name in ("max_completion_tokens", "max_tokens")
        if body.get(name) is not None
    }
    if len(set(caps.values())) > 1:
        bad("Send 'max_completion_tokens' or 'max_tokens', not two different caps.", "max_tokens")
    return next(iter(caps.values()), None)


def _stop(value: Any) -> list[str]:
    stops = [value] if isinstance(value, str) else array(value, "stop", MAX_STOP, allow_empty=True)
    for index, stop in enumerate(stops):
        param = "stop" if isinstance(value, str) else f"stop[{index}]"
        if not isinstance(stop, str) or not stop:
            bad(f"'{param}' must be a non-empty string.", param)
        if len(stop) > MAX_STOP_CHARS:
            bad(f"'{param}' is longer than {MAX_STOP_CHARS} characters.", param, "string_above_max_length")
    return stops


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    limit = getattr(settings, "HARNMODEL_MAX_TOOLS", schema.DEFAULT_MAX_TOOLS)
    tools = []
    for index, tool in enumerate(array(value, "tools", limit, allow_empty=True)):
        where = f"tools[{index}]"
        tool = obj(tool, where)
        if tool.get("type") != "function":
            if isinstance(tool.get("type"), str):
                unsupported(f"{where}.type", "only function tools are supported.")
            bad("A tool 'type' must be 'function'.", f"{where}.type")
        only_keys(tool, frozenset({"type", "function"}), where)
        function = obj(tool.get("function"), f"{where}.function")
        only_keys(function, frozenset({"name", "description", "parameters", "strict"}), f"{where}.function")
        name = string(function.get("name"), f"{where}.function.name", "name", allow_empty=False)
        if not schema._TOOL_NAME.match(name):
            bad("A function name must be 1-64 letters, digits, '_' or '-'.", f"{where}.function.name")
        mapped: dict[str, Any] = {"type": "function", "name": name}
        if function.get("description") is not None:
            mapped["description"] = string(function["description"], f"{where}.function.description", "text")
        if function.get("parameters") is not None:
            mapped["parameters"] = obj(function["parameters"], f"{where}.function.parameters")
        # Responses makes a tool strict when `strict` is left out; Chat does not. Say it explicitly.
        strict = function.get("strict")
        mapped["strict"] = False if strict is None else boolean(strict, f"{where}.function.strict")
        tools.append(mapped)
    if len({tool["name"] for tool in tools}) < len(tools):
        bad("Function names must be unique.", "tools")
    return tools


def _tool_choice(value: Any, names: set[str]) -> str | dict[str, Any]:
    if isinstance(value, str):
        return one_of(value, _MODES, "tool_choice")
    choice = obj(value, "tool_choice")
    kind = choice.get("type")
    if kind == "function":
        only_keys(choice, frozenset({"type", "function"}), "tool_choice")
        return {"type": "function", "name": _named(choice.get("function"), "tool_choice.function", names)}
    if kind == "allowed_tools":
        only_keys(choice, frozenset({"type", "allowed_tools"}), "tool_choice")
        allowed = obj(choice.get("allowed_tools"), "tool_choice.allowed_tools")
        only_keys(allowed, frozenset({"mode", "tools"}), "tool_choice.allowed_tools")
        mode = one_of(allowed.get("mode"), frozenset({"auto", "required"}), "tool_choice.allowed_tools.mode")
        listed = array(allowed.get("tools"), "tool_choice.allowed_tools.tools", max(len(names), 1))
        tools = []
        for index, tool in enumerate(listed):
            where = f"tool_choice.allowed_tools.tools[{index}]"
            tool = obj(tool, where)
            if tool.get("type") != "function":
                unsupported(f"{where}.type", "only function tools can be listed.")
            only_keys(tool, frozenset({"type", "function"}), where)
            tools.append({"type": "function", "name": _named(tool.get("function"), f"{where}.function", names)})
        return {"type": "allowed_tools", "mode": mode, "tools": tools}
    if isinstance(kind, str):
        unsupported("tool_choice.type", "only none, auto, required, function and allowed_tools are supported.")
    bad("'tool_choice' must be none, auto, required or an object with a 'type'.", "tool_choice")


def _named(value: Any, param: str, names: set[str]) -> str:
    function = obj(value, param)
    only_keys(function, frozenset({"name"}), param)
    name = string(function.get("name"), f"{param}.name", "name", allow_empty=False)
    if name not in names:
        raise InvalidRequest(f"'{param}.name' must name one of the function tools sent.", param=f"{param}.name")
    return name


def _response_format(value: Any) -> dict[str, Any]:
    fmt = obj(value, "response_format")
    kind = one_of(fmt.get("type"), _FORMATS, "response_format.type")
    if kind != "json_schema":
        only_keys(fmt, frozenset({"type"}), "response_format")
        return {"type": kind}
    only_keys(fmt, frozenset({"type", "json_schema"}), "response_format")
    spec = obj(fmt.get("json_schema"), "response_format.json_schema")
    where = "response_format.json_schema"
    only_keys(spec, frozenset({"name", "schema", "description", "strict"}), where)
    name = string(spec.get("name"), f"{where}.name", "name", allow_empty=False)
    if not schema._TOOL_NAME.match(name):
        bad("A schema name must be 1-64 letters, digits, '_' or '-'.", f"{where}.name")
    if spec.get("schema") is None:
        bad("A json_schema format needs a 'schema' object here.", f"{where}.schema", "missing_required_parameter")
    out: dict[str, Any] = {"type": "json_schema", "name": name, "schema": obj(spec["schema"], f"{where}.schema")}
    if spec.get("description") is not None:
        out["description"] = string(spec["description"], f"{where}.description", "text")
    if spec.get("strict") is not None:
        out["strict"] = boolean(spec["strict"], f"{where}.strict")
    return out
