"""Responses SSE events → an Anthropic Messages stream (wire-formats §6.4):

message_start → (content_block_start → content_block_delta* → content_block_stop) per block, index
0, 1, 2… → message_delta (stop_reason, cumulative usage) → message_stop. A failure after the start is an
`event: error` (the SDK raises on it), after which nothing more is sent. Every delta goes out as it comes.

Blocks: a message's output_text/refusal part → text; a function_call item → tool_use (input_json_delta);
a reasoning item → thinking (thinking_delta, then the signature as signature_delta when its
`output_item.done` shows it) or redacted_thinking.
"""

from __future__ import annotations

from typing import Any

from gateway.protocols.anthropic.render import anthropic_usage, message_id, reasoning_text, stop_reason, thinking_block
from gateway.protocols.door import DoorRequest, StreamRenderer
from gateway.wire.responses import new_id
from gateway.wire.sse import encode_event

_START_EVENTS = frozenset({"response.created", "response.in_progress", "response.queued"})
_TEXT_DELTAS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_THINKING_DELTAS = {"response.reasoning_summary_text.delta": "summary", "response.reasoning_text.delta": "content"}
ENDED_EARLY = "The stream ended before the answer was complete."


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return encode_event(kind, {"type": kind, **payload})


def ping() -> bytes:
    """A keepalive the relay may send during long silences (Anthropic's own `ping` event)."""
    return _event("ping", {})


def error_event(error_type: str, message: str) -> bytes:
    return _event("error", {"type": "error", "error": {"type": error_type, "message": message}})


def stream_error_type(code: Any) -> str:
    """A failed response's `error.code` → the Anthropic error type its clients retry or not by."""
    code = code if isinstance(code, str) else ""
    if "rate_limit" in code:
        return "rate_limit_error"
    if "overloaded" in code:
        return "overloaded_error"
    if "timeout" in code:
        return "timeout_error"
    return "api_error"


