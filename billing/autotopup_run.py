"""Auto top-up's charges, run by a Celery beat sweep (billing.tasks.auto_topups): nothing on the request
hot path. Each run, per account:

1. closes attempts whose order was credited (by the webhook, or the query of topup_sync) or failed;
   a first failure waits RETRY_MINUTES for its one retry, a second one pauses auto top-up and mails
   the customer;
2. retries the attempts that are due, if the balance is still below the threshold;
3. asks Stripe again about a try whose answer was lost (same idempotency key: the same PaymentIntent);
4. starts an attempt for every enabled account whose balance fell below its threshold.

Money only moves through the order: a try is a TopUpOrder whose PaymentIntent's webhook
(payment_intent.succeeded) goes through topups.topup_complete_from_event like every top-up, so the
ledger key (`topup:stripe:<order id>`) and the once-only rule are those of every top-up. The answer
of the charge call never credits: it only records the intent and, when declined, fails the order.
Never two in flight: the wallet lock serialises starts, and a partial unique index refuses a second.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from .autotopup_models import AutoTopUp, AutoTopUpAttempt
from .locks import lock_wallet
from .models import TopUpOrder, Wallet
from .money import format_amount, format_balance
from .payments import PaymentError, PaymentEvent, stripe_cards
from .signals import customer_event
from .topups import topup_complete_from_event

logger = logging.getLogger(__name__)

Status = AutoTopUpAttempt.Status
RECOVER_AFTER = timedelta(minutes=2)  # a try with no answer by then is asked again (same idempotency key)
RECOVER_WITHIN = timedelta(hours=23)  # Stripe keeps idempotency keys 24 h: past that, a new ask could charge twice


def retry_delay() -> timedelta:
    return timedelta(minutes=settings.HARNMODEL_AUTOTOPUP_RETRY_MINUTES)


def autotopups_run(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """One sweep. Returns counts by what happened."""
    now = now or timezone.now()
    counts: Counter[str] = Counter()
    for attempt_id in _ids(AutoTopUpAttempt.objects.filter(status=Status.PROCESSING), limit):
        counts[f"closed_{attempt_advance(attempt_id=attempt_id, now=now)}"] += 1
    counts.pop("closed_processing", None)
    due = AutoTopUpAttempt.objects.filter(status=Status.RETRY_WAIT, next_retry_at__lte=now)
    for attempt_id in _ids(due, limit):
        counts[_retry(attempt_id, now)] += 1
    lost = AutoTopUpAttempt.objects.filter(
        status=Status.PROCESSING, order__status=TopUpOrder.Status.CREATED, order__provider_session_id__isnull=True,
        updated_at__lte=now - RECOVER_AFTER, created_at__gte=now - RECOVER_WITHIN,
    )  # fmt: skip
    for attempt_id in _ids(lost, limit):
        counts[f"asked_again_{_charge(attempt_id, now)}"] += 1
    for account_id in _below_threshold(limit):
        started = attempt_start(account_id=account_id, now=now)
        if started is not None:
            counts[f"started_{_charge(started.pk, now)}"] += 1
    return dict(counts)


def _ids(queryset, limit: int) -> list:
    return list(queryset.order_by("created_at").values_list("pk", flat=True)[:limit])


def _below_threshold(limit: int) -> list[int]:
    in_flight = AutoTopUpAttempt.objects.filter(
        account_id=OuterRef("account_id"), status__in=AutoTopUpAttempt.IN_FLIGHT
    )
    return list(
        AutoTopUp.objects.filter(enabled=True, paused_at__isnull=True)
        .exclude(stripe_payment_method_id="")
        .filter(account__wallet__balance_micros__lt=F("threshold_micros"))
        .exclude(Exists(in_flight))
        .order_by("account_id")
        .values_list("account_id", flat=True)[:limit]
    )


def _wanted(auto: AutoTopUp | None, wallet: Wallet) -> bool:
    """Settled balance, not available: a large hold of a running request is not yet money spent."""
    return bool(
        auto is not None and auto.enabled and auto.paused_at is None and auto.has_card
        and auto.amount_micros > 0 and wallet.balance_micros < auto.threshold_micros
    )  # fmt: skip


def _new_order(auto: AutoTopUp) -> TopUpOrder:
    # No expiry: topup_sync never closes it; it ends paid (credited) or declined (failed).
    return TopUpOrder.objects.create(
        account_id=auto.account_id, provider="stripe", amount_micros=auto.amount_micros,
        currency=settings.HARNMODEL_CURRENCY, expires_at=None,
    )  # fmt: skip


def attempt_start(*, account_id: int, now: datetime) -> AutoTopUpAttempt | None:
    """Open an attempt and its first order if the account wants one and has none in flight. No Stripe call."""
    try:
        with transaction.atomic():
            wallet = lock_wallet(account_id=account_id)
            auto = AutoTopUp.objects.filter(account_id=account_id).first()
            in_flight = AutoTopUpAttempt.objects.filter(account_id=account_id, status__in=AutoTopUpAttempt.IN_FLIGHT)
            if not _wanted(auto, wallet) or in_flight.exists():
                return None
            assert auto is not None
            return AutoTopUpAttempt.objects.create(
                account_id=account_id, order=_new_order(auto), amount_micros=auto.amount_micros,
                balance_micros=wallet.balance_micros, threshold_micros=auto.threshold_micros,
            )  # fmt: skip
    except IntegrityError:  # another worker's attempt won the one-in-flight index
        return None


def _charge(attempt_id, now: datetime) -> str:
    """Ask Stripe to charge the attempt's current order. Calls Stripe: outside any transaction."""
    attempt = AutoTopUpAttempt.objects.select_related("order").get(pk=attempt_id)
    auto = AutoTopUp.objects.get(account_id=attempt.account_id)
    order = attempt.order
    try:
        result = stripe_cards.charge(
            customer_id=auto.stripe_customer_id, payment_method_id=auto.stripe_payment_method_id,
            amount_micros=order.amount_micros, currency=order.currency, order_id=str(order.pk),
            attempt_id=str(attempt.pk),
        )  # fmt: skip
    except PaymentError as exc:  # no answer: step 3 of a later run asks again with the same key
        logger.warning("auto top-up %s: no answer from Stripe: %s", attempt.pk, exc)
        AutoTopUpAttempt.objects.filter(pk=attempt.pk).update(last_error=str(exc)[:500], updated_at=now)
        return "unanswered"
    if result.payment_intent_id:  # the webhook may have been first: then it is already set, to the same id
        TopUpOrder.objects.filter(pk=order.pk, provider_session_id__isnull=True).update(
            provider_session_id=result.payment_intent_id
        )
    _note(attempt.pk, order, result, now)
    if result.declined:
        if result.payment_intent_id:
            stripe_cards.cancel(result.payment_intent_id)  # an unpaid intent must never be paid beside its retry
        topup_complete_from_event(PaymentEvent(
            provider="stripe", event_id=f"charge:{result.payment_intent_id or order.pk}", kind=PaymentEvent.FAILED,
            order_id=str(order.pk), session_id=result.payment_intent_id, amount_micros=0, currency=order.currency,
        ))  # fmt: skip
    return attempt_advance(attempt_id=attempt.pk, now=now)


