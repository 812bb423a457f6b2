"""Auto top-up end to end, offline: the `stripe` library talks over HTTP to a local fake Stripe
(tests/upstream/fake_stripe.py); webhooks are Stripe-signed here and posted to our endpoint. Test-mode
object shapes: cus_, cs_ (setup mode), seti_, pm_, pi_ with off_session/confirm."""

import threading
from datetime import timedelta

import pytest
import stripe
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from billing import autotopup
from billing.autotopup_models import AutoTopUp, AutoTopUpAttempt
from billing.autotopup_run import autotopups_run
from billing.models import LedgerEntry, TopUpOrder, Wallet
from billing.money import parse_amount
from billing.reconcile import ledger_reconcile
from billing.refunds import topup_refund
from billing.services import wallet_adjust, wallet_credit
from billing.topup_sync import topups_sync
from tests.factories import make_customer
from tests.upstream.fake_stripe import FakeStripe, sign

SECRET = "whsec_test_secret"
WEBHOOK = "/billing/webhooks/stripe/"


@pytest.fixture(scope="module")
def fake():
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _stripe(settings, fake, monkeypatch):
    fake.reset()
    settings.STRIPE_SECRET_KEY = fake.secret_key
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.HARNMODEL_CURRENCY = "CNY"
    settings.HARNMODEL_AUTOTOPUP_RETRY_MINUTES = 60
    monkeypatch.setattr(stripe, "api_base", fake.base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)  # a lost answer is lost, not retried inside


def deliver(client, payload: bytes):
    return client.post(WEBHOOK, data=payload, content_type="application/json",
                       headers={"Stripe-Signature": sign(payload, SECRET)})  # fmt: skip


def save_card(fake, client, account, *, outcome="succeed") -> AutoTopUp:
    """The customer saves a card on Stripe's setup page; its webhook tells us."""
    autotopup.card_setup_start(account_id=account.pk, email=account.email, success_url="https://p/ok",
                               cancel_url="https://p/no")  # fmt: skip
    [session_id] = fake.sessions
    session = fake.complete_setup(session_id, outcome=outcome)
    assert deliver(client, fake.event("checkout.session.completed", session)).status_code == 200
    return AutoTopUp.objects.get(account=account)


def enable(fake, client, account, *, threshold="50", amount="200", outcome="succeed") -> AutoTopUp:
    save_card(fake, client, account, outcome=outcome)
    return autotopup.settings_save(account_id=account.pk, enabled=True, threshold_micros=parse_amount(threshold),
                                   amount_micros=parse_amount(amount))  # fmt: skip


def spend(account, amount: str) -> None:
    wallet_adjust(account_id=account.pk, amount_micros=-parse_amount(amount), reason="spent", actor="test")


def balance(account) -> int:
    return Wallet.objects.get(account=account).balance_micros


def topups(account) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(wallet__account=account, kind="topup"))


def paid_event(fake, intent_id: str, **extra) -> bytes:
    return fake.event("payment_intent.succeeded", fake.intents[intent_id], **extra)


# --- saving a card ------------------------------------------------------------------------------------


def test_a_card_is_saved_through_checkout_in_setup_mode_and_only_its_ids_are_kept(fake, client, alice):
    url = autotopup.card_setup_start(account_id=alice.account.pk, email=alice.account.email,
                                     success_url="https://p/ok", cancel_url="https://p/no")  # fmt: skip

    [(session_id, session)] = fake.sessions.items()
    assert url == session["url"]
    [customer] = fake.customers.values()
    assert customer["metadata"] == {"account_id": str(alice.account.pk)}
    assert (session["mode"], session["customer"], session["metadata"]["purpose"]) == (
        "setup",
        customer["id"],
        "autotopup",
    )
    row = AutoTopUp.objects.get(account=alice.account)
    assert (row.stripe_customer_id, row.stripe_payment_method_id, row.enabled) == (customer["id"], "", False)

    completed = fake.complete_setup(session_id, brand="mastercard", last4="4444")
    payload = fake.event("checkout.session.completed", completed)
    assert deliver(client, payload).json() == {"status": "card saved"}
    assert deliver(client, payload).status_code == 200  # Stripe resends: the same card, kept once

    row.refresh_from_db()
    [method] = fake.payment_methods.values()
    assert (row.stripe_payment_method_id, row.card_brand, row.card_last4) == (method["id"], "mastercard", "4444")
    kept = {f.name: getattr(row, f.name) for f in AutoTopUp._meta.concrete_fields}
    assert "12" not in {str(v) for v in kept.values()} and "2030" not in {str(v) for v in kept.values()}


