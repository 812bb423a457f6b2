"""Responses answers → Anthropic Messages JSON (wire-formats §6.3, §6.5): the message object, its usage
and stop_reason, the error body, and the count_tokens answer.

Reasoning items become thinking blocks by the channel's rule read backwards
(gateway/protocols/anthropic/thinking): `encrypted_content` behind SIGNED is the block's signature, behind
REDACTED a redacted_thinking block's data. Other encrypted content (another provider's) cannot be an
Anthropic signature: the thinking text is shown with an empty signature.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.protocols.anthropic.thinking import REDACTED, SIGNED
from gateway.wire.errors import ApiError
from gateway.wire.responses import usage_from_responses

_INCOMPLETE_STOP = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}
# Our statuses → Anthropic error types (§6.5). 503 has no Anthropic type of its own; overloaded is the
# one its clients treat as "try again shortly".
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",  # the SDK's ErrorType has no request_too_large; the status says it
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def message_id(response_id: Any) -> str:
    """Anthropic ids start `msg_`: ours keep the response id's random part, so logs match either one."""
    text = response_id if isinstance(response_id, str) else ""
    return "msg_" + (text.removeprefix("resp_") or "0")


def anthropic_usage(usage: Any) -> dict[str, Any]:
    """Responses usage → Anthropic usage. Anthropic's input_tokens exclude cache reads and writes (§6.3),
    ours include them; cache writes are absent from most usages (→ 0)."""
    parsed = usage_from_responses(usage)
    if parsed is None:
        return {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    details = usage.get("input_tokens_details") if isinstance(usage, dict) else None
    written = details.get("cache_write_tokens") if isinstance(details, dict) else None
    written = written if type(written) is int and written > 0 else 0
    read = min(parsed.cached_input_tokens, parsed.input_tokens)
    written = min(written, parsed.input_tokens - read)
    out: dict[str, Any] = {
        "input_tokens": parsed.input_tokens - read - written,
        "output_tokens": parsed.output_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }
    if isinstance(usage.get("receipt"), str):  # the gateway's signed receipt (gateway/receipts/)
        out["receipt"] = usage["receipt"]
    return out


def stop_reason(response: dict[str, Any], called_tools: bool) -> str:
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    if response.get("status") == "incomplete" and isinstance(reason, str):
        return _INCOMPLETE_STOP.get(reason, "max_tokens")
    if isinstance(response.get("stop_sequence"), str):
        return "stop_sequence"  # a channel honouring stop_sequences may say which one matched
    return "tool_use" if called_tools else "end_turn"


def reasoning_text(item: dict[str, Any]) -> str:
    """Summary parts (or raw reasoning text) joined as paragraphs, as the stream renders them."""
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]
            if texts:
                return "\n\n".join(texts)
    return ""


def thinking_block(item: dict[str, Any]) -> dict[str, Any] | None:
    """A reasoning item → thinking or redacted_thinking, or None when it holds nothing to show or keep."""
    encrypted = item.get("encrypted_content")
    encrypted = encrypted if isinstance(encrypted, str) else ""
    text = reasoning_text(item)
    if encrypted.startswith(REDACTED) and len(encrypted) > len(REDACTED) and not text:
        return {"type": "redacted_thinking", "data": encrypted[len(REDACTED) :]}
    signature = encrypted[len(SIGNED) :] if encrypted.startswith(SIGNED) else ""
    if not text and not signature:
        return None
    return {"type": "thinking", "thinking": text, "signature": signature}


def tool_input(arguments: Any) -> dict[str, Any]:
    """Responses arguments (a JSON string) → Anthropic input (an object). A model can produce invalid
    JSON; the client still gets an object (wire-formats §8.4)."""
    try:
        value = msgspec.json.decode(arguments) if isinstance(arguments, str) and arguments else {}
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def content_blocks(output: Any) -> tuple[list[dict[str, Any]], bool, bool]:
    """(blocks, called tools, refused). Hosted-tool items are not shown: this door never offers them."""
    blocks: list[dict[str, Any]] = []
    called = refused = False
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in _list(item.get("content")):
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text" and isinstance(part.get("text"), str) and part["text"]:
                    blocks.append({"type": "text", "text": part["text"]})
                elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                    refused = True  # Anthropic shows a refusal as text with stop_reason refusal
                    if part["refusal"]:
                        blocks.append({"type": "text", "text": part["refusal"]})
        elif kind == "function_call":
            called = True
            blocks.append(
                {
                    "type": "tool_use",
                    "id": _str(item.get("call_id")),
                    "name": _str(item.get("name")),
                    "input": tool_input(item.get("arguments")),
                }
            )
        elif kind == "reasoning" and (block := thinking_block(item)) is not None:
            blocks.append(block)
    return blocks, called, refused


def message_object(response: dict[str, Any], model: str) -> dict[str, Any]:
    blocks, called, refused = content_blocks(response.get("output"))
    reason = stop_reason(response, called)
    if refused and reason == "end_turn":
        reason = "refusal"
    sequence = response.get("stop_sequence")
    return {
        "id": message_id(response.get("id")),
        "type": "message",
        "role": "assistant",
        "model": response["model"] if isinstance(response.get("model"), str) else model,
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": sequence if reason == "stop_sequence" else None,
        "usage": anthropic_usage(response.get("usage")),
    }


def error_type(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(error: ApiError) -> dict[str, Any]:
    """Anthropic's error shape. The relay adds `request_id` if it wants to (it knows the id)."""
    return {"type": "error", "error": {"type": error_type(error.status), "message": error.message}}


def count_tokens_body(input_tokens: int) -> dict[str, int]:
    """The count_tokens answer (never charged)."""
    return {"input_tokens": int(input_tokens)}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
