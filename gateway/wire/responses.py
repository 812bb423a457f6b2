"""Responses API objects and the stream event sequence, built from neutral steps.

Translating adapters (Chat Completions, Anthropic, Gemini, the simulator) call the builder's
methods as their upstream speaks; it takes care of ids, dense output indexes, sequence numbers,
opening and closing items in the order the SDKs require, and the final object.
"""

import time
from typing import Any

from billing.pricing import Usage
from gateway.relay.meter import OutputMeter
from gateway.wire import ids
from gateway.wire.sse import encode_event


def new_id(prefix: str) -> str:
    return f"{prefix}_{ids.token_hex(24)}"


def usage_dict(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens,
                                 "cache_write_tokens": usage.cache_write_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


MAX_UPSTREAM_TOKENS = 10**9  # no request comes near it: a count beyond is an upstream's garbage


def plausible_usage(usage: Usage) -> Usage | None:
    """An upstream's count as is, or None (then estimated) when it is beyond any real request: charged as it came,
    a huge count would overflow the ledger's 64-bit micros at settlement (found by fuzzing)."""
    counts = (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.reasoning_tokens,
              usage.cache_write_tokens)
    return usage if max(counts) <= MAX_UPSTREAM_TOKENS else None


def usage_from_responses(data: dict[str, Any] | None) -> Usage | None:
    """A Responses API `usage` object → Usage. Missing details read as 0."""
    if not isinstance(data, dict):
        return None
    try:
        return plausible_usage(
            Usage(
                input_tokens=int(data.get("input_tokens") or 0),
                cached_input_tokens=int((data.get("input_tokens_details") or {}).get("cached_tokens") or 0),
                output_tokens=int(data.get("output_tokens") or 0),
                reasoning_tokens=int((data.get("output_tokens_details") or {}).get("reasoning_tokens") or 0),
            )
        )
    except (AttributeError, TypeError, ValueError, OverflowError):  # a malformed upstream count: no usage (estimated)
        return None


def response_object(
    *,
    response_id: str,
    model: str,
    created_at: int,
    request: Any,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    error: dict[str, Any] | None = None,
    incomplete_reason: str | None = None,
) -> dict[str, Any]:
    """A full Response, echoing the request's settings as OpenAI does. `request` is the typed request."""
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": True if request.parallel_tool_calls is None else request.parallel_tool_calls,
        "previous_response_id": request.previous_response_id,
        "reasoning": request.reasoning or {"effort": None, "summary": None},
        "store": False if request.store is None else request.store,
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "text": request.text or {"format": {"type": "text"}},
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "tools": request.tools or [],
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "truncation": request.truncation or "disabled",
        "usage": usage_dict(usage),
        "user": request.user,
        "metadata": request.metadata or {},
    }
    if status == "completed":
        body["completed_at"] = int(time.time())
    return body


