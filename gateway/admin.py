"""The operator's view of the catalog, channels and API keys. Secrets are write-only here."""

import asyncio
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from billing.admin import price_summary
from billing.selectors import price_current
from gateway import signals
from gateway.console.channel_columns import live_columns
from gateway.console.forms import TIMEOUT_FIELDS, ApiKeyAdminForm, ChannelAdminForm, ModelMapForm
from gateway.console.history import CatalogModelAuditMixin, ChannelAuditMixin
from gateway.console.probe_admin import probe_history_link  # also registers the read-only probe history
from gateway.console.sync_admin import UpstreamModelFindingAdmin  # noqa: F401 (registers the model sync review page)
from gateway.models import ApiKey, CatalogModel, Channel, ChannelModel
from gateway.observe import health
from gateway.pool.admin import CredentialsOfChannelInline  # also registers the credential list
from gateway.relay.catalog import clear_caches
from gateway.relay.http import get_client
from gateway.services import api_key_create, api_key_revoke

_STATE_FIELDS = ["enabled", "disabled_reason", "weight"]


def _state(channel: Channel) -> dict[str, Any]:
    return {name: getattr(channel, name) for name in _STATE_FIELDS}


def probe_now(channels: list[Channel]) -> list[health.ProbeResult]:
    """Probe these channels now, whatever their state, exactly as the scheduled health check does.

    Runs its own event loop (the admin view is sync) and closes that loop's HTTP client afterwards.
    The results go through health.apply_results: same history rows, same auto-disable/re-enable rules."""
    targets = [
        target
        for c in channels
        for target in health.channel_targets(
            c, [(m.model.public_id, m.upstream_name or m.model.public_id) for m in c.model_maps.all()]
        )
    ]

    async def main() -> list[health.ProbeResult]:
        client = get_client()
        try:
            return list(
                await asyncio.gather(
                    *(health.probe(t, public, upstream, client) for t in targets for public, upstream in t.models)
                )
            )
        finally:
            await client.aclose()

    results = asyncio.run(main())
    health.apply_results(results)
    return results


class _ModelMapInline(admin.TabularInline):
    model = ChannelModel
    form = ModelMapForm
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChannelModel]:
        # ChannelModel.__str__ reads both sides; without this every inline row costs two queries.
        return super().get_queryset(request).select_related("channel", "model")


class ChannelsOfModelInline(_ModelMapInline):
    fields = ["channel", "upstream_name", "cost_input", "cost_cached_input", "cost_output"]
    autocomplete_fields = ["channel"]
    verbose_name = "channel serving this model"
    verbose_name_plural = "channels serving this model"


class ModelsOfChannelInline(_ModelMapInline):
    fields = ["model", "upstream_name", "cost_input", "cost_cached_input", "cost_output"]
    autocomplete_fields = ["model"]
    verbose_name = "model map entry"
    verbose_name_plural = "model map"


@admin.register(CatalogModel)
class CatalogModelAdmin(CatalogModelAuditMixin, admin.ModelAdmin):
    list_display = ["public_id", "display_name", "enabled", "routing", "default_max_output_tokens", "current_price"]
    list_filter = ["enabled", "routing"]
    search_fields = ["public_id", "display_name"]
    readonly_fields = ["current_price", "created_at", "updated_at"]
    fields = [
        "public_id",
        "display_name",
        "description",
        "enabled",
        "default_max_output_tokens",
        "context_window",
        "routing",
        "current_price",
        "created_at",
        "updated_at",
    ]
    inlines = [ChannelsOfModelInline]

    # One price query per row: fine for a catalog of dozens of models, see billing.selectors.price_current.
    @admin.display(description="Current price")
    def current_price(self, model: CatalogModel) -> str:
        if model.pk is None:
            return "-"
        return price_summary(price_current(model_id=model.public_id))

    def get_readonly_fields(self, request: HttpRequest, obj: CatalogModel | None = None) -> list[str]:
        # The public ID is what prices, keys and usage rows refer to: renaming would orphan them.
        return [*self.readonly_fields, "public_id"] if obj else list(self.readonly_fields)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None):
        model = self.get_object(request, unquote(object_id))
        if model is not None:
            query = "?" + urlencode({"model_id": model.public_id})
            prices = reverse("admin:billing_price_changelist") + query
            publish = reverse("admin:billing_price_add") + query
            extra_context = {
                **(extra_context or {}),
                "subtitle": format_html(
                    '{} · <a href="{}">price history</a> · <a href="{}">publish a new price</a>',
                    model.public_id,
                    prices,
                    publish,
                ),
            }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Channel)
