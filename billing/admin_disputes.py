"""The console's dispute queue: disputes filtered by status; finance (`billing.resolve_dispute`: finance
and admin, not support) refunds the charge or rejects with a reason. The logic is billing.disputes;
this file is the forms, the permission and the audit record."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .admin_base import ReadOnlyAdmin
from .disputes import DisputeError, dispute_refund, dispute_reject, refund_key
from .models import Dispute, LedgerEntry, Receipt, UsageRecord
from .money import format_exact
from .signals import operator_action


class RefundForm(forms.Form):
    resolution = forms.CharField(label="Note to the customer (optional)", max_length=500, required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip


class RejectForm(forms.Form):
    resolution = forms.CharField(label="Reason (the customer reads it)", max_length=500,
                                 widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "account", "request_id", "amount", "status", "resolved_by", "act"]
    list_filter = ["status", "created_at"]
    list_select_related = ["account"]
    search_fields = ["=id", "=request_id", "account__email"]
    readonly_fields = ["account", "request_id", "amount", "reason", "status", "resolution", "requested_by",
                       "resolved_by", "created_at", "resolved_at"]  # fmt: skip
    exclude = ["amount_micros"]

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.resolve_dispute")

    def get_urls(self):
        act = self.admin_site.admin_view(self.act_view)
        return [path("<int:pk>/act/", act, name="billing_dispute_act"), *super().get_urls()]

    @admin.display(ordering="amount_micros")
    def amount(self, dispute: Dispute) -> str:
        return format_exact(dispute.amount_micros)

    @admin.display(description="")
    def act(self, dispute: Dispute) -> str:
        if dispute.status != Dispute.Status.OPEN:
            return ""
        return format_html(
            '<a href="{}">Refund or reject…</a>', reverse("admin:billing_dispute_act", args=[dispute.pk])
        )

    def act_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        dispute = get_object_or_404(Dispute.objects.select_related("account"), pk=pk)
        refund_form = RefundForm(request.POST if "refund" in request.POST else None)
        reject_form = RejectForm(request.POST if "reject" in request.POST else None)
        form = refund_form if "refund" in request.POST else reject_form
        if request.method == "POST" and form.is_valid():
            actor = request.user.get_username()
            resolve = dispute_refund if form is refund_form else dispute_reject
            try:
                acted = resolve(dispute_id=dispute.pk, actor=actor, resolution=form.cleaned_data["resolution"])
            except DisputeError as exc:
                form.add_error(None, str(exc))
            else:
                _audit(request, acted.dispute, acted.before)
                messages.success(request, f"Dispute {dispute.pk} {acted.dispute.status}; the customer was mailed.")
                return HttpResponseRedirect(reverse("admin:billing_dispute_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Dispute {dispute.pk}",
            "dispute": dispute,
            "amount": format_exact(dispute.amount_micros),
            "charge": LedgerEntry.objects.filter(idempotency_key=f"charge:{dispute.request_id}").first(),
            "usage": UsageRecord.objects.filter(request_id=dispute.request_id).first(),
            "receipt": Receipt.objects.filter(request_id=dispute.request_id).first(),
            "refund_form": refund_form,
            "reject_form": reject_form,
        }
        return TemplateResponse(request, "admin/billing/dispute/act.html", context)


def _audit(request: HttpRequest, dispute: Dispute, before: str) -> None:
    after: dict = {"status": dispute.status, "amount_micros": dispute.amount_micros}
    if dispute.status == Dispute.Status.REFUNDED:
        after["ledger_entry"] = refund_key(dispute.pk)
    if dispute.resolution:
        after["resolution"] = dispute.resolution
    operator_action.send(
        sender=Dispute,
        actor=request.user,
        action=f"dispute_{'refund' if dispute.status == Dispute.Status.REFUNDED else 'reject'}",
        obj=dispute,
        before={"status": before},
        after=after,
    )


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["request_id", "created_at", "account", "kid"]
    search_fields = ["=request_id", "account__email"]
    list_select_related = ["account"]
