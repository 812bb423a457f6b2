"""Disputes: one per charge, refunded through the ledger (`dispute:<id>`, exactly once, no longer invoiceable)
or rejected with a reason; the customer is mailed after commit either way; the console queue acts and audits."""

import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.urls import reverse

from accounts.models import AuditEntry
from billing import invoices
from billing.disputes import DisputeError, dispute_open, dispute_refund, dispute_reject
from billing.models import Dispute, LedgerEntry, Wallet
from tests.billing.test_invoices import charge
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def customer():
    account, _ = make_customer(f"{uuid.uuid4().hex[:8]}@example.com", balance="100")
    return account


def balance(account) -> int:
    return Wallet.objects.get(account=account).balance_micros


def test_a_refund_gives_the_charge_back_once_through_the_ledger(django_capture_on_commit_callbacks):
    account = customer()
    cost = charge(account, "req_a", 10_000)
    before = balance(account)
    dispute = dispute_open(account_id=account.pk, request_id="req_a", reason="没用到这么多", actor="alice")
    assert (dispute.amount_micros, dispute.status) == (cost, "open")
    consumed = invoices.consumed_micros(account_id=account.pk)

    with django_capture_on_commit_callbacks(execute=True):
        acted = dispute_refund(dispute_id=dispute.pk, actor="fay", resolution="Sorry about that.")
    with pytest.raises(DisputeError, match="already refunded"):
        dispute_refund(dispute_id=dispute.pk, actor="fay")

    credit = LedgerEntry.objects.get(idempotency_key=f"dispute:{dispute.pk}")
    assert (credit.amount_micros, credit.kind, credit.actor) == (cost, "credit", "fay")
    assert balance(account) == before + cost
    assert invoices.consumed_micros(account_id=account.pk) == consumed - cost  # given back: not invoiceable
    assert (acted.before, acted.dispute.status, acted.dispute.resolved_by) == ("open", "refunded", "fay")
    [message] = mail.outbox
    assert message.to == [account.email] and "refunded" in message.subject and "Sorry about that." in message.body


def test_a_rejection_needs_a_reason_and_moves_no_money(django_capture_on_commit_callbacks):
    account = customer()
    charge(account, "req_b", 10_000)
    dispute = dispute_open(account_id=account.pk, request_id="req_b", reason="?", actor="alice")
    before = balance(account)
    with pytest.raises(DisputeError, match="needs a reason"):
        dispute_reject(dispute_id=dispute.pk, actor="fay", resolution="  ")
    with django_capture_on_commit_callbacks(execute=True):
        dispute_reject(dispute_id=dispute.pk, actor="fay", resolution="The usage matches the upstream's count.")
    assert balance(account) == before and not LedgerEntry.objects.filter(idempotency_key__startswith="dispute:")
    [message] = mail.outbox
    assert "not accepted" in message.subject and "upstream's count" in message.body


def test_only_an_own_charge_can_be_disputed_and_only_once():
    account, other = customer(), customer()
    charge(account, "req_c", 10_000)
    with pytest.raises(DisputeError) as no_charge:
        dispute_open(account_id=other.pk, request_id="req_c", reason="not mine", actor="eve")
    with pytest.raises(DisputeError) as no_reason:
        dispute_open(account_id=account.pk, request_id="req_c", reason=" ", actor="alice")
    dispute_open(account_id=account.pk, request_id="req_c", reason="twice?", actor="alice")
    with pytest.raises(DisputeError) as again:
        dispute_open(account_id=account.pk, request_id="req_c", reason="twice!", actor="alice")
    assert (no_charge.value.code, no_reason.value.code, again.value.code) == ("no_charge", "no_reason", "already_disputed")
    assert Dispute.objects.count() == 1


# --- the console ---------------------------------------------------------------------------------------


def operator(username: str, group: str):
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_finance_refunds_from_the_queue_and_it_is_audited(client, django_capture_on_commit_callbacks):
    account = customer()
    cost = charge(account, "req_d", 10_000)
    dispute = dispute_open(account_id=account.pk, request_id="req_d", reason="重复扣费", actor="alice")
    client.force_login(operator("fay", "finance"))
    act = reverse("admin:billing_dispute_act", args=[dispute.pk])

    queue = client.get(reverse("admin:billing_dispute_changelist") + "?status__exact=open").content.decode()
    page = client.get(act).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(act, {"refund": "1", "resolution": ""}, follow=True)

    assert act in queue and "重复扣费" in page and "charge:req_d" in page
    assert done.status_code == 200 and "the customer was mailed" in done.content.decode()
    assert LedgerEntry.objects.get(idempotency_key=f"dispute:{dispute.pk}").amount_micros == cost
    audit = AuditEntry.objects.get(action="dispute_refund")
    assert (audit.object_id, audit.before, audit.after["ledger_entry"]) == (
        str(dispute.pk), {"status": "open"}, f"dispute:{dispute.pk}")
    assert len(mail.outbox) == 1


def test_support_sees_the_queue_but_cannot_resolve(client):
    account = customer()
    charge(account, "req_e", 10_000)
    dispute = dispute_open(account_id=account.pk, request_id="req_e", reason="?", actor="alice")
    client.force_login(operator("sam", "support"))
    act = reverse("admin:billing_dispute_act", args=[dispute.pk])
    assert client.get(reverse("admin:billing_dispute_changelist")).status_code == 200
    assert client.get(act).status_code == 403
    assert client.post(act, {"refund": "1"}).status_code == 403
    dispute.refresh_from_db()
    assert dispute.status == "open" and not LedgerEntry.objects.filter(idempotency_key__startswith="dispute:")


def test_the_customer_gets_a_dispute_resolved_webhook_once(django_capture_on_commit_callbacks):
    """The refund and the rejection both reach the customer's `dispute.resolved` webhook (accounts sends it
    through billing's customer_event signal), once per dispute."""
    from accounts.api import webhooks
    from accounts.models import WebhookDelivery

    account = customer()
    charge(account, "req_w", 10_000)
    charge(account, "req_x", 20_000)
    endpoint, _ = webhooks.endpoint_create(account_id=account.pk, url="https://hooks.example.com/d",
                                           events=["dispute.resolved"])  # fmt: skip
    refunded = dispute_open(account_id=account.pk, request_id="req_w", reason="r", actor="alice")
    rejected = dispute_open(account_id=account.pk, request_id="req_x", reason="r", actor="alice")
    with django_capture_on_commit_callbacks(execute=True):
        dispute_refund(dispute_id=refunded.pk, actor="fay", resolution="Sorry.")
        dispute_reject(dispute_id=rejected.pk, actor="fay", resolution="It was used.")
    sent = {d.payload["data"]["dispute"]: d.payload["data"]
            for d in WebhookDelivery.objects.filter(endpoint=endpoint, event_type="dispute.resolved")}
    assert sent[refunded.pk]["outcome"] == "refunded" and sent[refunded.pk]["refund_micros"] == refunded.amount_micros
    assert sent[rejected.pk]["outcome"] == "rejected" and sent[rejected.pk]["refund_micros"] == 0
    assert sent[rejected.pk]["resolution"] == "It was used." and len(sent) == 2
