"""The console's view of key pools: each channel's credentials inline on its page (pasted through the channel form's
write-only box, gateway/console/forms.py) and one list of every credential with its state, reason and last error,
switched on and off by action. Secrets are never shown: the short id and the last four characters only."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from gateway import signals
from gateway.models import ChannelCredential
from gateway.pool.store import set_enabled
from gateway.relay.catalog import clear_caches

READ_ONLY = ["public_id", "secret_hint", "status", "disabled_reason", "disabled_at", "last_error", "last_error_at"]
EDITABLE = ["weight", "enabled", "rpm_limit", "tpm_limit"]


def status(cred: ChannelCredential) -> str:
    if cred.enabled:
        return format_html('<span class="hm-ok">{}</span>', "● enabled")
    return format_html('<span class="hm-bad" title="{}">{}</span>', cred.disabled_reason, "● disabled")


class CredentialForm(forms.ModelForm):
    """Switching a credential by hand records who did it (an operator's reason is never undone by probes)."""

    actor = "operator"

    class Meta:
        model = ChannelCredential
        fields = EDITABLE

    def save(self, commit: bool = True) -> ChannelCredential:
        if "enabled" in self.changed_data:
            cred = self.instance
            cred.disabled_reason = "" if cred.enabled else f"operator: {self.actor}"
            cred.disabled_at = None if cred.enabled else cred.disabled_at or timezone.now()
        saved = super().save(commit)
        clear_caches()  # this process at once; other workers within HARNMODEL_CATALOG_CACHE_SECONDS
        return saved


def _form_for(request: HttpRequest) -> type[CredentialForm]:
    return type("CredentialFormFor", (CredentialForm,), {"actor": request.user.get_username()})


class CredentialsOfChannelInline(admin.TabularInline):
    model = ChannelCredential
    extra = 0
    fields = ["public_id", "secret_hint", *EDITABLE, "status", "disabled_reason", "last_error"]
    readonly_fields = READ_ONLY
    verbose_name = "credential"
    verbose_name_plural = "credentials (key pool)"

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        kwargs["form"] = _form_for(request)
        return super().get_formset(request, obj, **kwargs)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys come in through the channel form's paste box, never typed into a visible field

    @admin.display(description="Status", ordering="enabled")
    def status(self, cred: ChannelCredential) -> str:
        return status(cred)


@admin.register(ChannelCredential)
class ChannelCredentialAdmin(admin.ModelAdmin):
    list_display = ["public_id", "channel", "secret_hint", "weight", "status", "disabled_reason", "rpm_limit",
                    "tpm_limit", "last_error", "last_error_at"]
    list_filter = ["enabled", "channel"]
    list_select_related = ["channel"]
    search_fields = ["public_id", "channel__name", "disabled_reason"]
    fields = ["channel", *READ_ONLY, *EDITABLE, "created_at"]
    readonly_fields = ["channel", *READ_ONLY, "created_at"]
    actions = ["enable_selected", "disable_selected"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = _form_for(request)
        return super().get_form(request, obj, change, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Status", ordering="enabled")
    def status(self, cred: ChannelCredential) -> str:
        return status(cred)

    def _switch(self, request: HttpRequest, queryset: QuerySet[ChannelCredential], on: bool) -> int:
        before = {c.pk: (c.enabled, c.disabled_reason) for c in queryset}
        changed = set_enabled(queryset, on, f"operator: {request.user.get_username()}")
        for cred in ChannelCredential.objects.filter(pk__in=before).select_related("channel"):
            if before[cred.pk][0] != cred.enabled:
                signals.operator_action.send(
                    sender=None, actor=request.user, action="credential_enable" if on else "credential_disable",
                    obj=cred.channel, before={"credential": cred.public_id, "enabled": before[cred.pk][0]},
                    after={"credential": cred.public_id, "enabled": cred.enabled},
                )
        clear_caches()
        return changed

    @admin.action(description="Enable selected credentials", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[ChannelCredential]) -> None:
        n = self._switch(request, queryset, True)
        messages.success(request, f"Enabled {n} credential(s). A switched-off channel must be enabled on its own.")

    @admin.action(description="Disable selected credentials", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[ChannelCredential]) -> None:
        n = self._switch(request, queryset, False)
        messages.success(request, f"Disabled {n} credential(s).")
