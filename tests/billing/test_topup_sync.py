"""The Celery query/expiry task against the fake Alipay gateway: lost notifications are recovered by
alipay.trade.query, unpaid orders past expiry are closed at Alipay (alipay.trade.close) and expired."""

from datetime import timedelta

from django.utils import timezone

from billing import tasks
from billing.models import LedgerEntry, TopUpOrder, Wallet
from billing.reconcile import ledger_reconcile
from billing.topup_sync import topups_sync
from billing.topups import topup_create

LATER = timedelta(minutes=2)  # past the grace minute, well before expiry
EXPIRED = timedelta(minutes=31)


def start(account, amount_micros: int = 20_000_000) -> TopUpOrder:
    return topup_create(
        account_id=account.pk, amount_micros=amount_micros, provider="alipay", success_url="s", cancel_url="c"
    ).order


def credits(account) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(wallet__account=account, kind="topup"))


def methods(fake) -> list[str]:
    return [method for method, _ in fake.calls]


def test_a_lost_notification_is_recovered_by_the_query_and_credits_once(client, bob, alipay):
    order = start(bob.account)
    trade = alipay.pay(order.pk.hex)  # paid, but the notification never arrives

    first = topups_sync(now=timezone.now() + LATER)
    second = topups_sync(now=timezone.now() + LATER)
    late = client.post(
        "/billing/webhooks/alipay/", data=alipay.notification(order.pk.hex),
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip

    assert first == {"credited": 1} and second == {}  # a credited order is no longer queried
    assert late.content == b"success"
    (entry,) = credits(bob.account)
    assert entry.idempotency_key == f"topup:alipay:{trade.trade_no}"
    assert Wallet.objects.get(account=bob.account).balance_micros == 20_000_000
    assert ledger_reconcile() == []


def test_orders_are_left_alone_during_the_grace_minute_and_while_waiting(bob, alipay):
    order = start(bob.account)

    assert topups_sync() == {}  # too young to ask about
    alipay.scan(order.pk.hex)
    assert topups_sync(now=timezone.now() + LATER) == {"pending": 1}
    assert TopUpOrder.objects.get().status == "created" and "alipay.trade.close" not in methods(alipay)


def test_expiry_closes_the_trade_at_alipay_then_expires_the_order(bob, alipay):
    scanned, never_scanned = start(bob.account), start(bob.account)
    alipay.scan(scanned.pk.hex)

    counts = topups_sync(now=timezone.now() + EXPIRED)

    assert counts == {"expired": 2}
    assert alipay.trades[scanned.pk.hex].status == "TRADE_CLOSED"
    assert not alipay.trades[never_scanned.pk.hex].status  # still no trade at Alipay
    assert methods(alipay).count("alipay.trade.close") == 2  # the unscanned one: Alipay never saw it, fine
    assert set(TopUpOrder.objects.values_list("status", flat=True)) == {"expired"}
    assert not credits(bob.account)


def test_an_order_paid_at_the_last_minute_is_credited_not_expired(bob, alipay):
    order = start(bob.account)
    alipay.pay(order.pk.hex)

    assert topups_sync(now=timezone.now() + EXPIRED) == {"credited": 1}
    assert "alipay.trade.close" not in methods(alipay)
    assert TopUpOrder.objects.get().status == "credited" and len(credits(bob.account)) == 1


def test_a_trade_alipay_closed_itself_expires_the_order(bob, alipay):
    order = start(bob.account)
    alipay.scan(order.pk.hex)
    alipay.trades[order.pk.hex].status = "TRADE_CLOSED"

    assert topups_sync(now=timezone.now() + LATER) == {"expired": 1}


def test_an_unreachable_gateway_leaves_orders_for_the_next_run(bob, alipay):
    start(bob.account)
    alipay.stop()

    assert topups_sync(now=timezone.now() + EXPIRED) == {"error": 1}
    assert TopUpOrder.objects.get().status == "created"


def test_unconfigured_providers_are_skipped(bob, alipay, settings):
    start(bob.account)
    settings.ALIPAY_APP_ID = ""

    assert topups_sync(now=timezone.now() + EXPIRED) == {"skipped": 1}
    assert TopUpOrder.objects.get().status == "created"


def test_the_beat_schedule_runs_the_task_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["billing-sync-topups"]
    assert entry == {"task": "billing.tasks.sync_topups", "schedule": 60.0}
    assert tasks.sync_topups.name == "billing.tasks.sync_topups"
