"""Running the canaries against channels, through the same adapters and HTTP client as customers' requests
(like the health probes, gateway/observe/health.py): nobody's request, no hold, no charge.

`run_all` (the scheduled job) asks every enabled channel × mapped model every canary. A channel whose
options say `truth_reference: true` is trusted: where a model has no reference answer yet, its answer
becomes the reference. `record_references` (the console action) makes the chosen channels' answers the
references of their models, replacing what was there.
"""

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

import httpx
import msgspec
from django.conf import settings
from django.db import transaction

from billing.db import run_db
from gateway.models import Channel
from gateway.observe.health import Target, channel_targets, direct_context
from gateway.protocols.channel import UpstreamError
from gateway.protocols.registry import get_adapter
from gateway.relay import shared_state
from gateway.relay.http import get_client
from gateway.upstream.truth import canary
from gateway.upstream.truth.models import CanaryReference, CanaryRun
from gateway.wire.errors import ApiError
from gateway.wire.schema import parse_request

log = logging.getLogger("harnmodel.truth")


class CanaryError(Exception):
    pass


@dataclass(slots=True)
class Answer:
    channel_id: int
    model_id: str
    canary: str
    answer: dict | None  # None: the channel failed to answer (error)
    error: str = ""


async def _ask(target: Target, public_id: str, upstream_model: str, body: dict, client: httpx.AsyncClient) -> dict:
    parsed = parse_request(msgspec.json.encode({"model": public_id, **body}))
    adapter = get_adapter(target.provider)
    ctx = direct_context(target, public_id, upstream_model, kind="canary", max_output_tokens=canary.MAX_OUTPUT_TOKENS)
    timeout = settings.HARNMODEL_PROBE_TIMEOUT
    upstream = adapter.build_request(parsed, ctx)
    upstream.timeout = httpx.Timeout(timeout, connect=target.connect_timeout or settings.HARNMODEL_CONNECT_TIMEOUT)
    async with asyncio.timeout(timeout):
        response = await adapter.send(client, upstream, ctx)
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
    if response.status_code >= 400:
        raise CanaryError(adapter.map_error(response.status_code, raw, response.headers).message)
    return adapter.parse_response(raw, parsed, ctx).body


async def answer_of(name: str, target: Target, public_id: str, upstream_model: str, client: httpx.AsyncClient) -> dict:
    """What the channel answers to one canary, reduced to what `canary.compare` compares."""

    async def ask(body: dict) -> dict:
        return await _ask(target, public_id, upstream_model, body, client)

    if name == "short":
        return {"text": canary.output_text(await ask(canary.short_request()))}
    if name == "tool":
        call = canary.function_call(await ask(canary.tool_call_request()))
        if call is None:
            return {"call": None}
        shown = {"name": call.get("name"), "arguments": canary.parse_arguments(call.get("arguments") or "")}
        call = {"call_id": call.get("call_id") or "call_canary", "name": call.get("name") or "",
                "arguments": call.get("arguments") or ""}  # fmt: skip
        final = canary.output_text(await ask(canary.tool_result_request(call)))
        return {"call": shown, "final": final}
    if name == "schema":
        text = canary.output_text(await ask(canary.schema_request()))
        value = canary.parse_arguments(text)
        return {"value": value, "errors": canary.schema_errors(value)}
    raise ValueError(f"unknown canary {name!r}")


async def _one(name: str, target: Target, public_id: str, upstream_model: str, client: httpx.AsyncClient) -> Answer:
    try:
        return Answer(target.channel_id, public_id, name, await answer_of(name, target, public_id, upstream_model, client))
    except (CanaryError, UpstreamError, ApiError) as exc:
        error = str(getattr(exc, "message", "") or exc)
    except TimeoutError:
        error = "no answer in time"
    except (httpx.HTTPError, OSError) as exc:
        error = f"unreachable ({type(exc).__name__})"
    except Exception as exc:  # one canary must never break the others
        log.exception("canary failed", extra={"channel_id": target.channel_id})
        error = f"canary failed ({type(exc).__name__})"
    return Answer(target.channel_id, public_id, name, None, error[:300])


