"""A finished Responses response object → a `chat.completion` (wire-formats §5.3, the reverse of §5.6).

Rules shared with the stream renderer live here: the completion id, finish_reason and usage.
Reasoning has no standard Chat field; it goes out as `message.reasoning_content` (`delta.
reasoning_content` in streams), the field DeepSeek, vLLM and others use, which the OpenAI SDK keeps
as an extra attribute and other clients ignore.
"""

from __future__ import annotations

import math
from typing import Any

from gateway.wire.errors import UpstreamFailed
from gateway.wire.responses import new_id, usage_from_responses

PREFIX = "chatcmpl-"
# Responses' incomplete reasons → finish_reason. Others (max_messages, steered, …) also cut the answer short.
_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}


def chat_id(response_id: Any) -> str:
    """The completion id, derived from the response id so it is as unique as that one and the two can
    be matched in logs: `resp_X` → `chatcmpl-X`."""
    if isinstance(response_id, str) and response_id:
        return PREFIX + response_id.removeprefix("resp_")
    return PREFIX + new_id("resp").removeprefix("resp_")


def finish_reason(response: dict[str, Any], has_tool_calls: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return _FINISH.get(reason, "length") if isinstance(reason, str) else "length"
    return "tool_calls" if has_tool_calls else "stop"


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """A Responses `usage` object → Chat `usage`. The two count the same way (cached tokens within
    prompt tokens, reasoning within completion tokens); the gateway's `cost`, when present, is kept."""
    counted = usage_from_responses(usage)
    if counted is None:
        return None
    out: dict[str, Any] = {
        "prompt_tokens": counted.input_tokens,
        "completion_tokens": counted.output_tokens,
        "total_tokens": counted.input_tokens + counted.output_tokens,
        "prompt_tokens_details": {"cached_tokens": counted.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": counted.reasoning_tokens},
    }
    for name in ("cost", "receipt"):  # the gateway's own fields (the receipt: gateway/receipts/)
        if isinstance(usage.get(name), str):
            out[name] = usage[name]
    return out


def failed_error(response: dict[str, Any]) -> UpstreamFailed:
    """A failed response has no Chat rendering: it is an error, in the door's error shape."""
    error = as_dict(response.get("error"))
    message = error.get("message")
    code = error.get("code")
    return UpstreamFailed(
        message if isinstance(message, str) and message else "The model failed to answer.",
        code=code if isinstance(code, str) else None,
    )


def render_completion(response: dict[str, Any], model: str) -> dict[str, Any]:
    if response.get("status") == "failed":
        raise failed_error(response)
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in _list(response.get("output")):
        kind = item.get("type")
        if kind == "message":
            for part in _list(item.get("content")):
                if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                    refusals.append(part["refusal"])
        elif kind == "function_call":
            calls.append(
                {
                    "id": _str(item.get("call_id")),
                    "type": "function",
                    "function": {"name": _str(item.get("name")), "arguments": _str(item.get("arguments"))},
                }
            )
        elif kind == "reasoning":
            reasoning.append(reasoning_text(item))
        # Hosted-tool items (web_search_call, …) cannot be asked for through this door.
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (calls or refusals) else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if calls:
        message["tool_calls"] = calls
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    body: dict[str, Any] = {
        "id": chat_id(response.get("id")),
        "object": "chat.completion",
        "created": _created(response.get("created_at")),
        "model": _str(response.get("model")) or model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(response, bool(calls)), "logprobs": None}
        ],
        "usage": chat_usage(response.get("usage")),
    }
    if isinstance(response.get("service_tier"), str):
        body["service_tier"] = response["service_tier"]
    return body


def reasoning_text(item: dict[str, Any]) -> str:
    """A reasoning item's readable text: its summary, else its raw reasoning text (open models)."""
    summary = [part["text"] for part in _list(item.get("summary")) if isinstance(part.get("text"), str)]
    if summary:
        return "\n\n".join(summary)
    return "".join(part["text"] for part in _list(item.get("content")) if isinstance(part.get("text"), str))


def _created(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return 0
    return int(value)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