def _note(attempt_id, order: TopUpOrder, result: stripe_cards.ChargeResult, now: datetime) -> None:
    with transaction.atomic():
        lock_wallet(account_id=order.account_id)  # the house lock order, as attempt_advance
        attempt = AutoTopUpAttempt.objects.select_for_update().get(pk=attempt_id)
        entry = {"try": attempt.tries, "order": str(order.pk), "payment_intent": result.payment_intent_id,
                 "status": result.status, "code": result.code, "message": result.message, "at": now.isoformat()}  # fmt: skip
        attempt.history = [*attempt.history, entry]
        attempt.last_error = f"{result.code}: {result.message}"[:500] if result.declined else ""
        attempt.save(update_fields=["history", "last_error", "updated_at"])


def attempt_advance(*, attempt_id, now: datetime) -> str:
    """Move a processing attempt on from its order's state. Returns the attempt's status."""
    account_id = AutoTopUpAttempt.objects.values_list("account_id", flat=True).get(pk=attempt_id)
    with transaction.atomic():
        lock_wallet(account_id=account_id)  # the house lock order: wallet, then what belongs to it
        attempt = AutoTopUpAttempt.objects.select_for_update().select_related("order").get(pk=attempt_id)
        order = attempt.order
        if attempt.status != Status.PROCESSING or order.status in (TopUpOrder.Status.CREATED, TopUpOrder.Status.PAID):
            return attempt.status
        if order.status == TopUpOrder.Status.CREDITED:
            attempt.status = Status.SUCCEEDED
        elif attempt.tries < 2:
            attempt.status, attempt.next_retry_at = Status.RETRY_WAIT, now + retry_delay()
        else:
            attempt.status = Status.FAILED
            _pause(attempt, now)
        attempt.save(update_fields=["status", "next_retry_at", "updated_at"])
        return attempt.status