def test_a_second_setup_reuses_the_stripe_customer(fake, client, alice):
    save_card(fake, client, alice.account)
    fake.sessions.clear()
    save_card(fake, client, alice.account)
    assert len(fake.customers) == 1


def test_a_setup_session_of_a_customer_we_did_not_make_is_refused(fake, client, alice, bob):
    autotopup.card_setup_start(account_id=alice.account.pk, email="a@x", success_url="s", cancel_url="c")
    [session_id] = fake.sessions
    session = fake.complete_setup(session_id)
    session["metadata"] = {**session["metadata"], "account_id": str(bob.account.pk)}  # forged metadata

    response = deliver(client, fake.event("checkout.session.completed", session))

    assert response.status_code == 400
    assert not AutoTopUp.objects.filter(account=bob.account).exists()
    assert AutoTopUp.objects.get(account=alice.account).stripe_payment_method_id == ""


def test_the_portal_return_checks_the_session_belongs_to_the_account(fake, client, alice, bob):
    autotopup.card_setup_start(account_id=alice.account.pk, email="a@x", success_url="s", cancel_url="c")
    [session_id] = fake.sessions
    fake.complete_setup(session_id)

    with pytest.raises(autotopup.AutoTopUpError, match="card_mismatch"):
        autotopup.card_saved(session_id=session_id, account_id=bob.account.pk)
    assert autotopup.card_saved(session_id=session_id, account_id=alice.account.pk).has_card


# --- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "amount", "reason"),
    [("50", "5", "amount_out_of_range"), ("50", "5001", "amount_out_of_range"), ("5001", "100", "threshold_out_of_range"),
     ("-1", "100", "threshold_out_of_range"), ("50", "100.001", "amount_inexact")],
)  # fmt: skip
def test_settings_are_bounded(fake, client, alice, threshold, amount, reason):
    save_card(fake, client, alice.account)
    with pytest.raises(autotopup.AutoTopUpError) as refused:
        autotopup.settings_save(account_id=alice.account.pk, enabled=True,
                                threshold_micros=parse_amount(threshold, allow_negative=True),
                                amount_micros=parse_amount(amount))  # fmt: skip
    assert refused.value.reason == reason


def test_it_cannot_be_switched_on_without_a_saved_card(alice):
    with pytest.raises(autotopup.AutoTopUpError, match="no_card"):
        autotopup.settings_save(
            account_id=alice.account.pk, enabled=True, threshold_micros=1, amount_micros=parse_amount("100")
        )


# --- charging -----------------------------------------------------------------------------------------


