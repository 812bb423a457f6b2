"""Customers in the operator console. The top layer: it may read gateway and billing, nothing reads it."""

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from billing.models import Wallet
from billing.money import format_exact

from .models import Account, Membership
from .services import account_create

admin.site.site_header = "harnmodel operator console"
admin.site.site_title = "harnmodel"
admin.site.index_title = "Operations"


def _wallet(account: Account) -> Wallet | None:
    try:
        return account.wallet
    except Wallet.DoesNotExist:
        return None


class AccountAdminForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "email", "is_active"]

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


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "email", "is_active", "balance", "created_at"]
    list_filter = ["is_active", "created_at"]
    list_select_related = ["wallet"]
    search_fields = ["email", "name"]
    inlines = [MembershipInline]

    def get_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        base = ["name", "email", "is_active"]
        return [*base, "balance", "held", "available", "links", "created_at"] if obj else base

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        return ["balance", "held", "available", "links", "created_at"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        # Wallets and usage rows PROTECT their account: deactivate (is_active) instead of deleting.
        return False

    def save_model(self, request: HttpRequest, obj: Account, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = account_create(email=obj.email, name=obj.name)  # opens the wallet too
        obj.pk, obj.name, obj.created_at = created.pk, created.name, created.created_at
        obj._state.adding = False
        if not obj.is_active:
            obj.save(update_fields=["is_active"])

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
        add_key = reverse("admin:gateway_apikey_add") + f"?account={account.pk}"
        return format_html(
            '<a href="{}">API keys</a> · <a href="{}">issue a key</a> · <a href="{}">ledger</a> · <a href="{}">usage</a>',
            keys,
            add_key,
            ledger,
            usage,
        )
