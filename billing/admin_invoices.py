"""The console's 发票 queue: requests filtered by status; finance (`billing.issue_invoicerequest`:
finance and admin, not support) uploads the issued PDF or rejects with a reason. The logic is
billing.invoices; this file is the forms, the permission and the audit record."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .admin_base import ReadOnlyAdmin
from .invoices import MAX_PDF_BYTES, InvoiceError, invoiceable_micros, request_issue, request_reject
from .models import InvoiceProfile, InvoiceRequest
from .money import format_exact
from .signals import operator_action


class IssueForm(forms.Form):
    pdf = forms.FileField(label="Issued invoice (PDF)", help_text=f"At most {MAX_PDF_BYTES // (1024 * 1024)} MB.")


class RejectForm(forms.Form):
    reason = forms.CharField(label="Reason (the customer reads it)", max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}))  # fmt: skip


@admin.register(InvoiceRequest)
class InvoiceRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "account", "kind", "amount", "title", "tax_id", "status", "acted_by", "act"]
    list_filter = ["status", "kind", "created_at"]
    list_select_related = ["account"]
    search_fields = ["=id", "account__email", "title", "tax_id"]
    exclude = ["pdf"]
    readonly_fields = ["account", "amount", "kind", "status", "title", "tax_id", "address", "phone", "bank", "email",
                       "reason", "pdf_link", "requested_by", "acted_by", "created_at", "acted_at"]  # fmt: skip

    def has_issue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.issue_invoicerequest")

    def get_urls(self):
        act = self.admin_site.admin_view(self.act_view)
        pdf = self.admin_site.admin_view(self.pdf_view)
        return [
            path("<int:pk>/act/", act, name="billing_invoicerequest_act"),
            path("<int:pk>/pdf/", pdf, name="billing_invoicerequest_pdf"),
            *super().get_urls(),
        ]

    @admin.display(ordering="amount_micros")
    def amount(self, invoice: InvoiceRequest) -> str:
        return format_exact(invoice.amount_micros)

    @admin.display(description="")
    def act(self, invoice: InvoiceRequest) -> str:
        if invoice.status != InvoiceRequest.Status.REQUESTED:
            return ""
        return format_html('<a href="{}">Issue or reject…</a>', reverse("admin:billing_invoicerequest_act",
                                                                         args=[invoice.pk]))  # fmt: skip

    @admin.display(description="PDF")
    def pdf_link(self, invoice: InvoiceRequest) -> str:
        if not invoice.pdf:
            return "—"
        return format_html('<a href="{}">Download</a>', reverse("admin:billing_invoicerequest_pdf", args=[invoice.pk]))

    def pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(InvoiceRequest, pk=pk)
        if not invoice.pdf:
            raise Http404
        return FileResponse(invoice.pdf.open("rb"), as_attachment=True, filename=f"invoice-{invoice.pk}.pdf",
                            content_type="application/pdf")  # fmt: skip

    def act_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_issue_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(InvoiceRequest.objects.select_related("account"), pk=pk)
        issue_form = IssueForm(request.POST if "issue" in request.POST else None, request.FILES or None)
        reject_form = RejectForm(request.POST if "reject" in request.POST else None)
        form = issue_form if "issue" in request.POST else reject_form
        if request.method == "POST" and form.is_valid():
            actor = request.user.get_username()
            try:
                if form is issue_form:
                    upload = form.cleaned_data["pdf"]
                    if upload.size > MAX_PDF_BYTES:  # checked before reading it into memory
                        raise InvoiceError("the PDF is too large")
                    acted = request_issue(request_id=invoice.pk, pdf=upload.read(), actor=actor)
                else:
                    acted = request_reject(request_id=invoice.pk, reason=form.cleaned_data["reason"], actor=actor)
            except InvoiceError as exc:
                form.add_error(None, str(exc))
            else:
                _audit(request, acted.invoice, acted.before)
                messages.success(request, f"Invoice request {invoice.pk} {acted.invoice.status}; the customer was mailed.")
                return HttpResponseRedirect(reverse("admin:billing_invoicerequest_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Invoice request {invoice.pk}",
            "invoice": invoice,
            "amount": format_exact(invoice.amount_micros),
            "invoiceable": format_exact(invoiceable_micros(account_id=invoice.account_id)),
            "issue_form": issue_form,
            "reject_form": reject_form,
        }
        return TemplateResponse(request, "admin/billing/invoicerequest/act.html", context)


def _audit(request: HttpRequest, invoice: InvoiceRequest, before: str) -> None:
    after: dict[str, Any] = {"status": invoice.status, "amount_micros": invoice.amount_micros}
    if invoice.reason:
        after["reason"] = invoice.reason
    operator_action.send(
        sender=InvoiceRequest,
        actor=request.user,
        action=f"invoice_{'issue' if invoice.status == InvoiceRequest.Status.ISSUED else 'reject'}",
        obj=invoice,
        before={"status": before},
        after=after,
    )


@admin.register(InvoiceProfile)
class InvoiceProfileAdmin(ReadOnlyAdmin):
    list_display = ["account", "title", "tax_id", "email", "updated_at"]
    search_fields = ["account__email", "title", "tax_id"]
