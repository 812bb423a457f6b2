"""Trying channels for one request until one answers: the relay's first half.

Each attempt gets the channel's own timeouts: connect, first byte (streams: until the first chunk;
JSON: until the headers of the whole answer) and idle (the longest silence between chunks). A
failure another channel may do better (connect error, timeout, 429, 5xx, refused credentials, an
unreadable reply) moves on to the next channel, never one already tried, at most
HARNMODEL_MAX_ATTEMPTS in all; a customer's own error (400-class) ends the search at once. Nothing
has reached the client yet, so every failover is invisible to it. Every attempt is recorded for
the usage record, and every outcome feeds the channel's breaker.

A request with `previous_response_id` goes back to the channel that made that response (its id
says which, signed): no failover, since no other upstream knows the conversation.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field

import httpx
import msgspec
from django.conf import settings

from billing import services as billing
from billing.money import decimal_string
from billing.pricing import Usage, charge_micros
from gateway.pool import fatal as credential_fatal
from gateway.pool import pick as pool
from gateway.protocols import native
from gateway.protocols.channel import CallContext, JsonResult, StreamTranslator, UpstreamError
from gateway.protocols.registry import get_adapter
from gateway.relay import adaptive, breaker, field_policy, prompt_cache, response_ids
from gateway.relay import route as routing
from gateway.relay.catalog import ChannelRoute, CredentialRoute, KeyInfo, ModelRoute
from gateway.relay.ceilings import CostPlan
from gateway.relay.doors import DoorCall, refuse_unknown
from gateway.relay.http import get_client
from gateway.relay.ratelimit import Ticket
from gateway.wire.errors import ApiError, InvalidRequest, ModelNotAvailable, UpstreamFailed, UpstreamTimeout
from gateway.wire.schema import ParsedRequest

_background: set[asyncio.Task] = set()  # strong references: the loop only keeps weak ones


def in_background(coro: Coroutine) -> None:
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


@dataclass(slots=True)
class Admission:
    request_id: str
    key: KeyInfo
    parsed: ParsedRequest
    route: ModelRoute
    reservation: billing.Reservation
    input_tokens: int
    started: float
    limits: Ticket | None = None  # rate-limit reservation, handed back when the request ends
    needs: field_policy.Needs = field_policy.NONE  # what the request asks of a channel (field policy)
    cost: CostPlan | None = None  # X-Max-Cost and the session budget's share, settled with the request

    def usage_cost(self, usage: Usage) -> str:
        """What this usage costs at the price the request was admitted with (the settlement's rule)."""
        assert self.route.price is not None
        return decimal_string(charge_micros(usage, self.route.price))


@dataclass(slots=True)
class Outcome:
    usage: Usage | None = None
    estimated: bool = False
    status: int = 200
    error_code: str = ""
    channel: ChannelRoute | None = None
    first_byte_ms: int | None = None
    attempts: list = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Budget:
    """One channel's time limits for one request, in seconds."""

    connect: float
    first_byte: float
    idle: float

    @classmethod
    def of(cls, channel: ChannelRoute, stream: bool) -> "Budget":
        first_byte = channel.first_byte_timeout or (
            settings.HARNMODEL_FIRST_BYTE_TIMEOUT if stream else settings.HARNMODEL_JSON_TIMEOUT
        )
        return cls(
            connect=channel.connect_timeout or settings.HARNMODEL_CONNECT_TIMEOUT,
            first_byte=first_byte,
            idle=channel.idle_timeout or settings.HARNMODEL_IDLE_TIMEOUT,
        )

    def http(self) -> httpx.Timeout:
        # The socket read limit is only a backstop: first byte and idle are enforced with asyncio.
        read = max(self.first_byte, self.idle) + 1
        return httpx.Timeout(read, connect=self.connect, pool=self.connect)


@dataclass(slots=True)
class Opened:
    """An upstream that answered: for streams, the first events for the client are translated
    (nothing has been sent yet); for JSON, the whole reply is read and parsed."""

    channel: ChannelRoute
    ctx: CallContext
    response: httpx.Response
    budget: Budget
    rewrite: response_ids.Rewriter
    chunks: AsyncIterator[bytes] | None = None
    translator: StreamTranslator | None = None
    first_out: bytes = b""
    result: JsonResult | None = None


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


def api_error(error: UpstreamError) -> ApiError:
    headers = {"retry-after": str(max(1, round(error.retry_after)))} if error.retry_after else None
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


def _timed_out(what: str) -> UpstreamError:
    return UpstreamError(
        status=504, code="upstream_timeout", message=f"The upstream timed out ({what}).", retryable=True
    )


def _sticky(a: Admission, previous: str) -> tuple[ChannelRoute, ParsedRequest]:
    """The channel behind `previous_response_id`, and the request as that upstream must see it."""
    ref = response_ids.parse(previous)
    # Another account's id (or one from before ids named their account) is refused exactly like a
    # forged one: a tenant learns nothing about, and cannot continue, anyone else's conversation.
    if ref is None or ref.account_id != a.key.account_id:
        raise InvalidRequest(
            f"Invalid 'previous_response_id': '{previous[:100]}' is not a response id this gateway issued.",
            param="previous_response_id",
        )
    channel = next((c for c in a.route.channels if c.id == ref.channel_id), None)
    if channel is None:
        raise InvalidRequest(
            f"Previous response with id '{previous[:100]}' not found: the upstream that served it no longer "
            f"serves '{a.route.public_id}'. Start a new conversation (send it without previous_response_id).",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    miss = field_policy.unmet(channel.options, a.needs)
    if miss is not None:  # no failover here: the one channel that knows the conversation must allow it
        raise field_policy.refusal(*miss, a.route.public_id)
    parsed = a.parsed
    if ref.upstream_id != previous:
        typed = msgspec.structs.replace(parsed.typed, previous_response_id=ref.upstream_id)
        parsed = ParsedRequest(
            typed=typed, raw={**parsed.raw, "previous_response_id": ref.upstream_id}, extras=parsed.extras
        )
    return channel, parsed


async def open_upstream(a: Admission, stream: bool, outcome: Outcome, door: DoorCall | None = None) -> Opened:
    """Try channels in order until one answers. Raises ApiError when none did. A door's request goes to a
    channel of its own protocol as it is (gateway/protocols/native.py); to any other, translated."""
    model = a.route.public_id
    response_ids.bind(a.key.account_id)  # the ids this request issues name its account
    previous = a.parsed.typed.previous_response_id
    if previous:
        channel, parsed = _sticky(a, previous)
        candidates = [routing.Candidate(channel)]
    else:
        parsed = a.parsed
        plan = await routing.plan(a.route, sticky=prompt_cache.sticky_seed(a.key.account_id,
                                                                             a.parsed.typed.prompt_cache_key))
        # Channels that do not allow what the request uses are never tried (admission saw one that does).
        candidates = [c for c in plan.candidates if field_policy.unmet(c.channel.options, a.needs) is None]
        if door is not None and door.request.unknown:  # only a same-protocol channel that allows them by name
            candidates = [c for c in candidates if native.unknown_allowed(door.name, door.request, c.channel)]
            if not candidates and not plan.retry_in:
                raise refuse_unknown(door.request.unknown[0])
        if not candidates:
            wait = plan.retry_in
            raise ModelNotAvailable(
                f"The model '{model}' has no available route right now"
                + (
                    f"; its upstreams are cooling down after failures. Try again in {max(1, round(wait))}s."
                    if wait
                    else "."
                ),
                param="model",
                headers={"retry-after": str(max(1, round(wait)))} if wait else None,
            )
    last: UpstreamError | None = None
    tried = 0
    client = get_client()
    adaptive_on = a.route.routing == adaptive.ADAPTIVE
    tokens = a.input_tokens + a.reservation.output_cap
    for candidate in candidates:
        if tried >= settings.HARNMODEL_MAX_ATTEMPTS:
            break
        channel = candidate.channel
        budget = Budget.of(channel, stream)
        if candidate.probe and not await breaker.claim_probe(channel.id, model, budget.first_byte + 5):
            continue  # another request is probing this channel right now
        # A dead or rate-limited key fails over to the channel's next key first (gateway/pool/pick.py).
        for pick in await pool.order(channel):
            if tried >= settings.HARNMODEL_MAX_ATTEMPTS:
                break
            if not await pool.admit(pick, a.request_id, tokens, budget.first_byte + 5):
                continue  # its caps are spent, or another request is probing it
            tried += 1
            try:
                opened = await _attempt(a, parsed, channel, pick.credential, budget, stream, outcome, client, door)
            except UpstreamError as error:
                last = error
                if pool.blame(channel, pick, error, outcome.attempts[-1]["status"], error.fatal) == "credential":
                    continue
                # A customer's own error says the channel works: never a failure, and never retried.
                in_background(breaker.record(channel.id, model, not error.retryable, error.retry_after))
                if adaptive_on and error.retryable:
                    adaptive.observe(model, channel.id, None)
                if not error.retryable:
                    raise api_error(error) from None
                break
            outcome.channel = channel
            outcome.first_byte_ms = _ms(a.started)
            in_background(breaker.record(channel.id, model, True))
            pool.succeeded(pick)
            if adaptive_on:
                adaptive.observe(model, channel.id, outcome.attempts[-1]["ms"])
            return opened
    if last is None:
        raise ModelNotAvailable(f"The model '{model}' has no available route right now.", param="model")
    raise api_error(last)


async def _attempt(
    a: Admission,
    parsed: ParsedRequest,
    channel: ChannelRoute,
    credential: CredentialRoute,
    budget: Budget,
    stream: bool,
    outcome: Outcome,
    client: httpx.AsyncClient,
    door: DoorCall | None = None,
) -> Opened:
    adapter = get_adapter(channel.provider)
    if door is not None and native.applies(door.name, door.request, channel.provider):
        adapter = native.NativeAdapter(door.name, door.request, channel.provider)  # type: ignore[assignment]
    ctx = CallContext(
        request_id=a.request_id,
        response_id=response_ids.mint(channel.id),
        public_model=a.route.public_id,
        upstream_model=channel.upstream_model,
        base_url=channel.base_url,
        secret=credential.secret,
        stream=stream,
        max_output_tokens=a.reservation.output_cap,
        created_at=int(time.time()),
        options=channel.options,
        usage_cost=a.usage_cost,
        cache_key=prompt_cache.upstream_key(a.key.account_id, a.parsed.typed.prompt_cache_key),
        cache_writes_priced=a.route.price is not None and a.route.price.cache_write_micros is not None,
    )
    upstream = adapter.build_request(parsed, ctx)  # InvalidRequest propagates: no channel helps
    upstream.timeout = budget.http()
    attempt: dict = {"channel": channel.id, "status": 0, "ms": 0}
    if credential.public_id:  # the usage record, logs and metrics name the key by its short id
        attempt["credential"] = credential.public_id
    outcome.attempts.append(attempt)
    started = time.perf_counter()
    response: httpx.Response | None = None
    phase = "first_byte"
    try:
        async with asyncio.timeout(budget.first_byte) as timer:
            response = await adapter.send(client, upstream, ctx)
            attempt["status"] = response.status_code
            if response.status_code >= 400:
                raw = await response.aread()
                mapped = adapter.map_error(response.status_code, raw, response.headers)
                mapped.fatal = credential_fatal.fatal_reason(response.status_code, raw)
                raise mapped
            rewrite = response_ids.Rewriter(channel.id, ctx.response_id, a.parsed.typed.previous_response_id)
            opened = Opened(channel, ctx, response, budget, rewrite)
            if stream:
                await _first_events(opened, adapter, parsed, timer)
        if not stream:
            # The whole reply is read and checked before the client sees a byte: still retryable.
            phase = "body"
            async with asyncio.timeout(budget.idle):
                body = await response.aread()
            opened.result = adapter.parse_response(body, parsed, ctx)
        attempt["ms"] = _ms(started)
        return opened
    except UpstreamError as error:
        if ctx.secret and ctx.secret in error.message:  # an upstream that quotes our credential back
            error.message = error.message.replace(ctx.secret, "[redacted]")
        failure, reason = error, error.code
    except TimeoutError:  # ours (asyncio): the first byte, or the rest of a JSON reply, took too long
        reason = f"{phase}_timeout"
        failure = _timed_out("no answer in time")
    except httpx.TimeoutException:  # the transport's: connecting (httpx-aiohttp also reports refusals so)
        failure, reason = _timed_out("connect"), "connect_timeout"
    except (httpx.HTTPError, OSError):
        reason = "connect_error" if response is None else "stream_broken"
        failure = UpstreamError(
            status=502, code="upstream_unreachable", message="The upstream could not be reached.", retryable=True
        )
    attempt["ms"], attempt["error"] = _ms(started), reason
    if response is not None:
        await response.aclose()
    raise failure


async def _first_events(opened: Opened, adapter, parsed: ParsedRequest, timer: asyncio.Timeout) -> None:
    """Read the stream until the translator has content for the client. A stream that ends or fails
    before that (an empty body, a page that is not SSE, an upstream `error` event before any output)
    failed before the client saw anything: the upstream's error is raised, so failover may try the
    next channel.

    Translators that know the difference (`holds_content`, `early_error`: Anthropic, Gemini, the
    Responses passthrough) have their opening lifecycle events (response.created, in_progress) held
    back until the first content or terminal event, and sent with it: the first content event is
    never delayed. Other translators commit at their first output, as before. While events are held,
    each chunk resets the clock to the channel's idle timeout (the first chunk had the first-byte one)."""
    translator = opened.translator = adapter.stream_translator(parsed, opened.ctx)
    if hasattr(translator, "rewrite"):  # passthrough: the upstream's response ids become ours
        translator.rewrite = opened.rewrite
    chunks = opened.chunks = opened.response.aiter_bytes()
    loop = asyncio.get_running_loop()
    out = b""
    async for chunk in chunks:
        out += translator.feed(chunk)
        if _committed(translator, out):
            opened.first_out = out
            return
        if out:
            timer.reschedule(loop.time() + opened.budget.idle)
    if out:  # held lifecycle events only, and the stream is over: how does it end?
        out += translator.close()
        if _committed(translator, out):
            opened.first_out = out
            return
    raise UpstreamError(
        status=502,
        code="upstream_error",
        message="The upstream ended the stream before sending anything.",
        retryable=True,
    )


def _committed(translator: StreamTranslator, out: bytes) -> bool:
    """Is `out` ready for the client? Raises the upstream's error when the stream failed before any content."""
    early = getattr(translator, "early_error", None)
    if early is not None:
        raise early
    if translator.meter is not None and translator.meter.spent:
        return True  # the hold's output ran out already: the relay ends the response at once
    return bool(out) and getattr(translator, "holds_content", True)