class ChannelAdmin(ChannelAuditMixin, admin.ModelAdmin):
    form = ChannelAdminForm
    list_display = [
        "name",
        "provider",
        "base_url",
        "priority",
        "weight",
        "enabled",
        "health",
        "disabled_reason",
        "secret_hint",
    ]
    list_filter = ["provider", "enabled"]
    actions = ["test_now", "enable_selected", "disable_selected", "drain_selected"]
    search_fields = ["name", "base_url"]
    readonly_fields = [
        "secret_hint",
        "disabled_reason",
        "health",
        "last_probe_at",
        "probe_history",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "provider", "base_url", "enabled", "disabled_reason"]}),
        ("Health", {"fields": ["health", "last_probe_at", "probe_history"]}),
        ("Credentials", {"fields": ["secret_hint", "new_secret"]}),
        (
            "Routing",
            {
                "fields": ["priority", "weight", "options"],
                "description": "Upstream balance: options balance_kind (openrouter, deepseek, newapi) and "
                "balance_alert_below (an amount in the upstream's currency); see the README.",
            },
        ),
        (
            "Field policy",
            {
                "fields": ["allow_fields", "allow_tools", "allow_url_hosts", "drop_tools"],
                "description": "What this channel forwards beyond the always-allowed fields; see the API docs.",
            },
        ),
        (
            "Timeouts",
            {
                "fields": TIMEOUT_FIELDS,
                "description": "Seconds; leave empty for the platform defaults (HARNMODEL_*_TIMEOUT).",
            },
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [ModelsOfChannelInline, CredentialsOfChannelInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Channel]:
        return super().get_queryset(request).prefetch_related("credentials")  # the Credentials column

    def get_list_display(self, request: HttpRequest) -> list:
        # Breaker and success rate are read once for the page (channel_columns), after the health column.
        columns = list(super().get_list_display(request))
        at = columns.index("health") + 1
        return [*columns[:at], *live_columns(), *columns[at:]]

    @admin.display(description="Credentials")
    def secret_hint(self, channel: Channel) -> str:
        return channel.secret_hint or "none"

    @admin.display(description="History")
    def probe_history(self, channel: Channel) -> str:
        return probe_history_link(channel)

    @admin.display(description="Last probe", ordering="last_probe_ok")
    def health(self, channel: Channel) -> str:
        if channel.last_probe_ok is None:
            return format_html('<span class="hm-quiet">{}</span>', "never probed")
        if channel.last_probe_ok:
            return format_html('<span class="hm-ok">● ok</span> {} ms', channel.last_probe_latency_ms or 0)
        return format_html(
            '<span class="hm-bad" title="{}">● failing</span> {}',
            channel.last_probe_error,
            channel.last_probe_error[:60],
        )

    def _change_state(self, request: HttpRequest, queryset: QuerySet[Channel], action: str, **changes: Any) -> int:
        changed = 0
        for channel in queryset:
            before = _state(channel)
            for name, value in changes.items():
                setattr(channel, name, value)
            if _state(channel) == before:
                continue
            channel.save(update_fields=[*changes, "updated_at"])
            signals.operator_action.send(
                sender=None, actor=request.user, action=action, obj=channel, before=before, after=_state(channel)
            )
            changed += 1
        clear_caches()  # this process at once; other workers within HARNMODEL_CATALOG_CACHE_SECONDS
        return changed

    @admin.action(description="Test now (probe selected channels)", permissions=["change"])
    def test_now(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        channels = list(queryset.prefetch_related("model_maps__model", "credentials"))
        results = probe_now(channels)
        names = {c.pk: c.name for c in channels}
        for channel in channels:
            if not channel.model_maps.exists():
                messages.warning(request, f"{channel.name}: no model mapped, nothing to probe.")
        for r in results:
            text = f"{names[r.channel_id]} / {r.model_id}: "
            if r.ok:
                messages.success(request, text + f"ok in {r.latency_ms} ms")
            else:
                messages.error(request, text + f"failed (HTTP {r.status or '-'}) {r.error}")
        for channel in channels:
            ours = [r for r in results if r.channel_id == channel.pk]
            signals.operator_action.send(
                sender=None,
                actor=request.user,
                action="channel_test",
                obj=channel,
                before=_state(channel),
                after={
                    **_state(Channel.objects.get(pk=channel.pk)),
                    "probes": [{"model": r.model_id, "ok": r.ok, "latency_ms": r.latency_ms} for r in ours],
                },
            )

    @admin.action(description="Enable selected channels", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        n = self._change_state(request, queryset, "channel_enable", enabled=True, disabled_reason="")
        messages.success(request, f"Enabled {n} channel(s).")

    @admin.action(description="Disable selected channels", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        # "operator:" — health checks re-enable only what they disabled themselves ("health:").
        reason = f"operator: {request.user.get_username()}"
        n = self._change_state(request, queryset, "channel_disable", enabled=False, disabled_reason=reason)
        messages.success(request, f"Disabled {n} channel(s).")

    @admin.action(description="Drain selected channels (weight 0: no new traffic)", permissions=["change"])
    def drain_selected(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        n = self._change_state(request, queryset, "channel_drain", weight=0)
        messages.success(request, f"Drained {n} channel(s); requests in flight finish normally.")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued by the service (the secret is shown once), revoked by action, never deleted."""

    form = ApiKeyAdminForm
    list_display = [
        "key",
        "name",
        "account",
        "allowed",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_at",
    ]
    list_select_related = ["account"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at", "created_at"]
    search_fields = ["prefix", "name", "account__email", "account__name"]
    autocomplete_fields = ["account"]
    actions = ["revoke_selected"]
    add_fields = ["account", "name", "allowed_models", "expires_at"]
    change_fields = [
        "key",
        "account",
        "project",
        "created_by",
        "name",
        "allowed_models",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_at",
    ]
    change_readonly = ["key", "account", "project", "created_by", "revoked_at", "last_used_at", "created_at"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.change_fields if obj else self.add_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.change_readonly if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Revoke instead: a deleted key would vanish from the usage records that name it.
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            # Only what the form may edit: a full save could undo a revoke or touch that raced this request.
            obj.save(update_fields=["name", "allowed_models", "expires_at"])
            return
        issued = api_key_create(
            account_id=obj.account_id, name=obj.name, allowed_models=obj.allowed_models, expires_at=obj.expires_at
        )
        key = issued.key
        obj.pk, obj.prefix, obj.secret_hash, obj.created_at = key.pk, key.prefix, key.secret_hash, key.created_at
        obj.allowed_models = key.allowed_models
        obj._state.adding = False
        messages.success(
            request,
            f"New API key for {obj.account}: {issued.secret} — copy it now, it will not be shown again.",
        )

    @admin.display(description="Key", ordering="prefix")
    def key(self, key: ApiKey) -> str:
        return f"{key.prefix}…"

    @admin.display(description="Allowed models")
    def allowed(self, key: ApiKey) -> str:
        return ", ".join(key.allowed_models) or "all"

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(key=key)
            signals.operator_action.send(
                sender=None,
                actor=request.user,
                action="api_key_revoke",
                obj=key,
                before={"revoked_at": None},
                after={"revoked_at": key.revoked_at.isoformat() if key.revoked_at else "revoked"},
            )
        messages.success(request, f"Revoked {len(keys)} key(s). Gateways stop accepting them within seconds.")