def test_below_the_threshold_one_off_session_charge_and_the_webhook_credits_it_once(fake, client, alice):
    auto = enable(fake, client, alice.account, threshold="50", amount="200")
    assert autotopups_run() == {}  # 100 ≥ 50: nothing to do
    spend(alice.account, "60")

    counts = autotopups_run()

    assert counts == {"started_processing": 1}
    [charge] = fake.charges()
    order = TopUpOrder.objects.get(account=alice.account)
    [intent] = fake.intents.values()
    assert charge.params == {
        "amount": "20000", "currency": "cny", "customer": auto.stripe_customer_id,
        "payment_method": auto.stripe_payment_method_id, "off_session": "true", "confirm": "true",
        "description": "Automatic top-up",
        "automatic_payment_methods": {"enabled": "true", "allow_redirects": "never"},
        "metadata": {"order_id": str(order.pk), "autotopup_attempt": str(AutoTopUpAttempt.objects.get().pk)},
    }  # fmt: skip
    assert charge.idempotency_key == f"autotopup:{order.pk}"
    # Stripe said succeeded, but only the webhook credits.
    assert (order.status, order.provider_session_id, order.expires_at) == ("created", intent["id"], None)
    assert balance(alice.account) == parse_amount("40") and not topups(alice.account)
    assert autotopups_run() == {}  # in flight: never a second charge
    assert len(fake.charges()) == 1

    payload = paid_event(fake, intent["id"])
    for _ in range(3):  # Stripe delivers at least once
        assert deliver(client, payload).status_code == 200
    deliver(client, paid_event(fake, intent["id"]))  # and may send another event for the same intent

    [entry] = topups(alice.account)
    assert (entry.amount_micros, entry.idempotency_key) == (parse_amount("200"), f"topup:stripe:{order.pk}")
    assert balance(alice.account) == parse_amount("240")
    assert autotopups_run() == {"closed_succeeded": 1}
    assert AutoTopUpAttempt.objects.get().status == "succeeded"
    assert autotopups_run() == {} and len(fake.charges()) == 1
    assert ledger_reconcile() == []


def test_a_webhook_that_beats_the_charge_answer_credits_once(fake, client, alice):
    """The succeeded webhook is handled before the charge call's own answer is: the answer, when it comes
    (the same PaymentIntent, replayed for the same idempotency key), credits nothing more."""
    enable(fake, client, alice.account)
    spend(alice.account, "60")
    from billing.autotopup_run import _charge, attempt_start
    from billing.payments import stripe_cards

    attempt = attempt_start(account_id=alice.account.pk, now=timezone.now())
    order = attempt.order
    auto = AutoTopUp.objects.get()
    early = stripe_cards.charge(customer_id=auto.stripe_customer_id, payment_method_id=auto.stripe_payment_method_id,
                                amount_micros=order.amount_micros, currency="CNY", order_id=str(order.pk),
                                attempt_id=str(attempt.pk))  # fmt: skip
    assert deliver(client, paid_event(fake, early.payment_intent_id)).json() == {"status": "credited"}

    assert _charge(attempt.pk, timezone.now()) == "succeeded"

    assert len(fake.intents) == 1  # the same intent both times
    [entry] = topups(alice.account)
    assert entry.amount_micros == parse_amount("200") and balance(alice.account) == parse_amount("240")
    assert TopUpOrder.objects.get().provider_session_id == early.payment_intent_id