class MessagesStreamRenderer(StreamRenderer):
    def __init__(self, request: DoorRequest) -> None:
        self.request = request
        self.started = False
        self.finished = False
        self.called = False  # a tool_use block was sent: stop_reason tool_use
        self.refused = False
        self._index = 0  # the next block's index
        self._open: dict[str, Any] | None = None  # {"index", "type", "key", "sent"} of the open block
        self._seen: set[str] = set()  # items that got a block, so output_item.done does not repeat them
        self._reasoning: dict[str, dict[str, Any]] = {}  # reasoning item id → {"source", "parts"}

    # -- the interface ---------------------------------------------------------------------------
    def feed(self, event_type: str, data: dict[str, Any]) -> bytes:
        if self.finished or not isinstance(data, dict):
            return b""
        if event_type in _START_EVENTS:
            return self._start(data.get("response"))
        out = self._start(None)
        item_id = data.get("item_id")
        if event_type == "response.output_item.added":
            out += self._item_added(data.get("item"))
        elif event_type == "response.content_part.added":
            part = data.get("part")
            if isinstance(part, dict) and part.get("type") in ("output_text", "refusal"):
                out += self._text_block(item_id, data.get("content_index"))
        elif event_type in _TEXT_DELTAS:
            self.refused |= event_type == "response.refusal.delta"
            out += self._text_block(item_id, data.get("content_index")) + self._delta(
                "text_delta", "text", data.get("delta")
            )
        elif event_type in ("response.output_text.done", "response.refusal.done"):
            key = "text" if event_type == "response.output_text.done" else "refusal"
            out += self._text_block(item_id, data.get("content_index"))
            out += self._catch_up("text_delta", "text", data.get(key)) + self._close()
        elif event_type == "response.content_part.done":
            out += self._close_if((item_id, data.get("content_index")))
        elif event_type == "response.function_call_arguments.delta":
            if self._open is not None and self._open["key"] == item_id:
                out += self._delta("input_json_delta", "partial_json", data.get("delta"))
        elif event_type == "response.function_call_arguments.done":
            if self._open is not None and self._open["key"] == item_id:
                out += self._catch_up("input_json_delta", "partial_json", data.get("arguments"))
        elif event_type == "response.reasoning_summary_part.added":
            state = self._reasoning.get(item_id) if isinstance(item_id, str) else None
            if state is not None and isinstance(data.get("summary_index"), int) and data["summary_index"] > 0:
                state["separate"] = True  # summary parts read as paragraphs, as render.reasoning_text joins them
        elif event_type in _THINKING_DELTAS:
            out += self._thinking_delta(item_id, _THINKING_DELTAS[event_type], data.get("delta"))
        elif event_type == "response.output_item.done":
            out += self._item_done(data.get("item"))
        elif event_type in ("response.completed", "response.incomplete"):
            out += self._finish(data.get("response"))
        elif event_type in ("response.failed", "error"):
            out += self._fail(data)
        return out  # hosted-tool progress and events newer than this code: nothing to show

    def close(self) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        return self._close() + error_event("api_error", ENDED_EARLY)

    # -- lifecycle -------------------------------------------------------------------------------
    def _start(self, response: Any) -> bytes:
        if self.started:
            return b""
        self.started = True
        response = response if isinstance(response, dict) else {}
        model = response.get("model") if isinstance(response.get("model"), str) else self.request.model
        # Input usage is only known at the end (message_delta carries it); the relay may pass its estimate.
        estimate = self.request.extras.get("input_tokens")
        message: dict[str, Any] = {
            "id": message_id(response.get("id") or new_id("resp")),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": estimate if type(estimate) is int and estimate >= 0 else 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return _event("message_start", {"message": message})

    def _finish(self, response: Any) -> bytes:
        response = response if isinstance(response, dict) else {}
        output = response.get("output")
        self.called |= any(
            isinstance(i, dict) and i.get("type") == "function_call"
            for i in (output if isinstance(output, list) else ())
        )
        out = self._close()
        self.finished = True
        reason = stop_reason(response, self.called)
        if self.refused and reason == "end_turn":
            reason = "refusal"
        sequence = response.get("stop_sequence") if reason == "stop_sequence" else None
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += _event("message_delta", {"delta": delta, "usage": anthropic_usage(response.get("usage"))})
        return out + _event("message_stop", {})

    def _fail(self, data: dict[str, Any]) -> bytes:
        error = data.get("error")
        if not isinstance(error, dict):
            response = data.get("response")
            error = response.get("error") if isinstance(response, dict) else None
        if not isinstance(error, dict):
            error = {"code": data.get("code"), "message": data.get("message")}
        message = error.get("message")
        self.finished = True
        text = message if isinstance(message, str) and message else "The request failed."
        return self._close() + error_event(stream_error_type(error.get("code")), text)

    # -- blocks ----------------------------------------------------------------------------------
    def _open_block(self, key: Any, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._open = {"index": self._index, "type": block["type"], "key": key, "sent": ""}
        self._index += 1
        return out + _event("content_block_start", {"index": self._open["index"], "content_block": block})

    def _close(self) -> bytes:
        block, self._open = self._open, None
        return _event("content_block_stop", {"index": block["index"]}) if block is not None else b""

    def _close_if(self, key: Any) -> bytes:
        return self._close() if self._open is not None and self._open["key"] == key else b""

    def _delta(self, kind: str, field: str, text: Any) -> bytes:
        if self._open is None or not isinstance(text, str) or not text:
            return b""
        self._open["sent"] += text
        return _event("content_block_delta", {"index": self._open["index"], "delta": {"type": kind, field: text}})

    def _catch_up(self, kind: str, field: str, whole: Any) -> bytes:
        """A done event whose deltas never came (or came short): send the rest, so nothing is lost."""
        if self._open is None or not isinstance(whole, str) or not whole.startswith(self._open["sent"]):
            return b""
        return self._delta(kind, field, whole[len(self._open["sent"]) :])

    def _text_block(self, item_id: Any, content_index: Any) -> bytes:
        key = (item_id, content_index)
        if self._open is not None and self._open["key"] == key:
            return b""
        if isinstance(item_id, str):
            self._seen.add(item_id)
        return self._open_block(key, {"type": "text", "text": ""})

    def _item_added(self, item: Any) -> bytes:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return b""
        if item.get("type") == "function_call":
            return self._tool_block(item)
        if item.get("type") == "reasoning":
            self._reasoning.setdefault(item["id"], {"source": None, "separate": False})
        return b""

    def _tool_block(self, item: dict[str, Any]) -> bytes:
        self.called = True
        self._seen.add(item["id"])
        call_id, name = item.get("call_id"), item.get("name")
        block = {
            "type": "tool_use",
            "id": call_id if isinstance(call_id, str) else "",
            "name": name if isinstance(name, str) else "",
            "input": {},
        }
        return self._open_block(item["id"], block)

    def _thinking_delta(self, item_id: Any, source: str, text: Any) -> bytes:
        if not isinstance(item_id, str) or not isinstance(text, str) or not text:
            return b""
        state = self._reasoning.setdefault(item_id, {"source": None, "separate": False})
        if state["source"] not in (None, source):
            return b""  # raw reasoning and its summary both streamed: show one, as render does
        state["source"] = source
        out = b""
        if self._open is None or self._open["key"] != item_id:
            self._seen.add(item_id)
            out += self._open_block(item_id, {"type": "thinking", "thinking": "", "signature": ""})
            state["separate"] = False
        if state["separate"]:
            state["separate"] = False
            text = "\n\n" + text
        return out + self._delta("thinking_delta", "thinking", text)

    def _item_done(self, item: Any) -> bytes:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return b""
        kind, item_id = item.get("type"), item["id"]
        if kind == "function_call":
            out = b"" if item_id in self._seen else self._tool_block(item)
            if self._open is not None and self._open["key"] == item_id:
                out += self._catch_up("input_json_delta", "partial_json", item.get("arguments"))
            return out + self._close_if(item_id)
        if kind == "reasoning":
            return self._reasoning_done(item)
        if kind == "message":
            out = self._close_if_item(item_id)
            if item_id not in self._seen:  # a message whose parts were never streamed: send them whole
                self._seen.add(item_id)
                for index, part in enumerate(content if isinstance(content := item.get("content"), list) else ()):
                    key = "text" if isinstance(part, dict) and part.get("type") == "output_text" else "refusal"
                    if isinstance(part, dict) and isinstance(part.get(key), str) and part[key]:
                        self.refused |= key == "refusal"
                        out += self._open_block((item_id, index), {"type": "text", "text": ""})
                        out += self._delta("text_delta", "text", part[key]) + self._close()
            return out
        return b""

    def _close_if_item(self, item_id: str) -> bytes:
        key = self._open["key"] if self._open is not None else None
        return self._close() if isinstance(key, tuple) and key[0] == item_id else b""

    def _reasoning_done(self, item: dict[str, Any]) -> bytes:
        block = thinking_block(item)
        item_id = item["id"]
        if self._open is not None and self._open["key"] == item_id:
            signed = block is not None and block["type"] == "thinking"
            return (self._sign(block["signature"]) if block is not None and signed else b"") + self._close()
        if block is None or item_id in self._seen:
            return b""
        self._seen.add(item_id)
        if block["type"] == "redacted_thinking":
            return self._open_block(item_id, block) + self._close()
        out = self._open_block(item_id, {"type": "thinking", "thinking": "", "signature": ""})
        out += self._delta("thinking_delta", "thinking", reasoning_text(item))
        return out + self._sign(block["signature"]) + self._close()

    def _sign(self, signature: str) -> bytes:
        """Anthropic sends a thinking block's signature last, as one signature_delta before its stop."""
        if self._open is None or not signature:
            return b""
        delta = {"type": "signature_delta", "signature": signature}
        return _event("content_block_delta", {"index": self._open["index"], "delta": delta})
