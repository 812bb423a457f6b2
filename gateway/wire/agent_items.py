"""Input items coding agents send back from earlier turns, beyond messages and function calls (Codex):
its freeform tools' calls and outputs (`custom_tool_call`, `custom_tool_call_output`), `local_shell_call` and
its output, and the `web_search_call` an upstream reported. A Responses channel gets them as sent; a
translated one gets them as function calls and outputs, or not at all for a search (gateway/protocols/
agent_tools.py). Checked here as strictly as the other items, and counted for the hold."""

from collections.abc import Callable
from typing import Any

from gateway.wire.errors import InvalidRequest

# type → its component in the OpenAPI document (gateway/protocols/responses/openapi_agent.py) and limits.FIELDS.
COMPONENTS = {
    "custom_tool_call": "CustomToolCallItem",
    "custom_tool_call_output": "CustomToolCallOutputItem",
    "local_shell_call": "LocalShellCallItem",
    "local_shell_call_output": "LocalShellCallOutputItem",
    "web_search_call": "WebSearchCallItem",
    "tool_search_call": "ToolSearchCallItem",
    "tool_search_output": "ToolSearchOutputItem",
}
AGENT_ITEM_TYPES = frozenset(COMPONENTS)
_OVERHEAD = 4


def _strings(item: dict[str, Any], where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    for name in required:
        if not isinstance(item.get(name), str):
            raise InvalidRequest(f"A {item['type']} item needs a string '{name}'.", param=f"{where}.{name}")
    for name in optional:
        if name in item and not isinstance(item[name], str):
            raise InvalidRequest(f"'{name}' must be a string.", param=f"{where}.{name}")


def _call_id(item: dict[str, Any], where: str) -> None:
    """`call_id`, or the call's `id` (as the API's own local-shell output items name it)."""
    if "call_id" not in item and "id" not in item:
        raise InvalidRequest(f"A {item['type']} item needs a string 'call_id'.", param=f"{where}.call_id")


def validate(item: dict[str, Any], where: str) -> None:
    kind = item["type"]
    if kind == "custom_tool_call":
        _strings(item, where, ("call_id", "name", "input"), ("namespace", "id", "status"))
    elif kind in ("custom_tool_call_output", "local_shell_call_output"):
        _call_id(item, where)
        _strings(item, where, (), ("call_id", "id", "status"))
        output = item.get("output")
        if not isinstance(output, str) and not (kind == "custom_tool_call_output" and isinstance(output, list)
                                                and all(isinstance(p, dict) for p in output)):
            raise InvalidRequest("'output' must be a string.", param=f"{where}.output")
    elif kind == "local_shell_call":
        _call_id(item, where)
        _strings(item, where, (), ("call_id", "id", "status"))
        action = item.get("action")
        command = action.get("command") if isinstance(action, dict) else None
        if not isinstance(command, list) or not all(isinstance(arg, str) for arg in command):
            raise InvalidRequest("A local_shell_call needs 'action.command', an array of strings.",
                                 param=f"{where}.action.command")
    elif kind in ("tool_search_call", "tool_search_output"):
        _strings(item, where, (), ("call_id", "id", "status", "execution"))
        tools = item.get("tools")
        if kind == "tool_search_output" and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
            raise InvalidRequest("A tool_search_output needs 'tools', an array of tools.", param=f"{where}.tools")
    elif kind == "web_search_call":
        _strings(item, where, (), ("id", "status"))
        if "action" in item and not isinstance(item["action"], dict):
            raise InvalidRequest("A web_search_call's 'action' must be an object.", param=f"{where}.action")


def tokens(item: dict[str, Any], count_tokens: Callable[[str], int]) -> int:
    """Input tokens of an agent item, the way count_request_tokens (which passes its counter) counts the others."""
    kind = item["type"]
    if kind == "custom_tool_call":
        return count_tokens(item.get("name") or "") + count_tokens(item.get("input") or "") + _OVERHEAD
    if kind == "local_shell_call":
        return count_tokens(" ".join((item.get("action") or {}).get("command") or ())) + _OVERHEAD
    if kind == "web_search_call":
        return count_tokens(str(item.get("action") or "")) + _OVERHEAD
    if kind == "tool_search_call":
        return count_tokens(str(item.get("arguments") or "")) + _OVERHEAD
    if kind == "tool_search_output":
        return count_tokens(str(item.get("tools") or "")) // 2 + _OVERHEAD  # tool schemas, as tools are counted
    output = item.get("output")
    return count_tokens(output if isinstance(output, str) else str(output or "")) + _OVERHEAD
