"""Coding agents' tool shapes on translated channels (Chat Completions, Anthropic, Gemini), which know only
plain functions. Codex sends more than functions: a `namespace` (functions grouped under one name),
`custom` (freeform) tools such as `apply_patch`, sometimes `local_shell`, and hosted tools (`web_search`).

Going up (`flatten`), every client-run tool becomes a function the upstream can call:

* a namespace's functions → `<namespace>__<name>`; a custom tool → a function taking one string, `input`
  (its grammar, if any, told in the description); `local_shell` → a function taking the exec action;
* the conversation's earlier calls and outputs of those tools → function calls and outputs under those names;
  an earlier turn's `web_search_call` (made on a Responses channel) is left out, its findings being in the text;
* a hosted tool is left for the channel to translate (web_search on Anthropic and Gemini: anthropic/web_search.py,
  gemini/grounding.py) or refuse, unless the channel's `drop_tools` names its kind (or `"*"`): then it is
  removed, the model simply does not get it (docs/agents.md). A forced dropped one is refused.

Coming back (`ToolNames`, used by the response builder), a call of a flattened name is the client's own shape
again: `function_call` with `namespace`, `custom_tool_call` with `input`, `local_shell_call` with `action`.
The mapping is a pure function of the request's tools, so both directions rebuild it and agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec

from gateway.relay.field_policy import CLIENT_TOOLS, tool_kind
from gateway.wire.errors import InvalidRequest
from gateway.wire.schema import ParsedRequest

SEPARATOR = "__"
MAX_NAME = 64  # the strictest upstream rule (Anthropic: 64; Gemini: 63 after our prefix-free names)
CUSTOM_PARAMETERS = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's whole input, as free text."}},
    "required": ["input"],
    "additionalProperties": False,
}
LOCAL_SHELL_PARAMETERS = {
    "type": "object",
    "properties": {
        "command": {"type": "array", "items": {"type": "string"}, "description": "argv of the command to run"},
        "workdir": {"type": "string"},
        "timeout_ms": {"type": "integer"},
    },
    "required": ["command"],
}
_OUTPUTS = {"custom_tool_call_output", "local_shell_call_output"}


def _short(name: str) -> str:
    """A flattened name that fits every upstream: long ones keep a prefix and a stable hash."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name[: MAX_NAME - 9] + "_" + digest


class ToolNames:
    """Flattened name → (kind, the client's name, namespace or None), kind ∈ function | custom | local_shell."""

    def __init__(self, tools: list[dict[str, Any]] | None) -> None:
        self.entries: dict[str, tuple[str, str, str | None]] = {}
        self.flat: dict[tuple[str | None, str], str] = {}
        # Top-level functions keep their names: a flattened name never takes one of them.
        self.taken = {str(t.get("name")) for t in tools or () if t.get("type") == "function"}
        for tool in tools or ():
            kind = tool.get("type")
            if kind == "namespace":
                for inner in tool.get("tools") or ():
                    if isinstance(inner, dict) and inner.get("type") in ("function", "custom"):
                        self._add(inner["type"], str(inner.get("name")), str(tool.get("name")))
            elif kind == "custom":
                self._add("custom", str(tool.get("name")), None)
            elif kind == "local_shell":
                self._add("local_shell", "local_shell", None)
        self.special = bool(self.entries)

    def _add(self, kind: str, name: str, namespace: str | None) -> None:
        wanted = _short(f"{namespace}{SEPARATOR}{name}" if namespace else name)
        flat, n = wanted, 1
        while flat in self.entries or flat in self.taken:
            n += 1
            flat = _short(f"{wanted}_{n}")
        self.entries[flat] = (kind, name, namespace)
        self.flat[(namespace, name)] = flat

    def name_for(self, name: str, namespace: str | None) -> str:
        return self.flat.get((namespace, name), name)

    def kind_of(self, flat: str) -> str:
        entry = self.entries.get(flat)
        return entry[0] if entry else "function"

    def restore_function(self, item: dict[str, Any]) -> None:
        """A namespaced function's call gets its own name and `namespace` back."""
        entry = self.entries.get(item.get("name") or "")
        if entry and entry[0] == "function" and entry[2]:
            item["name"], item["namespace"] = entry[1], entry[2]

    def restore_call(self, item: dict[str, Any]) -> dict[str, Any]:
        """A finished function_call of a custom or local_shell tool → the client's item."""
        kind, name, namespace = self.entries[item["name"]]
        try:
            args = json.loads(item.get("arguments") or "{}")
        except ValueError:
            args = {}
        args = args if isinstance(args, dict) else {}
        base = {"id": item["id"], "call_id": item["call_id"], "status": item.get("status", "completed")}
        if kind == "custom":
            text = args.get("input")
            if not isinstance(text, str):  # a model that ignored the schema: its whole arguments are the input
                text = item.get("arguments") or ""
            out = {"type": "custom_tool_call", **base, "name": name, "input": text}
            if namespace:
                out["namespace"] = namespace
            return out
        action: dict[str, Any] = {"type": "exec", "command": [str(a) for a in args.get("command") or ()], "env": {}}
        if isinstance(args.get("workdir"), str):
            action["working_directory"] = args["workdir"]
        if isinstance(args.get("timeout_ms"), int):
            action["timeout_ms"] = args["timeout_ms"]
        return {"type": "local_shell_call", **base, "action": action}


def names_for(request: Any) -> ToolNames | None:
    """The mapping for a typed request (or None when it has nothing to map back)."""
    names = ToolNames(getattr(request, "tools", None))
    return names if names.special else None


