"""Channel list columns that need more than the row: breaker state and last-24 h success rate.

Computed once per list page (one grouped query, one breaker read), not once per row.
"""

from collections.abc import Callable

from django.contrib import admin
from django.utils.html import format_html

from .models import Channel
from .ops_selectors import channel_breakers, channel_success


def live_columns() -> list[Callable[[Channel], str]]:
    opened = channel_breakers()
    success = channel_success(hours=24)

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

    return [breaker, success_rate]
