"""Responses over WebSocket at /v1/responses: the upgrade, the socket's life and its bounds.

Codex CLI tries this socket first and falls back to HTTP only when the upgrade answers 426, so every case
where a socket cannot be served (turned off, this worker at its socket cap, the key's concurrency used up,
an `OpenAI-Beta: responses_websockets=` version we do not know) is a 426; a bad key is a 401. Each
`response.create` frame is one POST /v1/responses through the same pipeline (gateway/relay/ws_turns.py).

A socket holds one concurrency slot of its key and account for its whole life; its turns run one at a time
inside that slot (they take none of their own: ratelimit.IN_SOCKET_SLOT) and are counted per turn against
RPM/TPM like any request. Frames that arrive while a turn runs wait (at most HARNMODEL_WS_MAX_PENDING).
"""

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from django.conf import settings

from gateway.observe import metrics, request_log
from gateway.relay import ratelimit
from gateway.relay.ws_turns import ClientGone, Continuity, Turn, api_error_frame, deliver, error_frame, prepare, warm_up
from gateway.wire import ids
from gateway.wire.errors import ApiError, InvalidRequest

log = logging.getLogger("harnmodel.websocket")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
BETA = "responses_websockets"
LIMIT_CODE = "websocket_connection_limit_reached"  # Codex reconnects on this code (its retryable error)

_open = 0  # sockets open in this worker
_decode = msgspec.json.Decoder()


class Refused(ApiError):
    status = 426
    type = "invalid_request_error"
    code = "websocket_unavailable"


def _beta_refusal(value: str | None) -> str | None:
    """`OpenAI-Beta` may list several betas; only a responses_websockets version we do not speak is refused."""
    for part in (value or "").split(","):
        name, _, version = part.strip().partition("=")
        if name.strip() == BETA and version.strip() not in settings.HARNMODEL_WS_BETA_VERSIONS:
            return f"This server speaks {BETA} versions {', '.join(settings.HARNMODEL_WS_BETA_VERSIONS)}; use HTTP."
    return None


async def _deny(send: Send, error: ApiError) -> None:
    """Answer the upgrade with a plain HTTP error (the ASGI websocket denial response), logged and counted."""
    request_id = "req_" + ids.token_hex(16)
    request_log.log_rejection(request_id=request_id, status=error.status, code=error.code)
    metrics.observe_rejection(status=error.status, code=error.code)
    body = msgspec.json.encode(error.body())
    headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
    if error.status == 426:
        headers.append((b"upgrade", b"websocket"))
    headers += [(name.encode(), value.encode()) for name, value in error.headers.items()]
    await send({"type": "websocket.http.response.start", "status": error.status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


async def _socket_slot(key: Any, member: str) -> ratelimit.Ticket | None:
    """One concurrency slot of the key and account for the socket's life (RPM/TPM are per turn)."""
    only_concurrency = dataclasses.replace(
        key, rpm_limit=None, tpm_limit=None, account_rpm_limit=None, account_tpm_limit=None
    )
    return await ratelimit.acquire(only_concurrency, member, 0, 0)


async def serve(scope: Scope, receive: Receive, send: Send) -> None:
    global _open
    if (await receive())["type"] != "websocket.connect":
        return
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1013})  # a server that cannot answer 426 (never uvicorn)
        return
    from gateway.relay.admit import authenticate

    try:
        if sum(len(name) + len(value) for name, value in scope["headers"]) > settings.HARNMODEL_MAX_HEADER_BYTES:
            raise InvalidRequest("The request headers are too large.", status=431,
                                 code="request_header_fields_too_large")
        if not settings.HARNMODEL_WS_ENABLED:
            raise Refused("Responses over WebSocket is turned off here; use HTTP.")
        beta = _beta_refusal(headers.get("openai-beta"))
        if beta:
            raise Refused(beta)
        key = await authenticate(headers.get("authorization"))
        if _open >= settings.HARNMODEL_WS_MAX_SOCKETS:
            raise Refused("This server has no WebSocket capacity left; use HTTP.")
        _open += 1  # taken before the next await, so concurrent upgrades cannot pass the cap together
        socket_id = "ws_" + ids.token_hex(12)
        try:
            ticket = await _socket_slot(key, socket_id)
        except BaseException:
            _open -= 1
            raise
    except ratelimit.RateLimited as error:
        await _deny(send, Refused(error.message + " (a socket holds one request slot)", headers=error.headers))
        return
    except ApiError as error:
        await _deny(send, error)
        return
    except Exception:  # e.g. the database is away: a client may still manage over HTTP
        log.exception("WebSocket upgrade failed")
        await _deny(send, Refused("The server could not open a WebSocket now; use HTTP."))
        return
    metrics.WEBSOCKETS_OPEN.inc()
    try:
        await send({"type": "websocket.accept", "headers": [(b"x-harnmodel-socket-id", socket_id.encode())]})
        await Socket(headers, receive, send).run()
    finally:
        _open -= 1
        metrics.WEBSOCKETS_OPEN.dec()
        try:
            await ratelimit.finish(ticket, 0)
        except Exception:
            log.exception("socket slot release failed")


