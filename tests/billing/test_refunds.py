"""Refunds of credited top-ups (billing.refunds) through alipay.trade.refund at the fake gateway: a ledger
debit keyed by the refund, never more than the order, never below zero, reversed when Alipay refuses."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from billing import tasks
from billing.models import LedgerEntry, TopUpOrder, TopUpRefund, Wallet
from billing.reconcile import ledger_reconcile
from billing.refunds import RefundError, refunds_resume, topup_refund
from billing.services import wallet_credit
from billing.topups import topup_create


def paid_order(client, account, alipay, amount_micros: int = 50_000_000) -> TopUpOrder:
    order = topup_create(
        account_id=account.pk, amount_micros=amount_micros, provider="alipay", success_url="s", cancel_url="c"
    ).order
    alipay.pay(order.pk.hex)
    reply = client.post(
        "/billing/webhooks/alipay/", data=alipay.notification(order.pk.hex),
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert reply.content == b"success"
    order.refresh_from_db()
    assert order.status == "credited"
    return order


def balance(account) -> int:
    return Wallet.objects.get(account=account).balance_micros


def refund(order, amount_micros: int) -> TopUpRefund:
    return topup_refund(order_id=order.pk, amount_micros=amount_micros, reason="customer asked", actor="fin")


def test_partial_then_full_refund(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)

    first = refund(order, 20_000_000)
    second = refund(order, 30_000_000)

    assert (first.status, second.status) == ("succeeded", "succeeded")
    trade = alipay.trades[order.pk.hex]
    assert trade.refunds == {first.pk.hex: "20.00", second.pk.hex: "30.00"} and trade.status == "TRADE_CLOSED"
    entries = LedgerEntry.objects.filter(kind="refund").order_by("id")
    assert [(e.amount_micros, e.idempotency_key, e.actor) for e in entries] == [
        (-20_000_000, f"refund:{first.pk}", "fin"),
        (-30_000_000, f"refund:{second.pk}", "fin"),
    ]
    order.refresh_from_db()
    assert order.refunded_micros == 50_000_000 and balance(bob.account) == 0
    assert ledger_reconcile() == []


def test_refunds_never_add_up_to_more_than_the_order(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)
    wallet_credit(account_id=bob.account.pk, amount_micros=100_000_000, idempotency_key="gift")  # plenty of money
    refund(order, 40_000_000)

    with pytest.raises(RefundError, match="at most ¥10.00"):
        refund(order, 10_010_000)

    assert [m for m, _ in alipay.calls].count("alipay.trade.refund") == 1
    assert TopUpRefund.objects.count() == 1 and balance(bob.account) == 110_000_000


def test_a_refund_that_would_make_the_wallet_negative_is_refused(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)
    wallet_credit(account_id=bob.account.pk, amount_micros=-45_000_000, idempotency_key="spent", kind="charge")

    with pytest.raises(RefundError, match="only ¥5.00 available"):
        refund(order, 10_000_000)

    assert "alipay.trade.refund" not in [m for m, _ in alipay.calls]  # no money left Alipay
    assert balance(bob.account) == 5_000_000 and not TopUpRefund.objects.exists()
    assert refund(order, 5_000_000).status == "succeeded" and balance(bob.account) == 0


def test_a_refund_alipay_refuses_is_reversed(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)
    alipay.trades[order.pk.hex].status = "TRADE_FINISHED"  # past Alipay's refund window

    with pytest.raises(RefundError, match="ACQ.TRADE_STATUS_ERROR"):
        refund(order, 20_000_000)

    (failed,) = TopUpRefund.objects.all()
    assert failed.status == "failed" and "TRADE_STATUS_ERROR" in failed.failure_reason
    amounts = sorted(LedgerEntry.objects.filter(kind="refund").values_list("amount_micros", flat=True))
    assert amounts == [-20_000_000, 20_000_000]
    order.refresh_from_db()
    assert order.refunded_micros == 0 and balance(bob.account) == 50_000_000
    assert ledger_reconcile() == []


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [(0, "r", "whole fen"), (12_345, "r", "whole fen"), (10_000_000, " ", "needs a reason")],
)
def test_bad_refund_requests_are_refused_before_any_money_moves(client, bob, alipay, amount, reason, message):
    order = paid_order(client, bob.account, alipay)

    with pytest.raises(RefundError, match=message):
        topup_refund(order_id=order.pk, amount_micros=amount, reason=reason, actor="fin")

    assert not TopUpRefund.objects.exists() and balance(bob.account) == 50_000_000


def test_only_credited_orders_can_be_refunded(bob, alipay):
    order = topup_create(
        account_id=bob.account.pk, amount_micros=10_000_000, provider="alipay", success_url="s", cancel_url="c"
    ).order

    with pytest.raises(RefundError, match="only credited"):
        refund(order, 10_000_000)
    with pytest.raises(RefundError, match="no such"):
        topup_refund(order_id="00000000-0000-0000-0000-000000000000", amount_micros=1, reason="r", actor="a")


# --- the console ---------------------------------------------------------------------------------------


def operator(username: str, group: str):
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def refund_url(order) -> str:
    return reverse("admin:billing_topuporder_refund", args=[order.pk])


def test_finance_refunds_from_the_console_and_it_is_audited(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)
    fay = operator("fay", "finance")
    client.force_login(fay)

    page = client.get(refund_url(order)).content.decode()
    response = client.post(refund_url(order), {"amount": "20", "reason": "duplicate payment"}, follow=True)

    assert 'data-testid="refundable">¥50.00' in page
    assert "Refunded ¥20.00" in response.content.decode()
    entry = LedgerEntry.objects.get(kind="refund")
    assert (entry.amount_micros, entry.actor) == (-20_000_000, "fay") and "duplicate payment" in entry.note
    audit = AuditEntry.objects.get(action="topup_refund")
    assert audit.actor == fay and audit.object_id == str(order.pk) and audit.after["status"] == "succeeded"
    assert audit.before == {"refunded_micros": 0} and audit.after["amount_micros"] == 20_000_000


def test_a_refused_console_refund_moves_nothing_and_says_why(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)
    client.force_login(operator("fay", "finance"))

    response = client.post(refund_url(order), {"amount": "60", "reason": "too much"})

    assert response.status_code == 200 and "at most ¥50.00" in response.content.decode()
    assert not LedgerEntry.objects.filter(kind="refund").exists() and balance(bob.account) == 50_000_000
    assert AuditEntry.objects.get().action == "topup_refund_refused"


def test_support_cannot_refund(client, bob, alipay):
    order = paid_order(client, bob.account, alipay)
    client.force_login(operator("sam", "support"))

    assert client.get(refund_url(order)).status_code == 403
    assert client.post(refund_url(order), {"amount": "5", "reason": "x"}).status_code == 403
    changelist = client.get(reverse("admin:billing_topuporder_changelist"))
    assert changelist.status_code == 200 and "refund_order" not in changelist.content.decode()
    assert not TopUpRefund.objects.exists() and balance(bob.account) == 50_000_000


def test_the_refund_action_opens_the_page_for_one_order(admin_client, client, bob, alipay):
    order = paid_order(client, bob.account, alipay)
    response = admin_client.post(
        reverse("admin:billing_topuporder_changelist"), {"action": "refund_order", "_selected_action": [order.pk]}
    )
    assert response.status_code == 302 and response["Location"] == refund_url(order)
    change = admin_client.get(reverse("admin:billing_topuporder_change", args=[order.pk])).content.decode()
    assert order.provider_trade_no in change


def test_finance_and_admin_may_refund_support_may_not(db):
    def can(group: str) -> bool:
        return Group.objects.get(name=group).permissions.filter(codename="refund_topuporder").exists()

    assert (can("finance"), can("admin"), can("support")) == (True, True, False)


def test_a_refund_without_an_answer_stays_pending_and_is_resumed(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)
    alipay.stop()  # Alipay unreachable: did the money leave? Nobody knows yet

    with pytest.raises(RefundError, match="stays pending"):
        refund(order, 20_000_000)

    (pending,) = TopUpRefund.objects.all()
    assert pending.status == "pending" and balance(bob.account) == 30_000_000  # debited, not reversed
    assert refunds_resume() == {}  # too recent to ask again
    alipay.start()  # back, on the same port
    assert refunds_resume(now=timezone.now() + timedelta(minutes=6)) == {"refund_succeeded": 1}
    assert alipay.trades[order.pk.hex].refunds == {pending.pk.hex: "20.00"}
    assert tasks.sync_topups() == {}  # nothing left for the beat task
    order.refresh_from_db()
    assert order.refunded_micros == 20_000_000 and balance(bob.account) == 30_000_000
    assert ledger_reconcile() == []


def test_a_resumed_refund_the_provider_refuses_is_reversed(client, bob, alipay):
    order = paid_order(client, bob.account, alipay, 50_000_000)
    alipay.stop()
    with pytest.raises(RefundError):
        refund(order, 20_000_000)
    alipay.start()
    alipay.trades[order.pk.hex].status = "TRADE_FINISHED"

    assert refunds_resume(now=timezone.now() + timedelta(minutes=6)) == {"refund_failed": 1}
    assert balance(bob.account) == 50_000_000 and TopUpRefund.objects.get().status == "failed"
