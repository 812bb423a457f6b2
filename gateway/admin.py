"""The operator's view of the catalog, channels and API keys. Secrets are write-only here."""

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

from .forms import ApiKeyAdminForm, ChannelAdminForm
from .models import ApiKey, CatalogModel, Channel, ChannelModel
from .services import api_key_create, api_key_revoke


class _ModelMapInline(admin.TabularInline):
    model = ChannelModel
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChannelModel]:
        # ChannelModel.__str__ reads both sides; without this every inline row costs two queries.
        return super().get_queryset(request).select_related("channel", "model")


class ChannelsOfModelInline(_ModelMapInline):
    fields = ["channel", "upstream_name"]
    autocomplete_fields = ["channel"]
    verbose_name = "channel serving this model"
    verbose_name_plural = "channels serving this model"


class ModelsOfChannelInline(_ModelMapInline):
    fields = ["model", "upstream_name"]
    autocomplete_fields = ["model"]
    verbose_name = "model map entry"
    verbose_name_plural = "model map"


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    list_display = ["public_id", "display_name", "enabled", "default_max_output_tokens", "current_price"]
    list_filter = ["enabled"]
    search_fields = ["public_id", "display_name"]
    readonly_fields = ["current_price", "created_at", "updated_at"]
    fields = [
        "public_id",
        "display_name",
        "description",
        "enabled",
        "default_max_output_tokens",
        "context_window",
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
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelAdminForm
    list_display = ["name", "provider", "base_url", "priority", "weight", "enabled", "secret_hint"]
    list_filter = ["provider", "enabled"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["secret_hint", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "base_url", "enabled"]}),
        ("Credential", {"fields": ["secret_hint", "new_secret"]}),
        ("Routing", {"fields": ["priority", "weight", "options"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [ModelsOfChannelInline]

    @admin.display(description="Secret")
    def secret_hint(self, channel: Channel) -> str:
        return channel.secret_hint or "none"


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
        "name",
        "allowed_models",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_at",
    ]
    change_readonly = ["key", "account", "revoked_at", "last_used_at", "created_at"]

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
        messages.success(request, f"Revoked {len(keys)} key(s). Gateways stop accepting them within seconds.")
