"""A scripted coding-agent model behind all four upstream protocols, over real HTTP (aiohttp, own thread).

It plays the model of one agent tool turn, whatever the client and whatever the channel kind in between:

* a request that offers a shell tool (`exec_command`, `shell`, `shell_command`, `Bash`, `run_shell_command`) and
  whose conversation does not yet hold the command's output → a call of that tool running `COMMAND`;
* a request whose conversation holds the output (`RESULT`, which the command's text does not contain: the shell
  computes it) → the final text `FINAL`;
* anything else (a title, a summary, a check the CLI runs on the side) → a short text.

When a translated request offers the provider's own web search (Anthropic's `web_search_20250305` server tool,
Gemini's `google_search`), the tool-call turn first searches `SEARCH_QUERY` and cites `SEARCH_URL` in a short text,
reporting the search in the provider's usage or grounding metadata, as the real APIs do.

Protocols: Responses (`/v1/responses`), Chat Completions (`/v1/chat/completions`), Anthropic Messages
(`/v1/messages`, `/v1/messages/count_tokens`) and Gemini (`/v1beta/models/{m}:generateContent`,
`:streamGenerateContent?alt=sse`, `:countTokens`), JSON or streamed. Usage is reported in each protocol's own
shape, deterministic from the request's size, so the gateway bills every call. Every request is recorded.
"""

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.upstream.anthropic_mock import message_events
from tests.upstream.server import Answer, chat_chunks, chat_json, responses_events, responses_json
from tests.upstream.threaded import ThreadedServer

COMMAND = "printf 'agent-%s-ok\\n' 42"
RESULT = "agent-42-ok"
FINAL = "The command printed " + RESULT + "."
SIDE_TEXT = "Noted."
SHELL_TOOLS = ("exec_command", "shell_command", "shell", "Bash", "run_shell_command")
SEARCH_QUERY = "printf format flags"
SEARCH_URL = "https://man7.org/linux/man-pages/man1/printf.1.html"
CITED = "printf formats its arguments."


def shell_arguments(name: str) -> dict[str, Any]:
    """The arguments each agent's shell tool takes to run COMMAND."""
    if name == "exec_command":
        return {"cmd": COMMAND}
    if name == "shell":
        return {"command": ["bash", "-lc", COMMAND]}
    if name == "Bash":
        return {"command": COMMAND, "description": "Print the answer"}
    return {"command": COMMAND}  # shell_command, run_shell_command


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _base_name(name: str) -> str:
    """A flattened namespaced tool (`ns__tool`, `ns.tool`) still counts by its last part."""
    for sep in ("__", "."):
        name = name.rsplit(sep, 1)[-1]
    return name


def decide(tool_names: list[str], conversation: Any) -> tuple[str | None, dict[str, Any] | None, str]:
    """(tool name to call, its arguments, text): the whole script."""
    if RESULT in _dumps(conversation):
        return None, None, FINAL
    for wanted in SHELL_TOOLS:
        for name in tool_names:
            if _base_name(name) == wanted:
                return name, shell_arguments(wanted), ""
    return None, None, SIDE_TEXT


@dataclass
class Recorded:
    protocol: str  # responses | chat | anthropic | gemini (count calls: <protocol>_count)
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False, default=b"")


