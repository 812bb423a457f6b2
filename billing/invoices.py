"""发票 (invoice) requests. The invoiceable amount is what was consumed, never what was topped up:
Σ charges, net of charges given back (dispute credits), minus every request issued or still pending.
A request locks the wallet first (billing.locks), so two at once cannot both take the same money."""

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from .locks import lock_wallet
from .models import InvoiceProfile, InvoiceRequest, LedgerEntry
from .money import format_exact

MAX_PDF_BYTES = 10 * 1024 * 1024  # an e-发票 PDF is well under 1 MB; 10 MB bounds a mistaken upload
PDF_MAGIC = b"%PDF-"
# Charges given back to the customer (a dispute resolved with a refund) are not consumption.
CHARGE_REFUND_KEY_PREFIXES = ("dispute:",)
PROFILE_FIELDS = ("title", "tax_id", "address", "phone", "bank", "email")


class InvoiceError(ValueError):
    """A request or an operator action that cannot be done; the text is safe to show, `code` lets
    the portal say it in the customer's language."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def _sum(queryset, field: str = "amount_micros") -> int:
    return queryset.aggregate(total=Sum(field))["total"] or 0


def consumed_micros(*, account_id: int) -> int:
    """Σ charges (stored negative) net of charge refunds: what the account has spent."""
    ledger = LedgerEntry.objects.filter(wallet__account_id=account_id)
    charged = -_sum(ledger.filter(kind=LedgerEntry.Kind.CHARGE))
    given_back = Q()
    for prefix in CHARGE_REFUND_KEY_PREFIXES:
        given_back |= Q(idempotency_key__startswith=prefix)
    refunded = _sum(ledger.exclude(kind=LedgerEntry.Kind.CHARGE).filter(given_back, amount_micros__gt=0))
    return max(charged - refunded, 0)


def invoiced_micros(*, account_id: int) -> int:
    """Issued plus still-pending requests: both are already spoken for."""
    return _sum(InvoiceRequest.objects.filter(account_id=account_id).exclude(status=InvoiceRequest.Status.REJECTED))


def invoiceable_micros(*, account_id: int) -> int:
    return max(consumed_micros(account_id=account_id) - invoiced_micros(account_id=account_id), 0)


def profile_of(*, account_id: int) -> InvoiceProfile | None:
    return InvoiceProfile.objects.filter(account_id=account_id).first()


def profile_save(*, account_id: int, **fields: str) -> InvoiceProfile:
    values = {name: (fields.get(name) or "").strip() for name in PROFILE_FIELDS}
    if not values["title"]:
        raise InvoiceError("an invoice needs a title (抬头)", code="title")
    profile, _ = InvoiceProfile.objects.update_or_create(account_id=account_id, defaults=values)
    return profile


def request_create(*, account_id: int, amount_micros: int, kind: str, actor: str) -> InvoiceRequest:
    if amount_micros <= 0:
        raise InvoiceError("the amount must be positive", code="amount")
    if kind not in InvoiceRequest.Kind.values:
        raise InvoiceError("unknown invoice kind", code="kind")
    with transaction.atomic():
        lock_wallet(account_id=account_id)  # serialises requests of one account: never above the invoiceable
        profile = profile_of(account_id=account_id)
        if profile is None:
            raise InvoiceError("save the invoice title and tax id first", code="no_profile")
        if kind == InvoiceRequest.Kind.SPECIAL and not (profile.tax_id and profile.address and profile.bank):
            raise InvoiceError("a 专票 needs the tax id, address and bank in the invoice details", code="special_incomplete")
        available = invoiceable_micros(account_id=account_id)
        if amount_micros > available:
            raise InvoiceError(f"at most {format_exact(available)} can be invoiced", code="over")
        return InvoiceRequest.objects.create(
            account_id=account_id,
            amount_micros=amount_micros,
            kind=kind,
            requested_by=actor,
            **{name: getattr(profile, name) for name in PROFILE_FIELDS},
        )


def _pending(request_id: int) -> InvoiceRequest:
    invoice = InvoiceRequest.objects.select_for_update().select_related("account").get(pk=request_id)
    if invoice.status != InvoiceRequest.Status.REQUESTED:
        raise InvoiceError(f"this request is already {invoice.status}")
    return invoice


def check_pdf(data: bytes) -> None:
    if len(data) > MAX_PDF_BYTES:
        raise InvoiceError(f"the PDF is larger than {MAX_PDF_BYTES // (1024 * 1024)} MB")
    if not data.startswith(PDF_MAGIC):
        raise InvoiceError("the file is not a PDF")


@dataclass(frozen=True)
class Acted:
    invoice: InvoiceRequest
    before: str


def request_issue(*, request_id: int, pdf: bytes, actor: str) -> Acted:
    """Finance uploads the issued PDF; the customer is mailed it once the row is committed."""
    from .invoice_mail import mail_issued

    check_pdf(pdf)
    with transaction.atomic():
        invoice = _pending(request_id)
        before = invoice.status
        invoice.pdf.save(f"invoice-{invoice.pk}.pdf", ContentFile(pdf), save=False)
        invoice.status, invoice.acted_by, invoice.acted_at = InvoiceRequest.Status.ISSUED, actor, timezone.now()
        invoice.save(update_fields=["pdf", "status", "acted_by", "acted_at"])
        transaction.on_commit(lambda: mail_issued(invoice, pdf))
    return Acted(invoice, before)


def request_reject(*, request_id: int, reason: str, actor: str) -> Acted:
    """Rejected with a reason the customer reads; the amount becomes invoiceable again."""
    from .invoice_mail import mail_rejected

    reason = reason.strip()
    if not reason:
        raise InvoiceError("a rejection needs a reason")
    if len(reason) > InvoiceRequest._meta.get_field("reason").max_length:
        raise InvoiceError("the reason is too long")
    with transaction.atomic():
        invoice = _pending(request_id)
        before = invoice.status
        invoice.status, invoice.reason = InvoiceRequest.Status.REJECTED, reason
        invoice.acted_by, invoice.acted_at = actor, timezone.now()
        invoice.save(update_fields=["status", "reason", "acted_by", "acted_at"])
        transaction.on_commit(lambda: mail_rejected(invoice))
    return Acted(invoice, before)
