"""A fault-injecting OpenAI-compatible upstream: several "channels" on one real HTTP server.

Each channel is a path prefix: `http://127.0.0.1:<port>/<name>/v1` serves `/responses` and
`/chat/completions` with the same deterministic answers as tests/upstream/server.py. Tell a channel
how to misbehave, for every request or the next `times` ones:

* `fail(name, status, body, headers)` — answer with that status (500, 429 + Retry-After, 401, …);
* `hang(name, seconds)` — send nothing (not even headers) for that long (None: until the client leaves);
* `stall(name, after, seconds)` — streams: send `after` events, then nothing (JSON: headers, no body);
* `cut(name, after)` — streams: drop the connection after `after` events (JSON: mid-body);
* `slow(name, delay)` — streams: `delay` between events; JSON: `delay` before answering;
* `drop(name)` — close the connection without any answer; `garbage(name)` — 200 with a non-JSON body.

Per upstream key (until `reset`): `refuse_key(name, key, status, body)` answers every request sent with that
key (Authorization Bearer) so, whatever other fault is set: a dead key in a pool. `Hit.key` is the key sent.

And how it misreports, apart from faults (until `reset`): `lie(name, input_tokens=n)` reports n input
tokens whatever it read; `lie(name, ignore_cap=True)` answers in full whatever output cap it was sent.

Every request is recorded (`hits(name)`), with how it ended: "ok", the fault, or "aborted" when the
client (the gateway) went away first. Response ids are remembered per channel: a request whose
`previous_response_id` this channel never issued gets a 400 `previous_response_not_found`, as OpenAI.

In tests: `FaultyUpstream().start()` (aiohttp in a background thread); by hand:
`python -m tests.upstream.faulty --port 9200`.
"""

import argparse
import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.upstream.server import (
    answer_chat,
    answer_responses,
    chat_chunks,
    chat_json,
    responses_events,
    responses_json,
)
from tests.upstream.threaded import ThreadedServer

Frames = list[bytes]


@dataclass
class Fault:
    kind: str  # fail | hang | stall | cut | slow | drop | garbage
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None
    after: int = 0
    delay: float = 0.0
    times: int | None = None  # None: until cleared


