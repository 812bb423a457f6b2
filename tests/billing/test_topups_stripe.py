"""Stripe Checkout top-ups. No network: checkouts are a mocked stripe call, webhooks are signed here
with Stripe's scheme (t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>"))."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
import stripe
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, TopUpOrder, Wallet
from billing.money import AmountError
from billing.payments import PaymentError, PaymentEvent, WebhookSignatureError, get_provider
from billing.reconcile import ledger_reconcile
from billing.refunds import RefundError, topup_refund
from billing.topup_sync import topups_sync
from billing.topups import Outcome, topup_complete_from_event, topup_create
from tests.factories import make_customer

SECRET = "whsec_test_secret"
WEBHOOK = "/billing/webhooks/stripe/"


@pytest.fixture(autouse=True)
def _stripe_settings(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_key"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.HARNMODEL_CURRENCY = "CNY"


def start(account, amount_micros: int = 50_000_000, session_id: str = "cs_test_1") -> TopUpOrder:
    created = SimpleNamespace(id=session_id, url=f"https://checkout.stripe.com/c/pay/{session_id}")
    with mock.patch("stripe.checkout.Session.create", return_value=created):
        started = topup_create(
            account_id=account.pk,
            amount_micros=amount_micros,
            provider="stripe",
            success_url="https://portal.example/ok",
            cancel_url="https://portal.example/cancel",
        )
    return started.order


def event_payload(order, *, event_id="evt_1", kind="checkout.session.completed", amount=None, currency="cny", **s):
    session = {
        "id": order.provider_session_id,
        "object": "checkout.session",
        "amount_total": order.amount_micros // 10_000 if amount is None else amount,
        "currency": currency,
        "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)},
        "payment_status": "paid",
        "status": "complete",
        **s,
    }
    event = {"id": event_id, "object": "event", "type": kind, "api_version": "2024-06-20", "data": {"object": session}}
    return json.dumps(event).encode()


def sign(payload: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload.decode()}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def deliver(client, payload: bytes, signature: str | None = None):
    headers = {"Stripe-Signature": sign(payload) if signature is None else signature}
    return client.post(WEBHOOK, data=payload, content_type="application/json", headers=headers)


def credited(account) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(wallet__account=account, kind="topup"))


# --- checkout --------------------------------------------------------------------------------------


def test_checkout_asks_stripe_for_the_amount_in_fen_for_this_order(bob):
    created = SimpleNamespace(id="cs_test_9", url="https://checkout.stripe.com/c/pay/cs_test_9")
    with mock.patch("stripe.checkout.Session.create", return_value=created) as create:
        started = topup_create(
            account_id=bob.account.pk,
            amount_micros=12_340_000,
            provider="stripe",
            success_url="https://portal.example/ok",
            cancel_url="https://portal.example/cancel",
        )

    order = TopUpOrder.objects.get()
    assert started.redirect_url == "https://checkout.stripe.com/c/pay/cs_test_9"
    assert (order.status, order.amount_micros, order.currency, order.provider) == (
        "created",
        12_340_000,
        "CNY",
        "stripe",
    )
    assert order.provider_session_id == "cs_test_9"
    params = create.call_args.kwargs
    assert params["line_items"] == [
        {
            "quantity": 1,
            "price_data": {"currency": "cny", "unit_amount": 1234, "product_data": {"name": "Account credit"}},
        }
    ]
    assert params["client_reference_id"] == str(order.pk) == params["metadata"]["order_id"]
    assert (params["mode"], params["success_url"], params["cancel_url"]) == (
        "payment",
        "https://portal.example/ok",
        "https://portal.example/cancel",
    )
    assert params["api_key"] == "sk_test_key" and params["idempotency_key"] == f"checkout:{order.pk}"


@pytest.mark.parametrize("amount", [12_345_678, 1, 0, -10_000])
def test_checkout_refuses_amounts_stripe_cannot_charge_exactly(bob, amount):
    with mock.patch("stripe.checkout.Session.create") as create, pytest.raises(AmountError):
        topup_create(
            account_id=bob.account.pk, amount_micros=amount, provider="stripe", success_url="s", cancel_url="c"
        )

    create.assert_not_called()
    assert not TopUpOrder.objects.exists()


def test_zero_decimal_currencies_are_charged_in_whole_units():
    provider = get_provider("stripe")
    provider.check_amount(amount_micros=500_000_000, currency="JPY")
    with pytest.raises(AmountError):
        provider.check_amount(amount_micros=500_500_000, currency="JPY")


def test_checkout_failure_marks_the_order_failed(bob):
    error = stripe.APIConnectionError("network down")
    with mock.patch("stripe.checkout.Session.create", side_effect=error), pytest.raises(PaymentError):
        topup_create(
            account_id=bob.account.pk, amount_micros=10_000_000, provider="stripe", success_url="s", cancel_url="c"
        )

    order = TopUpOrder.objects.get()
    assert order.status == "failed" and "network down" in order.failure_reason


# --- webhooks ----------------------------------------------------------------------------------------


def test_paid_webhook_delivered_three_times_credits_once(client, bob):
    order = start(bob.account, 50_000_000)
    payload = event_payload(order)

    statuses = [deliver(client, payload) for _ in range(3)]

    assert [r.status_code for r in statuses] == [200, 200, 200]
    assert [r.json()["status"] for r in statuses] == ["credited", "duplicate", "duplicate"]
    (entry,) = credited(bob.account)
    assert (entry.amount_micros, entry.idempotency_key) == (50_000_000, f"topup:stripe:{order.pk}")
    assert Wallet.objects.get(account=bob.account).balance_micros == 50_000_000
    order.refresh_from_db()
    assert (order.status, order.provider_event_id) == ("credited", "evt_1") and order.paid_at is not None
    assert ledger_reconcile() == []


def test_different_events_for_one_checkout_credit_once(client, bob):
    order = start(bob.account, 50_000_000)

    first = deliver(client, event_payload(order, event_id="evt_1"))
    second = deliver(client, event_payload(order, event_id="evt_2", kind="checkout.session.async_payment_succeeded"))

    assert (first.json()["status"], second.json()["status"]) == ("credited", "duplicate")
    assert len(credited(bob.account)) == 1


@pytest.mark.parametrize(
    "signature",
    [
        "",  # no header at all
        "t=1,v1=deadbeef",
        "garbage",
        "wrong-secret",
        "stale",
    ],
)
def test_badly_signed_webhook_is_400_and_credits_nothing(client, bob, signature):
    order = start(bob.account)
    payload = event_payload(order)
    if signature == "wrong-secret":
        signature = sign(payload, secret="whsec_someone_else")
    elif signature == "stale":
        signature = sign(payload, timestamp=int(time.time()) - 3600)  # a replay from an hour ago

    response = client.post(
        WEBHOOK, data=payload, content_type="application/json", headers={"Stripe-Signature": signature}
    )

    assert response.status_code == 400
    assert not credited(bob.account)
    assert TopUpOrder.objects.get().status == "created"


def test_tampered_payload_is_400_and_credits_nothing(client, bob):
    order = start(bob.account, 10_000_000)
    signature = sign(event_payload(order))

    response = deliver(client, event_payload(order, amount=100_000), signature)  # signed for ¥10, says ¥1000

    assert response.status_code == 400 and not credited(bob.account)


def test_webhooks_are_refused_while_no_secret_is_configured(client, bob, settings):
    order = start(bob.account)
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = deliver(client, event_payload(order), sign(event_payload(order), secret=""))

    # Not configured: the endpoint does not exist (and the provider would refuse unsigned events anyway).
    assert response.status_code == 404 and not credited(bob.account)
    with pytest.raises(WebhookSignatureError):
        get_provider("stripe").parse_webhook(payload=event_payload(order), headers={"Stripe-Signature": "t=1,v1=0"})


@pytest.mark.parametrize(("amount", "currency"), [(100, "cny"), (5001, "cny"), (5000, "usd")])
def test_amount_mismatch_credits_nothing_and_fails_the_order(client, bob, caplog, amount, currency):
    order = start(bob.account, 50_000_000)

    response = deliver(client, event_payload(order, amount=amount, currency=currency))
    again = deliver(client, event_payload(order, event_id="evt_2"))  # even a correct one later: an operator decides

    assert (response.status_code, response.json()["error"]) == (400, "failed")
    assert again.json()["status"] == "ignored"
    assert not credited(bob.account) and Wallet.objects.get(account=bob.account).balance_micros == 0
    order.refresh_from_db()
    assert order.status == "failed" and "paid" in order.failure_reason
    assert any(r.levelname == "ERROR" and str(order.pk) in r.getMessage() for r in caplog.records)


def test_completed_but_unpaid_checkout_is_acknowledged_and_credits_nothing(client, bob):
    order = start(bob.account)

    response = deliver(client, event_payload(order, payment_status="unpaid"))

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert TopUpOrder.objects.get().status == "created" and not credited(bob.account)


def test_expired_checkout_closes_the_order_but_never_a_credited_one(client, bob):
    waiting, paid = start(bob.account, session_id="cs_a"), start(bob.account, session_id="cs_b")
    deliver(client, event_payload(paid))

    expire = [
        deliver(
            client, event_payload(o, event_id=f"evt_x{i}", kind="checkout.session.expired", payment_status="unpaid")
        )
        for i, o in enumerate((waiting, paid))
    ]

    assert [r.json()["status"] for r in expire] == ["expired", "ignored"]
    statuses = dict(TopUpOrder.objects.values_list("provider_session_id", "status"))
    assert statuses == {"cs_a": "expired", "cs_b": "credited"}
    assert len(credited(bob.account)) == 1


def test_other_events_are_acknowledged_and_unknown_orders_refused(client, bob):
    order = start(bob.account)
    other = json.dumps({"id": "evt_9", "object": "event", "type": "customer.created", "data": {"object": {}}}).encode()
    stranger = event_payload(order).replace(str(order.pk).encode(), b"00000000-0000-0000-0000-000000000000")
    stranger = stranger.replace(b'"cs_test_1"', b'"cs_unknown"')

    assert deliver(client, other).json() == {"status": "ignored"}
    refused = deliver(client, stranger)
    assert (refused.status_code, refused.json()) == (400, {"error": "unknown_order"})
    assert not credited(bob.account) and TopUpOrder.objects.get().status == "created"


def test_webhook_only_accepts_post_to_known_providers(client):
    assert client.get(WEBHOOK).status_code == 405
    assert client.post("/billing/webhooks/nopay/", data=b"{}", content_type="application/json").status_code == 404
    assert reverse("billing:payment_webhook", kwargs={"provider": "stripe"}) == WEBHOOK


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_concurrently_credits_once():
    account, _ = make_customer("payer@example.com")
    order = start(account, 30_000_000)
    event = PaymentEvent(
        provider="stripe", event_id="evt_1", kind=PaymentEvent.PAID, order_id=str(order.pk),
        session_id=order.provider_session_id, amount_micros=30_000_000, currency="CNY",
    )  # fmt: skip
    gate = threading.Barrier(3)
    outcomes: list[Outcome] = []

    def complete() -> None:
        try:
            gate.wait()
            outcomes.append(topup_complete_from_event(event))
        finally:
            connection.close()

    threads = [threading.Thread(target=complete) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == [Outcome.CREDITED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(credited(account)) == 1
    assert Wallet.objects.get(account=account).balance_micros == 30_000_000


# --- query, close, refund (lost webhooks, expiry, console refunds) ----------------------------------


def retrieved(order, *, status="complete", payment_status="paid", amount=None, payment_intent="pi_1"):
    """What Session.retrieve returns: a real stripe object built from Stripe's JSON shape."""
    data = {
        "id": order.provider_session_id, "object": "checkout.session", "status": status,
        "payment_status": payment_status, "currency": "cny", "client_reference_id": str(order.pk),
        "amount_total": order.amount_micros // 10_000 if amount is None else amount,
        "metadata": {"order_id": str(order.pk)}, "payment_intent": payment_intent,
    }  # fmt: skip
    return stripe.checkout.Session.construct_from(data, "sk_test_key")