@pytest.mark.django_db(transaction=True)
def test_a_duplicated_webhook_delivered_concurrently_credits_once(fake, settings):
    account, _ = make_customer("payer@example.com", balance="100")
    enable(fake, Client(), account)
    spend(account, "60")
    autotopups_run()
    [intent] = fake.intents.values()
    payload = paid_event(fake, intent["id"])
    gate, answers = threading.Barrier(4), []

    def post() -> None:
        try:
            gate.wait()
            answers.append(deliver(Client(), payload).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert answers == [200] * 4
    assert len(topups(account)) == 1 and balance(account) == parse_amount("240")
    assert ledger_reconcile() == []


def test_a_lost_webhook_is_credited_by_the_query_and_the_late_webhook_is_a_duplicate(fake, client, alice):
    enable(fake, client, alice.account)
    spend(alice.account, "60")
    autotopups_run()
    [intent] = fake.intents.values()

    assert topups_sync(now=timezone.now() + timedelta(minutes=2)) == {"credited": 1}
    assert deliver(client, paid_event(fake, intent["id"])).json() == {"status": "duplicate"}

    assert len(topups(alice.account)) == 1 and balance(alice.account) == parse_amount("240")


def test_a_lost_charge_answer_is_asked_again_with_the_same_idempotency_key(fake, client, alice):
    enable(fake, client, alice.account)
    spend(alice.account, "60")
    fake.fail_next = [500]

    assert autotopups_run() == {"started_unanswered": 1}
    assert autotopups_run(now=timezone.now() + timedelta(minutes=3)) == {"asked_again_processing": 1}

    first, second = fake.charges()
    assert first.idempotency_key == second.idempotency_key
    assert len(fake.intents) == 1 and AutoTopUpAttempt.objects.get().status == "processing"


@pytest.mark.parametrize("first", ["decline", "authentication_required", "requires_action"])
def test_a_failed_charge_is_retried_once_later_then_mailed_and_paused(
    fake, client, alice, first, django_capture_on_commit_callbacks
):
    auto = enable(fake, client, alice.account, outcome=first)
    spend(alice.account, "60")
    now = timezone.now()

    assert autotopups_run(now=now) == {"started_retry_wait": 1}
    attempt = AutoTopUpAttempt.objects.get()
    [intent] = fake.intents.values()
    assert attempt.next_retry_at == now + timedelta(minutes=60)
    assert intent["status"] == "canceled"  # can never be paid beside its retry
    assert TopUpOrder.objects.get().status == "failed" and not mail.outbox
    assert autotopups_run(now=now + timedelta(minutes=59)) == {}  # not yet

    fake.set_outcome(auto.stripe_payment_method_id, "decline")
    with django_capture_on_commit_callbacks(execute=True):
        assert autotopups_run(now=now + timedelta(minutes=61)) == {"retried_failed": 1}

    assert len(fake.charges()) == 2
    first_charge, second_charge = fake.charges()
    assert first_charge.idempotency_key != second_charge.idempotency_key  # a new try, a new intent
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries, len(attempt.history)) == ("failed", 2, 2)
    assert "card_declined" in attempt.last_error
    auto.refresh_from_db()
    assert auto.paused_at is not None and auto.enabled
    [message] = mail.outbox
    assert message.to == [alice.account.email] and "card_declined" in message.body
    spend(alice.account, "10")
    assert autotopups_run(now=now + timedelta(hours=5)) == {}  # paused
    assert not topups(alice.account) and ledger_reconcile() == []

    autotopup.settings_save(account_id=alice.account.pk, enabled=True, threshold_micros=auto.threshold_micros,
                            amount_micros=auto.amount_micros)  # fmt: skip
    fake.set_outcome(auto.stripe_payment_method_id, "succeed")
    assert autotopups_run(now=now + timedelta(hours=6)) == {"started_processing": 1}  # resumed


def test_authentication_required_then_the_retry_succeeds(fake, client, alice):
    auto = enable(fake, client, alice.account, outcome="authentication_required")
    spend(alice.account, "60")
    now = timezone.now()
    autotopups_run(now=now)
    fake.set_outcome(auto.stripe_payment_method_id, "succeed")

    assert autotopups_run(now=now + timedelta(minutes=61)) == {"retried_processing": 1}
    paid = [i for i in fake.intents.values() if i["status"] == "succeeded"]
    [intent] = paid
    deliver(client, paid_event(fake, intent["id"]))

    assert autotopups_run(now=now + timedelta(minutes=62)) == {"closed_succeeded": 1}
    assert [e.amount_micros for e in topups(alice.account)] == [parse_amount("200")]
    assert not mail.outbox


def test_a_failure_webhook_fails_the_try_like_the_answer_would(fake, client, alice):
    auto = enable(fake, client, alice.account, outcome="processing")
    spend(alice.account, "60")
    autotopups_run()
    [intent] = fake.intents.values()
    intent.update(status="requires_payment_method", last_payment_error={"code": "card_declined"})

    assert deliver(client, fake.event("payment_intent.payment_failed", intent)).status_code == 200

    assert TopUpOrder.objects.get().status == "failed"
    assert autotopups_run() == {"closed_retry_wait": 1}
    assert auto.pk and not topups(alice.account)


