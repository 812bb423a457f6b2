"""Exact input-token counts, re-done locally, to check what an upstream reports.

For OpenAI-family models the vocabulary is known (o200k for gpt-4o/4.1/4.5/5 and the o-series, cl100k for
gpt-4 and gpt-3.5) and bpe-openai counts with it offline (the vocabularies ship inside its wheel). For any
other model the gateway's estimate (gateway/wire/tokens.py) is used and the count is marked inexact.
A channel's options may pick the vocabulary: `truth_vocabulary` = "o200k" | "cl100k" | "estimate", or a
{public model id: vocabulary} map.

The message framing follows OpenAI's documented chat accounting: 3 tokens per message, 1 for its role,
3 priming the reply. A request whose input cannot be counted exactly here (images, files, audio, reasoning
items, server-stored context, tool definitions whose framing is undocumented) yields no sample at all:
a wrong local count would accuse an honest upstream.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from gateway.wire.tokens import count_tokens as estimate_tokens

VOCABULARIES = {"o200k": "o200k_base", "cl100k": "cl100k_base"}
ESTIMATE = "estimate"
PER_MESSAGE = 3
PER_ROLE = 1
REPLY_PRIMING = 3
# The Rust counter holds the GIL while it runs: counted in slices of this many characters (a few ms each),
# so the event loop of the same process gets the GIL back between slices.
SLICE_CHARS = 32 * 1024

_O200K = re.compile(r"^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o[1-9](?:$|[-.]))", re.IGNORECASE)
_CL100K = re.compile(r"^(?:gpt-4|gpt-3\.5|gpt-35)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Count:
    tokens: int
    vocabulary: str  # "o200k", "cl100k" or "estimate"

    @property
    def exact(self) -> bool:
        return self.vocabulary != ESTIMATE


def vocabulary(public_id: str, upstream_model: str, options: dict) -> str:
    """The vocabulary to count a channel's model with: the channel's choice, else known by model name."""
    chosen = options.get("truth_vocabulary")
    if isinstance(chosen, dict):
        chosen = chosen.get(public_id)
    if chosen in VOCABULARIES or chosen == ESTIMATE:
        return str(chosen)
    name = upstream_model.rsplit("/", 1)[-1]  # relays name models "openai/gpt-4o"
    if _O200K.match(name):
        return "o200k"
    if _CL100K.match(name):
        return "cl100k"
    return ESTIMATE


@cache
def _tokenizer(name: str) -> Any:
    # The counting core of bpe-openai (its public Encoding builds a token list and refuses inputs over
    # 1M characters; counting is all we need).
    from bpe_openai import _bindings

    return _bindings.tokenizer_for_encoding(VOCABULARIES[name])


def preload() -> None:
    """Load every vocabulary now. Loading one (gzip + base64 + building its ranks) holds the GIL for most of a
    second: done by the first truth sample while serving, it stalled the worker's event loop that long
    (tests/e2e/test_event_loop.py caught it). A server calls this at start, before any request."""
    for name in VOCABULARIES:
        _tokenizer(name)


def _slices(text: str) -> list[str]:
    """Slices of at most ~SLICE_CHARS cut just before a space, where o200k/cl100k pieces begin anyway."""
    if len(text) <= SLICE_CHARS:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + SLICE_CHARS)
        if end < len(text):
            cut = text.rfind(" ", start + SLICE_CHARS // 2, end)
            end = cut if cut > start else end
        out.append(text[start:end])
        start = end
    return out


def count_text(text: str, vocab: str) -> int:
    if not text:
        return 0
    if vocab == ESTIMATE:
        return estimate_tokens(text)
    tokenizer = _tokenizer(vocab)
    return sum(tokenizer.count(piece) for piece in _slices(text))


class Uncountable(Exception):
    """The request holds input this module cannot count exactly."""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for part in content or ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            texts.append(part.get("text") or "")
        elif kind == "refusal":
            texts.append(part.get("refusal") or "")
        else:
            raise Uncountable(kind)
    return "".join(texts)


def messages_of(request: Any) -> list[tuple[str, str]]:
    """(role, text) of every message of a typed Responses request; Uncountable when one is not plain text."""
    if request.tools or request.previous_response_id:
        raise Uncountable("tools or stored context")
    messages = [("system", request.instructions)] if request.instructions else []
    if isinstance(request.input, str):
        return [*messages, ("user", request.input)]
    for item in request.input:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append((str(item.get("role") or "user"), _content_text(item.get("content"))))
        elif kind == "function_call":
            messages.append(("assistant", (item.get("name") or "") + (item.get("arguments") or "")))
        elif kind == "function_call_output":
            messages.append(("tool", _content_text(item.get("output"))))
        else:
            raise Uncountable(kind)
    return messages


def count_messages(messages: list[tuple[str, str]], vocab: str) -> int:
    return REPLY_PRIMING + sum(PER_MESSAGE + PER_ROLE + count_text(text, vocab) for _, text in messages)


def count_request(request: Any, vocab: str, counter: Callable[[list[tuple[str, str]], str], int] | None = None
                  ) -> Count | None:
    """The input tokens of a typed Responses request in `vocab`; None when it cannot be counted. `counter`
    counts the messages (default: count_messages here; the truth thread passes the child's, child.py)."""
    try:
        messages = messages_of(request)
    except Uncountable:
        return None
    return Count((counter or count_messages)(messages, vocab), vocab)
