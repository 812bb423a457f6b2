"""Mails to the customer about a 发票 request: the issued PDF attached, or the rejection reason.
Sent after commit (never inside a row lock); a failed mail is logged, the PDF stays in the portal."""

import logging

from django.core.mail import EmailMessage

from .models import InvoiceRequest
from .money import format_exact

logger = logging.getLogger(__name__)


def _recipient(invoice: InvoiceRequest) -> str:
    return invoice.email or invoice.account.email


def _send(message: EmailMessage, invoice: InvoiceRequest) -> None:
    try:
        message.send()
    except Exception:
        logger.exception("invoice mail for request %s failed", invoice.pk)


def mail_issued(invoice: InvoiceRequest, pdf: bytes) -> None:
    amount = format_exact(invoice.amount_micros)
    message = EmailMessage(
        subject=f"Your invoice (发票) of {amount} is issued",
        body=(
            f"Hello,\n\nYour invoice request #{invoice.pk} for {amount} ({invoice.title}) has been issued. "
            "The PDF is attached; it can also be downloaded from the Invoices page of the portal.\n"
        ),
        to=[_recipient(invoice)],
    )
    message.attach(f"invoice-{invoice.pk}.pdf", pdf, "application/pdf")
    _send(message, invoice)


def mail_rejected(invoice: InvoiceRequest) -> None:
    amount = format_exact(invoice.amount_micros)
    message = EmailMessage(
        subject=f"Your invoice (发票) request of {amount} was not issued",
        body=(
            f"Hello,\n\nYour invoice request #{invoice.pk} for {amount} was not issued: {invoice.reason}\n\n"
            "The amount can be requested again from the Invoices page of the portal.\n"
        ),
        to=[_recipient(invoice)],
    )
    _send(message, invoice)
