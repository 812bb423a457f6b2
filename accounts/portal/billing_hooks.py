"""What the portal uses of billing's optional parts: redemption codes, payment top-ups, alerts."""

from django.conf import settings

from billing import redemption, topups
from billing.money import AmountError, parse_amount
from billing.payments import PaymentError

TOPUP_PROVIDER = "stripe"
RedemptionError = redemption.RedemptionError
TopUpError = (AmountError, PaymentError)


def topup_available() -> bool:
    """Stripe needs both: the key opens checkouts, the webhook secret is how payments get credited."""
    return bool(getattr(settings, "STRIPE_SECRET_KEY", "") and getattr(settings, "STRIPE_WEBHOOK_SECRET", ""))


def topup_start(*, account_id: int, amount_micros: int, success_url: str, cancel_url: str) -> str:
    started = topups.topup_create(
        account_id=account_id,
        amount_micros=amount_micros,
        provider=TOPUP_PROVIDER,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    return started.redirect_url


def code_redeem(*, account_id: int, code: str, actor: str):
    return redemption.code_redeem(account_id=account_id, code=code, actor=actor)


def default_threshold_micros() -> int | None:
    raw = getattr(settings, "HARNMODEL_LOW_BALANCE_DEFAULT", "") or ""
    try:
        return parse_amount(raw) if raw else None
    except AmountError:
        return None
