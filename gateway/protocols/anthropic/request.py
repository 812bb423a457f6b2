"""Anthropic Messages request body → the internal form, a Responses request body (wire-formats §6.2,
§6.6 read right to left). Every error names the client's own field.

What has no Responses field rides in DoorRequest.extras, for the channels and the relay to honour:
`top_k`, `stop_sequences`, `thinking` (the object as sent), `cache_control` (breakpoints: client path,
internal path, the object), `tool_errors` (tool_use ids whose result had `is_error: true`),
`anthropic_version`, `anthropic_beta`; and `paths` (internal input paths → client paths, params.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from django.conf import settings

from gateway.protocols.anthropic import headers as header_rules
from gateway.protocols.anthropic.blocks import Converter
from gateway.protocols.anthropic.context_edits import context_management
from gateway.protocols.anthropic.fields import (
    array,
    boolean,
    integer,
    invalid,
    kind_of,
    number,
    obj,
    one_of,
    only_keys,
    refuse,
    string,
)
from gateway.protocols.door import DoorRequest
from gateway.wire import limits
from gateway.wire.limits import MAX_TOKENS
from gateway.wire.schema import DEFAULT_MAX_INPUT_ITEMS, DEFAULT_MAX_TOOLS

MAX_STOP_SEQUENCES = 64
MAX_STOP_CHARS = 1024
MAX_TOP_K = 1_000_000
MIN_THINKING_BUDGET = 1024  # Anthropic's own minimum
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the internal form's rule (Anthropic allows 128)
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
_SERVICE_TIERS = {"auto": "auto", "standard_only": "default"}
_MESSAGES_FIELDS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "thinking",
        "metadata",
        "stream",
        "service_tier",
        "output_config",
        "cache_control",
        "context_management",
    }
)
_COUNT_FIELDS = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control",
     "context_management"}
)
_TOOL_FIELDS = frozenset({"type", "name", "description", "input_schema", "strict", "cache_control"})
_TOOL_NULLABLE = frozenset({"allowed_callers", "defer_loading", "eager_input_streaming", "input_examples"})


# Extras that change the answer: a channel that cannot honour one must refuse the request (400 naming the
# client's field), never answer without it. The other extras are hints (cache breakpoints, is_error, the
# thinking object beside its `reasoning` mapping, headers) that a channel may ignore.
ANSWER_CHANGING_EXTRAS = ("top_k", "stop_sequences")


def require_supported(request: DoorRequest, supported: Collection[str]) -> None:
    """For the relay once the channel is chosen: refuse what that channel cannot honour. `supported` names
    the extras the channel reads (e.g. an Anthropic channel: both; a Responses channel: none)."""
    for name in ANSWER_CHANGING_EXTRAS:
        if name in request.extras and name not in supported:
            raise refuse(name, "the model's provider for this request cannot honour it.")


def _max_items() -> int:
    return getattr(settings, "HARNMODEL_MAX_INPUT_ITEMS", DEFAULT_MAX_INPUT_ITEMS)


def parse_messages(body: Any, headers: Mapping[str, str] | None = None) -> DoorRequest:
    """`POST /v1/messages`."""
    return _parse(body, headers, count=False)


def parse_count_tokens(body: Any, headers: Mapping[str, str] | None = None) -> DoorRequest:
    """`POST /v1/messages/count_tokens`: the same body without `max_tokens`, `stream` and sampling. The
    internal form has no `max_output_tokens`; the lead's token counter reads `body` (never charged)."""
    return _parse(body, headers, count=True)


