"""Channel health probes: one tiny real request ("ping", a few output tokens) per channel and
mapped model, through the same adapters and HTTP client customers' requests use.

Probed: every enabled channel, and every channel health checks switched off (so it can come back).
Each probe writes a ChannelProbe row and the channel's last_probe_* fields. A channel is switched
off only for what no retry can fix, the upstream account itself: refused credentials (401/403, or
Gemini's 400 API_KEY_INVALID) or an explicitly exhausted quota or billing (insufficient_quota, 402,
"credit balance is too low"); disabled_reason then says "health: <why>". It is switched back on when
a probe passes again, and only if health checks switched it off: an operator's decision is never
undone. Overload, rate limits and outages (any other 429, 5xx, timeouts) are the breaker's business.
A probe is nobody's request: no hold, no usage record, no charge.
"""

import asyncio
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field

import httpx
import msgspec
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.signals import platform_event
from gateway.crypto import decrypt_secret
from gateway.db import run_db
from gateway.models import Channel, ChannelProbe
from gateway.protocols.channel import CallContext, UpstreamError
from gateway.protocols.registry import get_adapter
from gateway.relay import breaker, response_ids, shared_state
from gateway.relay.http import get_client
from gateway.wire.schema import parse_request

log = logging.getLogger("harnmodel.health")
REASON_PREFIX = "health:"
# Only an explicit "the account has no money / quota left" signal disables a channel. A plain 429 is a
# rate limit that passes by itself (the breaker honours its Retry-After); disabling on it is the
# anchors' bug of channels that never come back in time. Phrases such as "exceeded your current quota"
# are deliberately absent: Gemini says exactly that for its per-minute limits (RESOURCE_EXHAUSTED),
# and OpenAI's hard quota is recognised by its `insufficient_quota` code, not by the wording.
_QUOTA = re.compile(
    r"insufficient[_ ]quota|credit balance is too low|billing[_ ](?:hard[_ ])?limit|billing[_ ]not[_ ]active"
    r"|out of credits",
    re.IGNORECASE,
)
# Google's ErrorInfo reasons for a dead key: it answers 400 INVALID_ARGUMENT, not 401.
_GOOGLE_BAD_KEY = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})


@dataclass(slots=True)
class Target:
    channel_id: int
    provider: str
    base_url: str
    secret: str
    options: dict
    connect_timeout: float | None
    models: list[tuple[str, str]]  # (public id, upstream name)


@dataclass(slots=True)
class ProbeResult:
    channel_id: int
    model_id: str
    ok: bool
    status: int = 0
    latency_ms: int = 0
    error: str = ""
    fatal: str = ""  # why the channel's account is unusable; empty = not fatal


@dataclass(slots=True)
class Summary:
    probed: int = 0
    disabled: list[int] = field(default_factory=list)
    enabled: list[int] = field(default_factory=list)


def load_targets() -> list[Target]:
    channels = (
        Channel.objects.filter(Q(enabled=True) | Q(disabled_reason__startswith=REASON_PREFIX))
        .prefetch_related("model_maps__model")
        .order_by("pk")
    )
    return [
        Target(
            channel_id=c.pk,
            provider=c.provider,
            base_url=c.base_url,
            secret=decrypt_secret(c.secret_encrypted),
            options=c.options or {},
            connect_timeout=c.connect_timeout,
            models=[
                (m.model.public_id, m.upstream_name or m.model.public_id) for m in c.model_maps.all() if m.model.enabled
            ],
        )
        for c in channels
    ]