class AgentUpstream(ThreadedServer):
    thread_name = "agent-upstream"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()

    def base_url(self, kind: str) -> str:
        """A channel's base_url for this kind."""
        return f"http://{self.host}:{self.port}/" + ("v1beta" if kind == "gemini" else "v1")

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def turns(self) -> list[Recorded]:
        """The generating calls (what the gateway bills), not the token counts."""
        with self._lock:
            return [r for r in self.requests if not r.protocol.endswith("_count")]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._messages_count)
        app.router.add_post("/v1beta/{target:.+}", self._gemini)
        return app

    async def _intake(self, request: web.Request, protocol: str) -> dict[str, Any]:
        raw = await request.read()
        body = json.loads(raw)
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(protocol, request.path, headers, body, raw))
        return body

    # -- Responses and Chat: the shared test upstream's renderers --------------------------------------
    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._intake(request, "responses")
        names = [t.get("name") or "" for t in body.get("tools") or () if t.get("type") == "function"]
        name, args, text = decide(names, body.get("input"))
        answer = Answer(text=text, call_name=name, call_arguments=_dumps(args) if args else "",
                        input_tokens=len(_dumps(body)) // 4 + 1)
        body = {**body, "tools": [t for t in body.get("tools") or () if t.get("type") == "function"]}  # no searches
        if not body.get("stream"):
            return web.json_response(responses_json(body, answer), dumps=_dumps)
        return await _stream(request, [f"event: {k}\ndata: {_dumps(d)}\n\n".encode()
                                       for k, d in responses_events(body, answer)])

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._intake(request, "chat")
        names = [(t.get("function") or {}).get("name") or "" for t in body.get("tools") or ()]
        name, args, text = decide(names, body.get("messages"))
        answer = Answer(text=text, call_name=name, call_arguments=_dumps(args) if args else "",
                        input_tokens=len(_dumps(body)) // 4 + 1)
        if not body.get("stream"):
            return web.json_response(chat_json(body, answer), dumps=_dumps)
        frames = [f"data: {_dumps(chunk)}\n\n".encode() for chunk in chat_chunks(body, answer)]
        return await _stream(request, [*frames, b"data: [DONE]\n\n"])

    # -- Anthropic Messages ----------------------------------------------------------------------------
    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._intake(request, "anthropic")
        names = [t.get("name") or "" for t in body.get("tools") or ()]
        name, args, text = decide(names, body.get("messages"))
        if name:
            content: list[dict[str, Any]] = [{"type": "tool_use", "id": "toolu_01Agent" + "0" * 19, "name": name,
                                              "input": args}]
        else:
            content = [{"type": "text", "text": text}]
        searched = bool(name) and any(t.get("type") == "web_search_20250305" for t in body.get("tools") or ())
        if searched:
            content = _anthropic_search() + content
        message = {
            "id": "msg_01Agent" + "0" * 18, "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": "tool_use" if name else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": len(_dumps(body)) // 4 + 1, "output_tokens": len(_dumps(content)) // 4 + 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      **({"server_tool_use": {"web_search_requests": 1}} if searched else {})},
        }
        if body.get("stream"):
            return await _stream(request, [message_events(message)])
        return web.json_response(message, dumps=_dumps)

    async def _messages_count(self, request: web.Request) -> web.Response:
        body = await self._intake(request, "anthropic_count")
        return web.json_response({"input_tokens": len(_dumps(body)) // 4 + 1})

    # -- Gemini ----------------------------------------------------------------------------------------
    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["target"].rpartition(":")[2]
        if method == "countTokens":
            body = await self._intake(request, "gemini_count")
            return web.json_response({"totalTokens": len(_dumps(body)) // 4 + 1})
        body = await self._intake(request, "gemini")
        names = [d.get("name") or "" for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
        name, args, text = decide(names, body.get("contents"))
        part = {"functionCall": {"name": name, "args": args}} if name else {"text": text}
        prompt = len(_dumps(body)) // 4 + 1
        out = len(_dumps(part)) // 4 + 1
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
        if name and any("google_search" in t or "googleSearch" in t for t in body.get("tools") or ()):
            candidate["content"]["parts"].insert(0, {"text": CITED})
            candidate["groundingMetadata"] = {
                "webSearchQueries": [SEARCH_QUERY], "groundingChunks": [{"web": {"uri": SEARCH_URL, "title": "printf"}}],
                "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": len(CITED)}, "groundingChunkIndices": [0]}],
            }
        chunk = {
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out},
            "modelVersion": "agent-upstream",
        }
        if method == "streamGenerateContent":
            return await _stream(request, [f"data: {_dumps(chunk)}\r\n\r\n".encode()])
        return web.json_response(chunk, dumps=_dumps)


def _anthropic_search() -> list[dict[str, Any]]:
    """The blocks of one web search Anthropic ran before the answer (server_tool_use, its result, a cited text)."""
    return [
        {"type": "server_tool_use", "id": "srvtoolu_01Agent" + "0" * 16, "name": "web_search",
         "input": {"query": SEARCH_QUERY}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01Agent" + "0" * 16,
         "content": [{"type": "web_search_result", "url": SEARCH_URL, "title": "printf", "encrypted_content": "Eq"}]},
        {"type": "text", "text": CITED, "citations": [{"type": "web_search_result_location", "url": SEARCH_URL,
                                                       "title": "printf", "cited_text": "printf", "encrypted_index": "E"}]},
    ]


async def _stream(request: web.Request, frames: list[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream; charset=utf-8",
                                                       "cache-control": "no-cache"})
    await response.prepare(request)
    for frame in frames:
        await response.write(frame)
    await response.write_eof()
    return response
