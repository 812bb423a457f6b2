"""A lean ASGI front for the public API.

Django's request cycle costs ~3 ms per request here (middleware built for browsers, a fresh
thread per request for thread-sensitive code, signals crossing into threads). /v1 needs none of
it: no sessions, cookies, CSRF or templates. This app answers /v1/responses itself and hands
every other path to Django unchanged. The pipeline is the same one Django's view calls.

It also enforces the limits that come before any pipeline work on every /v1 path: the header size
(HARNMODEL_MAX_HEADER_BYTES, 431) and the body size (HARNMODEL_MAX_BODY_BYTES, 413). Its own answers
carry an x-request-id and are logged and counted as rejections, like the pipeline's.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from django.conf import settings
from django.http import HttpResponseBase

from gateway.observe import metrics, request_log
from gateway.relay import cors
from gateway.wire.errors import ApiError, InvalidRequest, UpstreamFailed, error_response

log = logging.getLogger("harnmodel.asgi")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


RESPONSES_PATHS = ("/v1/responses", "/v1/responses/")
_NO_WEBSOCKET = InvalidRequest(
    "This server does not serve Responses over WebSocket here; use HTTP POST.",
    status=426,
    code="websocket_unavailable",
    headers={"Upgrade": "websocket"},
)


def _wants_websocket(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"upgrade" and value.lower() == b"websocket" for name, value in headers)


def _door_path(method: str, path: str) -> bool:
    from gateway.relay.doors import door_for

    return door_for(method, path) is not None


async def _door_answer(scope: Scope, headers: dict[str, str], body: bytes) -> HttpResponseBase:
    """Chat Completions, Anthropic Messages, Gemini: gateway/relay/door_handle.py."""
    from gateway.relay.door_handle import handle

    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    response = await handle(scope["method"], scope["path"], headers, query, body)
    assert response is not None  # _door_path said it is a door's
    return response


class LeanRequest:
    """The few attributes of a Django request the pipeline reads."""

    __slots__ = ("method", "headers", "body")

    def __init__(self, method: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.headers = headers
        self.body = body


class ApiTooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]


async def _send_response(response: HttpResponseBase, send: Send, receive: Receive) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": _headers(response)})
    if not response.streaming:
        await send({"type": "http.response.body", "body": response.content})
        return

    async def stream() -> None:
        async for chunk in response.streaming_content:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    # As Django does: a client that goes away cancels the stream, so the relay learns of it.
    streaming, watching = asyncio.ensure_future(stream()), asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streaming, watching):
            if not task.done():
                task.cancel()
        await asyncio.gather(streaming, watching, return_exceptions=True)


def _header_bytes(headers: list[tuple[bytes, bytes]]) -> int:
    return sum(len(name) + len(value) for name, value in headers)


def _new_request_id() -> str:
    from gateway.relay.admit import new_request_id

    return new_request_id()


def _rejection(error: ApiError) -> HttpResponseBase:
    """The front's own refusal (431, 413, 500): an OpenAI error with a request id, logged and counted."""
    request_id = _new_request_id()
    request_log.log_rejection(request_id=request_id, status=error.status, code=error.code)
    metrics.observe_rejection(status=error.status, code=error.code)
    return error_response(error, request_id=request_id)


def _error_code(response: HttpResponseBase) -> str | None:
    try:
        return msgspec.json.decode(response.content)["error"]["code"]
    except Exception:
        return None


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    if not extra:
        return send

    async def sender(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sender


async def _lifespan(receive: Receive, send: Send) -> None:
    """Startup needs nothing; at shutdown the worker's wallet leases go back at once instead of expiring."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from billing import holds

            try:
                await holds.release_leases()
            except Exception:  # they expire and are swept instead
                log.exception("giving back the wallet leases at shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return


class GatewayApp:
    """Answers CORS for /v1/*, routes `POST /v1/responses` to the pipeline, everything else to Django."""

    def __init__(self, fallback: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.fallback = fallback
        self._handler: Callable[[Any], Awaitable[HttpResponseBase]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket" and scope["path"] in RESPONSES_PATHS:
            from gateway.relay.websocket import serve

            await serve(scope, receive, send)  # Responses over WebSocket; other sockets go to the fallback
            return
        if scope["type"] != "http" or not scope["path"].startswith(("/v1/", "/v1beta/")):
            await self.fallback(scope, receive, send)
            return
        if _header_bytes(scope["headers"]) > settings.HARNMODEL_MAX_HEADER_BYTES:
            too_big = InvalidRequest(
                f"The request headers are larger than {settings.HARNMODEL_MAX_HEADER_BYTES} bytes in total.",
                status=431,
                code="request_header_fields_too_large",
            )
            send = _with_headers(send, cors.response_headers(scope["headers"]))
            await _send_response(_rejection(too_big), send, receive)
            return
        if scope["method"] == "OPTIONS":
            await send(
                {"type": "http.response.start", "status": 204, "headers": cors.preflight_headers(scope["headers"])}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        send = _with_headers(send, cors.response_headers(scope["headers"]))
        path = scope["path"]
        door = path not in RESPONSES_PATHS and _door_path(scope["method"], path)
        if path not in RESPONSES_PATHS and not door:
            await self.fallback(scope, receive, send)
            return
        if not door and _wants_websocket(scope["headers"]):  # a server run without WebSocket support: clients fall back on 426
            await _send_response(_rejection(_NO_WEBSOCKET), send, receive)
            return
        if self._handler is None:
            from gateway.relay.handle import responses as handle

            self._handler, self._limit = handle, settings.HARNMODEL_MAX_BODY_BYTES
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            body = await _read_body(receive, self._limit)
        except ApiTooLarge:
            error: ApiError = InvalidRequest(
                f"The request body is larger than {self._limit} bytes.", status=413, code="request_too_large"
            )
            await _send_response(_rejection(error), send, receive)
            return
        except asyncio.CancelledError:
            return  # the client left before sending its body: nothing was admitted
        try:
            if door:
                response = await _door_answer(scope, headers, body)
            else:
                response = await self._handler(LeanRequest(scope["method"], headers, body))
        except Exception:
            log.exception("unhandled error in %s", path)
            response = _rejection(
                UpstreamFailed("The gateway failed; nothing was charged.", status=500, code="internal_error")
            )
        if "x-request-id" not in response:  # refused before the pipeline named it (Idempotency-Key checks)
            response["x-request-id"] = request_id = _new_request_id()
            if response.status_code >= 400 and not response.streaming:
                code = _error_code(response)
                request_log.log_rejection(request_id=request_id, status=response.status_code, code=code)
                metrics.observe_rejection(status=response.status_code, code=code)
        try:
            await _send_response(response, send, receive)
        except OSError:
            pass  # the client went away; the relay settles on its own
