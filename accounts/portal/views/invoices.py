"""Invoices (发票) and monthly statements: keep the invoice profile, see what can be invoiced, request an
invoice, download an issued one; download a month's statement as CSV or PDF. Every file is looked up
within the session's account, so another account's id is a 404."""

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import invoices, statements
from billing.models import InvoiceRequest
from billing.money import format_exact
from billing.statement_pdf import statement_pdf

from ..access import member_required, owner_required
from ..invoice_forms import InvoiceProfileForm, InvoiceRequestForm

MONTHS_LISTED = 12


def _months() -> list[str]:
    today = timezone.localdate()
    year, month, out = today.year, today.month, []
    for _step in range(MONTHS_LISTED):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out


def _page(request, *, profile_form=None, request_form=None, status=200):
    account_id = request.portal.account.pk
    profile = invoices.profile_of(account_id=account_id)
    context = {
        "page": "billing",
        "profile": profile,
        "profile_form": profile_form or InvoiceProfileForm(instance=profile),
        "request_form": request_form or InvoiceRequestForm(),
        "consumed_micros": invoices.consumed_micros(account_id=account_id),
        "invoiceable_micros": invoices.invoiceable_micros(account_id=account_id),
        "requests": InvoiceRequest.objects.filter(account_id=account_id)[:100],
        "months": _months(),
    }
    return render(request, "portal/invoices.html", context, status=status)


@member_required
def invoice_list(request):
    return _page(request)


@owner_required
@require_POST
def invoice_profile(request):
    account_id = request.portal.account.pk
    form = InvoiceProfileForm(request.POST, instance=invoices.profile_of(account_id=account_id))
    if not form.is_valid():
        return _page(request, profile_form=form, status=400)
    invoices.profile_save(account_id=account_id, **{name: form.cleaned_data[name] for name in invoices.PROFILE_FIELDS})
    messages.success(request, _("Invoice details saved."))
    return redirect("portal:invoices")


@owner_required
@require_POST
def invoice_request(request):
    form = InvoiceRequestForm(request.POST)
    if not form.is_valid():
        return _page(request, request_form=form, status=400)
    account_id = request.portal.account.pk
    try:
        invoices.request_create(account_id=account_id, amount_micros=form.cleaned_data["amount"],
                                kind=form.cleaned_data["kind"], actor=f"user:{request.user.pk}")  # fmt: skip
    except invoices.InvoiceError as exc:
        reasons = {
            "no_profile": _("Save the invoice details first."),
            "special_incomplete": _("A special VAT invoice needs the tax id, address and bank in the invoice details."),
            "over": _("At most %(amount)s can be invoiced.")
            % {"amount": format_exact(invoices.invoiceable_micros(account_id=account_id))},
        }
        form.add_error("amount" if exc.code == "over" else None, reasons.get(exc.code, _("This request is not valid.")))
        return _page(request, request_form=form, status=400)
    messages.success(request, _("Invoice requested. We will mail it to you once it is issued."))
    return redirect("portal:invoices")


@member_required
def invoice_pdf(request, request_id: int):
    invoice = get_object_or_404(InvoiceRequest, pk=request_id, account_id=request.portal.account.pk)
    if invoice.status != InvoiceRequest.Status.ISSUED or not invoice.pdf:
        raise Http404
    response = FileResponse(invoice.pdf.open("rb"), as_attachment=True, filename=f"invoice-{invoice.pk}.pdf",
                            content_type="application/pdf")  # fmt: skip
    response["Cache-Control"] = "private, no-store"
    return response


def _statement(request, year: int, month: int) -> statements.Statement:
    try:
        return statements.statement_of(account_id=request.portal.account.pk, year=year, month=month)
    except statements.StatementError:
        raise Http404 from None


def _chunks(lines, size: int = 2000):
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


@member_required
def statement_csv(request, year: int, month: int):
    statement = _statement(request, year, month)
    chunks = _chunks(statements.statement_csv(statement))

    async def achunks():
        # Under ASGI a sync iterator is read whole before the first byte: one chunk per DB-thread hop.
        while (chunk := await sync_to_async(next)(chunks, None)) is not None:
            yield chunk

    body = achunks() if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="statement-{statement.period}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


@member_required
def statement_pdf_view(request, year: int, month: int):
    statement = _statement(request, year, month)
    account = request.portal.account
    body = statement_pdf(statement, account_label=f"{account.name} <{account.email}> (#{account.pk})")
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="statement-{statement.period}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