class Socket:
    def __init__(self, headers: dict[str, str], receive: Receive, send: Send) -> None:
        self.turn_headers = {"authorization": headers.get("authorization", ""), "content-type": "application/json"}
        self.receive, self.send = receive, send
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.continuity = Continuity()
        self.turns = self.frames = 0
        self.opened = time.monotonic()

    async def send_text(self, text: str) -> None:
        await self.send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str) -> None:
        if not self.gone.is_set():
            try:
                await self.send({"type": "websocket.close", "code": code, "reason": reason})
            except OSError:
                pass

    async def _read(self) -> None:
        """Reads every client message at once (so a hang-up mid-turn is seen) into the inbox, bounded."""
        try:
            while True:
                message = await self.receive()
                if message["type"] == "websocket.disconnect":
                    return
                self.frames += 1
                if self.inbox.qsize() >= settings.HARNMODEL_WS_MAX_PENDING:
                    await self.send_text(error_frame(400, {"error": {
                        "type": "invalid_request_error", "code": "too_many_pending_frames",
                        "message": f"At most {settings.HARNMODEL_WS_MAX_PENDING} frames may wait behind a running "
                                   "response; this one was dropped."}}))
                    continue
                self.inbox.put_nowait(message)
        finally:
            self.gone.set()
            self.inbox.put_nowait({"type": "websocket.disconnect"})

    async def run(self) -> None:
        reader = asyncio.ensure_future(self._read())
        try:
            await self._serve()
        except (ClientGone, OSError):
            pass  # the client left; a turn it left is settled by its relay as on HTTP
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _serve(self) -> None:
        while True:
            try:
                message = await asyncio.wait_for(self.inbox.get(), settings.HARNMODEL_WS_IDLE_SECONDS)
            except TimeoutError:
                await self.close(1000, "idle timeout")
                return
            if message["type"] == "websocket.disconnect":
                return
            limit = self._over_limit()
            if limit:
                await self.send_text(error_frame(400, {"error": {
                    "type": "invalid_request_error", "code": LIMIT_CODE, "message": limit}}))
                await self.close(1000, "connection limit reached")
                return
            await self._frame(message)

    def _over_limit(self) -> str | None:
        if time.monotonic() - self.opened > settings.HARNMODEL_WS_MAX_SECONDS:
            return (f"This socket reached its {settings.HARNMODEL_WS_MAX_SECONDS:.0f} s lifetime. "
                    "Create a new WebSocket connection to continue.")
        if self.frames > settings.HARNMODEL_WS_MAX_FRAMES or self.turns >= settings.HARNMODEL_WS_MAX_TURNS:
            return (f"This socket reached its limit of {settings.HARNMODEL_WS_MAX_TURNS} responses or "
                    f"{settings.HARNMODEL_WS_MAX_FRAMES} frames. Create a new WebSocket connection to continue.")
        return None

    async def _frame(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if text is None:
            await self.send_text(api_error_frame(InvalidRequest("Send events as JSON text frames, not binary.")))
            return
        raw = text.encode("utf-8")
        if len(raw) > settings.HARNMODEL_MAX_BODY_BYTES:
            await self.send_text(api_error_frame(InvalidRequest(
                f"The event is larger than {settings.HARNMODEL_MAX_BODY_BYTES} bytes.", status=413,
                code="request_too_large")))
            return
        try:
            frame = _decode.decode(raw)
        except msgspec.DecodeError:
            await self.send_text(api_error_frame(InvalidRequest("The event is not valid JSON.", code="invalid_json")))
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "response.processed":  # Codex acknowledges a finished response; nothing to do
            return
        if kind != "response.create":
            await self.send_text(api_error_frame(InvalidRequest(
                "Send events of type 'response.create'.", param="type", code="unknown_event_type")))
            return
        self.turns += 1
        try:
            turn = prepare(frame, self.continuity)
            if not turn.generate:
                await warm_up(turn, self.send_text, self.continuity)
                return
        except ApiError as error:
            await self.send_text(api_error_frame(error))
            return
        await self._generate(turn)

    async def _generate(self, turn: Turn) -> None:
        from gateway.relay.front import LeanRequest
        from gateway.relay.handle import responses as handle

        headers = dict(self.turn_headers)
        if turn.idempotency_key:
            headers["idempotency-key"] = turn.idempotency_key
        request = LeanRequest("POST", headers, msgspec.json.encode(turn.body))
        token = ratelimit.IN_SOCKET_SLOT.set(True)
        try:
            response = await handle(request)
        except Exception:
            log.exception("unhandled error in a WebSocket turn")
            await self.send_text(error_frame(500, {"error": {"type": "server_error", "code": "internal_error",
                                                             "message": "The gateway failed; nothing was charged."}}))
            return
        finally:
            ratelimit.IN_SOCKET_SLOT.reset(token)
        try:
            final = await deliver(response, self.send_text, self.gone)
        except (ClientGone, OSError):
            raise
        except Exception:  # a bug here must not take the socket down; the relay settles the turn on its own
            log.exception("delivering a WebSocket turn failed")
            await self.send_text(error_frame(500, {"error": {"type": "server_error", "code": "internal_error",
                                                             "message": "The gateway failed while relaying."}}))
            return
        if final and final.get("id") and final.get("status") in ("completed", "incomplete"):
            output = final.get("output")
            self.continuity.remember(final["id"], turn.input_items, output if isinstance(output, list) else [])
