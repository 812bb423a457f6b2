"""The relay: try channels until one answers, stream or return its reply, settle exactly once.

The upstream call and the settlement run in their own task, not in the view's: when a client
disconnects, Django cancels the view, but the upstream call finishes (or is drained for its usage
within HARNMODEL_DRAIN_SECONDS) and the request is billed once, from the upstream's own usage
whenever it arrives.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import msgspec
from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse

from billing import services as billing
from billing.money import decimal_string
from billing.pricing import Usage

from .catalog import ChannelRoute, KeyInfo, ModelRoute
from .db import run_db
from .errors import ApiError, InvalidRequest, ModelNotAvailable, UpstreamFailed, UpstreamTimeout, error_response
from .http import get_client
from .providers.base import CallContext, StreamTranslator, UpstreamError
from .providers.registry import get_adapter
from .responses import new_id
from .routing import channel_order
from .schema import ParsedRequest
from .tokens import count_tokens

log = logging.getLogger("harnmodel.relay")
_background: set[asyncio.Task] = set()  # strong references: the loop only keeps weak ones


@dataclass(slots=True)
class Admission:
    request_id: str
    key: KeyInfo
    parsed: ParsedRequest
    route: ModelRoute
    reservation: billing.Reservation
    input_tokens: int
    started: float


@dataclass(slots=True)
class Opened:
    """An upstream that answered 200: for streams, its first chunk is already read."""

    channel: ChannelRoute
    ctx: CallContext
    response: httpx.Response
    chunks: AsyncIterator[bytes] | None = None
    first_chunk: bytes = b""


@dataclass(slots=True)
class Outcome:
    usage: Usage | None = None
    estimated: bool = False
    status: int = 200
    error_code: str = ""
    channel: ChannelRoute | None = None
    first_byte_ms: int | None = None
    attempts: list = field(default_factory=list)


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


def _api_error(error: UpstreamError) -> ApiError:
    headers = {"retry-after": str(int(error.retry_after))} if error.retry_after else None
    kind = UpstreamTimeout if error.status == 504 else UpstreamFailed
    return kind(
        error.message,
        status=error.status,
        code=error.code,
        type=error.type,
        param=error.param,
        retryable=error.retryable,
        headers=headers,
    )


class RelayJob:
    def __init__(self, admission: Admission) -> None:
        self.a = admission
        self.stream = admission.parsed.typed.stream
        self.outcome = Outcome()
        self.first: asyncio.Future[HttpResponseBase] = asyncio.get_running_loop().create_future()
        self.client_gone = False
        self.pump_done = False

    async def respond(self) -> HttpResponseBase:
        task = asyncio.create_task(self._run())
        _background.add(task)
        task.add_done_callback(_background.discard)
        return await asyncio.shield(self.first)

    # -- the task ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        settled = False
        try:
            try:
                opened = await self._open()
            except ApiError as error:
                self.outcome.status, self.outcome.error_code = error.status, error.code or ""
                await self._settle()
                settled = True
                self._answer(error_response(error, request_id=self.a.request_id))
                return
            if self.stream:
                await self._relay_stream(opened)
            else:
                await self._relay_json(opened)
            settled = True
        except Exception:  # a bug must not leave the client hanging or the hold open
            log.exception("relay failed", extra={"request_id": self.a.request_id})
            if not settled:
                self.outcome.status, self.outcome.error_code = 500, "internal_error"
                try:
                    await self._settle()
                except Exception:
                    log.exception("settlement failed; the sweeper will release the hold")
            self._answer(
                error_response(
                    UpstreamFailed(
                        "The gateway failed while relaying; nothing was charged."
                        if self.outcome.usage is None
                        else "The gateway failed while relaying.",
                        status=500,
                        code="internal_error",
                    ),
                    request_id=self.a.request_id,
                )
            )

    def _answer(self, response: HttpResponseBase) -> None:
        if not self.first.done():
            self.first.set_result(response)

    async def _open(self) -> Opened:
        """Try channels in order. Retry only what another channel may do better, and only before
        the client has seen a byte."""
        a = self.a
        last: UpstreamError | None = None
        client = get_client()
        for channel in channel_order(a.route.channels)[: settings.HARNMODEL_MAX_ATTEMPTS]:
            adapter = get_adapter(channel.provider)
            ctx = CallContext(
                request_id=a.request_id,
                response_id=new_id("resp"),
                public_model=a.route.public_id,
                upstream_model=channel.upstream_model,
                base_url=channel.base_url,
                secret=channel.secret,
                stream=self.stream,
                max_output_tokens=a.reservation.output_cap,
                created_at=int(time.time()),
                options=channel.options,
            )
            upstream = adapter.build_request(a.parsed, ctx)  # InvalidRequest propagates: no channel helps
            attempt_started = time.perf_counter()
            attempt = {"channel": channel.id, "status": 0, "ms": 0}
            self.outcome.attempts.append(attempt)
            try:
                response = await adapter.send(client, upstream, ctx)
                attempt["status"] = response.status_code
                if response.status_code >= 400:
                    body = await response.aread()
                    await response.aclose()
                    raise adapter.map_error(response.status_code, body, response.headers)
                opened = Opened(channel=channel, ctx=ctx, response=response)
                if self.stream:
                    opened.chunks = response.aiter_bytes()
                    opened.first_chunk = await anext(opened.chunks, b"")
                attempt["ms"] = _ms(attempt_started)
                self.outcome.channel = channel
                self.outcome.first_byte_ms = _ms(a.started)
                return opened
            except UpstreamError as error:
                attempt["ms"], attempt["error"] = _ms(attempt_started), error.code
                last = error
                if not error.retryable:
                    break
            except httpx.TimeoutException:
                attempt["ms"], attempt["error"] = _ms(attempt_started), "timeout"
                last = UpstreamError(
                    status=504, code="upstream_timeout", message="The upstream timed out.", retryable=True
                )
            except (httpx.HTTPError, OSError):
                attempt["ms"], attempt["error"] = _ms(attempt_started), "connect_error"
                last = UpstreamError(
                    status=502,
                    code="upstream_unreachable",
                    message="The upstream could not be reached.",
                    retryable=True,
                )
        if last is None:
            raise ModelNotAvailable(f"The model '{a.route.public_id}' has no available route right now.", param="model")
        raise _api_error(last)

    async def _relay_json(self, opened: Opened) -> None:
        adapter = get_adapter(opened.channel.provider)
        try:
            body = await opened.response.aread()
        except httpx.HTTPError:
            body = b""
        finally:
            await opened.response.aclose()
        try:
            result = adapter.parse_response(body, self.a.parsed, opened.ctx)
        except UpstreamError as error:
            self.outcome.status, self.outcome.error_code = error.status, error.code
            await self._settle()
            self._answer(error_response(_api_error(error), request_id=self.a.request_id))
            return
        if result.usage is None:  # an upstream that reports no usage is billed on our own count
            self.outcome.estimated = True
            result_text = msgspec.json.encode(result.body.get("output", [])).decode()
            self.outcome.usage = Usage(input_tokens=self.a.input_tokens, output_tokens=count_tokens(result_text))
        else:
            self.outcome.usage = result.usage
        settlement = await self._settle()
        response = HttpResponse(msgspec.json.encode(result.body), content_type="application/json")
        self._headers(response, settlement)
        self._answer(response)

    async def _relay_stream(self, opened: Opened) -> None:
        adapter = get_adapter(opened.channel.provider)
        translator = adapter.stream_translator(self.a.parsed, opened.ctx)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        response = StreamingHttpResponse(self._client_stream(queue), content_type="text/event-stream; charset=utf-8")
        response["cache-control"] = "no-cache"
        response["x-accel-buffering"] = "no"
        self._headers(response, None)
        self._answer(response)
        try:
            await self._pump(opened, translator, queue)
        finally:
            self.pump_done = True
            queue.put_nowait(None)
            await opened.response.aclose()
        self.outcome.usage = translator.usage
        if translator.usage is None:
            sent = translator.emitted_text
            if sent or translator.finished:
                # No usage from the upstream: input plus the output already sent, counted here.
                self.outcome.usage = Usage(input_tokens=self.a.input_tokens, output_tokens=count_tokens(sent))
                self.outcome.estimated = True
        await self._settle()

    async def _pump(self, opened: Opened, translator: StreamTranslator, queue: asyncio.Queue) -> None:
        deadline: float | None = None
        chunk = opened.first_chunk
        chunks = opened.chunks
        assert chunks is not None
        try:
            while True:
                if chunk:
                    out = translator.feed(chunk)
                    if out and not self.client_gone:
                        queue.put_nowait(out)
                if self.client_gone:
                    if translator.finished:
                        return
                    deadline = deadline or time.monotonic() + settings.HARNMODEL_DRAIN_SECONDS
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self.outcome.error_code = "client_disconnected"
                        return
                    try:
                        chunk = await asyncio.wait_for(anext(chunks), remaining)
                    except (TimeoutError, StopAsyncIteration):
                        self.outcome.error_code = "client_disconnected"
                        return
                    continue
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    out = translator.close()
                    if out:
                        queue.put_nowait(out)
                    if not translator.usage and self.outcome.error_code == "":
                        self.outcome.error_code = "" if translator.finished else "stream_incomplete"
                    return
        except (httpx.HTTPError, OSError) as exc:
            log.warning("upstream stream broke: %s", type(exc).__name__, extra={"request_id": self.a.request_id})
            self.outcome.error_code = "upstream_stream_broken"
            out = translator.fail("The upstream connection broke mid-stream.")
            if out and not self.client_gone:
                queue.put_nowait(out)

    async def _client_stream(self, queue: asyncio.Queue) -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await queue.get()
                if chunk is None:
                    return
                yield chunk
        finally:
            # Normal end, or Django cancelled us because the client went away.
            if not self.pump_done:
                self.client_gone = True

    # -- money ---------------------------------------------------------------------------------------
    async def _settle(self) -> billing.Settlement:
        a, o = self.a, self.outcome
        facts = billing.RequestFacts(
            account_id=a.key.account_id,
            model_id=a.route.public_id,
            api_key_id=a.key.id,
            channel_id=o.channel.id if o.channel else None,
            upstream_model=o.channel.upstream_model if o.channel else "",
            stream=self.stream,
            status=o.status,
            error_code=o.error_code,
            latency_ms=_ms(a.started),
            first_byte_ms=o.first_byte_ms,
            attempts=o.attempts,
        )
        assert a.route.price is not None
        return await run_db(
            billing.hold_settle,
            request_id=a.request_id,
            usage=o.usage,
            price=a.route.price,
            facts=facts,
            usage_estimated=o.estimated,
        )

    def _headers(self, response: HttpResponseBase, settlement: billing.Settlement | None) -> None:
        response["x-request-id"] = self.a.request_id
        response["x-harnmodel-request-id"] = self.a.request_id
        if settlement is not None:
            response["x-harnmodel-cost"] = decimal_string(settlement.cost_micros)
            response["x-harnmodel-balance"] = decimal_string(settlement.balance_micros)
        else:
            response["x-harnmodel-hold"] = decimal_string(self.a.reservation.amount_micros)


__all__ = ["Admission", "RelayJob", "InvalidRequest"]
