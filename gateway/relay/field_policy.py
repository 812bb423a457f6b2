"""The field policy (H1): which parts of a Responses request any upstream may see.

An allowlist, not a denylist. The top-level fields in FORWARDED are metered work and go to every
channel. Everything else makes an upstream do work on the operator's account that token usage does
not pay for — deferred (`background`), stateful (`store: true`, `conversation`, `prompt`,
`item_reference` and `file_id` point into the operator's single upstream account, where another
tenant's ids could be guessed; long prompt-cache retention), priced differently (`service_tier`
other than auto/default) or hosted tools whose per-call fees are not tokens — or is simply unknown.
Such a request is refused with 400 `unsupported_parameter` naming the field, unless the operator
allows it on a channel (Channel.options):

* `allow_fields`: gated field names (GATED_FIELDS, or any unknown top-level field) a channel forwards;
* `allow_tools`: hosted tool kinds (web_search, file_search, code_interpreter, image_generation, mcp,
  computer_use, …) a channel may run. A hosted tool also needs a per-call price on the model
  (billing.Price.tool_call_micros): the hold covers `max_tool_calls` calls at the dearest requested
  tool and settlement charges the calls the upstream made. On translated channels only `web_search` runs
  (Anthropic's server tool, Gemini's Google Search; docs/agents.md); others are refused there;
* `allow_url_hosts`: internal hosts customer URLs may name (url_policy, L7);
* `drop_tools`: hosted tool kinds (or `"*"`) a channel that does not run them removes from a request instead of
  refusing it, so an agent that always offers one (Codex: `web_search`) still gets its turn; the model just
  does not get the tool. Forcing a dropped tool (`tool_choice`) is still refused. docs/agents.md.

`previous_response_id` stays forwarded: the id is signed to its account (response_ids) and the
upstream meters the conversation's input tokens. A Responses passthrough sends `store: false`
unless the channel allows `store`, so nothing is kept on the operator's account by default; a
follow-up on `previous_response_id` therefore needs a store-enabled channel for upstreams that
look responses up (OpenAI).

Admission refuses a request no candidate channel allows (before any hold); routing skips channels
that do not allow everything the request uses.
"""

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings

from gateway.relay import url_policy
from gateway.relay.url_policy import Flagged
from gateway.wire.errors import InvalidRequest

# Top-level fields every channel gets: the typed request (schema.ResponsesRequest) and the harmless rest.
FORWARDED = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "stream", "stream_options", "temperature",
        "top_p", "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls", "text", "user",
        "reasoning", "store", "include", "truncation", "previous_response_id", "safety_identifier",
        "prompt_cache_key", "service_tier", "top_logprobs",
    }
)  # fmt: skip
# Gated names an operator may list in `allow_fields` (besides unknown top-level fields, by their name).
GATED_FIELDS = (
    "background",  # deferred: answers `queued` with no usage, generates later on our account
    "background_options",
    "conversation",  # stateful: a conversation object in the operator's upstream account
    "prompt",  # a stored prompt template in the operator's upstream account
    "store",  # `store: true` keeps the response in the operator's upstream account
    "item_reference",  # an input item pointing at stored items
    "file_id",  # input_image / input_file naming a file stored in the operator's upstream account
    "prompt_cache_retention",  # extended (24h) cache storage
    "prompt_cache_options",
    "service_tier",  # priority / flex / scale … bill at another rate than our price
)
HOSTED_TOOLS = ("web_search", "file_search", "code_interpreter", "image_generation", "mcp", "computer_use")
# Tools the client runs itself: the upstream only emits a call item, metered as tokens. A `namespace` (Codex)
# is a group of function tools under one name.
CLIENT_TOOLS = frozenset({"function", "custom", "local_shell", "apply_patch", "namespace"})
_ALIASES = {"web_search_preview": "web_search", "computer": "computer_use", "computer_use_preview": "computer_use"}
_DATED = re.compile(r"_\d{4}_\d{2}_\d{2}$")
_PLAIN_TIERS = frozenset({"auto", "default"})
_OPTION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
OPTION_KEYS = ("allow_fields", "allow_tools", "allow_url_hosts", "drop_tools")

DEFAULT_MAX_TOOL_CALLS = 8  # hosted calls held for when the request names no max_tool_calls
MAX_TOOL_CALLS = 64  # the most a request may ask for


def tool_kind(tool_type: str) -> str:
    """A hosted tool's canonical kind: dated and preview variants share one switch and one price."""
    base = _DATED.sub("", tool_type)
    return _ALIASES.get(base, base)


