"""Stripe for auto top-up: a customer, a Checkout in setup mode that saves a card, and off-session
PaymentIntents charged to it. Same library and style as stripe_provider (module calls, api_key per
call, Stripe idempotency keys on every create); no card data ever passes through us.

A charge's PaymentIntent carries metadata {order_id, autotopup_attempt}: its webhook is read by
stripe_provider.parse_webhook into the same PaymentEvent a Checkout top-up produces.
"""

import logging
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings

from .base import PaymentError, PaymentEvent
from .stripe_provider import _error, micros_per_minor_unit, minor_units

logger = logging.getLogger(__name__)

# PaymentIntent statuses that end a try unpaid: nobody is there to authenticate or choose a new card.
_UNPAID = {"requires_action", "requires_payment_method", "requires_confirmation", "canceled"}


@dataclass(frozen=True, slots=True)
class SavedCard:
    account_id: str  # from the session's metadata: whose card this is
    customer_id: str
    payment_method_id: str
    brand: str
    last4: str


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """`paid`: Stripe took the money (the webhook credits it). `declined`: this try is over, unpaid.
    Neither: still processing at Stripe (a bank's delayed answer); its webhook or a query tells."""

    payment_intent_id: str
    status: str
    code: str = ""  # card_declined, authentication_required, ... when declined
    message: str = ""

    @property
    def paid(self) -> bool:
        return self.status == "succeeded"

    @property
    def declined(self) -> bool:
        return self.status in _UNPAID or bool(self.code)


def _key() -> str:
    return settings.STRIPE_SECRET_KEY


def customer_create(*, account_id: int, email: str) -> str:
    try:
        # No idempotency key of ours: account ids repeat across deployments sharing a Stripe account, and
        # a double click costs at most an unused, empty customer (the library keys its own retries).
        customer = stripe.Customer.create(api_key=_key(), email=email, metadata={"account_id": str(account_id)})
    except stripe.StripeError as exc:
        raise _error(exc) from exc
    return customer.id


def setup_checkout(*, customer_id: str, account_id: int, success_url: str, cancel_url: str) -> tuple[str, str]:
    """A hosted page where the customer saves a card for later off-session charges: (url, session id)."""
    metadata = {"account_id": str(account_id), "purpose": "autotopup"}
    try:
        session = stripe.checkout.Session.create(
            api_key=_key(),
            mode="setup",
            customer=customer_id,
            currency=settings.HARNMODEL_CURRENCY.lower(),
            metadata=metadata,
            setup_intent_data={"metadata": metadata},
            success_url=success_url,
            cancel_url=cancel_url,
        )
    except stripe.StripeError as exc:
        raise _error(exc) from exc
    if not session.url:
        raise PaymentError("stripe: the setup session came back without a page URL")
    return session.url, session.id


def saved_card(*, session_id: str) -> SavedCard | None:
    """The card a completed setup session saved; None while it is not complete."""
    try:
        session = stripe.checkout.Session.retrieve(
            session_id, api_key=_key(), expand=["setup_intent.payment_method"]
        ).to_dict()
    except stripe.StripeError as exc:
        raise _error(exc) from exc
    intent = session.get("setup_intent")
    if session.get("mode") != "setup" or session.get("status") != "complete" or not isinstance(intent, dict):
        return None
    if intent.get("status") != "succeeded" or not isinstance(intent.get("payment_method"), dict):
        return None
    method = intent["payment_method"]
    card = method.get("card") or {}
    return SavedCard(
        account_id=str((session.get("metadata") or {}).get("account_id") or ""),
        customer_id=str(session.get("customer") or ""),
        payment_method_id=method["id"],
        brand=str(card.get("brand") or "")[:32],
        last4=str(card.get("last4") or "")[:4],
    )


def charge(
    *, customer_id: str, payment_method_id: str, amount_micros: int, currency: str, order_id: str, attempt_id: str
) -> ChargeResult:
    """Charge the saved card now, the customer absent. Idempotent per order: asking again (a lost answer)
    gets the same PaymentIntent and the same result. PaymentUnavailableError when the answer is unknown."""
    try:
        intent = stripe.PaymentIntent.create(
            api_key=_key(),
            idempotency_key=f"autotopup:{order_id}",
            amount=minor_units(amount_micros, currency),
            currency=currency.lower(),
            customer=customer_id,
            payment_method=payment_method_id,
            off_session=True,
            confirm=True,
            # The customer is not there to follow a redirect: only methods that need none (cards), and so
            # no return_url; a bank that wants authentication answers authentication_required instead.
            automatic_payment_methods={"enabled": True, "allow_redirects": "never"},
            description="Automatic top-up",
            metadata={"order_id": order_id, "autotopup_attempt": attempt_id},
        )
    except (stripe.CardError, stripe.InvalidRequestError) as exc:
        # Refused for good (declined, authentication required, card removed): this try is over.
        error = exc.error
        raw = getattr(error, "payment_intent", None) if error is not None else None
        intent_id = raw.get("id", "") if isinstance(raw, dict) else getattr(raw, "id", "") or ""
        code = exc.code or "declined"
        return ChargeResult(intent_id, "requires_payment_method", code, str(exc.user_message or exc)[:300])
    except stripe.StripeError as exc:
        raise _error(exc) from exc
    result = ChargeResult(intent.id, intent.status)
    if result.declined:
        last = intent.to_dict().get("last_payment_error") or {}
        code = last.get("code") or ("authentication_required" if intent.status == "requires_action" else "declined")
        return ChargeResult(intent.id, intent.status, code, str(last.get("message") or intent.status)[:300])
    return result


def cancel(payment_intent_id: str) -> None:
    """Cancel an unpaid PaymentIntent so it can never be paid later, beside its retry. Best effort: one
    Stripe already closed is fine."""
    try:
        stripe.PaymentIntent.cancel(payment_intent_id, api_key=_key())
    except stripe.StripeError as exc:
        logger.info("stripe: cancelling %s: %s", payment_intent_id, exc)


def retrieve(payment_intent_id: str) -> dict[str, Any]:
    try:
        return stripe.PaymentIntent.retrieve(payment_intent_id, api_key=_key()).to_dict()
    except stripe.StripeError as exc:
        raise _error(exc) from exc


def is_autotopup(intent: dict[str, Any]) -> bool:
    # Checkout top-ups have PaymentIntents too (metadata order_id, no attempt): their session events credit them.
    return bool((intent.get("metadata") or {}).get("autotopup_attempt"))


def event_from_intent(intent: dict[str, Any], *, event_id: str) -> PaymentEvent | None:
    """What a PaymentIntent of ours says, as the neutral event topups credits: paid, failed, or None
    while it is still processing. The ledger key is per order, as for Checkout top-ups."""
    status = intent.get("status")
    if status == "succeeded":
        kind, amount = PaymentEvent.PAID, intent.get("amount_received") or 0
    elif status in _UNPAID:
        kind, amount = PaymentEvent.FAILED, 0
    else:
        return None
    currency = (intent.get("currency") or "").upper()
    return PaymentEvent(
        provider="stripe",
        event_id=event_id,
        kind=kind,
        order_id=str((intent.get("metadata") or {}).get("order_id") or ""),
        session_id=intent.get("id") or "",
        amount_micros=amount * micros_per_minor_unit(currency) if currency else 0,
        currency=currency,
    )
