"""Refund a credited top-up to its original payment method, in full or in part (an operator's decision).

The wallet is debited first, under its lock, and only then is the provider asked to send the money:
so a refund can never take the wallet below zero (money the customer already spent stays spent) and
refunds never add up to more than the order. If the provider refuses, the debit is credited back.
If it cannot be reached, nobody knows whether the money left: the refund stays pending (debited) and
refunds_resume asks again with the same refund id, which providers treat as the same refund.
"""

import logging
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .alerts import operator_alert
from .locks import lock_wallet
from .models import LedgerEntry, TopUpOrder, TopUpRefund
from .money import AmountError, format_exact
from .payments import PaymentError, PaymentUnavailableError, UnknownProvider, get_provider
from .services import wallet_credit

logger = logging.getLogger(__name__)


class RefundError(Exception):
    """The refund was not made; the message says why, for the operator."""


def refundable_micros(order: TopUpOrder) -> int:
    return order.amount_micros - order.refunded_micros if order.status == TopUpOrder.Status.CREDITED else 0


def topup_refund(*, order_id: uuid.UUID | str, amount_micros: int, reason: str, actor: str) -> TopUpRefund:
    """Debit the wallet and refund `amount_micros` of the order at its provider. Raises RefundError."""
    reason, actor = reason.strip(), actor.strip()
    if not reason or len(reason) > 500:
        raise RefundError("a refund needs a reason (at most 500 characters)")
    if not actor:
        raise RefundError("a refund needs an actor")
    order = TopUpOrder.objects.filter(pk=order_id).first()
    if order is None:
        raise RefundError("no such top-up order")
    try:
        payments = get_provider(order.provider)
        payments.check_amount(amount_micros=amount_micros, currency=order.currency)
    except UnknownProvider:
        raise RefundError(f"unknown payment provider {order.provider!r}") from None
    except AmountError as exc:
        raise RefundError(str(exc)) from None
    refund = _debit(order=order, amount_micros=amount_micros, reason=reason, actor=actor)
    outcome = _ask_provider(refund)
    if outcome.status == TopUpRefund.Status.FAILED:
        raise RefundError(f"the provider refused the refund: {outcome.failure_reason}")
    if outcome.status == TopUpRefund.Status.PENDING:
        raise RefundError(
            "the provider did not answer: the refund stays pending (the wallet is debited) and is retried "
            "automatically until the provider confirms or refuses it"
        )
    return outcome


RESUME_AFTER = timedelta(minutes=5)


def refunds_resume(*, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Ask again about refunds left pending by an unreachable provider (beat, with the top-up sync)."""
    now = now or timezone.now()
    pending = TopUpRefund.objects.filter(status=TopUpRefund.Status.PENDING, created_at__lte=now - RESUME_AFTER)
    counts: dict[str, int] = {}
    for refund in pending.select_related("order").order_by("created_at")[:limit]:
        status = _ask_provider(refund).status
        counts[f"refund_{status}"] = counts.get(f"refund_{status}", 0) + 1
    return counts


def _ask_provider(refund: TopUpRefund) -> TopUpRefund:
    """One refund call, retried once on no answer (same refund id: the provider's idempotency key)."""
    order = refund.order
    payments = get_provider(order.provider)
    error: PaymentError | None = None
    for _attempt in range(2):
        try:
            provider_refund_id = payments.refund(
                order=order, amount_micros=refund.amount_micros, refund_id=refund.pk.hex
            )
        except PaymentUnavailableError as exc:
            error = exc
            continue
        except PaymentError as exc:
            _reverse(refund_id=refund.pk, why=str(exc), now=timezone.now())
            break
        TopUpRefund.objects.filter(pk=refund.pk, status=TopUpRefund.Status.PENDING).update(
            status=TopUpRefund.Status.SUCCEEDED,
            provider_refund_id=provider_refund_id[:255],
            completed_at=timezone.now(),
        )
        break
    else:
        logger.error("refund %s: no answer from %s: %s", refund.pk, order.provider, error)
        operator_alert(
            subject=f"{order.provider} refund {refund.pk} pending",
            message=f"No answer from the provider ({error}); the wallet is debited, the refund is retried.",
        )
    refund.refresh_from_db()
    return refund


def _debit(*, order: TopUpOrder, amount_micros: int, reason: str, actor: str) -> TopUpRefund:
    with transaction.atomic():
        wallet = lock_wallet(account_id=order.account_id)  # wallet first, then its order
        order = TopUpOrder.objects.select_for_update().get(pk=order.pk)
        if order.status != TopUpOrder.Status.CREDITED:
            raise RefundError(f"only credited top-ups can be refunded (this one is {order.status})")
        left = order.amount_micros - order.refunded_micros
        if amount_micros > left:
            raise RefundError(f"at most {format_exact(left)} of this top-up is left to refund")
        available = wallet.balance_micros - wallet.held_micros
        if amount_micros > available:
            raise RefundError(f"the wallet has only {format_exact(available)} available: a refund may not exceed it")
        refund = TopUpRefund.objects.create(order=order, amount_micros=amount_micros, reason=reason, actor=actor)
        wallet_credit(
            account_id=order.account_id,
            amount_micros=-amount_micros,
            idempotency_key=f"refund:{refund.pk}",
            kind=LedgerEntry.Kind.REFUND,
            note=f"refund of {order.provider} top-up {order.pk}: {reason}"[:500],
            actor=actor,
        )
        TopUpOrder.objects.filter(pk=order.pk).update(refunded_micros=F("refunded_micros") + amount_micros)
    return refund


def _reverse(*, refund_id: uuid.UUID, why: str, now: datetime) -> None:
    """The provider did not refund: give the money back to the wallet and release the order's share."""
    logger.error("refund %s refused by the provider: %s", refund_id, why)
    refund = TopUpRefund.objects.select_related("order").get(pk=refund_id)
    with transaction.atomic():
        lock_wallet(account_id=refund.order.account_id)
        refund = TopUpRefund.objects.select_for_update().get(pk=refund_id)
        if refund.status != TopUpRefund.Status.PENDING:
            return
        wallet_credit(
            account_id=refund.order.account_id,
            amount_micros=refund.amount_micros,
            idempotency_key=f"refund-reversal:{refund.pk}",
            kind=LedgerEntry.Kind.REFUND,
            note=f"refund {refund.pk} refused by {refund.order.provider}: reversed",
            actor=refund.actor,
        )
        TopUpOrder.objects.filter(pk=refund.order_id).update(
            refunded_micros=F("refunded_micros") - refund.amount_micros
        )
        TopUpRefund.objects.filter(pk=refund.pk).update(
            status=TopUpRefund.Status.FAILED, failure_reason=why[:500], completed_at=now
        )