def test_the_retry_is_skipped_when_the_balance_recovered_meanwhile(fake, client, alice):
    enable(fake, client, alice.account, outcome="decline")
    spend(alice.account, "60")
    now = timezone.now()
    autotopups_run(now=now)
    wallet_credit(account_id=alice.account.pk, amount_micros=parse_amount("100"), idempotency_key="test:bank")

    assert autotopups_run(now=now + timedelta(minutes=61)) == {"retry_skipped": 1}
    assert len(fake.charges()) == 1 and AutoTopUpAttempt.objects.get().status == "skipped"


def test_the_database_refuses_a_second_attempt_in_flight(fake, client, alice):
    enable(fake, client, alice.account)
    spend(alice.account, "60")
    autotopups_run()
    first = AutoTopUpAttempt.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        AutoTopUpAttempt.objects.create(account=alice.account, order=first.order, amount_micros=1,
                                        balance_micros=0, threshold_micros=1, status="retry_wait")  # fmt: skip


def test_a_checkout_top_ups_own_payment_intent_event_is_left_to_its_session_events(fake, client, alice):
    order = TopUpOrder.objects.create(account=alice.account, provider="stripe", amount_micros=parse_amount("50"),
                                      currency="CNY", provider_session_id="cs_test_checkout")  # fmt: skip
    intent = {"id": "pi_test_checkout", "object": "payment_intent", "status": "succeeded", "amount_received": 5000,
              "currency": "cny", "metadata": {"order_id": str(order.pk)}}  # fmt: skip

    assert deliver(client, fake.event("payment_intent.succeeded", intent)).json() == {"status": "ignored"}

    order.refresh_from_db()
    assert order.status == "created" and not topups(alice.account)


def test_disabled_or_cardless_accounts_are_never_charged(fake, client, alice):
    enable(fake, client, alice.account)
    autotopup.settings_save(account_id=alice.account.pk, enabled=False, threshold_micros=parse_amount("50"),
                            amount_micros=parse_amount("200"))  # fmt: skip
    spend(alice.account, "60")
    assert autotopups_run() == {}
    autotopup.settings_save(account_id=alice.account.pk, enabled=True, threshold_micros=parse_amount("50"),
                            amount_micros=parse_amount("200"))  # fmt: skip
    autotopup.card_remove(account_id=alice.account.pk)
    assert autotopups_run() == {} and not fake.charges()


def test_an_auto_top_up_is_refunded_to_its_payment_intent(fake, client, alice):
    enable(fake, client, alice.account)
    spend(alice.account, "60")
    autotopups_run()
    [intent] = fake.intents.values()
    deliver(client, paid_event(fake, intent["id"]))
    order = TopUpOrder.objects.get()

    refund = topup_refund(order_id=order.pk, amount_micros=parse_amount("50"), reason="asked", actor="fin")

    [at_stripe] = fake.refunds.values()
    assert (refund.status, refund.provider_refund_id) == ("succeeded", at_stripe["id"])
    assert (at_stripe["payment_intent"], at_stripe["amount"]) == (intent["id"], 5000)
    assert balance(alice.account) == parse_amount("190") and ledger_reconcile() == []


@pytest.mark.django_db(transaction=True)
def test_sweeps_running_at_once_charge_once(fake):
    account, _ = make_customer("payer@example.com", balance="100")
    enable(fake, Client(), account)
    spend(account, "60")
    gate, errors = threading.Barrier(4), []

    def sweep() -> None:
        try:
            gate.wait()
            autotopups_run()
        except Exception as exc:  # noqa: BLE001  (a sweep may lose a race; it must never charge twice)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(fake.charges()) == 1 and AutoTopUpAttempt.objects.count() == 1
    assert TopUpOrder.objects.count() == 1
    assert errors == []


def test_the_beat_task_runs_the_sweep(fake, client, alice, settings):
    from billing.tasks import auto_topups

    assert settings.CELERY_BEAT_SCHEDULE["billing-auto-topups"]["task"] == auto_topups.name
    enable(fake, client, alice.account)
    spend(alice.account, "60")
    assert auto_topups.apply().get() == {"started_processing": 1}
