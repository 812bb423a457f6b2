"""The console's view of auto top-up: each account's standing order and every attempt with its tries.
Read-only: customers change their settings in the portal; money moves only through the tries' orders."""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .admin_base import ReadOnlyAdmin
from .admin_export import customer_filter
from .autotopup_models import AutoTopUp, AutoTopUpAttempt
from .money import format_exact


@admin.register(AutoTopUp)
class AutoTopUpAdmin(ReadOnlyAdmin):
    list_display = ["account", "enabled", "threshold", "amount", "card", "paused_at", "updated_at"]
    list_filter = ["enabled", ("paused_at", admin.EmptyFieldListFilter)]
    list_select_related = ["account"]
    search_fields = ["account__email", "account__name", "=stripe_customer_id"]
    fields = ["account", "enabled", "threshold", "amount", "card", "stripe_customer_id", "stripe_payment_method_id",
              "card_saved_at", "paused_at", "paused_reason", "attempts", "updated_at"]  # fmt: skip
    readonly_fields = fields

    @admin.display(ordering="threshold_micros")
    def threshold(self, auto: AutoTopUp) -> str:
        return format_exact(auto.threshold_micros)

    @admin.display(ordering="amount_micros")
    def amount(self, auto: AutoTopUp) -> str:
        return format_exact(auto.amount_micros)

    @admin.display()
    def card(self, auto: AutoTopUp) -> str:
        return f"{auto.card_brand} •••• {auto.card_last4}" if auto.has_card else "-"

    @admin.display(description="Attempts")
    def attempts(self, auto: AutoTopUp) -> str:
        url = reverse("admin:billing_autotopupattempt_changelist") + f"?customer={auto.account_id}"
        return format_html('<a href="{}">attempts of this account</a>', url)


@admin.register(AutoTopUpAttempt)
class AutoTopUpAttemptAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "amount", "status", "tries", "order_link", "last_error", "next_retry_at"]
    list_filter = ["status", customer_filter("account"), "created_at"]
    list_select_related = ["account", "order"]
    search_fields = ["=id", "account__email", "=order__id", "=order__provider_session_id"]
    date_hierarchy = "created_at"
    fields = ["id", "account", "amount", "status", "tries", "balance", "threshold", "order_link", "last_error",
              "next_retry_at", "tries_made", "created_at", "updated_at"]  # fmt: skip
    readonly_fields = fields

    @admin.display(ordering="amount_micros")
    def amount(self, attempt: AutoTopUpAttempt) -> str:
        return format_exact(attempt.amount_micros)

    @admin.display(description="Balance that triggered it")
    def balance(self, attempt: AutoTopUpAttempt) -> str:
        return format_exact(attempt.balance_micros)

    @admin.display()
    def threshold(self, attempt: AutoTopUpAttempt) -> str:
        return format_exact(attempt.threshold_micros)

    @admin.display(description="Order (current try)")
    def order_link(self, attempt: AutoTopUpAttempt) -> str:
        url = reverse("admin:billing_topuporder_change", args=[attempt.order_id])
        return format_html('<a href="{}">{}</a> ({})', url, attempt.order_id, attempt.order.status)

    @admin.display(description="Tries (Stripe's answers)")
    def tries_made(self, attempt: AutoTopUpAttempt) -> str:
        return format_html("<pre>{}</pre>", json.dumps(attempt.history, indent=2, ensure_ascii=False))