def test_query_credits_a_paid_session_whose_webhook_was_lost_then_the_webhook_is_a_duplicate(client, bob):
    order = start(bob.account, 50_000_000)
    with mock.patch("stripe.checkout.Session.retrieve", return_value=retrieved(order)) as retrieve:
        counts = topups_sync(now=timezone.now() + timedelta(minutes=2))

    assert counts == {"credited": 1}
    assert retrieve.call_args.args == (order.provider_session_id,)
    assert retrieve.call_args.kwargs == {"api_key": "sk_test_key"}
    assert deliver(client, event_payload(order)).json() == {"status": "duplicate"}
    (entry,) = credited(bob.account)
    assert entry.idempotency_key == f"topup:stripe:{order.pk}"  # the same key on both paths


@pytest.mark.parametrize(
    ("status", "payment_status", "expected"), [("open", "unpaid", None), ("expired", "unpaid", "expired")]
)
def test_query_reports_open_and_expired_sessions(bob, status, payment_status, expected):
    order = start(bob.account)
    with mock.patch(
        "stripe.checkout.Session.retrieve", return_value=retrieved(order, status=status, payment_status=payment_status)
    ):
        event = get_provider("stripe").query(order=order)
    assert (event.kind if event else None) == expected


def test_expiry_expires_the_stripe_session_then_the_order(bob):
    order = start(bob.account)
    with (
        mock.patch(
            "stripe.checkout.Session.retrieve", return_value=retrieved(order, status="open", payment_status="unpaid")
        ),
        mock.patch("stripe.checkout.Session.expire") as expire,
    ):
        assert topups_sync(now=timezone.now() + timedelta(minutes=31)) == {"expired": 1}
    assert expire.call_args.args == (order.provider_session_id,)
    assert TopUpOrder.objects.get().status == "expired"


