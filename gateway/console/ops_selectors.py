"""Traffic and channel state at a glance for the operator console. Read-only and bounded."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from billing.models import UsageRecord
from gateway.models import Channel
from gateway.relay import breaker

LATENCY_SAMPLE = 10_000  # newest rows the percentiles are computed from: bounded on a busy hour


@dataclass(frozen=True, slots=True)
class Traffic:
    requests_per_minute: float  # over the last 5 minutes
    requests_last_hour: int
    error_rate: float  # share of last hour's requests the client got a >= 400 for
    p50_ms: int | None
    p99_ms: int | None


@dataclass(slots=True)
class ChannelStates:
    healthy: list[Channel] = field(default_factory=list)
    cooling: list[tuple[Channel, list[str]]] = field(default_factory=list)  # breaker open for these models
    drained: list[Channel] = field(default_factory=list)  # enabled, weight 0: no new traffic
    disabled: list[Channel] = field(default_factory=list)
    breaker_known: bool = True


def percentile(sorted_values: list[int], q: float) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 1))  # ceil(n*q), at least the first value
    return sorted_values[int(rank) - 1]


def traffic(*, now: datetime | None = None) -> Traffic:
    now = now or timezone.now()
    hour = UsageRecord.objects.filter(created_at__gte=now - timedelta(hours=1))
    last5 = UsageRecord.objects.filter(created_at__gte=now - timedelta(minutes=5)).count()
    counts = hour.aggregate(total=Count("pk"), errors=Count("pk", filter=_errors()))
    latencies = sorted(hour.order_by("-created_at").values_list("latency_ms", flat=True)[:LATENCY_SAMPLE])
    total = counts["total"] or 0
    return Traffic(
        requests_per_minute=round(last5 / 5, 1),
        requests_last_hour=total,
        error_rate=(counts["errors"] or 0) / total if total else 0.0,
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
    )


def _errors() -> Q:
    return Q(status__gte=400)


def requests_per_hour(*, hours: int = 24, now: datetime | None = None) -> list[tuple[datetime, int, int]]:
    """(hour, requests, errors) for the last `hours` hours, oldest first, every hour present."""
    now = timezone.localtime(now or timezone.now())
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=hours - 1)
    rows = (
        UsageRecord.objects.filter(created_at__gte=first)
        .annotate(hour=TruncHour("created_at", tzinfo=timezone.get_current_timezone()))
        .values("hour")
        .annotate(n=Count("pk"), errors=Count("pk", filter=_errors()))
        .values_list("hour", "n", "errors")
    )
    by_hour = {timezone.localtime(h).replace(tzinfo=None): (n, e) for h, n, e in rows}
    out = []
    for i in range(hours):
        slot = first + timedelta(hours=i)
        n, e = by_hour.get(slot.replace(tzinfo=None), (0, 0))
        out.append((slot, n, e))
    return out


def _open_breakers(channels: list[Channel]) -> dict[int, list[str]]:
    """Models whose breaker is open, per channel. One lookup per model (cached in the breaker module)."""
    by_model: dict[str, list[int]] = {}
    for channel in channels:
        for public_id in channel.ops_models:
            by_model.setdefault(public_id, []).append(channel.pk)

    async def read() -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for model, ids in by_model.items():
            for cid, verdict in (await breaker.verdicts(model, ids)).items():
                if verdict.state == breaker.OPEN:
                    found.setdefault(cid, []).append(model)
        return found

    return async_to_sync(read)()


def _with_models(channels: QuerySet[Channel]) -> list[Channel]:
    """The channels, each with `ops_models`: the public ids it serves (one prefetch for all)."""
    found = list(channels.prefetch_related("model_maps__model"))
    for channel in found:
        channel.ops_models = [m.model.public_id for m in channel.model_maps.all()]
    return found


def channel_states() -> ChannelStates:
    channels = _with_models(Channel.objects.order_by("-priority", "name"))
    states = ChannelStates()
    try:
        open_by_channel = _open_breakers([c for c in channels if c.enabled])
    except Exception:  # the console must render even when Redis or the breaker cannot be read
        open_by_channel, states.breaker_known = {}, False
    for channel in channels:
        if not channel.enabled:
            states.disabled.append(channel)
        elif channel.pk in open_by_channel:
            states.cooling.append((channel, open_by_channel[channel.pk]))
        elif channel.weight == 0:
            states.drained.append(channel)
        else:
            states.healthy.append(channel)
    return states


def channel_success(*, hours: int = 24, now: datetime | None = None) -> dict[int, tuple[int, int]]:
    """(requests, answered without error) per channel over the last `hours`: one grouped query."""
    since = (now or timezone.now()) - timedelta(hours=hours)
    rows = (
        UsageRecord.objects.filter(created_at__gte=since, channel__isnull=False)
        .values("channel_id")
        .annotate(n=Count("id"), ok=Count("id", filter=~_errors()))
    )
    return {row["channel_id"]: (row["n"], row["ok"]) for row in rows}


def channel_breakers() -> dict[int, list[str]] | None:
    """Models whose breaker is open, per enabled channel; None when the breaker cannot be read."""
    channels = _with_models(Channel.objects.filter(enabled=True))
    try:
        return _open_breakers(channels)
    except Exception:  # the console must render even when Redis or the breaker cannot be read
        return None
