"""Typed fast paths for reading passthrough stream events (native_kinds.py's `read_event`).

A Chat or Gemini content event is decoded into small msgspec Structs that hold only what the meter and
the usage need, instead of a dict of everything, and read without a walk over dicts: about half the
CPU of the generic reader on a 50-token stream. Any event these shapes do not fit (an error, a field of
an unexpected type, `[DONE]`) goes to the generic reader, so behaviour is that reader's:
tests/protocols/test_native_fast.py runs both side by side over every stream event we know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from gateway.protocols.chat.channel import chat_usage


class _ChatFunction(msgspec.Struct):
    arguments: str | None = None


class _ChatToolCall(msgspec.Struct):
    function: _ChatFunction | None = None


class _ChatDelta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: list[_ChatToolCall] | None = None


class _ChatChoice(msgspec.Struct):
    delta: _ChatDelta | None = None
    finish_reason: str | None = None


class _ChatChunk(msgspec.Struct):
    id: str | None = None
    choices: list[_ChatChoice] | None = None
    usage: dict[str, Any] | None = None
    error: None = None  # any error at all: the generic reader handles it


class _GeminiPart(msgspec.Struct):
    text: str | None = None
    functionCall: None = None  # a call: the generic reader (it encodes the arguments)


class _GeminiContent(msgspec.Struct):
    parts: list[_GeminiPart] | None = None


class _GeminiCandidate(msgspec.Struct):
    content: _GeminiContent | None = None
    finishReason: str | None = None


class _GeminiChunk(msgspec.Struct):
    candidates: list[_GeminiCandidate] | None = None
    usageMetadata: dict[str, Any] | None = None
    error: None = None


_chat = msgspec.json.Decoder(_ChatChunk)
_gemini = msgspec.json.Decoder(_GeminiChunk)

# (text, final, drop) or None when the generic reader must decide
Fast = Callable[[dict[str, Any], bytes], "tuple[str, bool, bool] | None"]


def chat(state: dict[str, Any], payload: bytes) -> tuple[str, bool, bool] | None:
    try:
        chunk = _chat.decode(payload)
    except msgspec.DecodeError:  # includes ValidationError: not the common shape
        return None
    drop = False
    if chunk.usage is not None:
        state["usage"] = chat_usage(chunk.usage)
        drop = not state["include_usage"] and not chunk.choices
    text = ""
    for choice in chunk.choices or ():
        state["id"] = chunk.id
        delta = choice.delta
        if delta is not None:
            text += "".join(part for part in (delta.content, delta.reasoning_content, delta.reasoning, delta.refusal)
                            if part is not None)
            for call in delta.tool_calls or ():
                if call.function is not None and call.function.arguments is not None:
                    text += call.function.arguments
        if choice.finish_reason:
            state["finish"] = choice.finish_reason
    return text, False, drop


def gemini(state: dict[str, Any], payload: bytes) -> tuple[str, bool, bool] | None:
    try:
        chunk = _gemini.decode(payload)
    except msgspec.DecodeError:
        return None
    if chunk.usageMetadata is not None:
        state["usage_metadata"] = chunk.usageMetadata
    text = ""
    for candidate in chunk.candidates or ():
        content = candidate.content
        if content is not None:
            text += "".join(part.text for part in content.parts or () if part.text is not None)
        if candidate.finishReason:
            state["done"] = True
    return text, False, False
