"""Responses SSE events → Gemini stream chunks, in either of Gemini's two stream forms.

`alt=sse`: `data: <GenerateContentResponse>` blocks (no `event:` lines, no `[DONE]`). Without it, one JSON
array whose elements arrive as they are made (`[{…}` then `,\r\n{…}` … then `]`). Text and thoughts go out
as they arrive (never held back); a function call goes out whole when its item is done, as Gemini sends
calls; the last chunk carries `finishReason` and the final `usageMetadata`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.protocols.door import StreamRenderer
from gateway.protocols.gemini.render import error_body, finish_reason, function_call_part, usage_metadata
from gateway.wire.errors import ApiError

_encode = msgspec.json.encode
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class GeminiStreamRenderer(StreamRenderer):
    def __init__(self, model: str, *, sse: bool) -> None:
        self.model = model
        self.sse = sse
        self.response_id = ""
        self.chunks = 0
        self.ended = False

    def _frame(self, payload: dict[str, Any]) -> bytes:
        data = _encode(payload)
        self.chunks += 1
        if self.sse:
            return b"data: " + data + b"\r\n\r\n"
        return (b"[" if self.chunks == 1 else b"\r\n,") + data

    def _chunk(self, parts: list[dict[str, Any]]) -> bytes:
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        return self._frame({"candidates": [candidate], "modelVersion": self.model, "responseId": self.response_id})

    def feed(self, event_type: str, data: dict[str, Any]) -> bytes:
        if self.ended:
            return b""
        if event_type in ("response.created", "response.in_progress"):
            self.response_id = (data.get("response") or {}).get("id") or self.response_id
            return b""
        if event_type == "response.output_text.delta" or event_type == "response.refusal.delta":
            return self._chunk([{"text": data.get("delta") or ""}]) if data.get("delta") else b""
        if event_type in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._chunk([{"text": data.get("delta") or "", "thought": True}]) if data.get("delta") else b""
        if event_type == "response.output_item.done":
            item = data.get("item") or {}
            return self._chunk([function_call_part(item)]) if item.get("type") == "function_call" else b""
        if event_type in _TERMINAL:
            return self._finish(data.get("response") or {})
        if event_type == "error":
            return self.error(ApiError(str(data.get("message") or "The upstream failed."), status=500,
                                       code=str(data.get("code") or "server_error")))
        return b""

    def _finish(self, response: dict[str, Any]) -> bytes:
        self.ended = True
        if response.get("status") == "failed":
            message = (response.get("error") or {}).get("message") or "The model failed."
            return self.error(ApiError(message, status=500, code="server_error"))
        payload = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "index": 0,
                            "finishReason": finish_reason(response)}],
            "usageMetadata": usage_metadata(response.get("usage")),
            "modelVersion": self.model,
            "responseId": response.get("id") or self.response_id,
        }
        return self._frame(payload)

    def error(self, error: ApiError) -> bytes:
        """A failure mid-stream: Google's error object as the stream's last element."""
        self.ended = True
        return self._frame(error_body(error))

    def close(self) -> bytes:
        if self.sse:
            return b""
        return b"]" if self.chunks else b"[]"
