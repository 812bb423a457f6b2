"""Disputes: a customer objects to one charge; finance refunds it (a ledger credit keyed `dispute:<id>`,
through wallet_credit like every credit) or rejects it with a reason. One dispute per charge; the
customer is mailed either way, after commit. Invoices count a refunded charge as not consumed
(invoices.CHARGE_REFUND_KEY_PREFIXES)."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Dispute, LedgerEntry
from .services import wallet_credit
from .signals import customer_event

MAX_REASON = 2000


class DisputeError(ValueError):
    """An action that cannot be done; the text is safe to show, `code` lets the portal say it in the customer's language."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Acted:
    dispute: Dispute
    before: str


def refund_key(dispute_id: int) -> str:
    return f"dispute:{dispute_id}"


def dispute_open(*, account_id: int, request_id: str, reason: str, actor: str) -> Dispute:
    reason = reason.strip()
    if not reason:
        raise DisputeError("say what is wrong with the charge", code="no_reason")
    if len(reason) > MAX_REASON:
        raise DisputeError("the reason is too long", code="too_long")
    charge = LedgerEntry.objects.filter(
        idempotency_key=f"charge:{request_id}", wallet__account_id=account_id, kind=LedgerEntry.Kind.CHARGE
    ).first()
    if charge is None or charge.amount_micros >= 0:
        raise DisputeError("there is no charge for this request", code="no_charge")
    try:
        with transaction.atomic():
            return Dispute.objects.create(
                account_id=account_id,
                request_id=request_id,
                amount_micros=-charge.amount_micros,
                reason=reason,
                requested_by=actor,
            )
    except IntegrityError:
        raise DisputeError("this charge is already disputed", code="already_disputed") from None


def _open_locked(dispute_id: int) -> Dispute:
    dispute = Dispute.objects.select_for_update().select_related("account").get(pk=dispute_id)
    if dispute.status != Dispute.Status.OPEN:
        raise DisputeError(f"dispute {dispute_id} is already {dispute.status}", code="not_open")
    return dispute


def _resolution(text: str, *, required: bool) -> str:
    text = text.strip()
    if required and not text:
        raise DisputeError("a rejection needs a reason the customer reads", code="no_reason")
    if len(text) > Dispute._meta.get_field("resolution").max_length:
        raise DisputeError("the resolution text is too long", code="too_long")
    return text


def _told(dispute: Dispute) -> None:
    """After commit: the customer's mail and their `dispute.resolved` webhook (accounts sends it, once)."""
    from .dispute_mail import mail_resolved

    mail_resolved(dispute)
    refunded = dispute.status == Dispute.Status.REFUNDED
    customer_event.send(
        sender=Dispute, account_id=dispute.account_id, event_type="dispute.resolved",
        data={"dispute": dispute.pk, "request_id": dispute.request_id, "outcome": dispute.status,
              "refund_micros": dispute.amount_micros if refunded else 0, "resolution": dispute.resolution,
              "resolved_at": dispute.resolved_at.isoformat() if dispute.resolved_at else None},
        once=f"dispute.resolved:{dispute.pk}",
    )


def dispute_refund(*, dispute_id: int, actor: str, resolution: str = "") -> Acted:
    """Give the disputed charge back, whole. Idempotent through the ledger key: never credited twice."""
    resolution = _resolution(resolution, required=False)
    with transaction.atomic():
        dispute = _open_locked(dispute_id)
        wallet_credit(
            account_id=dispute.account_id,
            amount_micros=dispute.amount_micros,
            idempotency_key=refund_key(dispute.pk),
            kind=LedgerEntry.Kind.CREDIT,
            note=f"dispute {dispute.pk}: charge {dispute.request_id} refunded",
            actor=actor,
        )
        before = dispute.status
        dispute.status, dispute.resolution = Dispute.Status.REFUNDED, resolution
        dispute.resolved_by, dispute.resolved_at = actor, timezone.now()
        dispute.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])
        transaction.on_commit(lambda: _told(dispute))
    return Acted(dispute=dispute, before=before)


def dispute_reject(*, dispute_id: int, actor: str, resolution: str) -> Acted:
    resolution = _resolution(resolution, required=True)
    with transaction.atomic():
        dispute = _open_locked(dispute_id)
        before = dispute.status
        dispute.status, dispute.resolution = Dispute.Status.REJECTED, resolution
        dispute.resolved_by, dispute.resolved_at = actor, timezone.now()
        dispute.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])
        transaction.on_commit(lambda: _told(dispute))
    return Acted(dispute=dispute, before=before)