class ResponseStreamBuilder:
    """Emits a valid Responses event sequence from neutral steps. Every method returns SSE bytes."""

    def __init__(
        self, *, response_id: str, model: str, request: Any, created_at: int | None = None, usage_cost: Any = None
    ) -> None:
        self.response_id = response_id
        self.model = model
        self.request = request
        self.created_at = created_at or int(time.time())
        self.output: list[dict[str, Any]] = []
        self.sequence = 0
        self.started = False
        self.finished = False
        self.usage: Usage | None = None
        self.status = "in_progress"
        self.incomplete_reason: str | None = None
        self.error: dict[str, Any] | None = None  # set by `fail`: {"code", "message"}
        self.usage_cost = usage_cost  # Usage → cost string, added to the terminal event's usage
        self._open: dict[str, Any] | None = None  # the item being streamed
        self._text: list[str] = []  # every piece of output text or arguments sent, for local counting
        self.meter: OutputMeter | None = None  # streams: output beyond the hold's cap is not sent (gateway/relay/meter.py)
        # Agent tools flattened for a translated upstream (gateway/protocols/agent_tools.py): calls mapped back.
        self.tools: Any = None

    # -- plumbing --------------------------------------------------------------------------------
    def _event(self, event_type: str, payload: dict[str, Any]) -> bytes:
        payload = {"type": event_type, "sequence_number": self.sequence, **payload}
        self.sequence += 1
        return encode_event(event_type, payload)

    def snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(
            response_id=self.response_id,
            model=self.model,
            created_at=self.created_at,
            request=self.request,
            status=status,
            output=self.output,
            **extra,
        )

    @property
    def emitted_text(self) -> str:
        return "".join(self._text)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        snap = self.snapshot("in_progress")
        return self._event("response.created", {"response": snap}) + self._event(
            "response.in_progress", {"response": snap}
        )

    def _close_open(self, status: str = "completed") -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        index = self.output.index(item)
        if item.get("deferred"):
            return self._close_deferred(item, index, status)
        out = b""
        if item["type"] == "message":
            part = item["content"][0]
            key = "text" if part["type"] == "output_text" else "refusal"
            done_type = "response.output_text.done" if key == "text" else "response.refusal.done"
            extra: dict[str, Any] = {"logprobs": []} if key == "text" else {}
            out += self._event(
                done_type,
                {"item_id": item["id"], "output_index": index, "content_index": 0, key: part[key], **extra},
            )
            out += self._event(
                "response.content_part.done",
                {"item_id": item["id"], "output_index": index, "content_index": 0, "part": part},
            )
        elif item["type"] == "function_call":
            out += self._event(
                "response.function_call_arguments.done",
                {"item_id": item["id"], "output_index": index, "arguments": item["arguments"]},
            )
        elif item["type"] == "reasoning":
            summary = item["summary"][0]
            out += self._event(
                "response.reasoning_summary_text.done",
                {"item_id": item["id"], "output_index": index, "summary_index": 0, "text": summary["text"]},
            )
            out += self._event(
                "response.reasoning_summary_part.done",
                {"item_id": item["id"], "output_index": index, "summary_index": 0, "part": summary},
            )
        elif item["type"] == "web_search_call":
            status = "failed" if item.pop("failed", False) else status
            if status == "completed":
                out += self._event("response.web_search_call.completed", {"item_id": item["id"], "output_index": index})
        item["status"] = status
        if item["type"] == "reasoning":
            item.pop("status")
        return out + self._event("response.output_item.done", {"output_index": index, "item": item})

    def _close_deferred(self, call: dict[str, Any], index: int, status: str) -> bytes:
        """A custom or local_shell call, held back while its arguments came: announced whole, in its own shape."""
        call["status"] = status
        item = self.output[index] = self.tools.restore_call(call)
        out = self._event("response.output_item.added", {"output_index": index, "item": {**item, "status": "in_progress"}})
        if item["type"] == "custom_tool_call":
            where = {"item_id": item["id"], "output_index": index}
            out += self._event("response.custom_tool_call_input.delta", {**where, "delta": item["input"]})
            out += self._event("response.custom_tool_call_input.done", {**where, "input": item["input"]})
        return out + self._event("response.output_item.done", {"output_index": index, "item": item})

    def close_item(self) -> bytes:
        """End the open item now; the next delta of the same kind opens a new item."""
        return self._close_open()

    def _add_item(self, item: dict[str, Any]) -> bytes:
        out = self.start() + self._close_open()
        self.output.append(item)
        self._open = item
        if item.get("deferred"):
            return out
        return out + self._event("response.output_item.added", {"output_index": len(self.output) - 1, "item": item})

    # -- content ---------------------------------------------------------------------------------
    def _refused(self, text: str) -> bool:
        return self.meter is not None and not self.meter.admit(text)

    def text_delta(self, delta: str, *, kind: str = "output_text") -> bytes:
        """`kind` is output_text or refusal."""
        if not delta or self._refused(delta):
            return b""
        out = b""
        item = self._open
        if item is None or item["type"] != "message" or item["content"][0]["type"] != kind:
            item = {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            out += self._add_item(item)
            part = (
                {"type": "output_text", "text": "", "annotations": []}
                if kind == "output_text"
                else {
                    "type": "refusal",
                    "refusal": "",
                }
            )
            out += self._event(
                "response.content_part.added",
                {"item_id": item["id"], "output_index": len(self.output) - 1, "content_index": 0, "part": dict(part)},
            )
            item["content"].append(part)
        part = item["content"][0]
        key = "text" if kind == "output_text" else "refusal"
        part[key] += delta
        self._text.append(delta)
        payload: dict[str, Any] = {"item_id": item["id"], "output_index": len(self.output) - 1, "content_index": 0}
        payload["delta"] = delta
        if kind == "output_text":
            payload["logprobs"] = []
            return out + self._event("response.output_text.delta", payload)
        return out + self._event("response.refusal.delta", payload)

    def reasoning_delta(self, delta: str) -> bytes:
        if not delta or self._refused(delta):
            return b""
        out = b""
        item = self._open
        if item is None or item["type"] != "reasoning":
            item = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            out += self._add_item(item)
            part = {"type": "summary_text", "text": ""}
            out += self._event(
                "response.reasoning_summary_part.added",
                {"item_id": item["id"], "output_index": len(self.output) - 1, "summary_index": 0, "part": dict(part)},
            )
            item["summary"].append(part)
        item["summary"][0]["text"] += delta
        self._text.append(delta)
        return out + self._event(
            "response.reasoning_summary_text.delta",
            {"item_id": item["id"], "output_index": len(self.output) - 1, "summary_index": 0, "delta": delta},
        )

    def tool_call_start(self, *, call_id: str, name: str) -> bytes:
        if self._refused(name):
            return b""
        item: dict[str, Any] = {
            "id": new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": call_id,
            "name": name,
        }
        if self.tools is not None:
            if self.tools.kind_of(name) == "function":
                self.tools.restore_function(item)
            else:
                item["deferred"] = True
        self._text.append(name)
        return self._add_item(item)

    def tool_call_arguments(self, delta: str) -> bytes:
        item = self._open
        if not delta or item is None or item["type"] != "function_call" or self._refused(delta):
            return b""
        item["arguments"] += delta
        self._text.append(delta)
        if item.get("deferred"):
            return b""
        return self._event(
            "response.function_call_arguments.delta",
            {"item_id": item["id"], "output_index": len(self.output) - 1, "delta": delta},
        )

    def web_search_call(self, *, query: str | None) -> bytes:
        """A search the upstream ran itself (a translated channel's own web search): added and `searching` now,
        completed when the next item opens or `close_item` is called. A query that comes later goes in
        `action.query` of the open item; `failed: True` on it ends the item failed."""
        if query and self._refused(query):
            return b""
        action: dict[str, Any] = {"type": "search"}
        if query:
            action["query"] = query
            self._text.append(query)
        item = {"id": new_id("ws"), "type": "web_search_call", "status": "in_progress", "action": action}
        out = self._add_item(item)
        where = {"item_id": item["id"], "output_index": len(self.output) - 1}
        return (out + self._event("response.web_search_call.in_progress", where)
                + self._event("response.web_search_call.searching", where))

    def annotate(self, item: dict[str, Any], annotation: dict[str, Any]) -> bytes:
        """Add an annotation (a url_citation) to a message's output_text; announced while the message is open,
        else only the final object carries it."""
        part = item["content"][0] if item.get("type") == "message" and item.get("content") else None
        if part is None or part.get("type") != "output_text":
            return b""
        part["annotations"].append(annotation)
        if item is not self._open:
            return b""
        where = {"item_id": item["id"], "output_index": self.output.index(item), "content_index": 0}
        return self._event("response.output_text.annotation.added",
                           {**where, "annotation_index": len(part["annotations"]) - 1, "annotation": annotation})

    # -- endings ---------------------------------------------------------------------------------
    def finish(self, *, usage: Usage | None, incomplete_reason: str | None = None) -> bytes:
        """Close what is open and send the terminal event with the full output and usage."""
        if self.finished:
            return b""
        self.finished = True
        self.usage = usage
        if self.meter is not None and self.meter.spent:  # output was held back: the answer is cut short
            incomplete_reason = "max_output_tokens"
        item_status = "incomplete" if incomplete_reason else "completed"
        out = self.start() + self._close_open(item_status)
        self.status = "incomplete" if incomplete_reason else "completed"
        self.incomplete_reason = incomplete_reason
        snap = self.snapshot(self.status, usage=usage, incomplete_reason=incomplete_reason)
        if usage is not None and self.usage_cost is not None:
            snap["usage"]["cost"] = self.usage_cost(usage)
        return out + self._event(f"response.{self.status}", {"response": snap})

    def fail(self, *, message: str, code: str = "server_error") -> bytes:
        """The upstream broke after the stream began: an `error` event, then `response.failed`."""
        if self.finished:
            return b""
        self.finished = True
        self.status = "failed"
        self.error = {"code": code, "message": message}
        out = self.start() + self._close_open("incomplete")
        error = {"type": "server_error", "code": code, "message": message, "param": None}
        # Flat fields for typed clients, nested `error` so the Python SDK raises (wire-formats §3.6).
        out += self._event("error", {"code": code, "message": message, "param": None, "error": error})
        snap = self.snapshot("failed", error={"code": code, "message": message})
        return out + self._event("response.failed", {"response": snap})

    def final_object(self) -> dict[str, Any]:
        """For non-streaming replies: the same object `response.completed` would carry."""
        return self.snapshot(self.status, usage=self.usage, incomplete_reason=self.incomplete_reason)
