"""The relay: try channels until one answers, stream or return its reply, settle exactly once.

The upstream call and the settlement run in their own task, not in the view's: when a client
disconnects, Django cancels the view, but the upstream call finishes (or is drained for its usage
within HARNMODEL_DRAIN_SECONDS, then cancelled) and the request is billed once, from the upstream's
own usage whenever it arrives. Choosing and trying channels lives in attempts.py.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse

from billing import holds
from billing import services as billing
from billing.db import run_db
from billing.money import decimal_string
from billing.pricing import Usage, charge_micros
from gateway.observe import metrics, request_log
from gateway.protocols.channel import StreamTranslator
from gateway.protocols.native import NativeStream
from gateway.receipts.issue import HEADER as RECEIPT_HEADER
from gateway.receipts.issue import issue as issue_receipt
from gateway.receipts.stamp import USAGE_KEY, into_json
from gateway.receipts.tail import Tail
from gateway.relay import breaker, key_touch, ratelimit
from gateway.relay.attempts import Admission, Opened, Outcome, _background, in_background, open_upstream
from gateway.relay.doors import DoorCall
from gateway.upstream.truth import ratios as truth
from gateway.wire.errors import ApiError, InvalidRequest, UpstreamFailed, error_response
from gateway.wire.tokens import count_tokens

log = logging.getLogger("harnmodel.relay")
# Stream endings that say the channel misbehaved: they count against its breaker.
_CHANNEL_FAULTS = frozenset({"upstream_stream_broken", "upstream_idle_timeout"})


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


class RelayJob:
    def __init__(self, admission: Admission, door: DoorCall | None = None) -> None:
        self.a = admission
        self.door = door  # a client door other than /v1/responses renders answers in its own protocol
        self.stream = admission.parsed.typed.stream
        self.outcome = Outcome()
        self.first: asyncio.Future[HttpResponseBase] = asyncio.get_running_loop().create_future()
        self.client_gone = False
        self.pump_done = False
        self.door_name = door.name if door is not None else "responses"
        self.tail = Tail(self.door_name, translated=True)  # a stream's end, held for its receipt

    async def respond(self) -> HttpResponseBase:
        task = asyncio.create_task(self._run())
        _background.add(task)
        task.add_done_callback(_background.discard)
        return await asyncio.shield(self.first)

    # -- the task ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        self._keep_hold()
        try:
            with metrics.inflight():
                await self._relay()
        finally:
            self.keeper.cancel()
            usage = self.outcome.usage
            try:
                await ratelimit.finish(self.a.limits, usage.input_tokens + usage.output_tokens if usage else 0)
            except Exception:
                log.exception("rate-limit release failed", extra={"request_id": self.a.request_id})

    async def _relay(self) -> None:
        settled = False
        try:
            try:
                opened = await open_upstream(self.a, self.stream, self.outcome, self.door)
            except ApiError as error:
                self.outcome.status, self.outcome.error_code = error.status, error.code or ""
                await self._settle()
                settled = True
                self._answer(self._error(error))
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
                self._error(
                    UpstreamFailed(
                        "The gateway failed while relaying; nothing was charged."
                        if self.outcome.usage is None
                        else "The gateway failed while relaying.",
                        status=500,
                        code="internal_error",
                    )
                )
            )

    def _error(self, error: ApiError) -> HttpResponseBase:
        if self.door is not None:
            return self.door.error_response(error, request_id=self.a.request_id)
        return error_response(error, request_id=self.a.request_id)

    def _keep_hold(self) -> None:
        """While the request runs, push its hold's expiry forward (one UPDATE every
        HARNMODEL_HOLD_TOUCH_SECONDS, at most a third of the TTL): the sweeper never expires a live hold."""
        loop = asyncio.get_running_loop()
        ttl = settings.HARNMODEL_HOLD_TTL_SECONDS
        every = max(0.1, min(settings.HARNMODEL_HOLD_TOUCH_SECONDS, ttl / 3))

        def touch() -> None:
            in_background(self._touch_hold(ttl))
            self.keeper = loop.call_later(every, touch)

        self.keeper = loop.call_later(every, touch)

    async def _touch_hold(self, ttl: int) -> None:
        if holds.is_carved(self.a.request_id):  # its wallet lease is kept alive by its worker, not by each request
            return
        try:
            await run_db(billing.hold_touch, request_id=self.a.request_id, ttl_seconds=ttl)
        except Exception:  # a late settle still charges an expired hold; the next touch tries again
            log.warning("hold touch failed", exc_info=True, extra={"request_id": self.a.request_id})

    def _answer(self, response: HttpResponseBase) -> None:
        if not self.first.done():
            self.first.set_result(response)

    async def _relay_json(self, opened: Opened) -> None:
        result = opened.result
        assert result is not None
        if result.raw is None:  # a same-protocol passthrough's answer is the upstream's own, ids included
            opened.rewrite(result.body)
        if result.usage is None:  # an upstream that reports no usage is billed on our own count
            self.outcome.estimated = True
            result_text = (
                result.raw.decode(errors="replace")
                if result.raw is not None
                else msgspec.json.encode(result.body.get("output", [])).decode()
            )
            output = count_tokens(result_text)
            if result.raw is not None:
                output = min(output, self.a.reservation.output_cap)  # the whole JSON was counted: never past the cap
            self.outcome.usage = Usage(input_tokens=self.a.input_tokens, output_tokens=output)
        else:
            self.outcome.usage = result.usage
        settlement = await self._settle()
        receipt = await issue_receipt(self.a, self.outcome, self.door_name, settlement)
        try:
            if result.raw is not None:
                body = into_json(result.raw, USAGE_KEY[self.door_name], receipt) if receipt else result.raw
            else:
                if receipt and isinstance(result.body.get("usage"), dict):
                    result.body["usage"]["receipt"] = receipt  # each door's renderer carries it into its usage
                body = msgspec.json.encode(result.body) if self.door is None else self.door.json_body(result.body)
            response: HttpResponseBase = HttpResponse(body, content_type="application/json")
        except ApiError as error:  # a door with no way to say "failed" in a body (Chat) answers an error
            response = self._error(error)
        self._headers(response, settlement)
        if receipt and response.status_code < 400:
            response[RECEIPT_HEADER] = receipt
        self._answer(response)

    async def _relay_stream(self, opened: Opened) -> None:
        translator = opened.translator
        assert translator is not None
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.tail = Tail(self.door_name, translated=not isinstance(translator, NativeStream))
        self.tail.send(queue, translator.closing, opened.first_out)
        if self.door is None:
            response = StreamingHttpResponse(self._client_stream(queue), content_type="text/event-stream; charset=utf-8")
        elif isinstance(translator, NativeStream):  # already in the door's protocol: the upstream's own bytes
            response = StreamingHttpResponse(self._client_stream(queue), content_type=self.door.stream_content_type)
        else:
            response = StreamingHttpResponse(
                self.door.stream(self._client_stream(queue)), content_type=self.door.stream_content_type
            )
        response["cache-control"] = "no-cache"
        response["x-accel-buffering"] = "no"
        self._headers(response, None)
        self._answer(response)
        try:
            try:
                await self._pump(opened, translator, queue)
            finally:
                await opened.response.aclose()  # after a disconnect and the drain: the upstream call ends here
            settlement = await self._settle_stream(opened, translator)
            # The end of the answer was held back for this: its final usage event carries the receipt.
            self.tail.flush(queue, await issue_receipt(self.a, self.outcome, self.door_name, settlement))
        finally:
            self.tail.flush(queue, None)  # after a failure: the end goes out without one
            self.pump_done = True
            queue.put_nowait(None)

    async def _settle_stream(self, opened: Opened, translator: StreamTranslator) -> billing.Settlement:
        if self.outcome.error_code in _CHANNEL_FAULTS:
            in_background(breaker.record(opened.channel.id, self.a.route.public_id, False))
        self.outcome.usage = translator.usage
        self.outcome.estimated = translator.usage_estimated
        if translator.usage is None:
            sent = translator.emitted_text
            if sent or translator.finished:
                # No usage from the upstream: input plus the output already sent, counted here (a cut
                # stream: as its meter counted it, within the hold).
                meter = translator.meter
                output = meter.counted if meter is not None and meter.spent else count_tokens(sent)
                self.outcome.usage = Usage(input_tokens=self.a.input_tokens, output_tokens=output)
                self.outcome.estimated = True
        return await self._settle()

    async def _pump(self, opened: Opened, translator: StreamTranslator, queue: asyncio.Queue) -> None:
        """Upstream chunks → translator → client queue. A silence longer than the channel's idle
        timeout ends the stream with an error event; after a client disconnect the upstream is read
        only until its usage arrives or HARNMODEL_DRAIN_SECONDS pass."""
        loop = asyncio.get_running_loop()
        idle = opened.budget.idle
        drain_until: float | None = None
        chunk = b""  # the first chunks were translated when the channel was opened
        chunks = opened.chunks
        assert chunks is not None
        try:
            async with asyncio.timeout(None) as timer:
                while True:
                    if chunk:
                        out = translator.feed(chunk)
                        if out and not self.client_gone:
                            self.tail.send(queue, translator.closing, out)
                    if translator.meter is not None and translator.meter.spent:
                        self._cut(translator, queue)
                        return
                    if self.client_gone:
                        if translator.finished:
                            return
                        drain_until = drain_until or loop.time() + settings.HARNMODEL_DRAIN_SECONDS
                        if loop.time() >= drain_until:
                            self.outcome.error_code = "client_disconnected"
                            return
                        timer.reschedule(min(drain_until, loop.time() + idle))
                    else:
                        timer.reschedule(loop.time() + idle)
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        out = translator.close()
                        if self.client_gone:
                            self.outcome.error_code = "" if translator.usage else "client_disconnected"
                        elif out:
                            self.tail.send(queue, translator.closing, out)
                        if not translator.usage and self.outcome.error_code == "":
                            self.outcome.error_code = "" if translator.finished else "stream_incomplete"
                        return
        except TimeoutError:
            if self.client_gone:
                self.outcome.error_code = "client_disconnected"
                return
            log.warning("upstream went silent mid-stream", extra={"request_id": self.a.request_id})
            self._broke("upstream_idle_timeout", "The upstream went silent mid-stream.", translator, queue)
        except (httpx.HTTPError, OSError) as exc:
            log.warning("upstream stream broke: %s", type(exc).__name__, extra={"request_id": self.a.request_id})
            self._broke("upstream_stream_broken", "The upstream connection broke mid-stream.", translator, queue)

    def _cut(self, translator: StreamTranslator, queue: asyncio.Queue) -> None:
        """The hold's output is used up (an upstream that ignores the cap): end the response `incomplete`
        and stop reading; the upstream call is closed, so it stops generating too."""
        self.outcome.error_code = "output_cap_reached"
        out = translator.cut()
        if out and not self.client_gone:
            self.tail.send(queue, translator.closing, out)

    def _broke(self, code: str, message: str, translator: StreamTranslator, queue: asyncio.Queue) -> None:
        self.outcome.error_code = code
        out = translator.fail(message)
        if out and not self.client_gone:
            self.tail.send(queue, translator.closing, out)

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
            door=self.door_name,
            stream=self.stream,
            status=o.status,
            error_code=o.error_code,
            latency_ms=_ms(a.started),
            first_byte_ms=o.first_byte_ms,
            attempts=o.attempts,
            upstream_cost_micros=(
                charge_micros(o.usage, o.channel.cost) if o.channel and o.channel.cost and o.usage else None
            ),
            cost_limit_micros=a.cost.limit if a.cost is not None else None,
        )
        assert a.route.price is not None
        closing: dict[str, Any] = {
            "request_id": a.request_id,
            "usage": o.usage,
            "price": a.route.price,
            "facts": facts,
            "usage_estimated": o.estimated,
        }
        settlement = await holds.settle(**closing)
        cost = 0 if settlement.replayed else settlement.cost_micros
        if a.cost is not None:
            try:  # the session budget keeps what was charged; the rest of its share goes back
                await a.cost.settle(settlement.cost_micros)
            except Exception:  # the share stays counted: the session stops early, never late
                log.exception("session share not settled", extra={"request_id": a.request_id})
        try:  # observability must never fail a settled request
            key_touch.touched(a.key.id)
            metrics.observe_request(facts, usage=o.usage, cost_micros=cost, attempts=o.attempts)
            request_log.log_request(
                facts,
                request_id=a.request_id,
                key_prefix=a.key.prefix,
                usage=o.usage,
                cost_micros=cost,
                estimated=o.estimated,
            )
            if o.usage is not None and o.channel is not None and not o.estimated and o.status < 400:
                truth.note(o.channel, a.route.public_id, a.parsed.typed, o.usage.input_tokens)  # counted later
        except Exception:
            log.exception("metrics or request log failed", extra={"request_id": a.request_id})
        return settlement

    def _headers(self, response: HttpResponseBase, settlement: billing.Settlement | None) -> None:
        response["x-request-id"] = self.a.request_id
        response["x-harnmodel-request-id"] = self.a.request_id
        if settlement is not None:
            response["x-harnmodel-cost"] = decimal_string(settlement.cost_micros)
            response["x-harnmodel-balance"] = decimal_string(settlement.balance_micros)
        else:
            response["x-harnmodel-hold"] = decimal_string(self.a.reservation.amount_micros)
        if self.a.limits is not None:
            for name, value in self.a.limits.headers.items():
                response[name] = value


__all__ = ["Admission", "RelayJob", "InvalidRequest"]
