"""A small, deterministic OpenAI-compatible upstream for end-to-end tests.

It speaks two protocols over real HTTP:

* `POST /v1/responses` — the Responses API, JSON or SSE (`event:` + `data:` lines, sequence numbers from 0,
  the canonical event order of wire-formats §3.3/§3.4, usage in `response.completed`);
* `POST /v1/chat/completions` — Chat Completions, JSON or SSE (`data:` chunks, tool-call deltas by index,
  a usage-only chunk when `stream_options.include_usage` is true, then `data: [DONE]`).

Behaviour is a pure function of the request:

* function tools offered, `tool_choice` not "none" and the last input is not a tool result → a call to the
  forced tool (or the first allowed / first tool), its arguments built from the tool's JSON Schema;
* the last input is a tool result → the text `工具返回：<output>` (the output quoted verbatim);
* otherwise → the echo `你说：<last user text>` (verbatim, so byte-exactness can be asserted);
* hosted tools offered (web_search, file_search, …) → besides the answer, `hosted_calls` completed
  `<tool>_call` output items per hosted tool (default 2, never more than `max_tool_calls` in all),
  after the answer's item, the way an upstream that ran them reports them.

Tokens are counted as `len(text) // 2 + 1`. A max-tokens cap smaller than the answer truncates it and the
reply ends `incomplete` (Responses) / `finish_reason: "length"` (Chat).

Every request is recorded (`server.requests`) and faults are injected without headers:
`server.fail_next = (status, body[, headers])` makes the next request fail once; `server.cut_after = n` drops a
stream's connection after n events; `server.chunk_delay` slows streams down.

In tests: `UpstreamServer().start()` runs it in a background thread with its own event loop.
By hand: `python -m tests.upstream.server --port 9100`.
"""

import argparse
import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.upstream.threaded import ThreadedServer

TEXT_PIECE_CHARS = 3  # characters per streamed text delta
ARGS_PIECE_CHARS = 5  # characters per streamed arguments delta


def count_tokens(text: str) -> int:
    return len(text) // 2 + 1


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (to count input tokens)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


