"""Health-probe history in the console: read-only, written only by gateway.observe.health.

Newest first, filterable by channel, result and model; the channel's change page links here with the
channel filter applied (ChannelAdmin.probe_history)."""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from gateway.models import Channel, ChannelProbe

FIELDS = ["created_at", "channel", "credential", "model_id", "ok", "status", "latency_ms", "error"]


def probe_history_link(channel: Channel) -> str:
    """A link to this channel's probe history (for the channel's change page)."""
    if channel.pk is None:
        return "—"
    url = reverse("admin:gateway_channelprobe_changelist") + "?" + urlencode({"channel__id__exact": channel.pk})
    return format_html('<a href="{}">Probe history ({})</a>', url, channel.probes.count())


@admin.register(ChannelProbe)
class ChannelProbeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "channel", "credential", "model_id", "result", "status", "latency_ms", "error"]
    list_filter = ["ok", "channel", "model_id"]
    list_select_related = ["channel"]
    search_fields = ["error", "channel__name", "model_id", "credential"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]
    fields = FIELDS
    readonly_fields = FIELDS
    list_per_page = 100

    @admin.display(description="Result", ordering="ok")
    def result(self, probe: ChannelProbe) -> str:
        if probe.ok:
            return format_html('<span class="hm-ok">{}</span>', "● ok")
        return format_html('<span class="hm-bad">{}</span>', "● failed")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChannelProbe | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ChannelProbe | None = None) -> bool:
        return False
