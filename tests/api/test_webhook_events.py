"""The events of issue 19 beyond the first four, each fired by the real code that notices it, and the sweeper
that sends deliveries whose task was lost."""

import json
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.api import webhook_jobs, webhook_signing, webhooks
from accounts.models import WebhookDelivery, WebhookEndpoint
from accounts.tasks import notify_expiring_keys, sweep_webhook_deliveries
from billing.models import Wallet
from billing.tasks import LedgerDrift, reconcile_ledger
from gateway import signals
from gateway.models import ApiKey
from gateway.upstream import balance_poll
from gateway.upstream.balances import Reading
from tests.factories import make_channel

from .test_webhooks import eager, receiver  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fixture_endpoints_off(tenant_a):
    WebhookEndpoint.objects.update(enabled=False)  # the personas' endpoints: only this test's count


def _customer_endpoint(tenant, events=()):
    endpoint, _ = webhooks.endpoint_create(account_id=tenant.account.pk, url="https://hooks.example.com/c",
                                           events=list(events))  # fmt: skip
    return endpoint


def _operator_endpoint(events=()):
    endpoint, _ = webhooks.endpoint_create(account_id=None, url="https://hooks.example.com/ops", events=list(events))
    return endpoint


def _events(endpoint) -> list[tuple[str, dict]]:
    return [(d.event_type, d.payload["data"]) for d in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk")]


def test_every_new_event_can_be_subscribed_in_its_scope(tenant_a):
    client = tenant_a.client()
    customer = ["spend.limit_reached", "key.expiring", "dispute.resolved"]
    response = client.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/n", "events": customer},
                           format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    refused = client.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/m", "events": ["reconcile.drift"]},
                          format="json")  # fmt: skip
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_event"  # an operator event
    assert _operator_endpoint(["credential.disabled", "upstream.balance_low", "reconcile.drift"]).pk


def test_key_expiring_once_per_key_and_threshold(tenant_a):
    endpoint = _customer_endpoint(tenant_a, ["key.expiring"])
    key = ApiKey.objects.get(pk=tenant_a.api_key.pk)
    now = timezone.now()
    key.expires_at = now + timedelta(days=3)
    key.save()
    revoked = ApiKey.objects.create(account=tenant_a.account, prefix="sk-x", secret_hash="h" * 64,
                                    expires_at=now + timedelta(days=2), revoked_at=now)  # fmt: skip
    assert notify_expiring_keys.apply().get() == {"keys": 1}  # the revoked key is not told about
    assert notify_expiring_keys.apply().get() == {"keys": 1}  # looked at again, but not told twice
    [(event, data)] = _events(endpoint)
    assert event == "key.expiring" and data["threshold_days"] == 7 and data["key"]["id"] == key.pk
    assert data["key"]["project"] == key.project_id and data["key"]["prefix"] == key.prefix
    webhook_jobs.notify_expiring_keys(now=now + timedelta(days=2, hours=12))  # half a day left: the 1-day notice
    webhook_jobs.notify_expiring_keys(now=now + timedelta(days=2, hours=13))
    assert [d["threshold_days"] for _, d in _events(endpoint)] == [7, 1]
    assert revoked.pk not in [d["key"]["id"] for _, d in _events(endpoint)]


def test_a_new_expiry_is_a_new_notice(tenant_a):
    endpoint = _customer_endpoint(tenant_a)
    key = ApiKey.objects.get(pk=tenant_a.api_key.pk)
    key.expires_at = timezone.now() + timedelta(days=5)
    key.save()
    webhook_jobs.notify_expiring_keys()
    key.expires_at = timezone.now() + timedelta(days=6)  # extended, still within a week
    key.save()
    webhook_jobs.notify_expiring_keys()
    assert len(_events(endpoint)) == 2


def test_dispute_resolved_has_its_documented_payload_once(tenant_a):
    endpoint = _customer_endpoint(tenant_a)
    decided = timezone.now()
    dispute = SimpleNamespace(pk=41, account_id=tenant_a.account.pk, request_id="req_1", outcome="refunded",
                              refund_micros=1234, resolution="Upstream failed mid-answer.", resolved_at=decided)  # fmt: skip
    webhooks.emit_dispute_resolved(dispute)
    webhooks.emit_dispute_resolved(dispute)  # told again (a retried job): one delivery
    [(event, data)] = _events(endpoint)
    assert event == "dispute.resolved"
    assert data == {"dispute": 41, "request_id": "req_1", "outcome": "refunded", "refund_micros": 1234,
                    "resolution": "Upstream failed mid-answer.", "resolved_at": DjangoJSONEncoder().default(decided)}  # fmt: skip


def test_credential_disabled_reaches_operators_not_customers(tenant_a):
    ops, customer = _operator_endpoint(), _customer_endpoint(tenant_a)
    signals.credential_disabled(channel_id=7, credential="key-2", reason="401 from upstream")
    assert _events(ops) == [("credential.disabled", {"channel": 7, "credential": "key-2",
                                                     "reason": "401 from upstream"})]  # fmt: skip
    assert _events(customer) == []