def _retry(attempt_id, now: datetime) -> str:
    account_id = AutoTopUpAttempt.objects.values_list("account_id", flat=True).get(pk=attempt_id)
    with transaction.atomic():
        wallet = lock_wallet(account_id=account_id)
        attempt = AutoTopUpAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status != Status.RETRY_WAIT:
            return "raced"
        auto = AutoTopUp.objects.filter(account_id=account_id).first()
        if not _wanted(auto, wallet):  # topped up by hand meanwhile, or switched off: no second charge
            attempt.status = Status.SKIPPED
            attempt.save(update_fields=["status", "updated_at"])
            return "retry_skipped"
        assert auto is not None
        attempt.order, attempt.tries, attempt.status = _new_order(auto), attempt.tries + 1, Status.PROCESSING
        attempt.amount_micros, attempt.next_retry_at = auto.amount_micros, None
        attempt.save(update_fields=["order", "tries", "status", "amount_micros", "next_retry_at", "updated_at"])
    return f"retried_{_charge(attempt_id, now)}"


def _pause(attempt: AutoTopUpAttempt, now: datetime) -> None:
    """Both tries failed: no more charges until the customer saves the settings again; tell them."""
    reason = attempt.last_error or "the payment failed"
    AutoTopUp.objects.filter(account_id=attempt.account_id).update(paused_at=now, paused_reason=reason[:500])
    amount, account_id = attempt.amount_micros, attempt.account_id
    transaction.on_commit(lambda: _mail_failed(account_id=account_id, amount_micros=amount, reason=reason))
    customer_event.send(sender=None, account_id=account_id, event_type="autotopup.failed",
                        data={"attempt": str(attempt.pk), "amount_micros": amount, "reason": reason})  # fmt: skip


def _mail_failed(*, account_id: int, amount_micros: int, reason: str) -> None:
    wallet = Wallet.objects.select_related("account").get(account_id=account_id)
    account, amount = wallet.account, format_amount(amount_micros)
    page = settings.HARNMODEL_SITE_URL.rstrip("/") + "/billing/auto-topup/"
    try:
        send_mail(
            subject=f"Automatic top-up failed (自动充值失败): {amount} not charged",
            message=(
                f"Hello {account.name},\n\n"
                f"We tried twice to top up your account {account.email} by {amount} with your saved card, "
                f"and the card was not charged ({reason}).\n\n"
                f"Your balance is {format_balance(wallet.balance_micros)}. Automatic top-up is paused: check the "
                f"card, or save a new one, at {page} and save the settings to switch it on again.\n\n"
                f"我们两次尝试从你保存的银行卡为账户充值 {amount}，均未成功（{reason}）。自动充值已暂停："
                f"请在 {page} 检查或更换银行卡，然后保存设置以重新开启。\n"
            ),
            from_email=None,
            recipient_list=[account.email],
        )
    except Exception:  # the attempt is recorded and shown in the portal either way
        logger.exception("auto top-up failure mail to account %s failed", account_id)
