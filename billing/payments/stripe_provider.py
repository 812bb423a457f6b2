"""Stripe Checkout through the official `stripe` library: one hosted page per order, one webhook;
query / close / refund through the same library (Session.retrieve, Session.expire, Refund.create).

Auto top-up orders (stripe_cards) have a PaymentIntent where Checkout orders have a session: their
`provider_session_id` is the intent's `pi_…` id, and query / close / refund go to the intent."""

import json
import logging
from collections.abc import Mapping
from typing import Any

import stripe
from django.conf import settings

from billing.money import MICROS_PER_UNIT, AmountError

from .base import (
    CardSetupEvent,
    Checkout,
    PaymentError,
    PaymentEvent,
    PaymentUnavailableError,
    WebhookReply,
    WebhookSignatureError,
)

logger = logging.getLogger(__name__)

if settings.STRIPE_API_BASE:  # the library's one global endpoint: stripe-mock or a local double
    stripe.api_base = settings.STRIPE_API_BASE

# Stripe charges these in whole units (https://docs.stripe.com/currencies#zero-decimal); the rest in
# hundredths. (Stripe's three-decimal currencies are not offered here.)
ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip

_EVENT_KINDS = {
    "checkout.session.completed": PaymentEvent.PAID,  # paid only if payment_status says so, below
    "checkout.session.async_payment_succeeded": PaymentEvent.PAID,
    "checkout.session.async_payment_failed": PaymentEvent.FAILED,
    "checkout.session.expired": PaymentEvent.EXPIRED,
}


def _error(exc: stripe.StripeError) -> PaymentError:
    # No answer, or Stripe's own failure: the call may have happened (retry with the same idempotency key).
    unknown = isinstance(exc, stripe.APIConnectionError) or (exc.http_status or 0) >= 500
    return (PaymentUnavailableError if unknown else PaymentError)(f"stripe: {exc.user_message or exc}")


def micros_per_minor_unit(currency: str) -> int:
    return MICROS_PER_UNIT if currency.upper() in ZERO_DECIMAL else MICROS_PER_UNIT // 100


def minor_units(amount_micros: int, currency: str) -> int:
    unit = micros_per_minor_unit(currency)
    if amount_micros <= 0 or amount_micros % unit:
        raise AmountError(f"{currency} amounts are charged in steps of {unit} micros, not {amount_micros}")
    return amount_micros // unit


# stripe_cards builds on the helpers above, so this module imports it where an auto top-up order needs it.
def _intent_of(order) -> str:
    """The PaymentIntent id of an auto top-up order ("" for a Checkout order)."""
    session = order.provider_session_id or ""
    return session if session.startswith("pi_") else ""