@dataclass
class Hit:
    name: str
    path: str
    body: Any
    fault: str  # "" when none applied
    started: float
    ended: float | None = None
    outcome: str = "open"  # ok | <fault kind> | aborted
    key: str = ""  # the bearer key it was sent with


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class FaultyUpstream(ThreadedServer):
    thread_name = "faulty-upstream"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._faults: dict[str, Fault] = {}
        self._hits: list[Hit] = []
        self._known: dict[str, set[str]] = {}
        self._lies: dict[str, dict[str, Any]] = {}
        self._refused: dict[tuple[str, str], Fault] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- controls ----------------------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.port}/{name}/v1"

    def set(self, name: str, fault: Fault | None) -> None:
        with self._lock:
            if fault is None:
                self._faults.pop(name, None)
            else:
                self._faults[name] = fault

    def ok(self, name: str) -> None:
        self.set(name, None)

    def fail(self, name: str, status: int = 500, body: Any = None, headers: dict | None = None, times=None) -> None:
        body = {"error": {"message": f"injected {status}", "type": "server_error"}} if body is None else body
        self.set(name, Fault("fail", status=status, body=body, headers=dict(headers or {}), times=times))

    def hang(self, name: str, seconds: float | None = None, times=None) -> None:
        self.set(name, Fault("hang", seconds=seconds, times=times))

    def stall(self, name: str, after: int = 0, seconds: float | None = None, times=None) -> None:
        self.set(name, Fault("stall", after=after, seconds=seconds, times=times))

    def cut(self, name: str, after: int = 3, times=None) -> None:
        self.set(name, Fault("cut", after=after, times=times))

    def slow(self, name: str, delay: float, times=None) -> None:
        self.set(name, Fault("slow", delay=delay, times=times))

    def drop(self, name: str, times=None) -> None:
        self.set(name, Fault("drop", times=times))

    def garbage(self, name: str, times=None) -> None:
        self.set(name, Fault("garbage", times=times))

    def lie(self, name: str, *, input_tokens: int | None = None, ignore_cap: bool = False) -> None:
        with self._lock:
            self._lies[name] = {"input_tokens": input_tokens, "ignore_cap": ignore_cap}

    def refuse_key(self, name: str, key: str, status: int = 401, body: Any = None, headers: dict | None = None) -> None:
        body = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}} if body is None else body
        with self._lock:
            self._refused[(name, key)] = Fault("fail", status=status, body=body, headers=dict(headers or {}))

    def reset(self) -> None:
        with self._lock:
            self._refused.clear()
            self._lies.clear()
            self._faults.clear()
            self._hits.clear()
            self._known.clear()

    def hits(self, name: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self._hits if name is None or h.name == name]

    def count(self, name: str) -> int:
        return len(self.hits(name))

    def knows(self, name: str, response_id: str) -> bool:
        with self._lock:
            return response_id in self._known.get(name, ())

    def wait_until(self, check, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.02)
        return bool(check())

    # -- HTTP --------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{name}/v1/responses", self._handle)
        app.router.add_post("/{name}/v1/chat/completions", self._handle)
        return app

    def _take(self, name: str) -> Fault | None:
        with self._lock:
            fault = self._faults.get(name)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[name]
            return fault

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            refused = self._refused.get((name, key))
        fault = refused or self._take(name)
        hit = Hit(name=name, path=request.path, body=body, fault=fault.kind if fault else "", started=time.monotonic(),
                  key=key)
        with self._lock:
            self._hits.append(hit)
        try:
            response = await self._answer(request, name, body, fault, hit)
        finally:
            hit.ended = time.monotonic()
            if hit.outcome == "open":
                hit.outcome = "aborted" if _gone(request) else (fault.kind if fault else "ok")
        return response

    async def _answer(self, request: web.Request, name: str, body: Any, fault: Fault | None, hit: Hit):
        kind = fault.kind if fault else ""
        if kind == "fail":
            data = fault.body if isinstance(fault.body, (str, bytes)) else _dumps(fault.body)
            return web.Response(status=fault.status, body=data, content_type="application/json", headers=fault.headers)
        if kind == "hang":
            if not await _idle(request, fault.seconds):
                hit.outcome = "aborted"
                return web.Response(status=499)
        if kind == "drop":
            if request.transport is not None:
                request.transport.close()
            hit.outcome = "drop"
            return web.Response(status=499)
        if kind == "garbage":
            return web.Response(status=200, body=b"<html>oops</html>", content_type="application/json")
        if not isinstance(body, dict) or not body.get("model"):
            return _error(400, "We could not parse the JSON body of your request.", None)
        previous = body.get("previous_response_id")
        if previous and not self.knows(name, previous):
            return _error(400, f"Previous response with id '{previous}' not found.", "previous_response_not_found")
        chat = request.path.endswith("/chat/completions")
        stream = bool(body.get("stream"))
        with self._lock:
            lie = dict(self._lies.get(name) or {})
        if lie.get("ignore_cap"):
            body = {k: v for k, v in body.items() if k not in ("max_output_tokens", "max_tokens", "max_completion_tokens")}
        frames, response_id = _render(body, chat=chat, stream=stream, input_tokens=lie.get("input_tokens"))
        if response_id:
            with self._lock:
                self._known.setdefault(name, set()).add(response_id)
        if kind == "slow" and not stream:
            if not await _idle(request, fault.delay):
                hit.outcome = "aborted"
                return web.Response(status=499)
        if not stream:
            return await self._send_json(request, frames[0], fault, hit)
        return await self._send_stream(request, frames, fault, hit)

    async def _send_json(self, request: web.Request, data: bytes, fault: Fault | None, hit: Hit):
        kind = fault.kind if fault else ""
        if kind not in ("stall", "cut"):
            return web.Response(status=200, body=data, content_type="application/json")
        response = web.StreamResponse(status=200, headers={"content-type": "application/json"})
        response.content_length = len(data)
        await response.prepare(request)
        if kind == "cut":
            await response.write(data[: len(data) // 2])
            if request.transport is not None:
                request.transport.close()
            return response
        if not await _idle(request, fault.seconds):
            hit.outcome = "aborted"
            return response
        await response.write(data)
        return response

    async def _send_stream(self, request: web.Request, frames: Frames, fault: Fault | None, hit: Hit):
        kind = fault.kind if fault else ""
        response = web.StreamResponse(
            status=200, headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        try:
            for index, frame in enumerate(frames):
                if kind == "cut" and index >= fault.after:
                    if request.transport is not None:
                        request.transport.close()
                    return response
                if kind == "stall" and index == fault.after:
                    if not await _idle(request, fault.seconds):
                        hit.outcome = "aborted"
                        return response
                if kind == "slow" and index:
                    if not await _idle(request, fault.delay):
                        hit.outcome = "aborted"
                        return response
                await response.write(frame)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            hit.outcome = "aborted"
        return response


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _idle(request: web.Request, seconds: float | None) -> bool:
    """Wait `seconds` (None: forever) unless the client leaves first. True if it is still there."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        if _gone(request):
            return False
        await asyncio.sleep(0.01 if deadline is None else min(0.01, max(0.0, deadline - time.monotonic())))
    return not _gone(request)


def _render(body: dict, *, chat: bool, stream: bool, input_tokens: int | None = None) -> tuple[Frames, str | None]:
    """The answer as frames (JSON: one), and the response id a Responses upstream gave it."""
    if chat:
        answer = answer_chat(body)
        answer.input_tokens = answer.input_tokens if input_tokens is None else input_tokens
        if not stream:
            return [_dumps(chat_json(body, answer)).encode()], None
        frames = [b"data: " + _dumps(chunk).encode() + b"\n\n" for chunk in chat_chunks(body, answer)]
        return frames + [b"data: [DONE]\n\n"], None
    answer = answer_responses(body)
    answer.input_tokens = answer.input_tokens if input_tokens is None else input_tokens
    if not stream:
        obj = responses_json(body, answer)
        return [_dumps(obj).encode()], obj["id"]
    events = responses_events(body, answer)
    frames = [b"event: " + kind.encode() + b"\ndata: " + _dumps(data).encode() + b"\n\n" for kind, data in events]
    return frames, events[0][1]["response"]["id"]


def _error(status: int, message: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.json_response(body, status=status, dumps=_dumps)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fault-injecting OpenAI-compatible test upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    server = FaultyUpstream(args.host, args.port)
    print(f"faulty upstream on http://{args.host}:{args.port}/<name>/v1", flush=True)
    web.run_app(server.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
