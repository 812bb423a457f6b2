"""Alipay top-ups through the official SDK against a local fake gateway (tests/upstream/fake_alipay.py):
our requests must pass its RSA2 check, its answers must pass ours, and its notifications are posted
to the real webhook endpoint, signed the way Alipay signs them."""

import logging
from urllib.parse import parse_qsl, urlencode

import pytest
from django.urls import reverse

from billing.models import LedgerEntry, TopUpOrder, Wallet
from billing.money import AmountError
from billing.payments import PaymentError, configured_providers, get_provider
from billing.payments.alipay_provider import micros_from_yuan, yuan
from billing.reconcile import ledger_reconcile
from billing.topups import topup_create
from tests.upstream.fake_alipay import new_key, public_pem

WEBHOOK = "/billing/webhooks/alipay/"


def start(account, amount_micros: int = 50_000_000) -> TopUpOrder:
    started = topup_create(
        account_id=account.pk,
        amount_micros=amount_micros,
        provider="alipay",
        success_url="https://portal.example/billing/?topup=success",
        cancel_url="https://portal.example/billing/?topup=cancel",
    )
    return started.order


def notify(client, body: bytes):
    return client.post(WEBHOOK, data=body, content_type="application/x-www-form-urlencoded")


def credited(account) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(wallet__account=account, kind="topup"))


def alerts(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "harnmodel.alerts" and r.levelno == logging.ERROR]


# --- amounts -----------------------------------------------------------------------------------------


def test_amounts_are_yuan_strings_with_two_decimals_both_ways():
    assert [yuan(m) for m in (12_340_000, 10_000, 100_000_000)] == ["12.34", "0.01", "100.00"]
    assert [micros_from_yuan(t) for t in ("12.34", "0.01", "100", "100.00")] == [12_340_000, 10_000, 10**8, 10**8]
    for bad in ("12.345", "-1.00", "0", "abc", "NaN", ""):
        with pytest.raises(ValueError):
            micros_from_yuan(bad)


@pytest.mark.parametrize(("amount", "currency"), [(12_345_678, "CNY"), (0, "CNY"), (10_000_000, "USD")])
def test_checkout_refuses_amounts_alipay_cannot_charge(bob, alipay, settings, amount, currency):
    settings.HARNMODEL_CURRENCY = currency
    with pytest.raises(AmountError):
        start(bob.account, amount)
    assert not TopUpOrder.objects.exists() and not alipay.calls


# --- checkout ----------------------------------------------------------------------------------------


def test_qr_checkout_precreates_a_signed_trade_and_keeps_its_code(bob, alipay, settings):
    started = topup_create(
        account_id=bob.account.pk, amount_micros=12_340_000, provider="alipay", success_url="s", cancel_url="c"
    )

    order = TopUpOrder.objects.get()
    assert not alipay.rejected  # the gateway verified our RSA2 signature with our app public key
    ((method, biz),) = alipay.calls
    assert method == "alipay.trade.precreate"
    assert (biz["out_trade_no"], biz["total_amount"], biz["timeout_express"]) == (order.pk.hex, "12.34", "30m")
    assert started.qr_code == order.qr_code == f"https://qr.alipay.test/{order.pk.hex}"
    assert started.redirect_url == "" and order.provider_session_id == order.pk.hex
    assert order.expires_at is not None and order.status == "created"
    assert alipay.trades[order.pk.hex].notify_url == settings.ALIPAY_NOTIFY_URL


def test_page_pay_checkout_is_a_signed_redirect_to_the_gateway(bob, alipay, settings):
    settings.ALIPAY_CHECKOUT = "page"

    started = topup_create(
        account_id=bob.account.pk, amount_micros=50_000_000, provider="alipay",
        success_url="https://portal.example/ok", cancel_url="c",
    )  # fmt: skip

    assert started.redirect_url.startswith(alipay.url + "?") and not started.qr_code
    params = alipay.verify_page_url(started.redirect_url)  # raises unless signed with our key
    assert (params["method"], params["return_url"], params["notify_url"]) == (
        "alipay.trade.page.pay",
        "https://portal.example/ok",
        settings.ALIPAY_NOTIFY_URL,
    )
    assert '"product_code":"FAST_INSTANT_TRADE_PAY"' in params["biz_content"]
    assert '"total_amount":"50.00"' in params["biz_content"]


