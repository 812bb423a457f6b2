"""The customer's mail when a dispute is resolved. Sent after commit (never inside a row lock); a failed
mail is logged, the outcome stays visible on the portal's receipt page."""

import logging

from django.core.mail import EmailMessage

from .models import Dispute
from .money import format_exact

logger = logging.getLogger(__name__)


def mail_resolved(dispute: Dispute) -> None:
    amount = format_exact(dispute.amount_micros)
    if dispute.status == Dispute.Status.REFUNDED:
        subject = f"Your disputed charge of {amount} was refunded"
        outcome = f"has been refunded to your balance ({amount})"
    else:
        subject = f"Your dispute of a {amount} charge was not accepted"
        outcome = "was not accepted"
    body = f"Hello,\n\nYour dispute #{dispute.pk} of the charge for request {dispute.request_id} {outcome}."
    if dispute.resolution:
        body += f"\n\n{dispute.resolution}"
    body += "\n\nThe request's receipt and the dispute are on the Usage page of the portal.\n"
    try:
        EmailMessage(subject=subject, body=body, to=[dispute.account.email]).send()
    except Exception:
        logger.exception("dispute mail for dispute %s failed", dispute.pk)
