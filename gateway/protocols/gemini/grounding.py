"""OpenAI's hosted `web_search` (and `web_search_preview`, dated variants) on a Gemini channel that allows it
(`allow_tools: ["web_search"]`): Grounding with Google Search.

Going up, the tool becomes `{"google_search": {}}` beside the function declarations (Gemini takes no domain
filter, location or call cap for it). A hosted-call cap of 0 (`max_tool_calls: 0`) sends no search tool. Gemini
cannot be forced to search: `tool_choice: {"type": "web_search"}` is a 400. Models that cannot combine Google
Search with function calling (Gemini 2.x) refuse Codex's requests: such a channel lists web_search in
`drop_tools` instead of `allow_tools` (docs/agents.md).

Coming back, a candidate's `groundingMetadata` (in a stream: the last chunks) becomes, after the answer's text,
one completed `web_search_call` per `webSearchQueries` entry (`action.query`), and each `groundingSupports`
segment a `url_citation` annotation per cited `groundingChunks[].web` source. Segment offsets are UTF-8 byte
offsets into the candidate's text: they are turned into character offsets into our message's text. The searches
are charged per call: one per distinct query, never more than the request's hosted-call cap (the hold's).
"""

import dataclasses
from typing import Any

from billing.pricing import Usage
from gateway.relay.field_policy import hosted_call_cap, tool_kind
from gateway.wire.errors import InvalidRequest
from gateway.wire.responses import ResponseStreamBuilder

GOOGLE_SEARCH: dict[str, dict[str, Any]] = {"google_search": {}}


def is_web_search(tool: dict[str, Any]) -> bool:
    return tool_kind(str(tool.get("type"))) == "web_search"


def search_tools(tools: list[dict[str, Any]], raw: dict[str, Any], choice: Any) -> list[dict[str, Any]]:
    """The Gemini tools entry for the request's web_search tool, if it has one and may search."""
    if isinstance(choice, dict) and is_web_search(choice):
        raise InvalidRequest("This model cannot be forced to search the web; use tool_choice 'auto'.",
                             param="tool_choice.type", code="unsupported_value")
    if not any(is_web_search(tool) for tool in tools) or hosted_call_cap(raw) <= 0:
        return []
    return [dict(GOOGLE_SEARCH)]


def calling_choice(choice: Any, declared: set[str]) -> Any:
    """The tool_choice for Gemini's function calling when the request offers web search: an `allowed_tools` entry
    for the search (a function `web_search` once agent_tools flattened it) is not a function Gemini knows, so it
    leaves the list; a list of only the search allows no function call (the search stays offered)."""
    tools = choice.get("tools") if isinstance(choice, dict) and choice.get("type") == "allowed_tools" else None
    if not isinstance(tools, list) or "web_search" in declared:
        return choice
    kept = [t for t in tools if not (isinstance(t, dict) and t.get("name") == "web_search")]
    if len(kept) == len(tools):
        return choice
    if kept:
        return {**choice, "tools": kept}
    if choice.get("mode") == "required":
        raise InvalidRequest("This model cannot be forced to search the web; use mode 'auto'.",
                             param="tool_choice.mode", code="unsupported_value")
    return "none"


class Grounding:
    """What a candidate's groundingMetadata said, gathered over a stream's chunks (or one reply)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.queries: list[str] = []
        self.sources: list[tuple[str, str]] = []  # groundingChunks' (uri, title), by index
        self.supports: list[dict[str, Any]] = []

    def add(self, candidate: dict[str, Any] | None) -> None:
        metadata = candidate.get("groundingMetadata") if isinstance(candidate, dict) else None
        if not isinstance(metadata, dict):
            return
        for query in _list(metadata.get("webSearchQueries")):
            if isinstance(query, str) and query and query not in self.queries:
                self.queries.append(query)
        chunks = _list(metadata.get("groundingChunks"))
        if chunks:  # each chunk of a stream repeats the whole list so far
            self.sources = [_source(chunk) for chunk in chunks]
        supports = [s for s in _list(metadata.get("groundingSupports")) if isinstance(s, dict)]
        if supports:
            self.supports = supports

    def emit(self, builder: ResponseStreamBuilder) -> bytes:
        """Annotations on the answer's text (still open in a stream), then one search item per query."""
        out = [self._annotate(builder)]
        for query in self.queries:
            out.append(builder.web_search_call(query=query))
            out.append(builder.close_item())
        return b"".join(out)

    def with_searches(self, usage: Usage | None) -> Usage | None:
        made = min(len(self.queries), self.cap)
        if usage is None or not made:
            return usage
        calls = dict(usage.tool_calls)
        calls["web_search"] = made
        return dataclasses.replace(usage, tool_calls=tuple(sorted(calls.items())))

    def _annotate(self, builder: ResponseStreamBuilder) -> bytes:
        messages = [item for item in builder.output if item["type"] == "message" and item["content"]
                    and item["content"][0].get("type") == "output_text"]
        if not messages or not self.supports:
            return b""
        texts = [item["content"][0]["text"] for item in messages]
        whole = "".join(texts).encode()
        out = []
        for support in self.supports:
            segment = support.get("segment")
            if not isinstance(segment, dict):
                continue
            start = _chars(whole, segment.get("startIndex", 0))
            end = _chars(whole, segment.get("endIndex"))
            if start is None or end is None or end <= start:
                continue
            item, offset = _message_at(messages, texts, start)
            end = min(end - offset, len(item["content"][0]["text"]))
            for index in _list(support.get("groundingChunkIndices")):
                if type(index) is int and 0 <= index < len(self.sources) and self.sources[index][0]:
                    url, title = self.sources[index]
                    out.append(builder.annotate(item, {"type": "url_citation", "start_index": start - offset,
                                                       "end_index": end, "url": url, "title": title}))
        return b"".join(out)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _source(chunk: Any) -> tuple[str, str]:
    web = chunk.get("web") if isinstance(chunk, dict) else None
    if not isinstance(web, dict):
        return "", ""
    uri, title = web.get("uri"), web.get("title")
    return (uri if isinstance(uri, str) else ""), (title if isinstance(title, str) else "")


def _chars(text: bytes, offset: Any) -> int | None:
    """A UTF-8 byte offset into `text` → the character offset (a split character counts whole from its start)."""
    if type(offset) is not int or not 0 <= offset <= len(text):
        return None
    return len(text[:offset].decode("utf-8", errors="ignore"))


def _message_at(messages: list[dict[str, Any]], texts: list[str], start: int) -> tuple[dict[str, Any], int]:
    """The message holding character `start` of the joined texts, and where its text begins."""
    offset = 0
    for item, text in zip(messages, texts, strict=True):
        if start < offset + len(text):
            return item, offset
        offset += len(text)
    return messages[-1], offset - len(texts[-1])