def test_upstream_balance_low_from_the_balance_poll_once_per_crossing(tenant_a):
    ops = _operator_endpoint(["upstream.balance_low"])
    channel = make_channel("up", provider="openai_chat", base_url="https://up.example.com/v1",
                           options={"balance_kind": "deepseek", "balance_alert_below": "5"})  # fmt: skip
    for amount in (8_000_000, 4_000_000, 3_000_000):  # crosses once, stays below
        balance_poll.record(channel, Reading(balance_micros=amount, currency="CNY"), balance_poll.PollSummary())
    assert _events(ops) == [("upstream.balance_low", {"channel": channel.pk, "name": "up", "balance_micros": 4_000_000,
                                                      "threshold_micros": 5_000_000, "currency": "CNY"})]  # fmt: skip


def test_reconcile_drift_from_the_ledger_reconcile(tenant_a):
    ops = _operator_endpoint()
    Wallet.objects.filter(account=tenant_a.account).update(balance_micros=1)  # money moved outside the services
    with pytest.raises(LedgerDrift):
        reconcile_ledger()
    [(event, data)] = _events(ops)
    assert event == "reconcile.drift" and data["drifting"] == 1
    assert data["drifts"][0]["account_id"] == tenant_a.account.pk


# --- the sweeper ----------------------------------------------------------------------------------------


def _lost(endpoint, *, minutes_ago: int, next_attempt: bool = False) -> WebhookDelivery:
    """A delivery whose task never ran (a worker died before it, or the on-commit hook never fired)."""
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, message_id=f"msg_lost_{minutes_ago}_{next_attempt}",
                                              event_type="webhook.test", payload={"type": "webhook.test"})  # fmt: skip
    when = timezone.now() - timedelta(minutes=minutes_ago)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=when,
                                                          next_attempt_at=when if next_attempt else None)  # fmt: skip
    return delivery


def test_the_sweeper_sends_lost_deliveries_once(tenant_a, receiver, eager, django_capture_on_commit_callbacks):  # noqa: F811
    endpoint, secret = webhooks.endpoint_create(account_id=tenant_a.account.pk, url=receiver.url, events=[])
    lost = _lost(endpoint, minutes_ago=30)
    retry_lost = _lost(endpoint, minutes_ago=20, next_attempt=True)
    recent = _lost(endpoint, minutes_ago=1)  # its task may simply be on its way: left alone
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_webhook_deliveries.apply().get() == {"enqueued": 2}
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_webhook_deliveries.apply().get() == {"enqueued": 0}  # idempotent: nothing due any more
    assert sorted(h["webhook-id"] for h, _ in receiver.received) == sorted([lost.message_id, retry_lost.message_id])
    assert all(webhook_signing.verify(secret, h, b) for h, b in receiver.received)
    states = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert (states[lost.pk], states[retry_lost.pk], states[recent.pk]) == ("succeeded", "succeeded", "pending")


def test_the_sweeper_takes_a_bounded_batch_and_claims_what_it_takes(tenant_a, django_capture_on_commit_callbacks):
    WebhookDelivery.objects.all().delete()  # the persona's own pending one would be due later too
    endpoint = _customer_endpoint(tenant_a)
    for minutes in (10, 11, 12):
        _lost(endpoint, minutes_ago=minutes)
    with django_capture_on_commit_callbacks() as queued:
        assert webhook_jobs.sweep_deliveries(batch=2) == 2
        assert webhook_jobs.sweep_deliveries(batch=2) == 1  # the two claimed wait a grace period
        assert webhook_jobs.sweep_deliveries(batch=2) == 0
    assert len(queued) == 3
    later = timezone.now() + webhook_jobs.SWEEP_GRACE + timedelta(seconds=1)
    assert webhook_jobs.sweep_deliveries(now=later) == 3  # still pending after the grace: taken again


def test_a_sent_delivery_is_not_sent_again_by_a_late_task(tenant_a, receiver, eager):  # noqa: F811
    endpoint, _ = webhooks.endpoint_create(account_id=tenant_a.account.pk, url=receiver.url, events=[])
    delivery = _lost(endpoint, minutes_ago=30)
    assert webhooks.attempt(delivery.pk).status == "succeeded"
    assert webhooks.attempt(delivery.pk) is None  # the original task, arriving late
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0][1]) == {"type": "webhook.test"}


@pytest.mark.django_db(transaction=True)
def test_a_delivery_being_sent_is_skipped_by_a_second_task(tenant_a):
    """The attempt holds its row: a duplicate task (the sweeper's, a broker redelivery) skips it, never sends twice."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row locks")
    delivery = _lost(_customer_endpoint(tenant_a), minutes_ago=30)
    locked, release = threading.Event(), threading.Event()

    def first_task_sending():  # another worker, mid-send, in its own connection
        try:
            with transaction.atomic():
                WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    worker = threading.Thread(target=first_task_sending)
    worker.start()
    assert locked.wait(10)
    try:
        assert webhooks.attempt(delivery.pk) is None  # skipped at once, not queued behind the lock
    finally:
        release.set()
        worker.join()
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 0