@dataclass(frozen=True, slots=True)
class Needs:
    """What a request asks of a channel beyond the always-forwarded fields."""

    fields: tuple[tuple[str, str], ...] = ()  # (name in allow_fields, param)
    tools: tuple[tuple[str, str], ...] = ()  # (hosted tool kind, param)
    urls: tuple[Flagged, ...] = ()
    max_tool_calls: int = 0  # hosted calls the hold covers; 0 without hosted tools

    def __bool__(self) -> bool:
        return bool(self.fields or self.tools or self.urls)


NONE = Needs()


def _limit(name: str, default: int) -> int:
    return getattr(settings, name, default)


_CHOICE_FORMS = frozenset({"auto", "none", "required", "allowed_tools", "function", "custom"})


def client_tool(tool: dict[str, Any]) -> bool:
    """Run by the client: functions and their kin, and a tool search the client executes (Codex's)."""
    return tool["type"] in CLIENT_TOOLS or (tool["type"] == "tool_search" and tool.get("execution") == "client")


def hosted_tools(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, param) of every hosted tool a request offers or forces (`tool_choice: {"type": "web_search"}`)."""
    found = [
        (tool_kind(tool["type"]), f"tools[{index}]")
        for index, tool in enumerate(raw.get("tools") or ())
        if isinstance(tool, dict) and isinstance(tool.get("type"), str) and not client_tool(tool)
    ]
    choice = raw.get("tool_choice")
    forced = choice.get("type") if isinstance(choice, dict) else None
    if isinstance(forced, str) and forced not in _CHOICE_FORMS and forced not in CLIENT_TOOLS:
        found.append((tool_kind(forced), "tool_choice"))
    return found


def hosted_call_cap(raw: dict[str, Any]) -> int:
    """The hosted-tool calls a request may make: its `max_tool_calls`, or the default cap. 0 without hosted tools."""
    if not hosted_tools(raw):
        return 0
    asked = raw.get("max_tool_calls")
    return asked if asked is not None else _limit("HARNMODEL_DEFAULT_MAX_TOOL_CALLS", DEFAULT_MAX_TOOL_CALLS)


def _active(name: str, value: Any) -> bool:
    if name == "background":
        return bool(value)
    if name == "store":
        return value is True
    if name == "service_tier":
        return value is not None and value not in _PLAIN_TIERS
    if name == "prompt_cache_retention":
        return value not in (None, "in_memory")
    return value is not None


def requirements(raw: dict[str, Any]) -> Needs:
    """What this (already validated) request needs a channel to allow. Raises InvalidRequest for a bad max_tool_calls."""
    fields: list[tuple[str, str]] = []
    for name, value in raw.items():
        if name in GATED_FIELDS:
            if _active(name, value):
                fields.append((name, name))
        elif name not in FORWARDED:
            fields.append((name, name))
    items = raw.get("input")
    for index, item in enumerate(items if isinstance(items, list) else ()):
        if item.get("type") == "item_reference":
            fields.append(("item_reference", f"input[{index}]"))
        for key in ("content", "output"):
            parts = item.get(key)
            for number, part in enumerate(parts if isinstance(parts, list) else ()):
                if isinstance(part, dict) and part.get("file_id") is not None:
                    fields.append(("file_id", f"input[{index}].{key}[{number}].file_id"))
    tools = hosted_tools(raw)
    asked = raw.get("max_tool_calls")
    ceiling = _limit("HARNMODEL_MAX_TOOL_CALLS", MAX_TOOL_CALLS)
    if asked is not None and (type(asked) is not int or not 0 <= asked <= ceiling):
        raise InvalidRequest(f"'max_tool_calls' must be an integer from 0 to {ceiling}.", param="max_tool_calls")
    return Needs(
        fields=tuple(fields),
        tools=tuple(tools),
        urls=url_policy.flagged_urls(raw),
        max_tool_calls=hosted_call_cap(raw) if tools else 0,
    )


Miss = tuple[str, str, str]  # (what, name, param)


def unmet(options: dict[str, Any], needs: Needs) -> Miss | None:
    """The first need a channel (by its options) does not allow: (what, name, param), or None."""
    if not needs:
        return None
    fields = options.get("allow_fields") or ()
    for name, param in needs.fields:
        if name not in fields:
            return "field", name, param
    tools = options.get("allow_tools") or ()
    for kind, param in needs.tools:
        if kind not in tools and not (param != "tool_choice" and drops(options, kind)):
            return "tool", kind, param
    hosts = options.get("allow_url_hosts") or []
    for flagged in needs.urls:
        if not url_policy.host_allowed(flagged, hosts):
            return "url", flagged.host, flagged.param
    return None


def refusal(what: str, name: str, param: str, model: str) -> InvalidRequest:
    if what == "url":
        return InvalidRequest(
            f"Invalid '{param}': the host '{name[:100]}' is private, local or otherwise not public; "
            "this gateway does not fetch such URLs.",
            param=param,
            code="url_not_allowed",
        )
    if what == "tool":
        message = f"The hosted tool '{name}' is not available for the model '{model}' on this gateway."
    else:
        message = f"Unsupported parameter: '{name[:100]}' is not supported for the model '{model}' on this gateway."
    return InvalidRequest(message, param=param, code="unsupported_parameter")


def _singles(needs: Needs) -> list[Needs]:
    return (
        [Needs(fields=(need,)) for need in needs.fields]
        + [Needs(tools=(need,)) for need in needs.tools]
        + [Needs(urls=(flagged,)) for flagged in needs.urls]
    )


def admit(needs: Needs, channels, price, model: str) -> None:
    """Refuse, before any hold, what no candidate channel allows or no price pays for."""
    if not needs:
        return
    misses = [unmet(channel.options, needs) for channel in channels]
    if misses and all(misses):
        for single in _singles(needs):  # name first what no channel allows at all
            if all(unmet(channel.options, single) for channel in channels):
                raise refusal(*cast(Miss, unmet(channels[0].options, single)), model)
        raise refusal(*cast(Miss, misses[0]), model)  # each is allowed somewhere, but never all together
    for kind, param in needs.tools:
        if not any(kind in (channel.options.get("allow_tools") or ()) for channel in channels):
            continue  # every channel drops it (drop_tools): no call to pay for
        if price is None or price.tool_price(kind) is None:
            raise InvalidRequest(
                f"The hosted tool '{kind}' has no per-call price for the model '{model}'; it cannot be used.",
                param=param,
                code="unsupported_parameter",
            )


def drops(options: dict[str, Any], kind: str) -> bool:
    """Whether a channel removes this hosted tool kind rather than refuse it (it never drops what it runs)."""
    dropped = options.get("drop_tools") or ()
    return kind not in (options.get("allow_tools") or ()) and ("*" in dropped or kind in dropped)


def drop_hosted(body: dict[str, Any], options: dict[str, Any]) -> None:
    """Remove from a Responses body the hosted tools this channel drops (drop_tools)."""
    tools = body.get("tools")
    if isinstance(tools, list):
        kept = [t for t in tools if not (isinstance(t, dict) and isinstance(t.get("type"), str)
                                         and t["type"] not in CLIENT_TOOLS and drops(options, tool_kind(t["type"])))]
        if len(kept) != len(tools):
            body["tools"] = kept


def tool_kinds(needs: Needs) -> tuple[str, ...]:
    return tuple(sorted({kind for kind, _ in needs.tools}))


def count_tool_calls(output: Any) -> tuple[tuple[str, int], ...]:
    """Hosted-tool calls in a response's output (`web_search_call`, `mcp_call`, …), by kind, sorted."""
    counts: Counter[str] = Counter()
    for item in output if isinstance(output, list) else ():
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind.endswith("_call") and kind[:-5] not in CLIENT_TOOLS:
            if kind != "custom_tool_call":
                counts[tool_kind(kind[:-5])] += 1
    return tuple(sorted(counts.items()))


