"""Top-ups through a payment provider: an order, the provider's hosted checkout, a webhook that credits it.

Providers deliver webhooks at least once: the same event several times, and several events for one
checkout. So an order is credited at most once whatever arrives: the order row is locked and a
credited order ignores further events, and the ledger key is the provider's trade number (per order
when there is none), so even a bug in that check could not credit twice.

Money we did not ask for (another amount, another trade for the same order) never credits: the
order fails and operators are alerted.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .alerts import operator_alert
from .locks import lock_wallet
from .models import LedgerEntry, TopUpOrder
from .money import AmountError
from .payments import PaymentError, PaymentEvent, get_provider
from .services import wallet_credit
from .signals import customer_event

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    CREDITED = "credited"
    DUPLICATE = "duplicate"  # the order was already credited
    EXPIRED = "expired"
    FAILED = "failed"
    IGNORED = "ignored"  # nothing to do for this order in its state
    UNKNOWN_ORDER = "unknown_order"


@dataclass(frozen=True, slots=True)
class TopUpStarted:
    order: TopUpOrder
    redirect_url: str
    qr_code: str = ""  # when set, show this as a QR code rather than redirecting


def topup_create(
    *, account_id: int, amount_micros: int, provider: str, success_url: str, cancel_url: str
) -> TopUpStarted:
    """Open an order and the provider's checkout for it. Calls the provider over the network: never
    call inside a transaction. Raises UnknownProvider, AmountError or PaymentError."""
    payment = get_provider(provider)
    currency = settings.HARNMODEL_CURRENCY
    if amount_micros <= 0:
        raise AmountError("a top-up must be positive")
    payment.check_amount(amount_micros=amount_micros, currency=currency)
    expiry = timedelta(minutes=settings.HARNMODEL_TOPUP_EXPIRY_MINUTES)
    order = TopUpOrder.objects.create(
        account_id=account_id,
        provider=provider,
        amount_micros=amount_micros,
        currency=currency,
        expires_at=timezone.now() + expiry,
    )
    try:
        checkout = payment.create_checkout(order=order, success_url=success_url, cancel_url=cancel_url)
    except PaymentError as exc:
        TopUpOrder.objects.filter(pk=order.pk).update(status=TopUpOrder.Status.FAILED, failure_reason=str(exc)[:500])
        raise
    TopUpOrder.objects.filter(pk=order.pk).update(provider_session_id=checkout.session_id, qr_code=checkout.qr_code)
    order.provider_session_id, order.qr_code = checkout.session_id, checkout.qr_code
    return TopUpStarted(order=order, redirect_url=checkout.url, qr_code=checkout.qr_code)


def _find_order(event: PaymentEvent) -> TopUpOrder | None:
    orders = TopUpOrder.objects.filter(provider=event.provider)
    try:  # UUID() takes both forms: providers that limit out_trade_no get the 32 hex digits
        by_id = orders.filter(pk=uuid.UUID(event.order_id)).first()
    except (ValueError, TypeError, AttributeError):
        by_id = None
    if by_id is None and event.session_id:
        return orders.filter(provider_session_id=event.session_id).first()
    return by_id


def topup_complete_from_event(event: PaymentEvent) -> Outcome:
    """Apply a verified provider event to its order: credit a paid order once, close an expired one."""
    found = _find_order(event)
    if found is None:
        logger.warning("%s event %s names no order of ours (%r)", event.provider, event.event_id, event.order_id)
        return Outcome.UNKNOWN_ORDER
    with transaction.atomic():
        lock_wallet(account_id=found.account_id)  # the house lock order: wallet first, then its order
        order = TopUpOrder.objects.select_for_update().get(pk=found.pk)
        if event.kind == PaymentEvent.PAID:
            return _credit_paid(order, event)
        if order.status != TopUpOrder.Status.CREATED:
            return Outcome.IGNORED
        if event.kind == PaymentEvent.EXPIRED:
            TopUpOrder.objects.filter(pk=order.pk).update(status=TopUpOrder.Status.EXPIRED)
            return Outcome.EXPIRED
        TopUpOrder.objects.filter(pk=order.pk).update(
            status=TopUpOrder.Status.FAILED, failure_reason=f"payment failed ({event.event_id})"
        )
        return Outcome.FAILED


def _credit_paid(order: TopUpOrder, event: PaymentEvent) -> Outcome:
    """Under the order's lock. Credits from created (or expired: money received is money owed)."""
    if order.status == TopUpOrder.Status.CREDITED:
        return Outcome.DUPLICATE
    if order.status == TopUpOrder.Status.FAILED:
        logger.warning(
            "%s event %s for failed order %s: left for an operator", event.provider, event.event_id, order.pk
        )
        return Outcome.IGNORED
    problem = _mismatch(order, event)
    now = timezone.now()
    if problem:
        # The customer paid something we did not ask for: crediting either amount could be wrong.
        logger.error("top-up %s not credited: %s (event %s)", order.pk, problem, event.event_id)
        operator_alert(
            subject=f"{order.provider} top-up {order.pk} not credited",
            message=f"{problem} (event {event.event_id}, trade {event.trade_no or '-'}). Decide by hand.",
        )
        trade_free = event.trade_no and not TopUpOrder.objects.filter(provider_trade_no=event.trade_no).exists()
        TopUpOrder.objects.filter(pk=order.pk).update(
            status=TopUpOrder.Status.FAILED,
            failure_reason=problem[:500],
            provider_event_id=event.event_id,
            paid_at=now,
            provider_trade_no=event.trade_no if trade_free else order.provider_trade_no,
        )
        return Outcome.FAILED
    wallet_credit(
        account_id=order.account_id,
        amount_micros=order.amount_micros,
        idempotency_key=_credit_key(order, event),
        kind=LedgerEntry.Kind.TOPUP,
        note=f"{order.provider} {event.event_id}",
        actor=f"payment:{order.provider}",
    )
    # Paid and credited in one transaction: the order never rests in "paid" on this path.
    TopUpOrder.objects.filter(pk=order.pk).update(
        status=TopUpOrder.Status.CREDITED,
        paid_at=now,
        provider_event_id=event.event_id,
        provider_session_id=order.provider_session_id or event.session_id or None,
        provider_trade_no=event.trade_no or order.provider_trade_no,
    )
    customer_event.send(sender=None, account_id=order.account_id, event_type="topup.credited",
                        data={"order": str(order.pk), "amount_micros": order.amount_micros,
                              "currency": order.currency, "provider": order.provider})  # fmt: skip
    return Outcome.CREDITED


