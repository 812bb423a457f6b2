"""What the portal uses of billing's optional parts: redemption codes, payment top-ups, alerts."""

import uuid

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from billing import redemption, topups
from billing.models import TopUpOrder
from billing.money import AmountError, parse_amount
from billing.payments import PaymentError, UnknownProvider, configured_providers

RedemptionError = redemption.RedemptionError
TopUpError = (AmountError, PaymentError, UnknownProvider)
PROVIDER_LABELS = {"stripe": _("Card (Stripe)"), "alipay": _("Alipay"), "wechat": _("WeChat Pay")}


def topup_providers() -> list[tuple[str, str]]:
    """(name, label) of every configured payment provider: the only ones the portal offers."""
    return [(name, str(PROVIDER_LABELS.get(name, name))) for name in configured_providers()]


def topup_available() -> bool:
    return bool(configured_providers())


def topup_start(
    *, account_id: int, amount_micros: int, provider: str, success_url: str, cancel_url: str
) -> topups.TopUpStarted:
    if provider not in configured_providers():
        raise UnknownProvider(provider)
    return topups.topup_create(
        account_id=account_id,
        amount_micros=amount_micros,
        provider=provider,
        success_url=success_url,
        cancel_url=cancel_url,
    )


def topup_order(*, account_id: int, order_id: uuid.UUID) -> TopUpOrder | None:
    """One of the account's own top-up orders (None for anyone else's)."""
    return TopUpOrder.objects.filter(pk=order_id, account_id=account_id).first()


def code_redeem(*, account_id: int, code: str, actor: str):
    return redemption.code_redeem(account_id=account_id, code=code, actor=actor)


def default_threshold_micros() -> int | None:
    raw = getattr(settings, "HARNMODEL_LOW_BALANCE_DEFAULT", "") or ""
    try:
        return parse_amount(raw) if raw else None
    except AmountError:
        return None
