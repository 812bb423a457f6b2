"""Customers in the operator console. The top layer: it may read gateway and billing, nothing reads it."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from billing import ops_selectors as money_ops
from billing.group_selectors import default_group_id
from billing.models import CustomerGroup, Wallet
from billing.money import AmountError, format_exact, parse_amount
from billing.services import InsufficientBalance, wallet_adjust
from gateway.console import ops_selectors as gateway_ops
from gateway.console.scheduled_jobs import scheduled_jobs
from gateway.relay.catalog import clear_caches

from . import otp, otp_admin  # noqa: F401  (otp_admin: the operators' TOTP devices, key never shown)
from .audit import audit_record
from .console_groups import AccountActionForm, move_to_group
from .console_live import live_log_view
from .console_margin import margin_view
from .models import Account, AuditEntry, Membership
from .services import account_create

otp.install(admin.site)  # TOTP sign-in for every admin view when HARNMODEL_ADMIN_TOTP is on
admin.site.site_header = "harnmodel operator console"
admin.site.site_title = "harnmodel"
admin.site.index_title = "Operations"


def _wallet(account: Account) -> Wallet | None:
    try:
        return account.wallet
    except Wallet.DoesNotExist:
        return None


class BalanceAdjustForm(forms.Form):
    amount = forms.CharField(help_text="In currency units; negative to take money back, e.g. -5.")
    reason = forms.CharField(
        label="Internal note",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: goes to the ledger for staff. Never shown to the customer.",
    )
    description = forms.CharField(
        label="Customer text",
        max_length=200,
        required=False,
        help_text='What the customer reads on the Billing page. Empty: "Balance adjustment".',
    )

    def clean_amount(self) -> int:
        try:
            micros = parse_amount(self.cleaned_data["amount"], allow_negative=True)
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from None
        if micros == 0:
            raise forms.ValidationError("the amount must not be zero")
        return micros


def _margin_today() -> dict[str, str]:
    revenue, cost = money_ops.revenue_today_micros(), money_ops.upstream_cost_today()
    return {
        "revenue_today": format_exact(revenue),
        "upstream_cost_today": format_exact(cost.known_micros),
        # Margin over the revenue whose upstream cost is known; the rest is shown apart, never guessed.
        "margin_today": format_exact(revenue - cost.uncosted_revenue_micros - cost.known_micros),
        "uncosted_today": format_exact(cost.uncosted_revenue_micros) if cost.uncosted_revenue_micros else "",
    }


def ops_view(request: HttpRequest) -> HttpResponse:
    """The control room: traffic, money and channels at a glance. Read-only; the numbers come from selectors."""
    hours = gateway_ops.requests_per_hour()
    days = money_ops.spend_per_day()
    context = {
        **admin.site.each_context(request),
        "title": "Control room",
        "traffic": gateway_ops.traffic(),
        "channels": gateway_ops.channel_states(),
        "jobs": scheduled_jobs(),
        **_margin_today(),
        "top_customers": [(c, format_exact(c.spend_micros)) for c in money_ops.top_customers_today()],
        "hours_chart": {
            "labels": [f"{h:%H:00}" for h, _, _ in hours],
            "requests": [n for _, n, _ in hours],
            "errors": [e for _, _, e in hours],
        },
        # Chart values in currency units as strings: Chart.js needs numbers, the exact amounts stay in micros.
        "days_chart": {
            "labels": [f"{d:%m-%d}" for d, _ in days],
            "spend": [str(micros / 1_000_000) for _, micros in days],
        },
    }
    return TemplateResponse(request, "admin/ops.html", context)


# The default admin site keeps its URLs; the control room is one more page inside it (/admin/ops/).
_site_get_urls = admin.site.get_urls
admin.site.get_urls = lambda: [
    path("ops/", admin.site.admin_view(ops_view), name="ops"),
    path("live/", admin.site.admin_view(live_log_view), name="live_log"),
    path("margin/", admin.site.admin_view(margin_view), name="margin"),
    *_site_get_urls(),
]


# Account-wide rate limits (every key of the account together); empty = none.
LIMIT_FIELDS = ["rpm_limit", "tpm_limit", "concurrency_limit"]


class AccountAdminForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "email", "is_active", "group", *LIMIT_FIELDS]
        help_texts = {
            "group": "Its customer group: the price multiplier it pays and the models it may use.",
            "rpm_limit": "Requests per minute, all keys together. Empty = no limit.",
            "tpm_limit": "Tokens per minute, all keys together. Empty = no limit.",
            "concurrency_limit": "Requests in flight at once, all keys together. Empty = no limit.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "group" in self.fields:  # absent from a view-only page
            self.fields["group"].required = False  # left empty: the default group

    def clean_group(self) -> CustomerGroup:
        return self.cleaned_data.get("group") or CustomerGroup.objects.get(pk=default_group_id())

    def clean_email(self) -> str:
        # account_create stores emails lower-cased; check uniqueness against that form, not the typed one.
        return self.cleaned_data["email"].strip().lower()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        # Membership.__str__ reads user and account: one query per row otherwise.
        return super().get_queryset(request).select_related("user", "account")


def _group_slug(group_id: int | None) -> str:
    return CustomerGroup.objects.filter(pk=group_id).values_list("slug", flat=True).first() or ""


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "email", "is_active", "group", "balance", "created_at"]
    list_filter = ["is_active", "group", "created_at"]
    list_select_related = ["wallet", "group"]
    search_fields = ["email", "name"]
    inlines = [MembershipInline]
    actions = ["adjust_balance", move_to_group]
    action_form = AccountActionForm

    def has_adjust_balance_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        return request.user.has_perm("accounts.adjust_balance")

    def get_urls(self):
        view = self.admin_site.admin_view(self.adjust_balance_view)
        return [path("<int:pk>/adjust-balance/", view, name="accounts_account_adjust_balance"), *super().get_urls()]

    @admin.action(description="Adjust balance…", permissions=["adjust_balance"])
    def adjust_balance(self, request: HttpRequest, queryset: QuerySet[Account]) -> HttpResponse | None:
        # One customer at a time: an adjustment is a decision about one account, with its own reason.
        if queryset.count() != 1:
            messages.warning(request, "Select exactly one account to adjust its balance.")
            return None
        return HttpResponseRedirect(reverse("admin:accounts_account_adjust_balance", args=[queryset.get().pk]))

    def adjust_balance_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_adjust_balance_permission(request):
            raise PermissionDenied
        account = get_object_or_404(Account, pk=pk)
        form = BalanceAdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            amount = form.cleaned_data["amount"]
            try:
                entry = wallet_adjust(
                    account_id=account.pk,
                    amount_micros=amount,
                    reason=form.cleaned_data["reason"],
                    description=form.cleaned_data["description"],
                    actor=request.user.get_username(),
                )
            except InsufficientBalance:
                form.add_error("amount", "This would take the available balance below zero.")
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                # The ledger row holds the exact balance after; before is derived from it, not read separately.
                audit_record(
                    actor=request.user,
                    action="balance_adjust",
                    obj=account,
                    before={"balance_micros": entry.balance_after_micros - amount},
                    after={"balance_micros": entry.balance_after_micros, "ledger_entry": entry.pk},
                )
                messages.success(
                    request,
                    f"Adjusted {account} by {format_exact(amount)}. New balance: "
                    f"{format_exact(entry.balance_after_micros)}.",
                )
                return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Adjust the balance of {account}",
            "account": account,
            "balance": self.balance(account),
            "available": self.available(account),
            "form": form,
        }
        return TemplateResponse(request, "admin/accounts/account/adjust_balance.html", context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Account | None:
        account = super().get_object(request, object_id, from_field)
        if account is not None:
            account.console_user = request.user  # "See also" offers only the actions this operator may take
        return account

    def get_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        base = ["name", "email", "is_active", "group", *LIMIT_FIELDS]
        return [*base, "balance", "held", "available", "links", "created_at"] if obj else base

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        return ["balance", "held", "available", "links", "created_at"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        # Wallets and usage rows PROTECT their account: deactivate (is_active) instead of deleting.
        return False

    def save_model(self, request: HttpRequest, obj: Account, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            created = account_create(email=obj.email, name=obj.name)  # opens the wallet too
            obj.pk, obj.name, obj.created_at = created.pk, created.name, created.created_at
            obj._state.adding = False
            if not obj.is_active or "group" in form.changed_data or any(
                getattr(obj, name) is not None for name in LIMIT_FIELDS
            ):
                obj.save(update_fields=["is_active", "group", *LIMIT_FIELDS])
        if "group" in form.changed_data:
            audit_record(
                actor=request.user,
                action="account_group",
                obj=obj,
                before={"group": _group_slug(form.initial.get("group"))} if change else {},
                after={"group": obj.group.slug},
            )
            clear_caches()  # the key cache holds the account's group: this process prices it at once
        limits = [name for name in LIMIT_FIELDS if name in form.changed_data]
        if limits:
            audit_record(
                actor=request.user,
                action="account_limits",
                obj=obj,
                before={name: form.initial.get(name) for name in limits} if change else {},
                after={name: getattr(obj, name) for name in limits},
            )
            clear_caches()  # this process applies the new limits at once; others when their key cache expires

    @admin.display(ordering="wallet__balance_micros")
    def balance(self, account: Account) -> str:
        wallet = _wallet(account)
        return format_exact(wallet.balance_micros) if wallet else "no wallet"

    @admin.display()
    def held(self, account: Account) -> str:
        wallet = _wallet(account)
        return format_exact(wallet.held_micros) if wallet else "-"

    @admin.display()
    def available(self, account: Account) -> str:
        wallet = _wallet(account)
        return format_exact(wallet.available_micros) if wallet else "-"

    @admin.display(description="See also")
    def links(self, account: Account) -> str:
        wallet = _wallet(account)
        ledger = reverse("admin:billing_ledgerentry_changelist") + f"?wallet__id__exact={wallet.pk if wallet else 0}"
        keys = reverse("admin:gateway_apikey_changelist") + f"?account__id__exact={account.pk}"
        usage = reverse("admin:billing_usagerecord_changelist") + f"?account__id__exact={account.pk}"
        links = [format_html('<a href="{}">API keys</a>', keys)]
        user = getattr(account, "console_user", None)
        if user is not None and user.has_perm("gateway.add_apikey"):
            add_key = reverse("admin:gateway_apikey_add") + f"?account={account.pk}"
            links.append(format_html('<a href="{}">issue a key</a>', add_key))
        links += [format_html('<a href="{}">ledger</a>', ledger), format_html('<a href="{}">usage</a>', usage)]
        attempts = reverse("admin:billing_autotopupattempt_changelist") + f"?customer={account.pk}"
        links.append(format_html('<a href="{}">auto top-ups</a>', attempts))
        if user is not None and user.has_perm("accounts.adjust_balance"):
            adjust = reverse("admin:accounts_account_adjust_balance", args=[account.pk])
            links.append(format_html('<a href="{}">adjust balance</a>', adjust))
        return format_html_join(" · ", "{}", ((link,) for link in links))


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Append-only: entries are written by accounts.audit, never edited or deleted here."""

    list_display = ["created_at", "actor", "action", "object_type", "object_id", "object_repr"]
    list_filter = ["action", "object_type", "created_at"]
    list_select_related = ["actor"]
    search_fields = ["object_repr", "object_id", "actor__username"]
    date_hierarchy = "created_at"
    fields = ["created_at", "actor", "action", "object_type", "object_id", "object_repr", "before", "after"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