def _text_of(content: Any) -> str:
    """Message content (a string, or a list of text parts) → its text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or ""
            for part in content
            if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text")
        )
    return ""


def arguments_for(parameters: Any, user_text: str) -> str:
    """Arguments JSON built from a tool's schema: deterministic values of the declared types."""
    args: dict[str, Any] = {}
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    for name, spec in (properties or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        if spec.get("enum"):
            args[name] = spec["enum"][0]
        elif kind == "integer":
            args[name] = 1
        elif kind == "number":
            args[name] = 1.5
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = user_text or name
    return _dumps(args)


@dataclass
class Answer:
    """What the fake model says: a text, or one function call."""

    text: str = ""
    call_name: str | None = None
    call_arguments: str = ""
    input_tokens: int = 1
    incomplete: bool = False

    @property
    def output_tokens(self) -> int:
        return count_tokens(self.call_name + self.call_arguments if self.call_name else self.text)

    def usage_responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def usage_chat(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }


def decide(
    *,
    tools: list[tuple[str, Any]],
    choice: str | None,
    tool_output: str | None,
    user_text: str,
    input_tokens: int,
    cap: int | None,
) -> Answer:
    """`tools` = [(name, parameters)]; `choice` = "none", None (model's pick) or the name of the tool to call."""
    if tool_output is not None:
        answer = Answer(text="工具返回：" + tool_output, input_tokens=input_tokens)
    elif tools and choice != "none":
        name, parameters = next((t for t in tools if t[0] == choice), tools[0])
        return Answer(call_name=name, call_arguments=arguments_for(parameters, user_text), input_tokens=input_tokens)
    else:
        answer = Answer(text="你说：" + user_text, input_tokens=input_tokens)
    if cap is not None and count_tokens(answer.text) > cap:
        answer.text = answer.text[: max(0, (cap - 1) * 2)]
        answer.incomplete = True
    return answer


def _responses_choice(choice: Any) -> str | None:
    if choice is None or choice in ("auto", "required"):
        return None
    if choice == "none":
        return "none"
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function" or (kind in ("auto", "required") and choice.get("name")):
            return choice.get("name")
        if kind == "none":
            return "none"
        if kind == "allowed_tools":
            names = [t.get("name") for t in choice.get("tools") or () if isinstance(t, dict)]
            return names[0] if names else None
    return None


def _chat_choice(choice: Any) -> str | None:
    if choice is None or choice in ("auto", "required"):
        return None
    if choice == "none":
        return "none"
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return (choice.get("function") or {}).get("name")
        if choice.get("type") == "allowed_tools":
            allowed = (choice.get("allowed_tools") or {}).get("tools") or ()
            names = [(t.get("function") or {}).get("name") for t in allowed if isinstance(t, dict)]
            return names[0] if names else None
    return None


def answer_responses(body: dict[str, Any]) -> Answer:
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else list(items or ())
    user_text = ""
    for item in reversed(items):
        if isinstance(item, dict) and item.get("type", "message") == "message" and item.get("role") == "user":
            user_text = _text_of(item.get("content"))
            break
    last = items[-1] if items and isinstance(items[-1], dict) else {}
    tool_output = None
    if last.get("type") == "function_call_output":
        output = last.get("output")
        tool_output = output if isinstance(output, str) else _text_of(output)
    tools = [
        (t.get("name"), t.get("parameters"))
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    text_in = "".join(_strings(body.get("instructions"))) + "".join(_strings(items))
    return decide(
        tools=tools,
        choice=_responses_choice(body.get("tool_choice")),
        tool_output=tool_output,
        user_text=user_text,
        input_tokens=count_tokens(text_in),
        cap=body.get("max_output_tokens"),
    )


def answer_chat(body: dict[str, Any]) -> Answer:
    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    user_text = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    tool_output = _text_of(messages[-1].get("content")) if messages and messages[-1].get("role") == "tool" else None
    tools = [
        ((t.get("function") or {}).get("name"), (t.get("function") or {}).get("parameters"))
        for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    return decide(
        tools=tools,
        choice=_chat_choice(body.get("tool_choice")),
        tool_output=tool_output,
        user_text=user_text,
        input_tokens=count_tokens("".join(_strings(messages))),
        cap=body.get("max_completion_tokens") or body.get("max_tokens"),
    )


# -- Responses API -------------------------------------------------------------------------------


def _echo_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for tool in tools or ():
        if isinstance(tool, dict) and tool.get("type") == "function":
            tool = {"description": None, "parameters": None, "strict": True, **tool}
        out.append(tool)
    return out


def response_object(body: dict[str, Any], response_id: str, status: str, output: list, usage: Any) -> dict[str, Any]:
    obj = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": _echo_tools(body.get("tools")),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }
    if status == "completed":
        obj["completed_at"] = int(time.time())
    return obj


HOSTED_CALL_ITEMS = {
    "web_search": "web_search_call",
    "web_search_preview": "web_search_call",
    "file_search": "file_search_call",
    "code_interpreter": "code_interpreter_call",
    "image_generation": "image_generation_call",
    "mcp": "mcp_call",
    "computer_use_preview": "computer_call",
}
HOSTED_CALLS = 2  # per hosted tool offered


def hosted_call_items(body: dict[str, Any], per_tool: int = HOSTED_CALLS) -> list[dict[str, Any]]:
    """The completed hosted-tool call items an upstream reports for the hosted tools in `body`."""
    items: list[dict[str, Any]] = []
    for tool in body.get("tools") or ():
        kind = HOSTED_CALL_ITEMS.get(tool.get("type")) if isinstance(tool, dict) else None
        if kind:
            items += [{"id": f"{kind[:2]}_{secrets.token_hex(8)}", "type": kind, "status": "completed"}] * per_tool
    cap = body.get("max_tool_calls")
    return items[:cap] if isinstance(cap, int) else items


def responses_output(answer: Answer, ids: dict[str, str]) -> dict[str, Any]:
    """The final output item (completed)."""
    if answer.call_name:
        return {
            "id": ids["fc"],
            "type": "function_call",
            "status": "completed",
            "call_id": ids["call"],
            "name": answer.call_name,
            "arguments": answer.call_arguments,
        }
    return {
        "id": ids["msg"],
        "type": "message",
        "role": "assistant",
        "status": "incomplete" if answer.incomplete else "completed",
        "content": [{"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}],
    }


def _new_ids() -> dict[str, str]:
    return {
        "resp": "resp_" + secrets.token_hex(24),
        "msg": "msg_" + secrets.token_hex(24),
        "fc": "fc_" + secrets.token_hex(24),
        "call": "call_" + secrets.token_hex(12),
    }


def responses_events(body: dict[str, Any], answer: Answer) -> list[tuple[str, dict[str, Any]]]:
    """The whole event sequence, in canonical order, with sequence numbers 0, 1, 2, …"""
    ids = _new_ids()
    status = "incomplete" if answer.incomplete else "completed"
    start = response_object(body, ids["resp"], "in_progress", [], None)
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": start}),
        ("response.in_progress", {"response": start}),
    ]
    final_item = responses_output(answer, ids)
    if answer.call_name:
        added = {**final_item, "status": "in_progress", "arguments": ""}
        events.append(("response.output_item.added", {"output_index": 0, "item": added}))
        for piece in _pieces(answer.call_arguments, ARGS_PIECE_CHARS):
            events.append(
                ("response.function_call_arguments.delta", {"item_id": ids["fc"], "output_index": 0, "delta": piece})
            )
        events.append(
            (
                "response.function_call_arguments.done",
                {"item_id": ids["fc"], "output_index": 0, "arguments": answer.call_arguments},
            )
        )
    else:
        where = {"item_id": ids["msg"], "output_index": 0, "content_index": 0}
        added = {**final_item, "status": "in_progress", "content": []}
        events.append(("response.output_item.added", {"output_index": 0, "item": added}))
        events.append(
            ("response.content_part.added", {**where, "part": {"type": "output_text", "text": "", "annotations": []}})
        )
        for piece in _pieces(answer.text, TEXT_PIECE_CHARS):
            events.append(("response.output_text.delta", {**where, "delta": piece, "logprobs": []}))
        events.append(("response.output_text.done", {**where, "text": answer.text, "logprobs": []}))
        events.append(("response.content_part.done", {**where, "part": final_item["content"][0]}))
    events.append(("response.output_item.done", {"output_index": 0, "item": final_item}))
    hosted = hosted_call_items(body)
    for index, item in enumerate(hosted, start=1):
        events.append(("response.output_item.added", {"output_index": index, "item": {**item, "status": "in_progress"}}))
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    final = response_object(body, ids["resp"], status, [final_item, *hosted], answer.usage_responses())
    events.append((f"response.{status}", {"response": final}))
    return [(kind, {"type": kind, "sequence_number": n, **payload}) for n, (kind, payload) in enumerate(events)]


def responses_json(body: dict[str, Any], answer: Answer) -> dict[str, Any]:
    ids = _new_ids()
    status = "incomplete" if answer.incomplete else "completed"
    output = [responses_output(answer, ids), *hosted_call_items(body)]
    return response_object(body, ids["resp"], status, output, answer.usage_responses())


# -- Chat Completions ----------------------------------------------------------------------------


def _finish_reason(answer: Answer) -> str:
    return "tool_calls" if answer.call_name else ("length" if answer.incomplete else "stop")


def chat_json(body: dict[str, Any], answer: Answer) -> dict[str, Any]:
    ids = _new_ids()
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if answer.call_name else answer.text,
        "refusal": None,
    }
    if answer.call_name:
        message["tool_calls"] = [
            {
                "id": ids["call"],
                "type": "function",
                "function": {"name": answer.call_name, "arguments": answer.call_arguments},
            }
        ]
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(answer), "logprobs": None}],
        "usage": answer.usage_chat(),
        "system_fingerprint": None,
    }