def test_an_answer_not_signed_by_alipay_fails_the_checkout(bob, alipay, settings):
    settings.ALIPAY_PUBLIC_KEY = public_pem(new_key())  # we expect another key than the gateway signs with

    with pytest.raises(PaymentError, match="not signed by Alipay"):
        start(bob.account)

    order = TopUpOrder.objects.get()
    assert order.status == "failed" and not order.qr_code


def test_a_request_signed_with_the_wrong_app_key_is_refused_by_the_gateway(bob, alipay, settings):
    from tests.upstream.fake_alipay import private_pem

    settings.ALIPAY_APP_PRIVATE_KEY = private_pem(new_key())

    with pytest.raises(PaymentError, match="isv.invalid-signature"):
        start(bob.account)
    assert alipay.rejected == ["isv.invalid-signature"]


def test_an_unreachable_gateway_is_a_payment_error_without_secrets(bob, alipay, settings):
    alipay.stop()
    with pytest.raises(PaymentError) as raised:
        start(bob.account)
    assert "PRIVATE" not in str(raised.value) and "unreachable" in str(raised.value)


# --- notifications -----------------------------------------------------------------------------------


def test_paid_notification_delivered_three_times_credits_once(client, bob, alipay):
    order = start(bob.account, 50_000_000)
    trade = alipay.pay(order.pk.hex)
    body = alipay.notification(order.pk.hex)

    replies = [notify(client, body) for _ in range(3)]

    assert [(r.status_code, r.content) for r in replies] == [(200, b"success")] * 3
    (entry,) = credited(bob.account)
    assert (entry.amount_micros, entry.idempotency_key) == (50_000_000, f"topup:alipay:{trade.trade_no}")
    assert Wallet.objects.get(account=bob.account).balance_micros == 50_000_000
    order.refresh_from_db()
    assert (order.status, order.provider_trade_no) == ("credited", trade.trade_no) and order.paid_at
    assert ledger_reconcile() == []


def test_trade_finished_after_trade_success_is_a_duplicate(client, bob, alipay):
    order = start(bob.account)
    alipay.pay(order.pk.hex)

    notify(client, alipay.notification(order.pk.hex))
    notify(client, alipay.notification(order.pk.hex, trade_status="TRADE_FINISHED", notify_id="n2"))

    assert len(credited(bob.account)) == 1


def flip(signature: str) -> str:
    """The same signature with one base64 character changed (never to itself)."""
    middle = len(signature) // 2
    return signature[:middle] + ("B" if signature[middle] != "B" else "C") + signature[middle + 1 :]


def tamper(body: bytes, **changes: str) -> bytes:
    params = dict(parse_qsl(body.decode()))
    params.update(changes)
    return urlencode(params).encode()


@pytest.mark.parametrize(
    "forge",
    [
        lambda body: tamper(body, total_amount="5000.00"),  # signed for ¥50, says ¥5000
        lambda body: tamper(body, sign=flip(dict(parse_qsl(body.decode()))["sign"])),
        lambda body: tamper(body, sign=""),
        lambda body: tamper(body, sign_type="RSA"),
        lambda body: b"not a form \xff",
        lambda body: body + b"&total_amount=5000.00",  # a second value smuggled in
    ],
    ids=["amount-changed", "signature-changed", "unsigned", "sign-type", "garbage", "duplicate-param"],
)
def test_forged_notification_is_refused_and_credits_nothing(client, bob, alipay, forge):
    order = start(bob.account)
    alipay.pay(order.pk.hex)

    reply = notify(client, forge(alipay.notification(order.pk.hex)))

    assert (reply.status_code, reply.content) == (200, b"fail")
    assert not credited(bob.account) and TopUpOrder.objects.get().status == "created"


def test_notification_signed_by_another_key_is_refused(client, bob, alipay, settings):
    order = start(bob.account)
    alipay.pay(order.pk.hex)
    settings.ALIPAY_PUBLIC_KEY = public_pem(new_key())

    assert notify(client, alipay.notification(order.pk.hex)).content == b"fail"
    assert not credited(bob.account)


