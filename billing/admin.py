"""Money in the admin: read-only by design. Balances change only through the ledger services."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import (
    admin_autotopup,  # noqa: F401  (registers auto top-ups and their attempts)
    admin_disputes,  # noqa: F401  (registers the dispute queue)
    admin_groups,  # noqa: F401  (registers customer groups and their rule versions)
    admin_invoices,  # noqa: F401  (registers the 发票 queue)
    admin_redemption,  # noqa: F401  (registers the redemption-code admin)
    services,
)
from .admin_base import ReadOnlyAdmin
from .admin_export import CsvExportMixin, customer_filter
from .admin_history import PriceHistoryMixin, price_publish_audit
from .admin_refunds import RefundAdminMixin
from .models import Hold, LedgerEntry, Price, TopUpOrder, UsageRecord, UsageRollup, Wallet
from .money import AmountError, format_exact, parse_amount
from .selectors import price_current


def price_summary(price: Price | None) -> str:
    if price is None:
        return "no price"
    return (
        f"in {format_exact(price.input_micros)} · cached {format_exact(price.cached_input_micros)}"
        f" · out {format_exact(price.output_micros)} / 1M"
    )


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["account", "balance", "held", "available", "updated_at"]
    list_select_related = ["account"]
    search_fields = ["account__email", "account__name"]
    fields = ["account", "balance", "held", "available", "ledger", "low_balance_alert", "updated_at"]
    readonly_fields = fields

    @admin.display(ordering="balance_micros")
    def balance(self, wallet: Wallet) -> str:
        return format_exact(wallet.balance_micros)

    @admin.display(ordering="held_micros")
    def held(self, wallet: Wallet) -> str:
        return format_exact(wallet.held_micros)

    @admin.display()
    def available(self, wallet: Wallet) -> str:
        return format_exact(wallet.available_micros)

    @admin.display(description="Ledger")
    def ledger(self, wallet: Wallet) -> str:
        url = reverse("admin:billing_ledgerentry_changelist") + f"?wallet__id__exact={wallet.pk}"
        return format_html('<a href="{}">entries of this wallet</a>', url)

    @admin.display(description="Low-balance alert")
    def low_balance_alert(self, wallet: Wallet) -> str:
        threshold = wallet.low_balance_threshold_micros
        shown = format_exact(threshold) if threshold is not None else "platform default"
        return f"below {shown}" + (
            f", sent {wallet.low_balance_alerted_at:%Y-%m-%d %H:%M}" if wallet.low_balance_alerted_at else ""
        )


class PriceAddForm(forms.ModelForm):
    """Prices typed in currency units per 1M tokens ("2.5"), stored as exact micros."""

    input_price = forms.CharField(label="Input / 1M tokens")
    cached_input_price = forms.CharField(label="Cached input / 1M tokens")
    output_price = forms.CharField(label="Output / 1M tokens", help_text="Reasoning tokens are billed as output.")
    cache_write_price = forms.CharField(
        label="Cache write / 1M tokens", required=False,
        help_text="Prompt-cache writes (Anthropic: 1.25× input). Empty: the input price.",
    )

    class Meta:
        model = Price
        fields = ["model_id", "tool_call_micros", "effective_from"]
        help_texts = {
            "tool_call_micros": 'Hosted tools priced per call, in micros: {"web_search": 25000}. A tool not '
            "listed cannot be used with this model.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "effective_from" in self.fields:  # absent on the read-only view of an existing price
            self.fields["effective_from"].initial = timezone.now
            self.fields["model_id"].help_text = "Public model ID, exactly as customers send it."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for part in ("input", "cached_input", "output"):
            text = cleaned.get(f"{part}_price")
            if text is None:
                continue
            try:
                setattr(self.instance, f"{part}_micros", parse_amount(text))
            except AmountError as exc:
                self.add_error(f"{part}_price", str(exc))
        write = (cleaned.get("cache_write_price") or "").strip()
        try:
            self.instance.cache_write_micros = parse_amount(write) if write else None
        except AmountError as exc:
            self.add_error("cache_write_price", str(exc))
        tools = cleaned.get("tool_call_micros")
        if tools is None:  # left empty: no hosted tool is priced
            cleaned["tool_call_micros"] = tools = {}
        if not (
            isinstance(tools, dict)
            and all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in tools.items())
        ):
            self.add_error("tool_call_micros", "A mapping of hosted tool kind to whole micros per call (≥ 0).")
        return cleaned


@admin.register(Price)
class PriceAdmin(PriceHistoryMixin, admin.ModelAdmin):
    """Add-only: a price is never edited, a newer version is published (usage rows point at old ones)."""

    form = PriceAddForm
    list_display = ["model_id", "input", "cached_input", "output", "effective_from", "created_at"]
    list_filter = ["model_id"]
    search_fields = ["model_id"]
    date_hierarchy = "effective_from"
    view_fields = ["model_id", "input", "cached_input", "output", "cache_write", "tool_call_micros", "effective_from",
                   "created_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Price | None = None) -> list[str]:
        if obj is None:
            return ["model_id", "input_price", "cached_input_price", "output_price", "cache_write_price",
                    "tool_call_micros", "effective_from"]
        return self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Price | None = None) -> list[str]:
        return [] if obj is None else self.view_fields

    def save_model(self, request: HttpRequest, obj: Price, form: forms.ModelForm, change: bool) -> None:
        before = price_current(model_id=obj.model_id)
        price, created = services.price_publish(
            model_id=obj.model_id,
            input_micros=obj.input_micros,
            cached_input_micros=obj.cached_input_micros,
            output_micros=obj.output_micros,
            effective_from=obj.effective_from,
            tool_call_micros=obj.tool_call_micros,
            cache_write_micros=obj.cache_write_micros,
        )
        if created:
            price_publish_audit(actor=request.user, before=before, price=price)
        else:
            messages.info(request, f"{obj.model_id} already costs this; no new version was published.")
        # The admin's own log entry and redirect need the row that really exists.
        obj.pk, obj.effective_from, obj.created_at = price.pk, price.effective_from, price.created_at
        obj._state.adding = False

    @admin.display(description="Input / 1M", ordering="input_micros")
    def input(self, price: Price) -> str:
        return format_exact(price.input_micros)

    @admin.display(description="Cached input / 1M", ordering="cached_input_micros")
    def cached_input(self, price: Price) -> str:
        return format_exact(price.cached_input_micros)

    @admin.display(description="Cache write / 1M", ordering="cache_write_micros")
    def cache_write(self, price: Price) -> str:
        return "= input" if price.cache_write_micros is None else format_exact(price.cache_write_micros)

    @admin.display(description="Output / 1M", ordering="output_micros")
    def output(self, price: Price) -> str:
        return format_exact(price.output_micros)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["request_id", "account", "amount", "status", "created_at", "expires_at", "closed_at"]
    list_filter = ["status", "created_at"]
    list_select_related = ["wallet__account"]
    search_fields = ["request_id", "wallet__account__email"]
    fields = ["request_id", "account", "amount", "status", "created_at", "expires_at", "closed_at"]
    readonly_fields = fields

    @admin.display(ordering="wallet__account__email")
    def account(self, hold: Hold) -> str:
        return str(hold.wallet.account)

    @admin.display(ordering="amount_micros")
    def amount(self, hold: Hold) -> str:
        return format_exact(hold.amount_micros)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(CsvExportMixin, ReadOnlyAdmin):
    """Append-only in the database and here: corrections are new entries written by services."""

    list_display = [
        "created_at",
        "account",
        "kind",
        "amount",
        "balance_after",
        "idempotency_key",
        "request_id",
        "note",
        "actor",
    ]
    list_filter = ["kind", customer_filter("wallet__account"), "created_at"]
    list_select_related = ["wallet__account"]
    search_fields = ["idempotency_key", "request_id", "wallet__account__email", "note", "actor"]
    date_hierarchy = "created_at"
    fields = [
        "account",
        "kind",
        "amount",
        "balance_after",
        "idempotency_key",
        "request_id",
        "note",
        "description",
        "actor",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(ordering="wallet__account__email")
    def account(self, entry: LedgerEntry) -> str:
        return str(entry.wallet.account)

    @admin.display(ordering="amount_micros")
    def amount(self, entry: LedgerEntry) -> str:
        return format_exact(entry.amount_micros)

    @admin.display(ordering="balance_after_micros")
    def balance_after(self, entry: LedgerEntry) -> str:
        return format_exact(entry.balance_after_micros)


@admin.register(UsageRecord)
class UsageRecordAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = [
        "request_id",
        "created_at",
        "account",
        "model_id",
        "channel",
        "status",
        "tokens",
        "cost",
        "usage_estimated",
        "latency_ms",
    ]
    list_filter = [
        "status", "usage_estimated", "stream", "model_id", "channel", customer_filter("account"), "created_at"
    ]
    list_select_related = ["account", "channel"]
    search_fields = ["request_id", "account__email", "model_id"]
    date_hierarchy = "created_at"
    fields = [
        "request_id",
        "created_at",
        "account",
        "api_key",
        "model_id",
        "upstream_model",
        "channel",
        "price",
        "group_rule",
        "stream",
        "status",
        "error_code",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "tool_calls",
        "cost",
        "usage_estimated",
        "latency_ms",
        "first_byte_ms",
        "attempts",
    ]
    readonly_fields = fields

    @admin.display(description="Tokens in / cached / out")
    def tokens(self, record: UsageRecord) -> str:
        return f"{record.input_tokens} / {record.cached_input_tokens} / {record.output_tokens}"

    @admin.display(ordering="cost_micros")
    def cost(self, record: UsageRecord) -> str:
        return format_exact(record.cost_micros)


@admin.register(TopUpOrder)
class TopUpOrderAdmin(RefundAdminMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = ["id", "account", "provider", "amount", "status", "created_at", "paid_at", "failure_reason"]
    list_filter = ["status", "provider", customer_filter("account"), "created_at"]
    list_select_related = ["account"]
    search_fields = ["=id", "account__email", "=provider_session_id", "=provider_event_id", "=provider_trade_no"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "account",
        "provider",
        "amount",
        "currency",
        "status",
        "provider_session_id",
        "provider_event_id",
        "provider_trade_no",
        "failure_reason",
        "created_at",
        "expires_at",
        "paid_at",
        "refunded",
    ]
    readonly_fields = fields
    actions = ["refund_order"]

    @admin.display(ordering="amount_micros")
    def amount(self, order: TopUpOrder) -> str:
        return format_exact(order.amount_micros)


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = ["day", "account", "api_key", "model_id", "requests", "errors", "tokens", "cost"]
    list_filter = ["day", "model_id"]
    list_select_related = ["account", "api_key"]
    search_fields = ["account__email", "model_id"]
    date_hierarchy = "day"

    @admin.display(description="Tokens in / cached / out")
    def tokens(self, row: UsageRollup) -> str:
        return f"{row.input_tokens} / {row.cached_input_tokens} / {row.output_tokens}"

    @admin.display(ordering="cost_micros")
    def cost(self, row: UsageRollup) -> str:
        return format_exact(row.cost_micros)
