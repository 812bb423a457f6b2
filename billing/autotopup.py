"""Auto top-up settings and the saved card: what the portal changes. The charges are autotopup_run.

A card is saved through Stripe Checkout in setup mode, for a Stripe customer made once per account;
we keep only the customer's and the payment method's ids (and brand and last four to show), learnt
by asking Stripe about the completed session, never from the browser.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from .autotopup_models import AutoTopUp
from .money import AmountError, parse_amount
from .payments import PaymentError, get_provider

logger = logging.getLogger(__name__)


class AutoTopUpError(Exception):
    """A setting refused; `reason` is a stable code the portal turns into a message."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Bounds:
    min_amount_micros: int
    max_amount_micros: int
    max_threshold_micros: int


def bounds() -> Bounds:
    """What a customer may set (settings, in currency units): a charge is never smaller than the
    minimum nor larger than the maximum, a threshold never above its maximum."""
    return Bounds(
        min_amount_micros=parse_amount(str(settings.HARNMODEL_AUTOTOPUP_MIN_AMOUNT)),
        max_amount_micros=parse_amount(str(settings.HARNMODEL_AUTOTOPUP_MAX_AMOUNT)),
        max_threshold_micros=parse_amount(str(settings.HARNMODEL_AUTOTOPUP_MAX_THRESHOLD)),
    )


def available() -> bool:
    """Auto top-up charges cards through Stripe: offered only where Stripe is configured."""
    return get_provider("stripe").is_configured()


def settings_of(*, account_id: int) -> AutoTopUp:
    """The account's auto top-up, or an unsaved, disabled one."""
    return AutoTopUp.objects.filter(account_id=account_id).first() or AutoTopUp(account_id=account_id)


def settings_save(*, account_id: int, enabled: bool, threshold_micros: int, amount_micros: int) -> AutoTopUp:
    """Save the threshold and amount, switch it on or off. Saving resumes a paused auto top-up: the
    customer has seen the failure mail and fixed the card (or chosen to try again)."""
    limits = bounds()
    if not limits.min_amount_micros <= amount_micros <= limits.max_amount_micros:
        raise AutoTopUpError("amount_out_of_range")
    if not 0 <= threshold_micros <= limits.max_threshold_micros:
        raise AutoTopUpError("threshold_out_of_range")
    try:
        get_provider("stripe").check_amount(amount_micros=amount_micros, currency=settings.HARNMODEL_CURRENCY)
    except AmountError as exc:
        raise AutoTopUpError("amount_inexact", str(exc)) from exc
    current = settings_of(account_id=account_id)
    if enabled and not current.has_card:
        raise AutoTopUpError("no_card")
    row, _ = AutoTopUp.objects.update_or_create(
        account_id=account_id,
        defaults={
            "enabled": enabled,
            "threshold_micros": threshold_micros,
            "amount_micros": amount_micros,
            "paused_at": None,
            "paused_reason": "",
        },
    )
    return row


def card_setup_start(*, account_id: int, email: str, success_url: str, cancel_url: str) -> str:
    """Open Stripe's page for saving a card; returns its URL. Calls Stripe: never inside a transaction.
    Raises AutoTopUpError("not_available") or PaymentError."""
    if not available():
        raise AutoTopUpError("not_available")
    from .payments import stripe_cards  # here, not at import: the Stripe SDK weighs ~8 MB in every web worker

    row, _ = AutoTopUp.objects.get_or_create(account_id=account_id)
    if not row.stripe_customer_id:
        customer = stripe_cards.customer_create(account_id=account_id, email=email)
        AutoTopUp.objects.filter(pk=row.pk, stripe_customer_id="").update(stripe_customer_id=customer)
        row.refresh_from_db()
    url, _session = stripe_cards.setup_checkout(
        customer_id=row.stripe_customer_id, account_id=account_id, success_url=success_url, cancel_url=cancel_url
    )
    return url


def card_saved(*, session_id: str, account_id: int | None = None) -> AutoTopUp | None:
    """Keep the card a completed setup session saved (from its webhook, or the customer's return to the
    portal: whichever comes first; the other finds it done). `account_id`, when given, must own the
    session. None while the session is not complete. Raises AutoTopUpError("card_mismatch") or PaymentError."""
    from .payments import stripe_cards

    card = stripe_cards.saved_card(session_id=session_id)
    if card is None:
        return None
    if account_id is not None and card.account_id != str(account_id):
        raise AutoTopUpError("card_mismatch")
    row = AutoTopUp.objects.filter(account_id=card.account_id if card.account_id.isdigit() else None).first()
    if row is None or not row.stripe_customer_id or row.stripe_customer_id != card.customer_id:
        # Only a customer we made for this account: metadata alone is not proof enough.
        logger.warning("stripe setup session %s names account %r of another customer", session_id, card.account_id)
        raise AutoTopUpError("card_mismatch")
    AutoTopUp.objects.filter(pk=row.pk).update(
        stripe_payment_method_id=card.payment_method_id,
        card_brand=card.brand,
        card_last4=card.last4,
        card_saved_at=timezone.now(),
        updated_at=timezone.now(),
    )
    row.refresh_from_db()
    return row


def card_remove(*, account_id: int) -> None:
    """Forget the card (and so switch auto top-up off). Its attempts stay, for the record."""
    AutoTopUp.objects.filter(account_id=account_id).update(
        enabled=False, stripe_payment_method_id="", card_brand="", card_last4="", card_saved_at=None,
        updated_at=timezone.now(),
    )  # fmt: skip


__all__ = ["AutoTopUpError", "Bounds", "PaymentError", "available", "bounds", "card_remove", "card_saved",
           "card_setup_start", "settings_of", "settings_save"]  # fmt: skip
