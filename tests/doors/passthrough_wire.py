"""Canned upstream answers for the same-protocol passthrough tests (tests/doors/test_passthrough.py): what each
fake upstream sends byte for byte (with fields no SDK has heard of), and how to queue them on the fakes."""

import json
from dataclasses import dataclass
from typing import Any

from .conftest import UPSTREAM_NAMES

TEXT = "你好，世界 👋🏽"
NEW = "x_future_field"  # a field we have never heard of, both ways


def _j(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Pair:
    door: str  # the door's name (usage records call it so)
    kind: str  # the channel kind of the door's own protocol
    translating: str  # a channel kind that translates for this door

    @property
    def upstream(self) -> str:
        return UPSTREAM_NAMES[self.kind]

    def path(self, stream: bool = False) -> str:
        if self.door == "chat":
            return "/v1/chat/completions"
        if self.door == "messages":
            return "/v1/messages"
        return "/v1beta/models/gpt-4o:" + ("streamGenerateContent?alt=sse" if stream else "generateContent")

    def headers(self, key: str) -> dict[str, str]:
        if self.door == "messages":
            return {"x-api-key": key, "anthropic-version": "2023-06-01"}
        if self.door == "gemini":
            return {"x-goog-api-key": key}
        return {"authorization": f"Bearer {key}"}

    def body(self, *, cap: int = 50, stream: bool = False, **extra: Any) -> dict[str, Any]:
        if self.door == "chat":
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": TEXT}], "max_tokens": cap}
            if stream:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
        elif self.door == "messages":
            body = {"model": "gpt-4o", "max_tokens": cap, "messages": [{"role": "user", "content": TEXT}]}
            if stream:
                body["stream"] = True
        else:
            body = {"contents": [{"role": "user", "parts": [{"text": TEXT}]}],
                    "generationConfig": {"maxOutputTokens": cap}}
        return body | extra

    def cap_sent(self, body: dict[str, Any]) -> int:
        """The output cap as the upstream got it, in the protocol's own field."""
        if self.door == "chat":
            assert "max_tokens" not in body
            return body["max_completion_tokens"]
        if self.door == "messages":
            return body["max_tokens"]
        return body["generationConfig"]["maxOutputTokens"]

    # -- canned answers: usage 7 in, 3 out ---------------------------------------------------------
    def json_answer(self) -> bytes:
        if self.door == "chat":
            return _j({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": self.upstream,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT, NEW: [1]},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}, NEW: "fp"})
        if self.door == "messages":
            return _j({"id": "msg_1", "type": "message", "role": "assistant", "model": self.upstream,
                       "content": [{"type": "text", "text": TEXT, NEW: True}], "stop_reason": "end_turn",
                       "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 3}, NEW: 1})
        return _j({"candidates": [{"content": {"role": "model", "parts": [{"text": TEXT, NEW: 2}]},
                                   "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
                   "modelVersion": self.upstream, "responseId": "r1", NEW: {"a": 1}})

    def stream_answer(self, pieces: list[str], *, end: bool = True) -> bytes:
        """An SSE answer of `pieces` (usage 7 in, 3 out when it ends), with an event no client knows."""
        if self.door == "chat":
            def chunk(delta: dict, finish: str | None = None, **more: Any) -> bytes:
                return b"data: " + _j({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                                       "model": self.upstream, "choices": [{"index": 0, "delta": delta,
                                                                            "finish_reason": finish}], **more}) + b"\n\n"
            out = chunk({"role": "assistant", "content": ""}, **{NEW: 1})
            out += b"".join(chunk({"content": piece}) for piece in pieces)
            if end:
                out += chunk({}, "stop")
                out += b"data: " + _j({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                                       "model": self.upstream, "choices": [], "usage": {
                                           "prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}) + b"\n\n"
                out += b"data: [DONE]\n\n"
            return out
        if self.door == "messages":
            def sse(event: str, data: dict) -> bytes:
                return b"event: " + event.encode() + b"\ndata: " + _j(data) + b"\n\n"
            out = sse("message_start", {"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": self.upstream, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 1}}})
            out += sse("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}})
            out += sse("ping", {"type": "ping"}) + sse(NEW, {"type": NEW, "x": 1})
            out += b"".join(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "text_delta", "text": piece}})
                            for piece in pieces)
            if end:
                out += sse("content_block_stop", {"type": "content_block_stop", "index": 0})
                out += sse("message_delta", {"type": "message_delta", "delta": {
                    "stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 3}})
                out += sse("message_stop", {"type": "message_stop"})
            return out
        chunks = [{"candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}],
                   "modelVersion": self.upstream, NEW: 1} for piece in pieces]
        if end:
            chunks[-1]["candidates"][0]["finishReason"] = "STOP"
            chunks[-1]["usageMetadata"] = {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}
        return b"".join(b"data: " + _j(chunk) + b"\r\n\r\n" for chunk in chunks)

    def public(self, data: bytes) -> bytes:
        """`data` as the client must see it: only the model name is ours."""
        name = "modelVersion" if self.door == "gemini" else "model"
        return data.replace(f'"{name}":"{self.upstream}"'.encode(), f'"{name}":"gpt-4o"'.encode())

    # -- the fakes -------------------------------------------------------------------------------
    def queue(self, fakes: dict[str, Any], body: bytes, *, status: int = 200, stream: bool = False,
              gap: float = 0.0) -> None:
        if self.kind == "anthropic":
            fakes["anthropic"].queue(body, status=status, sse=stream, gap=gap)
        elif self.kind == "gemini":
            fakes["gemini"].reply(body, status=status)
        else:
            fakes["upstream"].fail_next = (status, body)

    def sent(self, fakes: dict[str, Any]) -> list[dict[str, Any]]:
        if self.kind == "anthropic":
            return [r.body for r in fakes["anthropic"].requests]
        if self.kind == "gemini":
            return [r.body for r in fakes["gemini"].requests]
        return [r.body for r in fakes["upstream"].received("/chat/completions")]


PAIRS = [Pair("chat", "openai_chat", "openai_responses"), Pair("messages", "anthropic", "openai_chat"),
         Pair("gemini", "gemini", "anthropic")]
