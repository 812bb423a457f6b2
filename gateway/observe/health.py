"""Channel health probes: one tiny real request ("ping", a few output tokens) per channel and
mapped model, through the same adapters and HTTP client customers' requests use.

Probed: every enabled channel, and every channel health checks switched off (so it can come back).
Each probe writes a ChannelProbe row (naming the credential it used) and the channel's last_probe_* fields.
A channel with a key pool is probed with one of its enabled credentials, picked by weight; each credential
the relay or a probe switched off gets one probe of its own (the first model), so it can come back. What no
retry can fix (gateway/pool/fatal.py: refused credentials, exhausted quota) switches off the credential alone
(gateway/pool/disable.py); the channel goes only with its last credential, or at once when it has no pool;
disabled_reason then says "health: <why>". Both are switched back on when a probe passes again, and only if the
relay or health checks switched them off: an operator's decision is never undone. Overload, rate limits and
outages (any other 429, 5xx, timeouts) are the breaker's business.
A probe is nobody's request: no hold, no usage record, no charge.
"""

import asyncio
import logging
import random
import secrets
import time
from dataclasses import dataclass, field

import httpx
import msgspec
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.db import run_db
from billing.signals import platform_event
from gateway.crypto import SecretUnreadable, decrypt_secret
from gateway.models import Channel, ChannelProbe
from gateway.pool import disable as pool_disable
from gateway.pool.fatal import fatal_reason
from gateway.protocols.channel import CallContext, UpstreamError
from gateway.protocols.registry import get_adapter
from gateway.relay import breaker, response_ids, shared_state
from gateway.relay.http import get_client
from gateway.wire.schema import parse_request

log = logging.getLogger("harnmodel.health")
REASON_PREFIX = "health:"


@dataclass(slots=True)
class Target:
    channel_id: int
    provider: str
    base_url: str
    secret: str
    options: dict
    connect_timeout: float | None
    models: list[tuple[str, str]]  # (public id, upstream name)
    credential_id: int | None = None  # the pool's credential probed; None = the channel has no pool
    credential: str = ""  # its short id
    recovery: bool = False  # a switched-off credential probed to see whether it came back


@dataclass(slots=True)
class ProbeResult:
    channel_id: int
    model_id: str
    ok: bool
    status: int = 0
    latency_ms: int = 0
    error: str = ""
    fatal: str = ""  # why the channel's account is unusable; empty = not fatal
    credential_id: int | None = None
    credential: str = ""
    recovery: bool = False


@dataclass(slots=True)
class Summary:
    probed: int = 0
    disabled: list[int] = field(default_factory=list)
    enabled: list[int] = field(default_factory=list)


def load_targets() -> list[Target]:
    channels = (
        Channel.objects.filter(Q(enabled=True) | Q(disabled_reason__startswith=REASON_PREFIX))
        .prefetch_related("model_maps__model", "credentials")
        .order_by("pk")
    )
    targets = []
    for c in channels:
        models = [(m.model.public_id, m.upstream_name or m.model.public_id) for m in c.model_maps.all() if m.model.enabled]
        targets += channel_targets(c, models)
    return targets


def channel_targets(channel: Channel, models: list[tuple[str, str]]) -> list[Target]:
    """What to probe for one channel: every model with one enabled credential (picked by weight), and each
    credential switched off by the relay or a probe once (its first model), to see whether it came back."""

    def target(cred, probe_models: list[tuple[str, str]], recovery: bool = False) -> Target:
        return Target(channel_id=channel.pk, provider=channel.provider, base_url=channel.base_url,
                      secret=decrypt_secret(cred.secret_encrypted) if cred else "", options=channel.options or {},
                      connect_timeout=channel.connect_timeout, models=probe_models,
                      credential_id=cred.pk if cred else None, credential=cred.public_id if cred else "",
                      recovery=recovery)

    creds = list(channel.credentials.all())
    if not creds:
        return [target(None, models)]
    readable = []
    for cred in creds:
        try:
            decrypt_secret(cred.secret_encrypted)
        except SecretUnreadable:
            continue
        readable.append(cred)
    live = [c for c in readable if c.enabled and c.weight > 0]
    out = [target(random.choices(live, weights=[c.weight for c in live])[0], models)] if live else []
    auto = [c for c in readable if not c.enabled and c.disabled_reason.startswith(pool_disable.AUTO_PREFIXES)]
    out += [target(c, models[:1], recovery=True) for c in auto if models]
    return out


def _probe_options(options: dict) -> dict:
    """The channel's options for a probe: without Anthropic extended thinking, whose budget_tokens
    (at least 1024) must stay below max_tokens; a probe of a few output tokens would always be refused."""
    return {k: v for k, v in options.items() if k != "thinking"}


def direct_context(target: Target, public_id: str, upstream_model: str, *, kind: str,
                   max_output_tokens: int) -> CallContext:
    """The context of a call to a channel outside any request (a probe, a truth canary): no hold, JSON,
    and the channel's options without extended thinking (a few output tokens could never cover it)."""
    return CallContext(
        request_id=f"{kind}_" + secrets.token_hex(8),
        response_id=response_ids.mint(target.channel_id),
        public_model=public_id,
        upstream_model=upstream_model,
        base_url=target.base_url,
        secret=target.secret,
        stream=False,
        max_output_tokens=max_output_tokens,
        created_at=int(time.time()),
        options=_probe_options(target.options),
    )


async def probe(target: Target, public_id: str, upstream_model: str, client: httpx.AsyncClient) -> ProbeResult:
    limit = settings.HARNMODEL_PROBE_MAX_OUTPUT_TOKENS
    body = {"model": public_id, "input": "ping", "max_output_tokens": limit, "stream": False, "store": False}
    parsed = parse_request(msgspec.json.encode(body))
    adapter = get_adapter(target.provider)
    ctx = direct_context(target, public_id, upstream_model, kind="probe", max_output_tokens=limit)
    result = ProbeResult(channel_id=target.channel_id, model_id=public_id, ok=False,
                         credential_id=target.credential_id, credential=target.credential, recovery=target.recovery)
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
            result.fatal = fatal_reason(response.status_code, raw)
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
            credential=r.credential,
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
        # The channel's health is that of the keys it serves with; a switched-off key's recovery probe is its own.
        serving = [p for p in probes if not p.recovery] or probes
        failed = [p for p in serving if not p.ok]
        Channel.objects.filter(pk=channel_id).update(
            last_probe_at=now,
            last_probe_ok=not failed,
            last_probe_latency_ms=max(p.latency_ms for p in serving),
            last_probe_error=(f"{failed[0].model_id}: {failed[0].error}" if failed else "")[:300],
        )
        fatal = ""
        for p in probes:
            if p.fatal and p.credential_id is not None:  # one key of a pool: it goes alone, the channel maybe after
                if pool_disable.disable_credential(p.credential_id, f"{REASON_PREFIX} {p.fatal}").channel:
                    summary.disabled.append(channel_id)
            elif p.fatal:
                fatal = fatal or p.fatal
            elif p.ok and p.credential_id is not None:
                pool_disable.reenable_credential(p.credential_id)
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
