"""Customer groups in the console: create, rename, publish new terms (a new rule version), delete an unused
one. Every write is an audit entry; rules are listed read-only, since a version is never edited."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .admin_base import ReadOnlyAdmin
from .admin_history import AuditHistoryMixin
from .group_models import DEFAULT_GROUP_SLUG, CustomerGroup, GroupRule
from .group_pricing import MultiplierError, format_multiplier, millionths_text, parse_multiplier
from .group_selectors import rule_current
from .group_services import GroupTermsError, allowed_parse, group_rule_publish, overrides_parse
from .signals import operator_action


def rule_state(rule: GroupRule | None) -> dict[str, Any]:
    """What an audit entry stores about a rule version (empty: the group had none, ×1 on every model)."""
    if rule is None:
        return {}
    return {
        "rule_id": rule.pk,
        "multiplier_ppm": rule.multiplier_ppm,
        "allowed_models": rule.allowed_models,
        "overrides": rule.overrides,
        "effective_from": rule.effective_from.isoformat(),
    }


def overrides_text(stored: dict) -> str:
    """A rule's stored overrides back in the units an operator types (currency units, a decimal multiplier)."""
    shown: dict[str, dict[str, str]] = {}
    for model_id, item in sorted(stored.items()):
        if "multiplier_ppm" in item:
            shown[model_id] = {"multiplier": format_multiplier(item["multiplier_ppm"])}
        else:
            shown[model_id] = {
                part: millionths_text(item[f"{part}_micros"])
                for part in ("input", "cached_input", "output", "cache_write")
                if item.get(f"{part}_micros") is not None
            }
    return json.dumps(shown, indent=2, ensure_ascii=False) if shown else ""


class CustomerGroupForm(forms.ModelForm):
    multiplier = forms.CharField(initial="1", help_text="Price multiplier on every model's list price: 0.85, 1, 1.5.")
    models = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Public model ids the group may use, one per line; empty: every model.",
    )
    overrides = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 5}),
        help_text='Per model, JSON: {"gpt-4o": {"multiplier": "0.5"}} or a fixed price per 1M tokens '
        '{"gpt-4o": {"input": "2", "cached_input": "1", "output": "8"}}.',
    )

    class Meta:
        model = CustomerGroup
        fields = ["slug", "name", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rule = rule_current(group_id=self.instance.pk) if self.instance.pk else None
        if rule is not None:
            self.fields["multiplier"].initial = format_multiplier(rule.multiplier_ppm)
            self.fields["models"].initial = "\n".join(rule.allowed_models or ())
            self.fields["overrides"].initial = overrides_text(rule.overrides or {})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            cleaned["multiplier_ppm"] = parse_multiplier(cleaned.get("multiplier") or "")
        except MultiplierError as exc:
            self.add_error("multiplier", str(exc))
        try:
            cleaned["allowed_models"] = allowed_parse(
                [line.strip() for line in (cleaned.get("models") or "").splitlines() if line.strip()]
            )
        except GroupTermsError as exc:
            self.add_error("models", str(exc))
        text = (cleaned.get("overrides") or "").strip()
        try:
            cleaned["override_rules"] = overrides_parse(json.loads(text) if text else {})
        except (ValueError, GroupTermsError) as exc:  # json's errors are ValueErrors too
            self.add_error("overrides", str(exc))
        return cleaned


class GroupRuleInline(admin.TabularInline):
    """The group's rule versions, newest first: history, never edited."""

    model = GroupRule
    extra = 0
    can_delete = False
    fields = ["multiplier", "allowed_models", "overrides", "effective_from", "created_by"]
    readonly_fields = fields
    ordering = ["-effective_from"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Multiplier")
    def multiplier(self, rule: GroupRule) -> str:
        return "×" + format_multiplier(rule.multiplier_ppm)


@admin.register(CustomerGroup)
class CustomerGroupAdmin(AuditHistoryMixin, admin.ModelAdmin):
    form = CustomerGroupForm
    list_display = ["slug", "name", "multiplier", "models", "members"]
    search_fields = ["slug", "name"]
    fields = ["slug", "name", "description", "multiplier", "models", "overrides"]
    inlines = [GroupRuleInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomerGroup]:
        return super().get_queryset(request).annotate(member_count=Count("accounts"))

    def has_delete_permission(self, request: HttpRequest, obj: CustomerGroup | None = None) -> bool:
        # Accounts and usage records point at a group and its rules: only an unused group may go.
        if obj is not None and (obj.slug == DEFAULT_GROUP_SLUG or obj.accounts.exists() or obj.rules.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: CustomerGroup, form: forms.ModelForm, change: bool) -> None:
        named = [name for name in ("slug", "name", "description") if name in form.changed_data or not change]
        before = {name: form.initial.get(name) for name in named} if change else {}
        super().save_model(request, obj, form, change)
        if named:
            operator_action.send(sender=CustomerGroup, actor=request.user, obj=obj,
                                 action="group_change" if change else "group_create",
                                 before=before, after={name: getattr(obj, name) for name in named})
        data = form.cleaned_data
        current = rule_current(group_id=obj.pk)
        rule, created = group_rule_publish(
            group=obj, multiplier_ppm=data["multiplier_ppm"], allowed_models=data["allowed_models"],
            overrides=data["override_rules"], actor=request.user.get_username(),
        )
        if created:
            operator_action.send(sender=GroupRule, actor=request.user, action="group_rule_publish", obj=obj,
                                 before=rule_state(current), after=rule_state(rule))
            messages.info(request, "New terms published: requests admitted from now on pay them (every worker "
                                   "within its catalog cache time).")

    def delete_model(self, request: HttpRequest, obj: CustomerGroup) -> None:
        operator_action.send(sender=CustomerGroup, actor=request.user, action="group_delete", obj=obj,
                             before={"slug": obj.slug, "name": obj.name}, after={})
        super().delete_model(request, obj)

    @admin.display(description="Multiplier")
    def multiplier(self, group: CustomerGroup) -> str:
        rule = rule_current(group_id=group.pk)
        return "×" + format_multiplier(rule.multiplier_ppm if rule else 1_000_000)

    @admin.display(description="Models")
    def models(self, group: CustomerGroup) -> str:
        rule = rule_current(group_id=group.pk)
        return ", ".join(rule.allowed_models) if rule and rule.allowed_models else "all"

    @admin.display(description="Accounts", ordering="member_count")
    def members(self, group: CustomerGroup) -> str:
        url = reverse("admin:accounts_account_changelist") + f"?group__id__exact={group.pk}"
        return format_html('<a href="{}">{}</a>', url, getattr(group, "member_count", 0))


@admin.register(GroupRule)
class GroupRuleAdmin(ReadOnlyAdmin):
    """Every rule version ever published; usage records name the one they were charged under."""

    list_display = ["group", "multiplier", "allowed_models", "overrides", "effective_from", "created_by"]
    list_filter = ["group"]
    list_select_related = ["group"]

    @admin.display(description="Multiplier", ordering="multiplier_ppm")
    def multiplier(self, rule: GroupRule) -> str:
        return "×" + format_multiplier(rule.multiplier_ppm)