async def ask_all(targets: list[Target]) -> list[Answer]:
    client = get_client()
    gate = asyncio.Semaphore(settings.HARNMODEL_PROBE_CONCURRENCY)

    async def one(name: str, target: Target, public_id: str, upstream_model: str) -> Answer:
        async with gate:
            return await _one(name, target, public_id, upstream_model, client)

    jobs = [one(n, t, *m) for t in targets for m in t.models for n in canary.CANARIES]
    return list(await asyncio.gather(*jobs))


def load_targets(channel_ids: list[int] | None = None) -> list[Target]:
    channels = (Channel.objects.filter(enabled=True).exclude(provider="simulator")
                .prefetch_related("model_maps__model", "credentials"))
    if channel_ids is not None:
        channels = channels.filter(pk__in=channel_ids)
    targets: list[Target] = []
    for c in channels.order_by("pk"):  # one enabled key of the channel's pool, every enabled model
        models = [(m.model.public_id, m.upstream_name or m.model.public_id) for m in c.model_maps.all() if m.model.enabled]
        targets += [target for target in channel_targets(c, models) if not target.recovery]
    return targets


@transaction.atomic
def record_answers(answers: list[Answer], *, as_reference: Collection[int] = (), replace: bool = False) -> list[CanaryRun]:
    """Store each answer as a CanaryRun with its verdict; answers of channels in `as_reference` become the
    reference (only where none exists, unless `replace`). Keeps the newest HARNMODEL_TRUTH_CANARY_RUNS_KEPT."""
    runs = []
    for a in sorted(answers, key=lambda a: a.channel_id not in as_reference):  # references first
        reference = CanaryReference.objects.filter(model_id=a.model_id, canary=a.canary).first()
        if a.answer is not None and a.channel_id in as_reference and (reference is None or replace):
            reference, _ = CanaryReference.objects.update_or_create(
                model_id=a.model_id, canary=a.canary, defaults={"answer": a.answer, "source_channel_id": a.channel_id}
            )
        if a.answer is None:
            verdict, detail = CanaryRun.Verdict.ERROR, a.error
        elif reference is None:
            verdict, detail = CanaryRun.Verdict.UNREFERENCED, ""
        else:
            found = canary.compare(a.canary, reference.answer, a.answer)
            verdict, detail = CanaryRun.Verdict(found.verdict), found.detail
        runs.append(CanaryRun.objects.create(channel_id=a.channel_id, model_id=a.model_id, canary=a.canary,
                                             verdict=verdict, answer=a.answer, detail=detail[:300]))  # fmt: skip
        old = CanaryRun.objects.filter(channel_id=a.channel_id, model_id=a.model_id, canary=a.canary).order_by(
            "-created_at", "-pk"
        )[settings.HARNMODEL_TRUTH_CANARY_RUNS_KEPT:]
        CanaryRun.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()
    return runs


async def _run(channel_ids: list[int] | None, replace: bool) -> list[CanaryRun]:
    targets = await run_db(load_targets, channel_ids)
    trusted = {t.channel_id for t in targets if t.options.get("truth_reference") or replace}
    answers = await ask_all(targets)
    return await run_db(record_answers, answers, as_reference=trusted, replace=replace)


def _sync(channel_ids: list[int] | None, replace: bool) -> list[CanaryRun]:
    """Synchronous entry point (the Celery task, the console action): its own loop, closed with its clients."""

    async def main() -> list[CanaryRun]:
        try:
            return await _run(channel_ids, replace)
        finally:
            await get_client().aclose()
            await shared_state.close()

    return asyncio.run(main())


def run_all() -> list[CanaryRun]:
    return _sync(None, False)


def run_channels(channel_ids: list[int]) -> list[CanaryRun]:
    return _sync(channel_ids, False)


def record_references(channel_ids: list[int]) -> list[CanaryRun]:
    """The chosen channels are trusted now: their answers replace their models' references."""
    return _sync(channel_ids, True)