def passthrough_body(body: dict[str, Any], options: dict[str, Any]) -> None:
    """The edits a Responses passthrough makes: nothing stored upstream unless allowed; hosted calls capped."""
    if "store" not in (options.get("allow_fields") or ()):
        body["store"] = False
    drop_hosted(body, options)
    cap = hosted_call_cap(body)
    if cap:
        body["max_tool_calls"] = cap  # the upstream enforces the cap the hold was sized for


def validate_options(options: Any) -> list[str]:
    """Problems with a channel's policy options (the admin form and the catalog file both ask)."""
    if not isinstance(options, dict):
        return []
    errors = []
    for key in ("allow_fields", "allow_tools", "drop_tools"):
        value = options.get(key)
        if value is None:
            continue
        if (
            not isinstance(value, list)
            or len(value) > 100
            or not all(isinstance(v, str) and (_OPTION_NAME.match(v) or (key == "drop_tools" and v == "*"))
                       for v in value)
        ):
            errors.append(f"{key} must be a list of at most 100 names (letters, digits, _ . -)")
        elif key == "allow_fields" and (forwarded := sorted(set(value) & (FORWARDED - set(GATED_FIELDS)))):
            errors.append(f"allow_fields: {', '.join(forwarded)} are always forwarded; list only gated fields")
        elif key in ("allow_tools", "drop_tools") and (client := sorted(set(value) & CLIENT_TOOLS)):
            errors.append(f"{key}: {', '.join(client)} run on the client and need no switch")
    if options.get("allow_url_hosts") is not None:
        problem = url_policy.validate_allowlist(options["allow_url_hosts"])
        if problem:
            errors.append(problem)
    return errors
