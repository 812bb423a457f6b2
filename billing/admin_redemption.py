"""Redemption codes in the console: generate a batch (codes shown once, downloadable as CSV), list by state, revoke."""

import csv
import io
import secrets
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from .admin_base import ReadOnlyAdmin
from .models import RedemptionCode
from .money import AmountError, decimal_string, format_exact, parse_amount
from .redemption import MAX_BATCH, code_state, redemption_codes_generate, redemption_codes_revoke


class RedemptionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("unused", "Unused"), ("redeemed", "Redeemed"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        match self.value():
            case "redeemed":
                return queryset.filter(redeemed_at__isnull=False)
            case "expired":
                return queryset.filter(redeemed_at__isnull=True, expires_at__lte=now)
            case "unused":
                return queryset.filter(live, redeemed_at__isnull=True)
        return queryset


class RedemptionBatchForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=MAX_BATCH, initial=10)
    amount = forms.CharField(label="Amount per code", help_text="In currency units, e.g. 50.")
    expires_at = forms.SplitDateTimeField(
        label="Expires", required=False, widget=AdminSplitDateTime, help_text="Empty: never."
    )
    batch = forms.CharField(
        max_length=100, help_text="Internal label to find and revoke the batch by. Never shown to the customer."
    )
    description = forms.CharField(
        label="Customer text",
        max_length=200,
        required=False,
        help_text='What a customer reads on the Billing page after redeeming a code. Empty: "Redeemed code".',
    )
    nonce = forms.CharField(widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        try:
            micros = parse_amount(self.cleaned_data["amount"])
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from None
        if micros <= 0:
            raise forms.ValidationError("the amount must be positive")
        return micros

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("the expiry must be in the future")
        return expires_at


_NONCES = "billing_code_batch_nonces"


@admin.register(RedemptionCode)
class RedemptionCodeAdmin(ReadOnlyAdmin):
    """Codes are generated in batches and shown once; the list never shows a code nor its hash."""

    list_display = ["code", "amount", "batch", "state", "expires_at", "redeemed_at", "redeemed_by", "created_by"]
    list_filter = [RedemptionStateFilter, "batch", "created_at"]
    list_select_related = ["redeemed_by"]
    search_fields = ["batch", "prefix", "redeemed_by__email"]
    fields = [
        "code",
        "amount",
        "batch",
        "description",
        "state",
        "expires_at",
        "redeemed_at",
        "redeemed_by",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["revoke_selected"]
    change_list_template = "admin/billing/redemptioncode/change_list.html"

    def has_generate_permission(self, request: HttpRequest) -> bool:
        # Generating codes creates money: the model's "add" permission, though the add page is off.
        return request.user.has_perm("billing.add_redemptioncode")

    def get_urls(self):
        generate = self.admin_site.admin_view(self.generate_view)
        return [path("generate/", generate, name="billing_redemptioncode_generate"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "can_generate": self.has_generate_permission(request)}
        return super().changelist_view(request, extra_context)

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_generate_permission(request):
            raise PermissionDenied
        nonces = request.session.get(_NONCES, [])
        if request.method == "POST":
            form = RedemptionBatchForm(request.POST)
            # A reloaded result page re-POSTs the form: without this it would mint a second batch.
            if form.is_valid() and form.cleaned_data["nonce"] not in nonces:
                form.add_error(None, "This form was already submitted. Its codes are not shown again.")
            if form.is_valid():
                request.session[_NONCES] = [n for n in nonces if n != form.cleaned_data["nonce"]]
                return self._generated(request, form.cleaned_data)
        else:
            nonce = secrets.token_urlsafe(16)
            request.session[_NONCES] = [*nonces[-9:], nonce]
            form = RedemptionBatchForm(initial={"nonce": nonce})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Generate redemption codes",
            "form": form,
            # The admin's own scripts (core.js: quickElement) before the date widgets' calendar.js.
            "media": self.media + form.media,
            "currency": settings.HARNMODEL_CURRENCY,
        }
        return TemplateResponse(request, "admin/billing/redemptioncode/generate.html", context)

    def _generated(self, request: HttpRequest, data: dict) -> HttpResponse:
        batch = data["batch"].strip()
        codes = redemption_codes_generate(
            count=data["count"],
            amount_micros=data["amount"],
            expires_at=data["expires_at"],
            batch=batch,
            description=data["description"],
            created_by=f"admin:{request.user.get_username()}",
        )
        expires = data["expires_at"].isoformat() if data["expires_at"] else ""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["code", "amount", "currency", "expires_at", "batch"])
        amount = decimal_string(data["amount"])
        writer.writerows([code, amount, settings.HARNMODEL_CURRENCY, expires, batch] for code in codes)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{len(codes)} redemption codes generated",
            "codes": codes,
            "amount": format_exact(data["amount"]),
            "expires_at": data["expires_at"],
            "batch": batch,
            # The CSV travels inside this page only: never stored, never fetchable again.
            "csv_href": "data:text/csv;charset=utf-8," + quote(buffer.getvalue(), safe=""),
            "csv_name": f"redemption-codes-{timezone.localdate():%Y%m%d}-{slug_for_file(batch)}.csv",
        }
        response = TemplateResponse(request, "admin/billing/redemptioncode/generated.html", context)
        add_never_cache_headers(response)  # no-store: the codes must not linger in a browser cache
        return response

    @admin.display(description="Code", ordering="prefix")
    def code(self, code: RedemptionCode) -> str:
        return f"{code.prefix}…"

    @admin.display(ordering="amount_micros")
    def amount(self, code: RedemptionCode) -> str:
        return format_exact(code.amount_micros)

    @admin.display()
    def state(self, code: RedemptionCode) -> str:
        return code_state(code)

    @admin.action(description="Revoke selected unused codes (expire them now)", permissions=["generate"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[RedemptionCode]) -> None:
        revoked = redemption_codes_revoke(ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, f"Revoked {revoked} unused code(s).")


def slug_for_file(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)[:40] or "batch"