def test_close_failure_is_a_payment_error(bob):
    order = start(bob.account)
    error = stripe.InvalidRequestError("session is complete", param=None)
    with mock.patch("stripe.checkout.Session.expire", side_effect=error), pytest.raises(PaymentError):
        get_provider("stripe").close(order=order)


def test_refund_goes_to_the_payment_intent_in_fen_and_is_idempotent_per_refund(client, bob):
    order = start(bob.account, 50_000_000)
    deliver(client, event_payload(order))
    made = stripe.Refund.construct_from({"id": "re_1", "object": "refund", "status": "succeeded"}, "sk_test_key")
    with (
        mock.patch("stripe.checkout.Session.retrieve", return_value=retrieved(order)),
        mock.patch("stripe.Refund.create", return_value=made) as create,
    ):
        refund = topup_refund(order_id=order.pk, amount_micros=12_340_000, reason="asked", actor="fin")

    assert (refund.status, refund.provider_refund_id) == ("succeeded", "re_1")
    params = create.call_args.kwargs
    assert (params["payment_intent"], params["amount"], params["idempotency_key"]) == (
        "pi_1", 1234, f"refund:{refund.pk.hex}",
    )  # fmt: skip
    assert Wallet.objects.get(account=bob.account).balance_micros == 50_000_000 - 12_340_000


def test_a_failed_stripe_refund_is_reversed(client, bob):
    order = start(bob.account, 50_000_000)
    deliver(client, event_payload(order))
    failed = stripe.Refund.construct_from({"id": "re_2", "object": "refund", "status": "failed"}, "sk_test_key")
    with (
        mock.patch("stripe.checkout.Session.retrieve", return_value=retrieved(order)),
        mock.patch("stripe.Refund.create", return_value=failed),
        pytest.raises(RefundError, match="re_2 failed"),
    ):
        topup_refund(order_id=order.pk, amount_micros=50_000_000, reason="asked", actor="fin")

    assert Wallet.objects.get(account=bob.account).balance_micros == 50_000_000
    assert ledger_reconcile() == []
