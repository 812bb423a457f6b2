"""Alerts. Low-balance emails to customers: one per crossing below the threshold, re-armed when the
balance recovers. And operator alerts: money that needs a human (see operator_alert).

Wallet.low_balance_alerted_at is the state: set when the email goes out, cleared once the balance
is back at or above the threshold. The threshold is the wallet's own, or HARNMODEL_LOW_BALANCE_DEFAULT.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import mail_admins, send_mail
from django.db import transaction
from django.db.models import BigIntegerField, Exists, F, OuterRef, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import LedgerEntry, Wallet
from .money import format_amount, format_balance, parse_amount
from .signals import customer_event

logger = logging.getLogger(__name__)
operator_logger = logging.getLogger("harnmodel.alerts")


def default_threshold_micros() -> int | None:
    text = str(getattr(settings, "HARNMODEL_LOW_BALANCE_DEFAULT", "") or "").strip()
    return parse_amount(text) if text else None


def _with_threshold(queryset):
    threshold = Coalesce(
        "low_balance_threshold_micros", Value(default_threshold_micros()), output_field=BigIntegerField()
    )
    return queryset.alias(threshold=threshold)


def wallet_low_balance_threshold_set(*, account_id: int, threshold_micros: int | None) -> None:
    """A customer's own threshold (None: the platform default). Re-arms the alert, so a threshold
    raised above the current balance is told about at the next check."""
    if threshold_micros is not None and threshold_micros < 0:
        raise ValueError("the threshold must not be negative")
    Wallet.objects.filter(account_id=account_id).update(
        low_balance_threshold_micros=threshold_micros, low_balance_alerted_at=None
    )


def low_balance_check(*, now: datetime | None = None) -> dict[str, int]:
    """Email every watched wallet that fell below its threshold since its last alert; re-arm the
    ones that recovered. Returns {"sent": n, "rearmed": n, "failed": n}."""
    now = now or timezone.now()
    rearmed = (
        _with_threshold(Wallet.objects.filter(low_balance_alerted_at__isnull=False))
        .filter(balance_micros__gte=F("threshold"))
        .update(low_balance_alerted_at=None)
    )
    # Only wallets that ever had money can cross: a new, empty account is not "running low".
    funded = LedgerEntry.objects.filter(wallet_id=OuterRef("pk"))
    low = (
        _with_threshold(Wallet.objects.filter(low_balance_alerted_at__isnull=True))
        .filter(balance_micros__lt=F("threshold"), threshold__gt=0)
        .filter(Exists(funded))
        .select_related("account")
        .annotate(threshold_micros=F("threshold"))
    )
    sent = failed = 0
    for wallet in low:
        # Claim first, so two overlapping runs cannot both send; give the claim back if mail fails.
        claimed = Wallet.objects.filter(pk=wallet.pk, low_balance_alerted_at__isnull=True).update(
            low_balance_alerted_at=now
        )
        if not claimed:
            continue
        try:
            _send(wallet, wallet.threshold_micros)
        except Exception:
            logger.exception("low-balance email to account %s failed; retried next run", wallet.account_id)
            Wallet.objects.filter(pk=wallet.pk, low_balance_alerted_at=now).update(low_balance_alerted_at=None)
            failed += 1
            continue
        sent += 1
        customer_event.send(sender=None, account_id=wallet.account_id, event_type="balance.low",
                            data={"balance_micros": wallet.balance_micros,
                                  "threshold_micros": wallet.threshold_micros})  # fmt: skip
    return {"sent": sent, "rearmed": rearmed, "failed": failed}


def _send(wallet: Wallet, threshold_micros: int) -> None:
    account = wallet.account
    balance, threshold = format_balance(wallet.balance_micros), format_amount(threshold_micros)
    send_mail(
        subject=f"Your balance is low: {balance}",
        message=(
            f"Hello {account.name},\n\n"
            f"The balance of your account {account.email} is {balance}, below your alert threshold of "
            f"{threshold}. Requests are refused once it runs out; top up to keep them flowing.\n\n"
            "You will get this email once each time the balance falls below the threshold.\n"
        ),
        from_email=None,  # DEFAULT_FROM_EMAIL
        recipient_list=[account.email],
    )


def operator_alert(*, subject: str, message: str) -> None:
    """Something an operator must decide (a payment we cannot credit, a notification for another
    merchant): an ERROR on the `harnmodel.alerts` logger now, and a mail to ADMINS once the current
    transaction commits (never a slow mail server inside a row lock). No secrets in `message`."""
    operator_logger.error("%s: %s", subject, message)

    def send() -> None:
        try:
            mail_admins(subject, message)
        except Exception:
            logger.exception("operator alert mail failed: %s", subject)

    transaction.on_commit(send)
