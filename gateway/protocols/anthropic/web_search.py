"""OpenAI's hosted `web_search` (and `web_search_preview`, dated variants) on an Anthropic channel that allows it
(`allow_tools: ["web_search"]`): Anthropic runs its own server tool and we map its blocks back.

Going up, the tool becomes `{"type": "web_search_20250305", "name": "web_search", "max_uses": <the request's
hosted-call cap>}` (the cap the hold was sized for, field_policy.hosted_call_cap), with `filters.allowed_domains`
→ `allowed_domains` and `user_location` as is (both APIs take the same approximate location). A cap of 0
(`max_tool_calls: 0`) sends no tool: no search may be made.

Coming back, a `server_tool_use` block named web_search opens a `web_search_call` item (`action.query` from its
input; in a stream, announced when the block ends, its streamed input read), its `web_search_tool_result` closes it (completed, or failed on a `web_search_tool_result_error`; the
result URLs become `action.sources` when `include` asks for "web_search_call.action.sources"), and a text block's
`web_search_result_location` citations become `url_citation` annotations over exactly that block's text.
The searches are charged per call from Anthropic's own counter, `usage.server_tool_use.web_search_requests`
(the items we saw when it is absent), never more than the cap.
"""

import dataclasses
from typing import Any

import msgspec

from billing.pricing import Usage
from gateway.relay.field_policy import hosted_call_cap, tool_kind
from gateway.wire.errors import InvalidRequest
from gateway.wire.responses import ResponseStreamBuilder

SERVER_TOOL = "web_search_20250305"
NAME = "web_search"
SOURCES = "web_search_call.action.sources"
_LOCATION_KEYS = ("city", "region", "country", "timezone")


def is_web_search(tool: dict[str, Any]) -> bool:
    return tool_kind(str(tool.get("type"))) == "web_search"


def server_tool(tool: dict[str, Any], index: int, cap: int) -> dict[str, Any]:
    """The Anthropic server tool for a Responses web_search tool."""
    mapped: dict[str, Any] = {"type": SERVER_TOOL, "name": NAME, "max_uses": cap}
    filters = tool.get("filters")
    domains = filters.get("allowed_domains") if isinstance(filters, dict) else None
    if domains is not None:
        if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
            raise InvalidRequest("'allowed_domains' must be an array of domain names.",
                                 param=f"tools[{index}].filters.allowed_domains", code="invalid_type")
        if domains:
            mapped["allowed_domains"] = domains
    location = tool.get("user_location")
    if location is not None:
        if not isinstance(location, dict):
            raise InvalidRequest("'user_location' must be an object.", param=f"tools[{index}].user_location",
                                 code="invalid_type")
        place = {key: location[key] for key in _LOCATION_KEYS if isinstance(location.get(key), str) and location[key]}
        if place:
            mapped["user_location"] = {"type": "approximate", **place}
    return mapped


def server_tools(tools: list[dict[str, Any]], raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The server tools for the request's web_search tools (one at most: Anthropic names it `web_search`)."""
    cap = hosted_call_cap(raw)
    searches = [(index, tool) for index, tool in enumerate(tools) if is_web_search(tool)]
    if not searches or cap <= 0:
        return []
    index, tool = searches[0]
    return [server_tool(tool, index, cap)]


def forced_choice() -> dict[str, Any]:
    return {"type": "tool", "name": NAME}


# -- replies -------------------------------------------------------------------------------------


def is_search_use(block: dict[str, Any]) -> bool:
    return block.get("type") == "server_tool_use" and block.get("name") == NAME


def query_of(value: Any) -> str | None:
    query = value.get("query") if isinstance(value, dict) else None
    return query if isinstance(query, str) and query else None


def streamed_query(partial_json: str) -> str | None:
    """A streamed server_tool_use input → its query (None if unreadable)."""
    try:
        return query_of(msgspec.json.decode(partial_json or "{}"))
    except msgspec.DecodeError:
        return None


def start(builder: ResponseStreamBuilder, block: dict[str, Any]) -> bytes:
    """A server_tool_use block: the search item, open until its result comes."""
    return builder.web_search_call(query=query_of(block.get("input")))


def open_search(builder: ResponseStreamBuilder) -> dict[str, Any] | None:
    item = builder.output[-1] if builder.output else None
    return item if item is not None and item["type"] == "web_search_call" and item["status"] == "in_progress" else None


def result(builder: ResponseStreamBuilder, block: dict[str, Any], include: Any) -> bytes:
    """A web_search_tool_result block: the open search item completes (or fails) with its sources."""
    item = open_search(builder)
    if item is None:
        return b""
    content = block.get("content")
    if isinstance(content, list):
        if isinstance(include, list) and SOURCES in include:
            urls = [r["url"] for r in content if isinstance(r, dict) and isinstance(r.get("url"), str)]
            item["action"]["sources"] = [{"type": "url", "url": url} for url in urls]
    else:  # {"type": "web_search_tool_result_error", "error_code": …}
        item["failed"] = True
    return builder.close_item()


def cite(builder: ResponseStreamBuilder, citations: Any, text: str) -> bytes:
    """A text block's search citations → url_citation annotations over that block's text, which the open
    message's output_text ends with (nothing when it does not: output cut by the meter)."""
    item = builder.output[-1] if builder.output else None
    if not text or not isinstance(citations, list) or item is None or item["type"] != "message":
        return b""
    whole = item["content"][0].get("text")
    if not isinstance(whole, str) or not whole.endswith(text):
        return b""
    end = len(whole)
    out = []
    for citation in citations:
        if not isinstance(citation, dict) or citation.get("type") != "web_search_result_location":
            continue
        url = citation.get("url")
        if isinstance(url, str) and url:
            title = citation.get("title")
            out.append(builder.annotate(item, {"type": "url_citation", "start_index": end - len(text),
                                               "end_index": end, "url": url,
                                               "title": title if isinstance(title, str) else ""}))
    return b"".join(out)


def with_searches(usage: Usage | None, counts: Any, output: list[dict[str, Any]], cap: int) -> Usage | None:
    """Usage with the searches Anthropic made (its counter; our items when it gives none), at most `cap`."""
    tool_use = counts.get("server_tool_use") if isinstance(counts, dict) else None
    made = tool_use.get("web_search_requests") if isinstance(tool_use, dict) else None
    if type(made) is not int or made < 0:
        made = sum(1 for item in output if item.get("type") == "web_search_call")
    made = min(made, cap)
    if usage is None or not made:
        return usage
    calls = dict(usage.tool_calls)
    calls["web_search"] = made
    return dataclasses.replace(usage, tool_calls=tuple(sorted(calls.items())))