def _parse(body: Any, headers: Mapping[str, str] | None, *, count: bool) -> DoorRequest:
    if not isinstance(body, dict):
        raise invalid("body", "The request body must be a JSON object.", "invalid_type")
    allowed = _COUNT_FIELDS if count else _MESSAGES_FIELDS
    for name in body:
        if name not in allowed:
            raise refuse(
                limits.clip(name),
                "this gateway cannot carry this field"
                + (" in count_tokens." if count and name in _MESSAGES_FIELDS else "."),
            )
    given = {name: value for name, value in body.items() if value is not None}  # null reads as absent
    for name in ("model", "messages") if count else ("model", "max_tokens", "messages"):
        if name not in given:
            raise invalid(name, f"'{name}' is required.", "missing_required_parameter")
    model = string(given["model"], "model", "model", empty=False).strip()
    if not model:
        raise invalid("model", "'model' must not be empty.")
    extras: dict[str, Any] = {}
    out: dict[str, Any] = {"model": model}
    converter = Converter(_max_items())

    system = given.get("system")
    if isinstance(system, str):
        if string(system, "system"):
            out["instructions"] = system
    elif system is not None:
        converter.system(array(system, "system", _max_items()), "system")
    messages = array(given["messages"], "messages", _max_items())
    if not messages:
        raise invalid("messages", "'messages' must not be empty.")
    for index, message in enumerate(messages):
        converter.message(obj(message, f"messages[{index}]"), f"messages[{index}]", _max_items())
    out["input"] = converter.items

    if not count:
        out["max_output_tokens"] = integer(given["max_tokens"], "max_tokens", 1, MAX_TOKENS)
    if "tools" in given:
        out["tools"] = _tools(given["tools"], converter)
    if "tool_choice" in given:
        _tool_choice(given["tool_choice"], out)
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):  # Anthropic's temperature range is 0–1
        if name in given:
            out[name] = number(given[name], name, 0.0, high)
    if "top_k" in given:
        extras["top_k"] = integer(given["top_k"], "top_k", 0, MAX_TOP_K)
    if "stop_sequences" in given:
        extras["stop_sequences"] = _stop_sequences(given["stop_sequences"])
    if "thinking" in given:
        extras["thinking"] = _thinking(given["thinking"], out)
    if "output_config" in given:
        _output_config(given["output_config"], out)
    if "context_management" in given:  # a hint: see context_edits.py
        extras["context_management"] = context_management(given["context_management"])
    if "metadata" in given:
        metadata = obj(given["metadata"], "metadata")
        only_keys(metadata, "metadata", frozenset({"user_id"}))
        if metadata.get("user_id") is not None:
            out["safety_identifier"] = string(metadata["user_id"], "metadata.user_id", "id")
    if "service_tier" in given:
        tier = given["service_tier"]
        if not one_of(tier, _SERVICE_TIERS):
            raise invalid("service_tier", "'service_tier' must be 'auto' or 'standard_only'.")
        out["service_tier"] = _SERVICE_TIERS[tier]
    if "cache_control" in given:  # top-level automatic caching: a breakpoint on the whole prompt
        converter.breakpoint(given, "", "")
    stream = boolean(given["stream"], "stream") if "stream" in given else False
    if stream:
        out["stream"] = True
    out["store"] = False  # Anthropic clients resend the whole conversation; nothing to keep

    if converter.breakpoints:
        extras["cache_control"] = converter.breakpoints
    if converter.tool_errors:
        extras["tool_errors"] = converter.tool_errors
    extras["paths"] = converter.paths  # for params.client_param: later errors in the client's names
    if (version := header_rules.anthropic_version(headers)) is not None:
        extras["anthropic_version"] = version
    if betas := header_rules.anthropic_beta(headers):
        extras["anthropic_beta"] = betas
    if count:
        extras["count_tokens"] = True
    _check_thinking_budget(extras.get("thinking"), out.get("max_output_tokens"))
    return DoorRequest(body=out, stream=stream, model=model, extras=extras)


# -- tools ---------------------------------------------------------------------------------------


def _tools(value: Any, converter: Converter) -> list[dict[str, Any]]:
    limit = getattr(settings, "HARNMODEL_MAX_TOOLS", DEFAULT_MAX_TOOLS)
    tools = []
    for index, tool in enumerate(array(value, "tools", limit)):
        where = f"tools[{index}]"
        tool = obj(tool, where)
        if tool.get("type") not in (None, "custom"):
            raise invalid(
                f"{where}.type",
                "Only custom (function) tools are supported; server tools are not.",
                "unsupported_value",
            )
        only_keys(tool, where, _TOOL_FIELDS, _TOOL_NULLABLE)
        name = string(tool.get("name"), f"{where}.name", "name")
        if not _TOOL_NAME.match(name):
            raise invalid(f"{where}.name", "A tool 'name' must be 1-64 letters, digits, '_' or '-'.")
        schema = obj(tool.get("input_schema"), f"{where}.input_schema")
        if schema.get("type") != "object":
            raise invalid(f"{where}.input_schema.type", "A tool's 'input_schema.type' must be 'object'.")
        # Responses treats an omitted `strict` as strict (wire-formats §8.22); Anthropic's default is not.
        strict = boolean(tool["strict"], f"{where}.strict") if tool.get("strict") is not None else False
        mapped: dict[str, Any] = {"type": "function", "name": name}
        if tool.get("description") is not None:
            mapped["description"] = string(tool["description"], f"{where}.description")
        mapped.update(parameters=schema, strict=strict)
        converter.breakpoint(tool, where, where)
        tools.append(mapped)
    return tools