def chat_chunks(body: dict[str, Any], answer: Answer) -> list[dict[str, Any]]:
    ids = _new_ids()
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model"),
        "system_fingerprint": None,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if include_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": None if answer.call_name else ""})]
    if answer.call_name:
        function = {"name": answer.call_name, "arguments": ""}
        chunks.append(
            chunk({"tool_calls": [{"index": 0, "id": ids["call"], "type": "function", "function": function}]})
        )
        for piece in _pieces(answer.call_arguments, ARGS_PIECE_CHARS):
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    else:
        chunks.extend(chunk({"content": piece}) for piece in _pieces(answer.text, TEXT_PIECE_CHARS))
    chunks.append(chunk({}, _finish_reason(answer)))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": answer.usage_chat()})
    return chunks


# -- the server ----------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the upstream received it."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # decoded JSON (None if the body was not JSON)
    raw: bytes = field(repr=False, default=b"")


class UpstreamServer(ThreadedServer):
    thread_name = "test-upstream"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self.chunk_delay = 0.0  # seconds between streamed events
        self.split_utf8 = True  # write each SSE event in two parts, cut inside a multi-byte character
        self.expected_secret: str | None = None  # when set, other bearer tokens get a 401
        self.cut_after: int | None = None  # streams: drop the connection after this many events
        self._faults: list[tuple[int, Any, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- controls for tests ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def fail_next(self) -> tuple[int, Any, dict[str, str]] | None:
        with self._lock:
            return self._faults[0] if self._faults else None

    @fail_next.setter
    def fail_next(self, fault: tuple | None) -> None:
        """`(status, body)` or `(status, body, headers)`: the next request gets this answer, once.
        Setting it again queues another fault; `None` clears the queue."""
        with self._lock:
            if fault is None:
                self._faults.clear()
                return
            status, body, *rest = fault
            self._faults.append((int(status), body, dict(rest[0]) if rest else {}))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        self.chunk_delay = 0.0
        self.split_utf8 = True
        self.expected_secret = None
        self.cut_after = None

    def received(self, path_suffix: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(path_suffix)]

    # -- HTTP ----------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _intake(self, request: web.Request) -> tuple[Any, web.Response | None]:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(path=request.path, headers=headers, body=body, raw=raw))
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            status, fault_body, fault_headers = fault
            if isinstance(fault_body, (dict, list)):
                data = _dumps(fault_body).encode()
                ctype = "application/json"
            else:
                data = fault_body.encode() if isinstance(fault_body, str) else bytes(fault_body or b"")
                ctype = "text/plain"
            return body, web.Response(status=status, body=data, content_type=ctype, headers=fault_headers)
        if self.expected_secret is not None and headers.get("authorization") != f"Bearer {self.expected_secret}":
            return body, _error(401, "Incorrect API key provided.", "invalid_api_key", "authentication_error")
        if not isinstance(body, dict):
            return body, _error(400, "We could not parse the JSON body of your request.", None)
        if not body.get("model"):
            return body, _error(400, "Missing required parameter: 'model'.", "missing_required_parameter")
        return body, None

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body, refusal = await self._intake(request)
        if refusal is not None:
            return refusal
        answer = answer_responses(body)
        if not body.get("stream"):
            return web.json_response(responses_json(body, answer), dumps=_dumps)
        frames = [
            b"event: " + kind.encode() + b"\ndata: " + _dumps(data).encode() + b"\n\n"
            for kind, data in responses_events(body, answer)
        ]
        return await self._stream(request, frames)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, refusal = await self._intake(request)
        if refusal is not None:
            return refusal
        answer = answer_chat(body)
        if not body.get("stream"):
            return web.json_response(chat_json(body, answer), dumps=_dumps)
        frames = [b"data: " + _dumps(chunk).encode() + b"\n\n" for chunk in chat_chunks(body, answer)]
        frames.append(b"data: [DONE]\n\n")
        return await self._stream(request, frames)

    async def _stream(self, request: web.Request, frames: list[bytes]) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        try:
            for index, frame in enumerate(frames):
                if self.cut_after is not None and index >= self.cut_after:
                    if request.transport is not None:  # no terminating chunk: the reader sees a broken stream
                        request.transport.close()
                    return response
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                for part in _split_inside_character(frame) if self.split_utf8 else (frame,):
                    await response.write(part)
            await response.write_eof()
        except ConnectionResetError:  # the gateway went away mid-stream: fine for a test server
            pass
        return response


def _error(status: int, message: str, code: str | None, kind: str = "invalid_request_error") -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, dumps=_dumps)


def _split_inside_character(frame: bytes) -> tuple[bytes, ...]:
    """Cut a frame inside its first multi-byte UTF-8 character, so the reader must buffer bytes."""
    for index, byte in enumerate(frame):
        if byte >= 0xC0:  # lead byte of a multi-byte sequence
            return frame[: index + 1], frame[index + 1 :]
    return (frame,)


def main() -> None:
    parser = argparse.ArgumentParser(description="Deterministic OpenAI-compatible test upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause between streamed events")
    parser.add_argument("--secret", default=None, help="require this bearer token")
    args = parser.parse_args()
    server = UpstreamServer(args.host, args.port)
    server.chunk_delay = args.chunk_delay_ms / 1000
    server.expected_secret = args.secret
    print(f"test upstream on http://{args.host}:{args.port}/v1 (responses, chat/completions)", flush=True)
    web.run_app(server.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
