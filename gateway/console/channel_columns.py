"""Channel list columns that need more than the row: breaker state and last-24 h success rate.

Computed once per list page (one grouped query, one breaker read), not once per row.
"""

from collections.abc import Callable

from django.contrib import admin
from django.utils.html import format_html

from billing.money import decimal_string
from gateway.console.ops_selectors import channel_breakers, channel_success
from gateway.models import BalanceSample, Channel

TREND_SAMPLES = 12  # the balance trend shows this many newest samples
_BARS = "▁▂▃▄▅▆▇█"


def balance_trends() -> dict[int, list[BalanceSample]]:
    """Newest first, at most TREND_SAMPLES per channel; one query over the bounded sample history."""
    trends: dict[int, list[BalanceSample]] = {}
    for sample in BalanceSample.objects.order_by("channel_id", "-created_at", "-pk"):
        rows = trends.setdefault(sample.channel_id, [])
        if len(rows) < TREND_SAMPLES:
            rows.append(sample)
    return trends


def sparkline(values: list[int]) -> str:
    low, high = min(values), max(values)
    span = high - low or 1
    return "".join(_BARS[(v - low) * (len(_BARS) - 1) // span] for v in values)


def live_columns() -> list[Callable[[Channel], str]]:
    opened = channel_breakers()
    success = channel_success(hours=24)
    trends = balance_trends()

    @admin.display(description="Breaker")
    def breaker(channel: Channel) -> str:
        if not channel.enabled:
            return "–"
        if opened is None:
            return format_html('<span class="hm-quiet">{}</span>', "unknown")
        models = opened.get(channel.pk)
        if models:
            return format_html('<span class="hm-warn">● open</span> {}', ", ".join(sorted(models)))
        return format_html('<span class="hm-ok">{}</span>', "closed")

    @admin.display(description="Success 24 h")
    def success_rate(channel: Channel) -> str:
        total, ok = success.get(channel.pk, (0, 0))
        if not total:
            return format_html('<span class="hm-quiet">{}</span>', "no traffic")
        return format_html("{} % of {}", f"{100 * ok / total:.1f}", total)

    @admin.display(description="Upstream balance")
    def balance(channel: Channel) -> str:
        samples = trends.get(channel.pk)
        if not samples:
            return format_html('<span class="hm-quiet">{}</span>', "–")
        latest = samples[0]
        css = "hm-bad" if latest.balance_micros <= 0 else "hm-ok"
        return format_html('<span class="{}" title="polled {}">{} {}</span> <span title="last {} polls">{}</span>',
                           css, latest.created_at.isoformat(timespec="minutes"),
                           decimal_string(latest.balance_micros), latest.currency, len(samples),
                           sparkline([s.balance_micros for s in reversed(samples)]))  # fmt: skip

    return [breaker, success_rate, balance]