class StripeProvider:
    name = "stripe"

    def is_configured(self) -> bool:
        # Both: the key opens checkouts, the webhook secret is how payments get credited.
        return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)

    def webhook_reply(self, *, accepted: bool, message: str = "") -> WebhookReply:
        body = {"status": message} if accepted else {"error": message}
        return WebhookReply(
            status=200 if accepted else 400, content_type="application/json", body=json.dumps(body).encode()
        )

    def check_amount(self, *, amount_micros: int, currency: str) -> None:
        minor_units(amount_micros, currency)

    def create_checkout(self, *, order, success_url: str, cancel_url: str) -> Checkout:
        order_id = str(order.pk)
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": minor_units(order.amount_micros, order.currency),
                        "product_data": {"name": "Account credit"},
                    },
                }
            ],
            "client_reference_id": order_id,
            "metadata": {"order_id": order_id},
            "payment_intent_data": {"metadata": {"order_id": order_id}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        try:
            # Stripe's idempotency key: a retried create for the same order returns the same session.
            session = stripe.checkout.Session.create(
                api_key=settings.STRIPE_SECRET_KEY, idempotency_key=f"checkout:{order_id}", **params
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        if not session.url:  # a hosted-page session always has one; without it there is nowhere to send the payer
            raise PaymentError("stripe: the checkout session came back without a payment page URL")
        return Checkout(url=session.url, session_id=session.id)

    def parse_webhook(self, *, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent | CardSetupEvent | None:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:  # never accept unsigned events because the deployment forgot its secret
            raise WebhookSignatureError("STRIPE_WEBHOOK_SECRET is not set")
        try:
            event = stripe.Webhook.construct_event(payload, headers.get("Stripe-Signature"), secret).to_dict()
        except (ValueError, stripe.SignatureVerificationError) as exc:  # ValueError: not JSON / not an event
            raise WebhookSignatureError(str(exc)) from None
        if event.get("type", "").startswith("payment_intent."):
            return self._intent_event(event)
        kind = _EVENT_KINDS.get(event.get("type", ""))
        if kind is None:
            return None
        session = event["data"]["object"]
        if session.get("mode") == "setup":  # a card saved for auto top-up, not a payment
            purpose = (session.get("metadata") or {}).get("purpose")
            if event["type"] != "checkout.session.completed" or purpose != "autotopup":
                return None
            return CardSetupEvent(provider=self.name, event_id=event["id"], session_id=session.get("id") or "")
        if event["type"] == "checkout.session.completed" and session.get("payment_status") != "paid":
            return None  # a delayed method (bank debit...): async_payment_succeeded follows
        return self._event(session, event_id=event["id"], kind=kind)

    def _intent_event(self, event: dict) -> PaymentEvent | None:
        from . import stripe_cards

        intent = event["data"]["object"]
        if event["type"] not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            return None
        if not stripe_cards.is_autotopup(intent):  # a Checkout's intent: its session events credit it
            return None
        return stripe_cards.event_from_intent(intent, event_id=event["id"])

    def _event(self, session: dict, *, event_id: str, kind: str) -> PaymentEvent:
        # trade_no stays empty: the ledger key is per order on both the webhook and the query path.
        metadata = session.get("metadata") or {}
        order_id = session.get("client_reference_id") or metadata.get("order_id") or ""
        currency = (session.get("currency") or "").upper()
        amount_total = session.get("amount_total") or 0
        return PaymentEvent(
            provider=self.name,
            event_id=event_id,
            kind=kind,
            order_id=order_id,
            session_id=session.get("id") or "",
            amount_micros=amount_total * micros_per_minor_unit(currency) if currency else 0,
            currency=currency,
        )

    def _session(self, order) -> dict:
        try:
            session = stripe.checkout.Session.retrieve(order.provider_session_id, api_key=settings.STRIPE_SECRET_KEY)
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        return session.to_dict()

    def query(self, *, order) -> PaymentEvent | None:
        if _intent_of(order):
            from . import stripe_cards

            intent = stripe_cards.retrieve(_intent_of(order))
            return stripe_cards.event_from_intent(intent, event_id=f"query:{intent['id']}")
        if not order.provider_session_id:
            return None
        session = self._session(order)
        if session.get("status") == "complete" and session.get("payment_status") in ("paid", "no_payment_required"):
            return self._event(session, event_id=f"query:{session['id']}", kind=PaymentEvent.PAID)
        if session.get("status") == "expired":
            return self._event(session, event_id=f"query:{session['id']}", kind=PaymentEvent.EXPIRED)
        return None

    def close(self, *, order) -> None:
        if _intent_of(order):
            from . import stripe_cards

            stripe_cards.cancel(_intent_of(order))
            return
        if not order.provider_session_id:
            return  # Stripe never saw it
        try:
            stripe.checkout.Session.expire(order.provider_session_id, api_key=settings.STRIPE_SECRET_KEY)
        except stripe.StripeError as exc:
            raise _error(exc) from exc

    def refund(self, *, order, amount_micros: int, refund_id: str) -> str:
        payment_intent = _intent_of(order) or self._session(order).get("payment_intent")
        if isinstance(payment_intent, dict):
            payment_intent = payment_intent.get("id")
        if not payment_intent:
            raise PaymentError("stripe: the checkout has no payment to refund")
        try:
            refund = stripe.Refund.create(
                api_key=settings.STRIPE_SECRET_KEY,
                idempotency_key=f"refund:{refund_id}",  # a retried refund is the same refund
                payment_intent=payment_intent,
                amount=minor_units(amount_micros, order.currency),
                metadata={"order_id": str(order.pk), "refund_id": refund_id},
            )
        except stripe.StripeError as exc:
            raise _error(exc) from exc
        if refund.status in ("failed", "canceled"):
            raise PaymentError(f"stripe: refund {refund.id} {refund.status}")
        return refund.id