def test_wrong_amount_credits_nothing_fails_the_order_and_alerts(client, bob, alipay, caplog):
    order = start(bob.account, 50_000_000)
    alipay.pay(order.pk.hex)

    reply = notify(client, alipay.notification(order.pk.hex, total_amount="0.01"))  # genuinely signed
    again = notify(client, alipay.notification(order.pk.hex, notify_id="n2"))

    assert (reply.content, again.content) == (b"fail", b"success")  # refused; later ones find the order failed
    assert not credited(bob.account) and Wallet.objects.get(account=bob.account).balance_micros == 0
    order.refresh_from_db()
    assert order.status == "failed" and "paid 10000 micros" in order.failure_reason
    assert any(str(order.pk) in message for message in alerts(caplog))


def test_notification_for_another_app_is_refused_and_alerts(client, bob, alipay, caplog):
    order = start(bob.account)
    alipay.pay(order.pk.hex)

    reply = notify(client, alipay.notification(order.pk.hex, app_id="2021009999999999"))

    assert reply.content == b"fail"
    assert not credited(bob.account) and TopUpOrder.objects.get().status == "created"
    assert any("2021009999999999" in message for message in alerts(caplog))


def test_notification_for_an_unknown_order_credits_nothing(client, bob, alipay, caplog):
    order = start(bob.account)
    alipay.pay(order.pk.hex)
    alipay.trades["0" * 32] = alipay.trades[order.pk.hex]

    reply = notify(client, alipay.notification("0" * 32, out_trade_no="0" * 32))

    assert reply.content == b"fail"  # Alipay's, verified, but nothing of ours to book it against
    assert not credited(bob.account) and TopUpOrder.objects.get().status == "created"
    assert any("names no order" in r.getMessage() for r in caplog.records)


def test_one_trade_number_never_pays_two_orders(client, bob, alipay):
    first, second = start(bob.account, 50_000_000), start(bob.account, 50_000_000)
    trade = alipay.pay(first.pk.hex)
    notify(client, alipay.notification(first.pk.hex))

    notify(client, alipay.notification(first.pk.hex, out_trade_no=second.pk.hex, notify_id="n9"))

    assert len(credited(bob.account)) == 1
    second.refresh_from_db()
    assert second.status == "failed" and trade.trade_no in second.failure_reason


def test_waiting_notifications_are_ignored_and_closed_trades_expire_the_order(client, bob, alipay):
    order = start(bob.account)
    alipay.scan(order.pk.hex)

    waiting = notify(client, alipay.notification(order.pk.hex, trade_status="WAIT_BUYER_PAY"))
    closed = notify(client, alipay.notification(order.pk.hex, trade_status="TRADE_CLOSED", notify_id="n2"))

    assert (waiting.content, closed.content) == (b"success", b"success")
    assert TopUpOrder.objects.get().status == "expired" and not credited(bob.account)


def test_unconfigured_alipay_is_hidden_and_its_webhook_is_404(client, settings):
    settings.ALIPAY_APP_ID = ""
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""

    assert configured_providers() == []
    assert client.post(WEBHOOK, data=b"a=b", content_type="application/x-www-form-urlencoded").status_code == 404
    assert reverse("billing:payment_webhook", kwargs={"provider": "alipay"}) == WEBHOOK


def test_configured_alipay_is_offered(alipay, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert configured_providers() == ["alipay"]
    assert get_provider("alipay").is_configured()


def test_keys_work_as_alipay_hands_them_out_bare_base64_and_pkcs1(bob, alipay, settings):
    from cryptography.hazmat.primitives import serialization

    from tests.upstream.fake_alipay import app_key

    pkcs1 = app_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    bare = lambda pem: "".join(line for line in pem.splitlines() if not line.startswith("-----"))  # noqa: E731
    for private in (pkcs1, bare(pkcs1), bare(settings.ALIPAY_APP_PRIVATE_KEY)):
        settings.ALIPAY_APP_PRIVATE_KEY, settings.ALIPAY_PUBLIC_KEY = private, bare(alipay.public_pem)
        start(bob.account)
    assert len(alipay.calls) == 3 and not alipay.rejected
