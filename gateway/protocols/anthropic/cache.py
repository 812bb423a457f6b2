"""Prompt-cache breakpoints on a translated Anthropic request (Anthropic caches only what is marked).

A Responses or Chat client says "cache this prefix" with `prompt_cache_key`; Anthropic needs explicit
`cache_control` marks. We set at most three (Anthropic allows four): the last tool, the end of the
system prompt and the last block of the final message, so each turn of an agent's conversation reads
the previous turn's prefix from the cache and writes its own. Writes cost more than plain input
(1.25×), so this is done only when the model's price has a cache-write price
(billing.Price.cache_write_micros) and the channel does not turn it off (`prompt_caching: false`).
"""

from typing import Any

EPHEMERAL = {"type": "ephemeral"}
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})  # Anthropic refuses cache_control on these


def _markable(block: Any) -> bool:
    if not isinstance(block, dict) or block.get("type") in _UNMARKABLE:
        return False
    return not (block.get("type") == "text" and not block.get("text"))  # nor on an empty text block


def add_breakpoints(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools:
        tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
    system = body.get("system")
    if isinstance(system, str) and system:
        body["system"] = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    elif isinstance(system, list) and system and _markable(system[-1]):
        system[-1] = {**system[-1], "cache_control": EPHEMERAL}
    messages = body.get("messages") or []
    if messages:
        content = messages[-1].get("content")
        if isinstance(content, str) and content:
            messages[-1] = {**messages[-1], "content": [{"type": "text", "text": content, "cache_control": EPHEMERAL}]}
        elif isinstance(content, list):
            for index in range(len(content) - 1, -1, -1):
                if _markable(content[index]):
                    content[index] = {**content[index], "cache_control": EPHEMERAL}
                    break
