"""Anthropic extended thinking ↔ Responses `reasoning` items (wire-formats §6.6, §8.24).

With thinking and tools, Anthropic requires the assistant turn holding the `tool_use` to be replayed with
its thinking blocks unchanged, signatures included. A Responses client only replays items, so the opaque
state rides in the reasoning item's `encrypted_content` (the Responses API's field for exactly that):

- a `thinking` block's `signature` is stored behind `SIGNED` ("anthropic-signature:");
- a `redacted_thinking` block's `data` is stored behind `REDACTED` ("anthropic-redacted:").

The prefixes say which kind of block to rebuild, and keep out what this upstream did not make: a client
moving a conversation between channels may replay OpenAI's own `encrypted_content` ("gAAAA…"), which
Anthropic would reject as a bad signature (400). Unprefixed values are dropped like unsigned reasoning.

The summary text stays the thinking text, so a replayed item gives Anthropic back the exact text it signed.
"""

from typing import Any

from gateway.wire.responses import ResponseStreamBuilder, new_id

SIGNED = "anthropic-signature:"
REDACTED = "anthropic-redacted:"


def redacted_content(data: Any) -> str | None:
    return REDACTED + data if isinstance(data, str) and data else None


def signed_content(signature: Any) -> str | None:
    return SIGNED + signature if isinstance(signature, str) and signature else None


def close_reasoning(builder: ResponseStreamBuilder) -> bytes:
    """A new thinking block is a new reasoning item: each one carries its own signature."""
    item = builder.output[-1] if builder.output else None
    return builder.close_item() if item is not None and item.get("type") == "reasoning" else b""


def open_reasoning(builder: ResponseStreamBuilder) -> dict[str, Any] | None:
    """The reasoning item being streamed, if the last output is one still open."""
    item = builder.output[-1] if builder.output else None
    return item if item is not None and item.get("type") == "reasoning" and builder._open is item else None


def opaque_reasoning(builder: ResponseStreamBuilder, encrypted_content: str) -> bytes:
    """A reasoning item with no text (redacted thinking, or a signed block whose text was empty): added
    and done at once. The builder only opens reasoning items for text, so its events are written here."""
    out = builder.start() + builder._close_open()
    item = {"id": new_id("rs"), "type": "reasoning", "summary": [], "encrypted_content": encrypted_content}
    builder.output.append(item)
    index = len(builder.output) - 1
    out += builder._event("response.output_item.added", {"output_index": index, "item": item})
    return out + builder._event("response.output_item.done", {"output_index": index, "item": item})


def sign(builder: ResponseStreamBuilder, item: dict[str, Any] | None, signature: str) -> bytes:
    """Put a thinking block's signature on its reasoning item, or on an item of its own if it had no text."""
    encrypted = signed_content(signature)
    if encrypted is None:
        return b""
    if item is not None:
        item["encrypted_content"] = encrypted
        return b""
    return opaque_reasoning(builder, encrypted)


# -- requests ------------------------------------------------------------------------------------


def thinking_block(item: dict[str, Any]) -> dict[str, Any] | None:
    """A reasoning input item → the Anthropic block it came from, or None without our `encrypted_content`."""
    encrypted = item.get("encrypted_content")
    if not isinstance(encrypted, str):
        return None
    if encrypted.startswith(REDACTED) and len(encrypted) > len(REDACTED):
        return {"type": "redacted_thinking", "data": encrypted[len(REDACTED) :]}
    if encrypted.startswith(SIGNED) and len(encrypted) > len(SIGNED):
        return {"type": "thinking", "thinking": _reasoning_text(item), "signature": encrypted[len(SIGNED) :]}
    return None


def _reasoning_text(item: dict[str, Any]) -> str:
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]
            if texts:
                return "".join(texts)
    return ""
