"""A small Gemini API (REST v1beta) upstream for tests, speaking just enough of the protocol for the
official `google-genai` SDK and our `gemini` adapter to talk to it:

* `POST /v1beta/models/{model}:generateContent` → one GenerateContentResponse JSON;
* `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` → `data: <chunk>` events, no terminator;
* the same under `/v1/` (google-genai 3.x defaults to `v1`; channels are configured with `…/v1beta`);
* auth by `x-goog-api-key` (or `?key=`); without it, Google's 403 PERMISSION_DENIED body.

Replies are queued (`reply(...)`) and served in order, byte for byte, so the golden fixtures our
adapter tests translate are the very bytes the SDK is shown. With nothing queued it answers with the
echo `你说：<last user text>` (JSON, or three SSE chunks). Every request is recorded in `requests`.

    mock = GeminiMock().start()
    client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=mock.base_url))
    ...
    mock.stop()
"""

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.upstream.threaded import ThreadedServer

API_VERSION = "v1beta"
API_VERSIONS = ("v1", "v1beta")


@dataclass
class Reply:
    body: bytes
    status: int = 200
    content_type: str | None = None  # default: JSON for generateContent, SSE for the stream
    chunk_size: int | None = None  # stream the body in pieces of this many bytes


@dataclass
class Recorded:
    version: str
    model: str
    method: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def google_error(code: int, status: str, message: str) -> bytes:
    return _dumps({"error": {"code": code, "message": message, "status": status}})


def echo_text(body: Any) -> str:
    """`你说：` + the text of the last user turn."""
    for content in reversed(body.get("contents") or []) if isinstance(body, dict) else ():
        if content.get("role", "user") == "user":
            return "你说：" + "".join(part.get("text") or "" for part in content.get("parts") or ())
    return "你说："


class GeminiMock(ThreadedServer):
    thread_name = "gemini-mock"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self._replies: deque[Reply] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """What the SDK takes as `base_url` (it adds `/v1beta` itself)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """What a channel's base_url is: the version included."""
        return f"{self.base_url}/{API_VERSION}"

    def reply(self, body: bytes | dict, **kwargs: Any) -> None:
        self._replies.append(Reply(body=body if isinstance(body, bytes) else _dumps(body), **kwargs))

    def reset(self) -> None:
        """Forget queued replies (what a test set up and did not use) and recorded requests."""
        self._replies.clear()
        self.requests.clear()

    # -- HTTP ------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(f"/{{version:{'|'.join(API_VERSIONS)}}}/{{target:.+}}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = request.match_info["target"]
        model, _, method = target.rpartition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model.startswith("models/"):
            return self._error(404, "NOT_FOUND", f"Method not found: {target}")
        if not (request.headers.get("x-goog-api-key") or request.query.get("key")):
            return self._error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(body, dict) or not body.get("contents"):
            return self._error(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified")
        stream = method == "streamGenerateContent"
        if stream and request.query.get("alt") != "sse":
            return self._error(400, "INVALID_ARGUMENT", "This mock streams only with alt=sse.")
        self.requests.append(
            Recorded(
                request.match_info["version"],
                model[len("models/") :],
                method,
                dict(request.query),
                dict(request.headers),
                body,
            )
        )
        reply = self._replies.popleft() if self._replies else self._echo(body, stream)
        content_type = reply.content_type or ("text/event-stream" if stream else "application/json")
        if not stream or reply.status != 200:
            return web.Response(body=reply.body, status=reply.status, content_type=content_type, charset="utf-8")
        response = web.StreamResponse(status=200, headers={"content-type": f"{content_type}; charset=utf-8"})
        await response.prepare(request)
        size = reply.chunk_size or len(reply.body) or 1
        for start in range(0, len(reply.body), size):
            await response.write(reply.body[start : start + size])
        await response.write_eof()
        return response

    @staticmethod
    def _error(code: int, status: str, message: str) -> web.Response:
        return web.Response(body=google_error(code, status, message), status=code, content_type="application/json")

    @staticmethod
    def _echo(body: dict[str, Any], stream: bool) -> Reply:
        text = echo_text(body)
        prompt = sum(len(part.get("text") or "") for content in body["contents"] for part in content.get("parts") or ())
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": len(text), "totalTokenCount": prompt + len(text)}
        if not stream:
            candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            return Reply(_dumps({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "mock"}))
        pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
        chunks = [{"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}]} for p in pieces]
        chunks.append({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}]})
        chunks[-1]["usageMetadata"] = usage
        return Reply(b"".join(b"data: " + _dumps(chunk) + b"\r\n\r\n" for chunk in chunks))


if __name__ == "__main__":  # by hand: python -m tests.upstream.gemini_mock --port 9200
    import argparse

    parser = argparse.ArgumentParser(description="A Gemini API (v1beta) mock answering with echoes.")
    parser.add_argument("--port", type=int, default=9200)
    mock = GeminiMock(port=parser.parse_args().port).start()
    print(f"Gemini mock on {mock.api_base} (echo replies); Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        mock.stop()
