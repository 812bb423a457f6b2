"""A small Anthropic Messages API upstream (aiohttp): `POST /v1/messages`, JSON or SSE.

It answers with whatever a test queued (`mock.queue(body, ...)`: fixture bytes served verbatim, so the
same bytes can be checked with the official `anthropic` SDK and fed to our adapter), else with an echo:
`你说：<last user text>` — or, when `tool_choice` forces a tool, a `tool_use` of that tool with `{}` input —
rendered as a Message or as its event stream (`message_events`).

Like the real API it requires `anthropic-version`, `model`, `max_tokens` and `messages`, answers errors
with `{"type": "error", "error": {"type", "message"}, "request_id"}`, and (when `expected_key` is set)
checks `x-api-key` or `Authorization: Bearer`. Every request is recorded in `mock.requests`.

In tests: `mock = AnthropicMock().start()` … `mock.stop()`; `mock.base_url` ends in `/v1`.
"""

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.upstream.threaded import ThreadedServer

TEXT_PIECE_CHARS = 4  # characters per streamed text delta
JSON_PIECE_CHARS = 6  # characters per streamed input_json_delta


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()


def message_events(message: dict[str, Any]) -> bytes:
    """A whole Message → the event stream Anthropic would have sent for it (wire-formats §6.4)."""
    usage = dict(message["usage"])
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    out = [sse("message_start", {"type": "message_start", "message": start}), sse("ping", {"type": "ping"})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            first, deltas = (
                {"type": "text", "text": ""},
                [
                    {"type": "text_delta", "text": block["text"][i : i + TEXT_PIECE_CHARS]}
                    for i in range(0, len(block["text"]), TEXT_PIECE_CHARS)
                ],
            )
            if block.get("citations"):  # web search citations: announced before the cited text, one by one
                first["citations"] = []
                deltas = [{"type": "citations_delta", "citation": c} for c in block["citations"]] + deltas
        elif block["type"] in ("tool_use", "server_tool_use"):
            arguments = _dumps(block["input"]) if block["input"] else ""
            first, deltas = (
                {**block, "input": {}},
                [{"type": "input_json_delta", "partial_json": ""}]
                + [
                    {"type": "input_json_delta", "partial_json": arguments[i : i + JSON_PIECE_CHARS]}
                    for i in range(0, len(arguments), JSON_PIECE_CHARS)
                ],
            )
        elif block["type"] == "thinking":
            first, deltas = (
                {"type": "thinking", "thinking": "", "signature": ""},
                [
                    {"type": "thinking_delta", "thinking": block["thinking"]},
                    {"type": "signature_delta", "signature": block["signature"]},
                ],
            )
        else:
            first, deltas = block, []
        out.append(sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": first}))
        for delta in deltas:
            out.append(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message.get("stop_sequence")}
    out.append(sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    out.append(sse("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CMock"}


def echo_message(body: dict[str, Any]) -> dict[str, Any]:
    """The default answer: a tool_use when the request forces one, else an echo of the last user text."""
    choice = body.get("tool_choice") or {}
    tools = body.get("tools") or []
    if tools and choice.get("type") in ("any", "tool"):
        name = choice.get("name") or tools[0]["name"]
        content = [{"type": "tool_use", "id": "toolu_01MockCall000000000000000", "name": name, "input": {}}]
        stop_reason = "tool_use"
    else:
        content = [{"type": "text", "text": "你说：" + _last_user_text(body.get("messages") or [])}]
        stop_reason = "end_turn"
    text = _dumps(body.get("messages"))
    return {
        "id": "msg_01MockEcho0000000000000000",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": len(text) // 4 + 1, "output_tokens": len(_dumps(content)) // 4 + 1},
    }


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(b.get("text", "") for b in content or () if isinstance(b, dict) and b.get("type") == "text")
    return ""


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # decoded JSON, or None
    raw: bytes = field(repr=False, default=b"")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    gap: float = 0.0  # seconds between stream events (so each arrives in its own read)


class AnthropicMock(ThreadedServer):
    thread_name = "anthropic-mock"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self.expected_key: str | None = None
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def queue(
        self,
        body: bytes | dict[str, Any],
        *,
        status: int = 200,
        sse: bool = False,
        headers: dict[str, str] | None = None,
        gap: float = 0.0,
    ) -> None:
        """The next request gets exactly this answer (bytes are sent as they are)."""
        data = body if isinstance(body, bytes) else _dumps(body).encode()
        content_type = "text/event-stream; charset=utf-8" if sse else "application/json"
        with self._lock:
            self._replies.append(Reply(status, data, content_type, dict(headers or {}), gap))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._replies.clear()
        self.expected_key = None

    # -- HTTP ------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        return app

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(path=request.path, headers=headers, body=body, raw=raw))
            reply = self._replies.pop(0) if self._replies else None
        if reply is not None:
            return await self._send(request, reply)
        if self.expected_key is not None and self.expected_key not in (
            headers.get("x-api-key"),
            headers.get("authorization", "").removeprefix("Bearer "),
        ):
            return _error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "There was an issue with your request body.")
        for name in ("model", "max_tokens", "messages"):
            if body.get(name) is None:
                return _error(400, "invalid_request_error", f"{name}: Field required")
        message = echo_message(body)
        if body.get("stream"):
            return await self._send(request, Reply(200, message_events(message), "text/event-stream; charset=utf-8"))
        return await self._send(request, Reply(200, _dumps(message).encode(), "application/json"))

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        headers = {"content-type": reply.content_type, "request-id": "req_011CMock", **reply.headers}
        if not reply.content_type.startswith("text/event-stream"):
            return web.Response(status=reply.status, body=reply.body, headers=headers)
        response = web.StreamResponse(status=reply.status, headers={**headers, "cache-control": "no-cache"})
        await response.prepare(request)
        start = 0
        while start < len(reply.body):  # one write per event, as a real stream arrives; bytes untouched
            end = reply.body.find(b"\n\n", start)
            end = len(reply.body) if end < 0 else end + 2
            await response.write(reply.body[start:end])
            start = end
            if reply.gap and start < len(reply.body):
                await asyncio.sleep(reply.gap)
        await response.write_eof()
        return response


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.Response(status=status, text=_dumps(error_body(kind, message)), content_type="application/json")
