"""Responses SSE events → `chat.completion.chunk` stream (wire-formats §5.4, the reverse of §5.7).

Shape: `data: {chunk}\\n\\n` lines, no `event:` lines. The first chunk carries `role: assistant`
(sent with the first output, when it is known whether `content` starts as "" or null);
each text, refusal, reasoning or argument delta becomes one chunk the moment it arrives; a tool call
opens with `index`, `id`, `type` and `function.name` and continues with `arguments` pieces under the
same `index`; a chunk with an empty delta carries `finish_reason`; with `include_usage`, one more chunk
with `choices: []` and `usage`; then `data: [DONE]`. A failure becomes `data: {"error": {…}}` (what the
OpenAI SDK raises on) and no `[DONE]`, so no client mistakes a broken answer for a finished one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.protocols.chat.door_render import as_dict, chat_id, chat_usage, failed_error, finish_reason
from gateway.protocols.door import StreamRenderer
from gateway.wire.errors import UpstreamFailed

_encode = msgspec.json.encode
DONE = b"data: [DONE]\n\n"
ENDED_EARLY = "The stream ended before the answer was complete."
_TEXT_DELTAS = {
    "response.output_text.delta": "content",
    "response.refusal.delta": "refusal",
    "response.reasoning_summary_text.delta": "reasoning_content",
    "response.reasoning_text.delta": "reasoning_content",
}
_TEXT_DONES = {
    "response.output_text.done": ("content", "text"),
    "response.refusal.done": ("refusal", "refusal"),
    "response.reasoning_summary_text.done": ("reasoning_content", "text"),
    "response.reasoning_text.done": ("reasoning_content", "text"),
}
_TERMINAL = frozenset({"response.completed", "response.incomplete"})


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + _encode(payload) + b"\n\n"


class ChatStreamRenderer(StreamRenderer):
    def __init__(self, *, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = chat_id(None)  # replaced by the response's own id when response.created arrives
        self.created = 0
        self.started = False
        self.finished = False  # a terminal chunk (finish or error) went out
        self.failed = False
        self._calls: dict[str, list[Any]] = {}  # item id → [tool_calls index, arguments sent]
        self._sent: dict[tuple[str, int, str], str] = {}  # (item id, part index, field) → text sent

    # -- Door interface ----------------------------------------------------------------------------
    def feed(self, event_type: str, data: dict[str, Any]) -> bytes:
        if self.finished or not isinstance(data, dict):
            return b""
        if event_type in _TEXT_DELTAS:
            return self._text(data, _TEXT_DELTAS[event_type], data.get("delta"))
        if event_type in _TEXT_DONES:
            field, key = _TEXT_DONES[event_type]
            return self._catch_up_text(data, field, data.get(key))
        if event_type == "response.function_call_arguments.delta":
            return self._arguments(_str(data.get("item_id")), data.get("delta"))
        if event_type == "response.function_call_arguments.done":
            return self._catch_up_arguments(_str(data.get("item_id")), data.get("arguments"))
        if event_type == "response.output_item.added":
            return self._item_added(data.get("item"))
        if event_type == "response.output_item.done":
            return self._item_done(data.get("item"))
        if event_type == "response.reasoning_summary_part.added":
            return self._summary_part(data)
        if event_type in ("response.created", "response.in_progress", "response.queued"):
            self._learn(data.get("response"))
            return b""
        if event_type in _TERMINAL:
            return self._finish(data.get("response"))
        if event_type == "response.failed":
            return self._error(failed_error(as_dict(data.get("response"))).body()["error"])
        if event_type == "error":
            return self._error(_stream_error(data))
        return b""  # content_part.added/done and the like carry nothing a chunk needs

    def close(self) -> bytes:
        if not self.finished:
            return self._error(UpstreamFailed(ENDED_EARLY).body()["error"])
        return b"" if self.failed else DONE

    # -- chunks ------------------------------------------------------------------------------------
    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        out = self._start(delta)
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return out + _frame(self._envelope([choice]))

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None  # as OpenAI: null on every chunk but the usage chunk
        return chunk

    def _start(self, first: dict[str, Any]) -> bytes:
        """The role chunk, sent just before the first chunk with anything in it (as OpenAI does, once it
        knows what comes): `content: ""` before text or an empty answer, `null` before a tool call, a
        refusal or reasoning, so a client assembling the stream gets what the JSON answer says."""
        if self.started:
            return b""
        self.started = True
        content = "" if "content" in first or not first else None
        return self._chunk({"role": "assistant", "content": content})

    def _learn(self, response: Any) -> None:
        if not isinstance(response, dict) or self.started:
            return
        if isinstance(response.get("id"), str) and response["id"]:
            self.id = chat_id(response["id"])
        created = response.get("created_at")
        if isinstance(created, int) and not isinstance(created, bool) and created >= 0:
            self.created = created
        if isinstance(response.get("model"), str) and response["model"]:
            self.model = response["model"]

    # -- content -----------------------------------------------------------------------------------
    def _text(self, data: dict[str, Any], field: str, delta: Any) -> bytes:
        if not isinstance(delta, str) or not delta:
            return b""
        key = (_str(data.get("item_id")), _index(data), field)
        self._sent[key] = self._sent.get(key, "") + delta
        return self._chunk({field: delta})

    def _catch_up_text(self, data: dict[str, Any], field: str, full: Any) -> bytes:
        """A `.done` whose text was not (all) sent as deltas: send what is missing. A `.done` that
        disagrees with what went out cannot be unsent, and is left as it was streamed."""
        key = (_str(data.get("item_id")), _index(data), field)
        sent = self._sent.get(key, "")
        if not isinstance(full, str) or len(full) <= len(sent) or not full.startswith(sent):
            return b""
        return self._text(data, field, full[len(sent) :])

    def _summary_part(self, data: dict[str, Any]) -> bytes:
        # Summary parts after the first are paragraphs: separate them as the JSON answer does.
        if _index(data) > 0:
            return self._chunk({"reasoning_content": "\n\n"})
        return b""

    def _item_added(self, item: Any) -> bytes:
        if not isinstance(item, dict) or item.get("type") != "function_call" or not isinstance(item.get("id"), str):
            return b""
        if item["id"] in self._calls:
            return b""
        index = len(self._calls)
        arguments = _str(item.get("arguments"))
        self._calls[item["id"]] = [index, arguments]
        call = {
            "index": index,
            "id": _str(item.get("call_id")),
            "type": "function",
            "function": {"name": _str(item.get("name")), "arguments": arguments},
        }
        return self._chunk({"tool_calls": [call]})

    def _arguments(self, item_id: str, delta: Any) -> bytes:
        call = self._calls.get(item_id)
        if call is None or not isinstance(delta, str) or not delta:
            return b""
        call[1] += delta
        return self._chunk({"tool_calls": [{"index": call[0], "function": {"arguments": delta}}]})

    def _catch_up_arguments(self, item_id: str, full: Any) -> bytes:
        call = self._calls.get(item_id)
        if call is None or not isinstance(full, str) or len(full) <= len(call[1]) or not full.startswith(call[1]):
            return b""
        return self._arguments(item_id, full[len(call[1]) :])

    def _item_done(self, item: Any) -> bytes:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return b""
        if item.get("type") == "function_call":
            out = self._item_added(item)  # a call announced only when done still reaches the client
            return out + self._catch_up_arguments(item["id"], item.get("arguments"))
        if item.get("type") == "message":
            out = b""
            content = item.get("content")
            for index, part in enumerate(content if isinstance(content, list) else []):
                if not isinstance(part, dict):
                    continue
                data = {"item_id": item["id"], "content_index": index}
                if part.get("type") == "output_text":
                    out += self._catch_up_text(data, "content", part.get("text"))
                elif part.get("type") == "refusal":
                    out += self._catch_up_text(data, "refusal", part.get("refusal"))
            return out
        return b""

    # -- endings -----------------------------------------------------------------------------------
    def _finish(self, response: Any) -> bytes:
        response = as_dict(response)
        out = self._chunk({}, finish_reason(response, bool(self._calls)))
        self.finished = True
        if self.include_usage:
            chunk = self._envelope([])
            chunk["usage"] = chat_usage(response.get("usage"))
            out += _frame(chunk)
        return out

    def _error(self, error: dict[str, Any]) -> bytes:
        self.finished = self.failed = True
        return _frame({"error": error})


def _stream_error(data: dict[str, Any]) -> dict[str, Any]:
    """A Responses `error` event (flat, or nested under `error`) → an OpenAI error object."""
    nested = as_dict(data.get("error"))
    message = nested.get("message") or data.get("message")
    code = nested.get("code") or data.get("code")
    return {
        "message": message if isinstance(message, str) and message else "The model failed to answer.",
        "type": nested.get("type") if isinstance(nested.get("type"), str) else "server_error",
        "param": None,
        "code": code if isinstance(code, str) else None,
    }


def _index(data: dict[str, Any]) -> int:
    value = data.get("content_index", data.get("summary_index", 0))
    return value if isinstance(value, int) else 0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