def _google_error(body: bytes) -> dict:
    """Google's `{"error": {"status", "details": [...]}}` (streamed errors come wrapped in a list)."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _fatal(status: int, body: bytes) -> str:
    """Why the upstream account itself is unusable, or "" for anything a wait or a retry may fix."""
    if status in (401, 403):
        return f"upstream refused the credentials (HTTP {status})"
    google = _google_error(body[:20000])
    if status == 400 and google.get("status") == "INVALID_ARGUMENT":
        details = google.get("details")
        reasons = {d.get("reason") for d in details if isinstance(d, dict)} if isinstance(details, list) else set()
        if reasons & _GOOGLE_BAD_KEY:
            return f"upstream refused the credentials (HTTP {status})"
    if google.get("status") == "RESOURCE_EXHAUSTED":
        return ""  # Gemini's rate and daily limits: they reset by themselves (see _QUOTA)
    text = body[:4000].decode("utf-8", "replace")
    if status == 402 or (status in (400, 403, 429) and _QUOTA.search(text)):
        return f"upstream quota exhausted (HTTP {status})"
    return ""


def _probe_options(options: dict) -> dict:
    """The channel's options for a probe: without Anthropic extended thinking, whose budget_tokens
    (at least 1024) must stay below max_tokens; a probe of a few output tokens would always be refused."""
    return {k: v for k, v in options.items() if k != "thinking"}


async def probe(target: Target, public_id: str, upstream_model: str, client: httpx.AsyncClient) -> ProbeResult:
    limit = settings.HARNMODEL_PROBE_MAX_OUTPUT_TOKENS
    body = {"model": public_id, "input": "ping", "max_output_tokens": limit, "stream": False, "store": False}
    parsed = parse_request(msgspec.json.encode(body))
    adapter = get_adapter(target.provider)
    ctx = CallContext(
        request_id="probe_" + secrets.token_hex(8),
        response_id=response_ids.mint(target.channel_id),
        public_model=public_id,
        upstream_model=upstream_model,
        base_url=target.base_url,
        secret=target.secret,
        stream=False,
        max_output_tokens=limit,
        created_at=int(time.time()),
        options=_probe_options(target.options),
    )
    result = ProbeResult(channel_id=target.channel_id, model_id=public_id, ok=False)
    timeout = settings.HARNMODEL_PROBE_TIMEOUT
    started = time.perf_counter()
    try:
        upstream = adapter.build_request(parsed, ctx)
        upstream.timeout = httpx.Timeout(timeout, connect=target.connect_timeout or settings.HARNMODEL_CONNECT_TIMEOUT)
        async with asyncio.timeout(timeout):
            response = await adapter.send(client, upstream, ctx)
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
        result.status = response.status_code
        if response.status_code >= 400:
            result.fatal = _fatal(response.status_code, raw)
            result.error = adapter.map_error(response.status_code, raw, response.headers).message
        else:
            adapter.parse_response(raw, parsed, ctx)
            result.ok = True
    except UpstreamError as error:
        result.error = error.message
    except TimeoutError:
        result.error = f"no answer within {timeout:g} s"
    except httpx.TimeoutException:
        result.error = "connect timeout"
    except (httpx.HTTPError, OSError) as error:
        result.error = f"unreachable ({type(error).__name__})"
    except Exception as error:  # a probe must never break the others
        log.exception("probe failed", extra={"channel_id": target.channel_id})
        result.error = f"probe failed ({type(error).__name__})"
    result.latency_ms = int((time.perf_counter() - started) * 1000)
    result.error = result.error[:300]
    return result


@transaction.atomic
def apply_results(results: list[ProbeResult]) -> Summary:
    """Write the probe history, and switch channels off/on for what the probes showed."""
    summary = Summary(probed=len(results))
    ChannelProbe.objects.bulk_create(
        ChannelProbe(
            channel_id=r.channel_id,
            model_id=r.model_id,
            ok=r.ok,
            status=r.status,
            latency_ms=r.latency_ms,
            error=r.error,
        )
        for r in results
    )
    by_channel: dict[int, list[ProbeResult]] = {}
    for r in results:
        by_channel.setdefault(r.channel_id, []).append(r)
    now = timezone.now()
    for channel_id, probes in by_channel.items():
        failed = [p for p in probes if not p.ok]
        Channel.objects.filter(pk=channel_id).update(
            last_probe_at=now,
            last_probe_ok=not failed,
            last_probe_latency_ms=max(p.latency_ms for p in probes),
            last_probe_error=(f"{failed[0].model_id}: {failed[0].error}" if failed else "")[:300],
        )
        fatal = next((p.fatal for p in probes if p.fatal), "")
        if fatal:
            # Conditional updates: an operator's concurrent change always wins.
            if Channel.objects.filter(pk=channel_id, enabled=True).update(
                enabled=False, disabled_reason=f"{REASON_PREFIX} {fatal}"[:300]
            ):
                summary.disabled.append(channel_id)
                log.warning("channel %s disabled by health probe: %s", channel_id, fatal)
                platform_event.send(sender=None, event_type="channel.disabled",
                                    data={"channel": channel_id, "reason": fatal[:300]})  # fmt: skip
        elif any(p.ok for p in probes):
            if Channel.objects.filter(pk=channel_id, enabled=False, disabled_reason__startswith=REASON_PREFIX).update(
                enabled=True, disabled_reason=""
            ):
                summary.enabled.append(channel_id)
                log.warning("channel %s re-enabled: a health probe passed", channel_id)
    return summary


async def run_probes() -> Summary:
    """Probe every channel that should be probed, concurrently; record everything."""
    targets = await run_db(load_targets)
    client = get_client()
    gate = asyncio.Semaphore(settings.HARNMODEL_PROBE_CONCURRENCY)

    async def one(target: Target, public_id: str, upstream_model: str) -> ProbeResult:
        async with gate:
            return await probe(target, public_id, upstream_model, client)

    results = list(await asyncio.gather(*(one(t, *m) for t in targets for m in t.models)))
    summary = await run_db(apply_results, results)
    for r in results:
        if r.ok:  # a passing probe closes a half-open breaker without risking a customer request
            await breaker.record(r.channel_id, r.model_id, True)
    return summary


def probe_channels() -> Summary:
    """Synchronous entry point (the Celery task): its own event loop, closed with its clients."""

    async def main() -> Summary:
        try:
            return await run_probes()
        finally:
            await get_client().aclose()
            await shared_state.close()

    return asyncio.run(main())