def _credit_key(order: TopUpOrder, event: PaymentEvent) -> str:
    # The provider's trade number names the money itself: one trade, one credit, whichever order
    # row or code path it reaches us through.
    return f"topup:{order.provider}:{event.trade_no or order.pk}"


def _mismatch(order: TopUpOrder, event: PaymentEvent) -> str:
    if (event.amount_micros, event.currency) != (order.amount_micros, order.currency):
        return (
            f"paid {event.amount_micros} micros {event.currency or '?'}, "
            f"order is {order.amount_micros} micros {order.currency}"
        )
    if order.provider_session_id and event.session_id and event.session_id != order.provider_session_id:
        return f"paid session {event.session_id}, order's session is {order.provider_session_id}"
    if event.trade_no:
        if order.provider_trade_no and order.provider_trade_no != event.trade_no:
            return f"paid trade {event.trade_no}, order's trade is {order.provider_trade_no}"
        if TopUpOrder.objects.filter(provider_trade_no=event.trade_no).exclude(pk=order.pk).exists():
            return f"trade {event.trade_no} already paid another order"
    return ""


def topup_expire(*, order_id) -> Outcome:
    """Expire an order still waiting for payment (the provider closed it). Anything else is left alone."""
    found = TopUpOrder.objects.filter(pk=order_id).values_list("account_id", flat=True).first()
    if found is None:
        return Outcome.UNKNOWN_ORDER
    with transaction.atomic():
        lock_wallet(account_id=found)
        expired = TopUpOrder.objects.filter(pk=order_id, status=TopUpOrder.Status.CREATED).update(
            status=TopUpOrder.Status.EXPIRED
        )
    return Outcome.EXPIRED if expired else Outcome.IGNORED