def _dropped(kind: str, options: dict[str, Any]) -> bool:
    drop = options.get("drop_tools") or ()
    return "*" in drop or tool_kind(kind) in drop


def flatten(request: ParsedRequest, options: dict[str, Any]) -> ParsedRequest:
    """The request as plain functions for a translating channel (the original is left as it was)."""
    typed = request.typed
    tools = typed.tools or []
    needs_work = any(t.get("type") not in ("function",) for t in tools) or _has_agent_items(typed.input)
    if not needs_work:
        return request
    names = ToolNames(tools)
    flat_tools: list[dict[str, Any]] = []
    for tool in tools:
        kind = tool.get("type")
        if kind == "function":
            flat_tools.append(tool)
        elif kind == "namespace":
            for inner in tool.get("tools") or ():
                flat_tools.append(_as_function(inner, names.name_for(str(inner.get("name")), str(tool.get("name")))))
        elif kind in ("custom", "local_shell"):
            flat_tools.append(_as_function(tool, names.name_for(str(tool.get("name") or kind), None)))
        elif kind == "tool_search":
            continue  # deferred-tool discovery is the Responses API's: the tools offered directly remain
        elif kind not in CLIENT_TOOLS and _dropped(str(kind), options):
            continue
        else:
            flat_tools.append(tool)  # the channel refuses it by its index-free type name
    raw = dict(request.raw)
    changes: dict[str, Any] = {"tools": flat_tools or None}
    raw["tools"] = flat_tools
    if not flat_tools:
        raw.pop("tools", None)
    if typed.tool_choice is not None:
        changes["tool_choice"] = raw["tool_choice"] = _choice(typed.tool_choice, names, options, bool(flat_tools))
        if changes["tool_choice"] is None:
            raw.pop("tool_choice")
    if isinstance(typed.input, list):
        changes["input"] = raw["input"] = [m for item in typed.input if (m := _item(item, names))]
    return ParsedRequest(typed=msgspec.structs.replace(typed, **changes), raw=raw, extras=request.extras)


def _has_agent_items(items: Any) -> bool:
    return isinstance(items, list) and any(
        item.get("type") in ("custom_tool_call", "local_shell_call", "web_search_call", "tool_search_call",
                             "tool_search_output", *_OUTPUTS)
        or item.get("namespace")
        for item in items
    )


def _as_function(tool: dict[str, Any], name: str) -> dict[str, Any]:
    kind = tool.get("type")
    description = tool.get("description") or ""
    if kind == "function":
        out = {"type": "function", "name": name, "parameters": tool.get("parameters")}
        if tool.get("strict") is not None:
            out["strict"] = tool["strict"]
    elif kind == "custom":
        fmt = tool.get("format") or {}
        if fmt.get("type") == "grammar":
            description += f"\n\nThe input must follow this {fmt.get('syntax', '')} grammar:\n{fmt.get('definition', '')}"
        out = {"type": "function", "name": name, "parameters": CUSTOM_PARAMETERS, "strict": False}
    else:  # local_shell
        description = description or "Run a command on the user's machine and get its output."
        out = {"type": "function", "name": name, "parameters": LOCAL_SHELL_PARAMETERS, "strict": False}
    if description:
        out["description"] = description
    return out


def _choice(choice: Any, names: ToolNames, options: dict[str, Any], have_tools: bool) -> Any:
    if isinstance(choice, str):
        return choice if have_tools or choice in ("auto", "none") else None
    kind = choice.get("type")
    if kind in ("function", "custom"):
        return {"type": "function", "name": names.name_for(str(choice.get("name")), choice.get("namespace"))}
    if kind == "allowed_tools":
        listed = [
            {"type": "function", "name": names.name_for(str(t.get("name") or t.get("type")), t.get("namespace"))}
            for t in choice.get("tools") or ()
            if isinstance(t, dict) and (t.get("type") in CLIENT_TOOLS or not _dropped(str(t.get("type")), options))
        ]
        return {**choice, "tools": listed}
    if isinstance(kind, str) and kind not in CLIENT_TOOLS and _dropped(kind, options):
        raise InvalidRequest(
            f"The hosted tool '{tool_kind(kind)}' is not available for this model; it cannot be forced.",
            param="tool_choice", code="unsupported_parameter",
        )
    return choice


def _item(item: dict[str, Any], names: ToolNames) -> dict[str, Any] | None:
    kind = item.get("type")
    if kind == "function_call" and item.get("namespace"):
        out = {k: v for k, v in item.items() if k != "namespace"}
        out["name"] = names.name_for(str(item.get("name")), item["namespace"])
        return out
    if kind == "custom_tool_call":
        name = names.name_for(str(item.get("name")), item.get("namespace"))
        return {"type": "function_call", "call_id": item.get("call_id"), "name": name,
                "arguments": json.dumps({"input": item.get("input") or ""}, ensure_ascii=False)}
    if kind == "local_shell_call":
        action = item.get("action") or {}
        args: dict[str, Any] = {"command": action.get("command") or []}
        if action.get("working_directory"):
            args["workdir"] = action["working_directory"]
        if action.get("timeout_ms") is not None:
            args["timeout_ms"] = action["timeout_ms"]
        return {"type": "function_call", "call_id": item.get("call_id") or item.get("id"),
                "name": names.name_for("local_shell", None), "arguments": json.dumps(args, ensure_ascii=False)}
    if kind in _OUTPUTS:
        return {"type": "function_call_output", "call_id": item.get("call_id") or item.get("id"),
                "output": item.get("output") if item.get("output") is not None else ""}
    if kind in ("web_search_call", "tool_search_call", "tool_search_output"):
        return None  # a search an earlier turn made on a Responses channel: what it found is in the later items
    return item
