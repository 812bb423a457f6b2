"""The console's top-up refund: an action and a page on a top-up order, for operators allowed to
refund (`billing.refund_topuporder`: the finance and admin roles, not support). The money logic is
billing.refunds; this file is the form, the permission and the audit record."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .models import TopUpOrder, TopUpRefund
from .money import AmountError, format_exact, parse_amount
from .refunds import RefundError, refundable_micros, topup_refund
from .signals import operator_action


class RefundForm(forms.Form):
    amount = forms.CharField(label="Amount to refund", help_text="In the platform currency, e.g. 50 or 12.34.")
    reason = forms.CharField(label="Reason", max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_amount(self) -> int:
        try:
            amount = parse_amount(self.cleaned_data["amount"])
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from None
        if amount <= 0:
            raise forms.ValidationError("The amount must be positive.")
        return amount


class RefundAdminMixin:
    """For TopUpOrderAdmin: the "Refund…" action, the refund page and the refunds on the order."""

    model: type[TopUpOrder]
    admin_site: admin.AdminSite

    def has_refund_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("billing.refund_topuporder")

    def get_urls(self):
        view = self.admin_site.admin_view(self.refund_view)
        return [path("<uuid:pk>/refund/", view, name="billing_topuporder_refund"), *super().get_urls()]

    @admin.action(description="Refund to the payment method…", permissions=["refund"])
    def refund_order(self, request: HttpRequest, queryset: QuerySet[TopUpOrder]) -> HttpResponse | None:
        if queryset.count() != 1:  # one decision, one reason, one order
            messages.warning(request, "Select exactly one top-up order to refund.")
            return None
        return HttpResponseRedirect(reverse("admin:billing_topuporder_refund", args=[queryset.get().pk]))

    @admin.display(description="Refunded")
    def refunded(self, order: TopUpOrder) -> str:
        rows = [f"{format_exact(r.amount_micros)} {r.status}" for r in order.refunds.all()]
        return f"{format_exact(order.refunded_micros)}" + (f" ({', '.join(rows)})" if rows else "")

    def refund_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        if not self.has_refund_permission(request):
            raise PermissionDenied
        order = get_object_or_404(TopUpOrder.objects.select_related("account"), pk=pk)
        form = RefundForm(request.POST or None, initial={"amount": format_exact(refundable_micros(order))[1:]})
        if request.method == "POST" and form.is_valid():
            try:
                refund = topup_refund(
                    order_id=order.pk,
                    amount_micros=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user.get_username(),
                )
            except RefundError as exc:
                form.add_error(None, str(exc))
                _audit(request, order, None, error=str(exc))
            else:
                _audit(request, order, refund)
                messages.success(request, f"Refunded {format_exact(refund.amount_micros)} of {order}.")
                return HttpResponseRedirect(reverse("admin:billing_topuporder_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Refund top-up {order.pk}",
            "order": order,
            "amount": format_exact(order.amount_micros),
            "refundable": format_exact(refundable_micros(order)),
            "refunds": order.refunds.all(),
            "form": form,
        }
        return TemplateResponse(request, "admin/billing/topuporder/refund.html", context)


def _audit(request: HttpRequest, order: TopUpOrder, refund: TopUpRefund | None, *, error: str = "") -> None:
    after: dict[str, Any] = {"error": error} if refund is None else {
        "refund": str(refund.pk), "amount_micros": refund.amount_micros, "status": refund.status,
    }  # fmt: skip
    operator_action.send(
        sender=TopUpOrder,
        actor=request.user,
        action="topup_refund" if refund else "topup_refund_refused",
        obj=order,
        before={"refunded_micros": order.refunded_micros},
        after=after,
    )


@admin.register(TopUpRefund)
class TopUpRefundAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "amount", "status", "actor", "reason", "created_at", "completed_at"]
    list_filter = ["status", "created_at"]
    list_select_related = ["order"]
    search_fields = ["=id", "=order__id", "order__account__email", "actor"]
    readonly_fields = [f.name for f in TopUpRefund._meta.fields]

    @admin.display(ordering="amount_micros")
    def amount(self, refund: TopUpRefund) -> str:
        return format_exact(refund.amount_micros)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # refunds are made from their order, through billing.refunds

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
