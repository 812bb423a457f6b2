"""Webhooks against a real local HTTPS receiver: Standard Webhooks signatures, retries with backoff, the delivery
log, redelivery; https only and no loopback/private hosts unless an operator allowlists them."""

import json

import pytest

from accounts.api import webhook_signing, webhooks
from accounts.models import WebhookDelivery, WebhookEndpoint
from billing.alerts import low_balance_check
from billing.models import Wallet
from harnmodel.celery import app as celery_app

from .webhook_receiver import Receiver, self_signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(tmp_path, settings):
    cert, key = self_signed(tmp_path)
    server = Receiver(cert, key).start()
    settings.HARNMODEL_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # this test's receiver is on loopback
    settings.HARNMODEL_WEBHOOK_CA_BUNDLE = str(cert)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fixture_endpoints_off(tenant_a):
    """The personas' endpoints name a public host: nothing here may leave this machine."""
    WebhookEndpoint.objects.update(enabled=False)


@pytest.fixture
def eager():
    """Tasks run in-process (the countdown of a retry is not waited for: attempts follow at once)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_signature_matches_the_standard_webhooks_test_vector():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert webhook_signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = webhook_signing.headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", body, now=1614265330)
    assert webhook_signing.verify(secret, headers, body, now=1614265330 + 10)
    assert not webhook_signing.verify(secret, headers, body + b" ", now=1614265330)
    assert not webhook_signing.verify(secret, headers, body, now=1614265330 + 3600)  # a replay


def _register(tenant, receiver, events=()):
    response = tenant.client().post("/api/v1/webhooks/", {"url": receiver.url, "events": list(events)}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_real_event_is_signed_and_delivered(tenant_a, receiver, eager, django_capture_on_commit_callbacks):
    created = _register(tenant_a, receiver, events=["balance.low"])
    assert created["secret"].startswith("whsec_") and "secret" not in tenant_a.client().get(
        f"/api/v1/webhooks/{created['id']}/").json()  # fmt: skip
    Wallet.objects.filter(account=tenant_a.account).update(low_balance_threshold_micros=10**12)
    with django_capture_on_commit_callbacks(execute=True):
        assert low_balance_check()["sent"] == 1  # the real low-balance job fires the event
    [(headers, body)] = receiver.received
    assert webhook_signing.verify(created["secret"], headers, body)
    event = json.loads(body)
    assert event["type"] == "balance.low" and event["data"]["threshold_micros"] == 10**12
    log = tenant_a.client().get(f"/api/v1/webhook-deliveries/?endpoint={created['id']}").json()["results"]
    assert [(d["status"], d["attempts"], d["message_id"]) for d in log] == [("succeeded", 1, headers["webhook-id"])]


def test_failures_are_retried_then_succeed(tenant_a, receiver, eager, django_capture_on_commit_callbacks):
    created = _register(tenant_a, receiver)
    receiver.statuses = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        response = tenant_a.client().post(f"/api/v1/webhooks/{created['id']}/test/")
    assert response.status_code == 201
    assert len(receiver.received) == 3
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 1  # one message, three tries
    delivery = WebhookDelivery.objects.get(pk=response.json()["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)


def test_backoff_schedule_and_giving_up_then_redelivery(tenant_a, receiver, eager,
                                                        django_capture_on_commit_callbacks):  # fmt: skip
    assert [webhooks.backoff_seconds(n) for n in range(1, 7)] == [30, 120, 600, 3600, 21600, None]
    created = _register(tenant_a, receiver)
    receiver.statuses = [500] * webhooks.MAX_ATTEMPTS
    with django_capture_on_commit_callbacks(execute=True):
        delivery_id = tenant_a.client().post(f"/api/v1/webhooks/{created['id']}/test/").json()["id"]
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 6, "HTTP 500")
    assert len(receiver.received) == 6
    with django_capture_on_commit_callbacks(execute=True):
        again = tenant_a.client().post(f"/api/v1/webhook-deliveries/{delivery_id}/redeliver/")
    assert again.status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    assert receiver.received[-1][0]["webhook-id"] == delivery.message_id


def test_a_failed_attempt_schedules_the_next_with_backoff(tenant_a, receiver):
    """Without eager tasks: one attempt, and the log says when the next one is due."""
    endpoint, _ = webhooks.endpoint_create(account_id=tenant_a.account.pk, url=receiver.url, events=[])
    receiver.statuses = [502]
    [delivery] = webhooks.emit(account_id=tenant_a.account.pk, event_type="topup.credited", data={"x": 1})
    delivery = webhooks.attempt(delivery.pk)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 502
    wait = (delivery.next_attempt_at - delivery.created_at).total_seconds()
    assert 25 <= wait <= 40


@pytest.mark.parametrize("url, code", [
    ("http://hooks.example.com/x", "https_required"),
    ("https://127.0.0.1/x", "url_not_allowed"),
    ("https://10.1.2.3/x", "url_not_allowed"),
    ("https://[::1]/x", "url_not_allowed"),
    ("https://localhost/x", "url_not_allowed"),
    ("https://169.254.169.254/latest", "url_not_allowed"),
    ("https://2130706433/x", "invalid"),  # refused by the URL field itself
    ("https://metadata.internal/x", "url_not_allowed"),
])  # fmt: skip
def test_endpoints_must_be_https_and_public(tenant_a, url, code):
    response = tenant_a.client().post("/api/v1/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == "url"


def test_an_allowlist_removed_later_stops_sending(tenant_a, receiver, settings):
    endpoint, _ = webhooks.endpoint_create(account_id=tenant_a.account.pk, url=receiver.url, events=[])
    settings.HARNMODEL_WEBHOOK_ALLOWED_HOSTS = []
    [delivery] = webhooks.emit(account_id=tenant_a.account.pk, event_type="webhook.test", data={})
    delivery = webhooks.attempt(delivery.pk)
    assert receiver.received == [] and "private" in delivery.last_error and delivery.last_status_code is None


def test_unknown_events_and_the_endpoint_cap(tenant_a, settings):
    client = tenant_a.client()
    bad = client.post("/api/v1/webhooks/", {"url": "https://h.example.com/", "events": ["nope"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "events"
    ops_only = client.post("/api/v1/webhooks/", {"url": "https://h.example.com/", "events": ["channel.disabled"]},
                           format="json")  # fmt: skip
    assert ops_only.status_code == 400
    for n in range(webhooks.MAX_ENDPOINTS - 1):  # the fixture made one
        assert client.post("/api/v1/webhooks/", {"url": f"https://h.example.com/{n}"}, format="json").status_code == 201
    capped = client.post("/api/v1/webhooks/", {"url": "https://h.example.com/more"}, format="json")
    assert capped.status_code == 409 and capped.json()["error"]["code"] == "endpoint_limit"


def test_an_event_fault_never_undoes_the_money_path(tenant_a, django_capture_on_commit_callbacks):
    """The signal's receiver swallows its own errors inside a savepoint: a broken endpoint row cannot stop a credit."""
    from billing.signals import customer_event

    WebhookEndpoint.objects.filter(pk=tenant_a.webhook.pk).update(events=["topup.credited"])
    customer_event.send(sender=None, account_id=tenant_a.account.pk, event_type="topup.credited",
                        data={"not_json": object()})  # fmt: skip
    assert not WebhookDelivery.objects.filter(event_type="topup.credited").exists()
    assert Wallet.objects.filter(account=tenant_a.account).exists()  # the transaction is still usable


def test_events_from_their_real_sources_reach_the_right_scope(tenant_a, tenant_b, catalog):
    """channel.disabled from the health probe → operator endpoints only; topup.credited → that account's only."""
    from gateway.models import Channel
    from gateway.observe import health

    ops, _ = webhooks.endpoint_create(account_id=None, url="https://ops.example.com/in", events=[])
    mine, _ = webhooks.endpoint_create(account_id=tenant_a.account.pk, url="https://a.example.com/in", events=[])
    channel = Channel.objects.get(name="sim")
    health.apply_results([health.ProbeResult(channel_id=channel.pk, model_id="gpt-4o", ok=False, status=401,
                                             error="bad key", fatal="invalid credential")])  # fmt: skip
    [event] = WebhookDelivery.objects.filter(event_type="channel.disabled")
    assert event.endpoint_id == ops.pk and event.payload["data"]["channel"] == channel.pk
    from billing.signals import customer_event

    customer_event.send(sender=None, account_id=tenant_a.account.pk, event_type="topup.credited", data={"a": 1})
    assert [d.endpoint_id for d in WebhookDelivery.objects.filter(event_type="topup.credited")] == [mine.pk]