def _tool_choice(value: Any, out: dict[str, Any]) -> None:
    choice = obj(value, "tool_choice")
    kind = kind_of(choice, "tool_choice")
    if kind == "none":
        only_keys(choice, "tool_choice", frozenset({"type"}))
        out["tool_choice"] = "none"
        return
    if kind not in ("auto", "any", "tool"):
        raise invalid("tool_choice.type", "'tool_choice.type' must be auto, any, tool or none.")
    only_keys(
        choice,
        "tool_choice",
        frozenset({"type", "disable_parallel_tool_use"} | ({"name"} if kind == "tool" else set())),
    )
    if kind == "tool":
        name = string(choice.get("name"), "tool_choice.name", "name")
        if name not in {tool["name"] for tool in out.get("tools", ())}:
            raise invalid("tool_choice.name", "'tool_choice.name' must name one of the tools sent.")
        out["tool_choice"] = {"type": "function", "name": name}
    else:
        out["tool_choice"] = "auto" if kind == "auto" else "required"
    if choice.get("disable_parallel_tool_use") is not None:
        if boolean(choice["disable_parallel_tool_use"], "tool_choice.disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False


# -- sampling, thinking, output ------------------------------------------------------------------


def _stop_sequences(value: Any) -> list[str]:
    sequences = array(value, "stop_sequences", MAX_STOP_SEQUENCES)
    for index, sequence in enumerate(sequences):
        param = f"stop_sequences[{index}]"
        if not isinstance(sequence, str) or not sequence or len(sequence) > MAX_STOP_CHARS:
            raise invalid(param, f"'{param}' must be a non-empty string of at most {MAX_STOP_CHARS} characters.")
    return list(sequences)


def _thinking(value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """The object goes to extras as sent (an Anthropic channel can send it on); the internal form gets the
    nearest `reasoning` (effort from the budget; summaries on, since thinking text is what clients show)."""
    thinking = obj(value, "thinking")
    kind = kind_of(thinking, "thinking")
    if kind == "disabled":
        only_keys(thinking, "thinking", frozenset({"type"}))
        return {"type": "disabled"}
    if kind not in ("enabled", "adaptive"):
        raise invalid("thinking.type", "'thinking.type' must be enabled, disabled or adaptive.")
    only_keys(
        thinking, "thinking", frozenset({"type", "display"} | ({"budget_tokens"} if kind == "enabled" else set()))
    )
    if thinking.get("display") is not None and thinking["display"] not in ("summarized", "omitted"):
        raise invalid("thinking.display", "'thinking.display' must be 'summarized' or 'omitted'.")
    reasoning: dict[str, Any] = {"summary": "auto"}
    if kind == "enabled":
        budget = integer(thinking.get("budget_tokens"), "thinking.budget_tokens", MIN_THINKING_BUDGET, MAX_TOKENS)
        reasoning["effort"] = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    out["reasoning"] = reasoning
    return dict(thinking)


def _check_thinking_budget(thinking: dict[str, Any] | None, max_tokens: int | None) -> None:
    if thinking and max_tokens is not None and "budget_tokens" in thinking and thinking["budget_tokens"] >= max_tokens:
        raise invalid("thinking.budget_tokens", "'thinking.budget_tokens' must be less than 'max_tokens'.")


def _output_config(value: Any, out: dict[str, Any]) -> None:
    config = obj(value, "output_config")
    only_keys(config, "output_config", frozenset({"effort", "format"}))
    if config.get("effort") is not None:
        if not one_of(config["effort"], _EFFORTS):
            raise invalid("output_config.effort", "'output_config.effort' must be low, medium, high, xhigh or max.")
        out.setdefault("reasoning", {})["effort"] = config["effort"]
    if config.get("format") is not None:
        fmt = obj(config["format"], "output_config.format")
        only_keys(fmt, "output_config.format", frozenset({"type", "schema"}))
        if fmt.get("type") != "json_schema":
            raise invalid("output_config.format.type", "'output_config.format.type' must be 'json_schema'.")
        schema = obj(fmt.get("schema"), "output_config.format.schema")
        # Responses needs a format name; Anthropic has none. Its structured output is always strict.
        out["text"] = {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}}
