"""WeChat Pay (API v3, Native QR) top-ups, offline: the official SDK talks to a local fake gateway
(tests/upstream/fake_wechat.py) that checks our request signatures and signs its answers, and the
callbacks posted to /billing/webhooks/wechat/ are signed and AES-GCM encrypted with keys made here."""

import logging
import re
import threading
import time
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from billing.models import LedgerEntry, TopUpOrder, Wallet
from billing.money import AmountError
from billing.payments import PaymentError, configured_providers, get_provider
from billing.reconcile import ledger_reconcile
from billing.refunds import RefundError, topup_refund
from billing.tasks import sync_topups
from billing.topups import topup_create
from tests.factories import make_customer
from tests.upstream.fake_wechat import FakeWeChatPay, WeChatKeys

WEBHOOK = "/billing/webhooks/wechat/"
NOTIFY_URL = "https://pay.example.com/billing/webhooks/wechat/"


@pytest.fixture(scope="module")
def keys() -> WeChatKeys:
    return WeChatKeys.generate()


@pytest.fixture(scope="module")
def gateway(keys):
    server = FakeWeChatPay(keys).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _wechat_settings(settings, keys, gateway):
    gateway.reset()
    for name, value in keys.settings(gateway.base_url, NOTIFY_URL).items():
        setattr(settings, name, value)
    settings.HARNMODEL_CURRENCY = "CNY"
    settings.HARNMODEL_TOPUP_EXPIRY_MINUTES = 30


def start(account, amount_micros: int = 50_000_000) -> TopUpOrder:
    started = topup_create(
        account_id=account.pk, amount_micros=amount_micros, provider="wechat", success_url="s", cancel_url="c"
    )
    return started.order


def deliver(client, body: bytes, headers: dict[str, str]):
    return client.post(WEBHOOK, data=body, content_type="application/json", headers=headers)


def credited(account) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(wallet__account=account, kind="topup"))


def balance(account) -> int:
    return Wallet.objects.get(account=account).balance_micros


def assert_refused(response) -> None:
    """WeChat's failure shape: 4xx with {"code": "FAIL", "message": ...}, so it retries later."""
    assert 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "FAIL" and body["message"]


def alerts(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "harnmodel.alerts"]


# --- checkout ----------------------------------------------------------------------------------------


def test_checkout_opens_a_native_order_and_returns_its_qr_code(bob, gateway):
    started = topup_create(
        account_id=bob.account.pk, amount_micros=12_340_000, provider="wechat", success_url="s", cancel_url="c"
    )

    order = TopUpOrder.objects.get()
    at_wechat = gateway.orders[order.pk.hex]
    assert started.redirect_url == "" and started.qr_code == at_wechat.code_url
    assert at_wechat.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert (order.qr_code, order.provider_session_id, order.status) == (at_wechat.code_url, order.pk.hex, "created")
    assert (at_wechat.total, at_wechat.currency, at_wechat.notify_url) == (1234, "CNY", NOTIFY_URL)
    assert (at_wechat.mchid, at_wechat.appid) == (gateway.keys.mchid, gateway.keys.appid)
    # WeChat refuses payment after time_expire: the same instant as our expiry, in Beijing time.
    assert at_wechat.time_expire.endswith("+08:00")
    assert abs(datetime.fromisoformat(at_wechat.time_expire) - order.expires_at).total_seconds() < 1
    assert [(r.method, r.path) for r in gateway.requests] == [("POST", "/v3/pay/transactions/native")]


@pytest.mark.parametrize(("amount", "currency"), [(12_345_678, "CNY"), (5_000, "CNY"), (0, "CNY"), (10_000, "USD")])
def test_amounts_wechat_cannot_charge_exactly_are_refused(amount, currency):
    with pytest.raises(AmountError):
        get_provider("wechat").check_amount(amount_micros=amount, currency=currency)


def test_a_request_signed_with_another_merchant_key_is_refused_and_the_order_fails(bob, gateway, settings):
    other = WeChatKeys.generate(mchid=gateway.keys.mchid)
    settings.WECHATPAY_PRIVATE_KEY = other.settings("", "")["WECHATPAY_PRIVATE_KEY"]

    with pytest.raises(PaymentError, match="SIGN_ERROR"):
        start(bob.account)

    assert TopUpOrder.objects.get().status == "failed" and not gateway.orders


def test_an_answer_not_signed_by_the_platform_key_is_not_believed(bob, gateway):
    gateway.response_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(PaymentError, match="verify the signature"):
        start(bob.account)

    order = TopUpOrder.objects.get()
    assert order.status == "failed" and not order.qr_code


def test_gateway_down_is_a_payment_error(bob, settings):
    settings.WECHATPAY_GATEWAY_URL = "http://127.0.0.1:9"  # discard port: nothing listens

    with pytest.raises(PaymentError, match="order failed"):
        start(bob.account)

    assert TopUpOrder.objects.get().status == "failed"


def test_unconfigured_wechat_is_hidden_and_its_webhook_is_404(client, settings):
    assert "wechat" in configured_providers()
    settings.WECHATPAY_APIV3_KEY = ""

    assert not get_provider("wechat").is_configured() and "wechat" not in configured_providers()
    assert client.post(WEBHOOK, data=b"{}", content_type="application/json").status_code == 404
    settings.WECHATPAY_APIV3_KEY = "too-short"  # AES-256 needs 32 bytes: never "configured"
    assert not get_provider("wechat").is_configured()


def test_the_portal_shows_the_wechat_qr_code_until_the_payment_is_credited(client, bob, gateway, settings):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""
    owner = get_user_model().objects.create_user("bob@example.com", "bob@example.com", "pw-bob-9")
    Membership.objects.create(account=bob.account, user=owner, role="owner")
    client.force_login(owner)
    assert 'value="wechat"' in client.get(reverse("portal:billing")).content.decode()

    response = client.post(reverse("portal:topup"), {"preset": "50", "provider": "wechat"})

    order = TopUpOrder.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("portal:topup_qr", args=[order.pk])
    page = client.get(response["Location"]).content.decode()
    code_url = gateway.orders[order.pk.hex].code_url
    # That very code: the drawn modules (the path) match segno's drawing of code_url, whatever size or colour.
    drawn = re.search(r'class="segno".*?class="qrline"[^>]*\sd="([^"]+)"', page, re.S).group(1)
    qr = segno.make(code_url, error="m")
    assert drawn in {re.search(r'\sd="([^"]+)"', qr.svg_inline(border=b)).group(1) for b in range(5)}
    gateway.pay(order.pk.hex)
    assert deliver(client, *gateway.notification(order.pk.hex)).status_code == 204
    assert client.get(reverse("portal:topup_status", args=[order.pk])).json() == {"status": "credited"}
    assert balance(bob.account) == 50_000_000


# --- callbacks ---------------------------------------------------------------------------------------


def test_paid_callback_delivered_three_times_credits_once(client, bob, gateway):
    order = start(bob.account, 50_000_000)
    transaction_id = gateway.pay(order.pk.hex)
    body, headers = gateway.notification(order.pk.hex)

    responses = [deliver(client, body, headers) for _ in range(3)]

    assert [(r.status_code, r.content) for r in responses] == [(204, b"")] * 3
    (entry,) = credited(bob.account)
    assert (entry.amount_micros, entry.idempotency_key) == (50_000_000, f"topup:wechat:{transaction_id}")
    assert balance(bob.account) == 50_000_000 == sum(e.amount_micros for e in LedgerEntry.objects.all())
    order.refresh_from_db()
    assert (order.status, order.provider_trade_no) == ("credited", transaction_id) and order.paid_at
    assert ledger_reconcile() == []


def test_fresh_notifications_for_one_payment_credit_once(client, bob, gateway):
    order = start(bob.account)
    gateway.pay(order.pk.hex)

    responses = [deliver(client, *gateway.notification(order.pk.hex)) for _ in range(2)]  # new id, nonce, time

    assert [r.status_code for r in responses] == [204, 204] and len(credited(bob.account)) == 1


@pytest.mark.parametrize(
    "tamper",
    ["corrupt", "other-key", "body-changed", "stale", "future", "other-apiv3-key", "no-signature", "other-serial"],
)
def test_a_callback_not_provably_from_wechat_is_refused_and_credits_nothing(client, bob, gateway, tamper):
    order = start(bob.account)
    gateway.pay(order.pk.hex)
    knobs = {
        "corrupt": {"signature": "corrupt"},
        "other-key": {"signature": "other-key"},
        "body-changed": {"signature": "body-changed"},
        "stale": {"timestamp": int(time.time()) - 301},  # a replay: validly signed six minutes ago
        "future": {"timestamp": int(time.time()) + 400},
        "other-apiv3-key": {"apiv3_key": "k" * 32},
    }.get(tamper, {})
    body, headers = gateway.notification(order.pk.hex, **knobs)
    if tamper == "no-signature":
        del headers["Wechatpay-Signature"]
    elif tamper == "other-serial":
        headers["Wechatpay-Serial"] = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"

    response = deliver(client, body, headers)

    assert_refused(response)
    assert not credited(bob.account) and balance(bob.account) == 0
    assert TopUpOrder.objects.get().status == "created"
    assert [r.method for r in gateway.requests] == ["POST"]  # no certificate download, no other call


@pytest.mark.parametrize("field", ["mchid", "appid"])
def test_a_signed_callback_for_another_merchant_is_refused_and_alerts_operators(client, bob, gateway, caplog, field):
    order = start(bob.account)
    gateway.pay(order.pk.hex)
    other = {"mchid": "1230000109", "appid": "wx0000000000000000"}[field]

    response = deliver(client, *gateway.notification(order.pk.hex, **{field: other}))

    assert_refused(response)
    assert not credited(bob.account) and TopUpOrder.objects.get().status == "created"
    (alert,) = alerts(caplog)
    assert other in alert


@pytest.mark.parametrize("delta", [-1, 1, 100_000])
def test_a_callback_for_another_amount_never_credits_and_alerts_operators(client, bob, gateway, caplog, delta):
    order = start(bob.account, 50_000_000)
    gateway.pay(order.pk.hex)

    response = deliver(client, *gateway.notification(order.pk.hex, total=5000 + delta))
    again = deliver(client, *gateway.notification(order.pk.hex))  # even a right one later: an operator decides

    assert (response.status_code, again.status_code) == (400, 204)  # refused; later ones find the order failed
    assert not credited(bob.account) and balance(bob.account) == 0
    order.refresh_from_db()
    assert order.status == "failed" and "paid" in order.failure_reason
    (alert,) = alerts(caplog)
    assert str(order.pk) in alert and str((5000 + delta) * 10_000) in alert


def test_a_callback_for_an_order_we_do_not_have_credits_nothing(client, bob, gateway):
    stranger = SimpleNamespace(
        pk=uuid.uuid4(), amount_micros=10_000_000, currency="CNY", created_at=timezone.now(), expires_at=None
    )
    get_provider("wechat").create_checkout(order=stranger, success_url="", cancel_url="")
    gateway.pay(stranger.pk.hex)

    response = deliver(client, *gateway.notification(stranger.pk.hex))

    assert response.status_code == 400 and response.json()["code"] == "FAIL"  # nothing of ours to book it against
    assert not LedgerEntry.objects.filter(kind="topup").exists() and not TopUpOrder.objects.exists()


def test_other_notifications_are_acknowledged_and_credit_nothing(client, bob, gateway):
    order = start(bob.account)
    gateway.pay(order.pk.hex)

    response = deliver(client, *gateway.notification(order.pk.hex, event_type="REFUND.SUCCESS"))

    assert response.status_code == 204 and not credited(bob.account)
    assert TopUpOrder.objects.get().status == "created"


def test_a_callback_for_an_unpaid_order_credits_nothing(client, bob, gateway):
    order = start(bob.account)

    response = deliver(client, *gateway.notification(order.pk.hex))  # trade_state NOTPAY

    assert response.status_code == 204 and not credited(bob.account)


@pytest.mark.django_db(transaction=True)
def test_the_callback_and_the_sync_task_racing_credit_once(gateway):
    account, _ = make_customer("payer@example.com")
    order = start(account, 30_000_000)
    gateway.pay(order.pk.hex)
    backdate(order, 2)
    deliveries = [gateway.notification(order.pk.hex) for _ in range(2)]
    gate = threading.Barrier(3)
    answers: list[int] = []
    synced: list[dict[str, int]] = []

    def run(job) -> None:
        try:
            gate.wait()
            job()
        finally:
            connection.close()

    jobs = [lambda d=d: answers.append(deliver(Client(), *d).status_code) for d in deliveries]
    jobs.append(lambda: synced.append(sync_topups.apply().get()))
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert answers == [204, 204] and len(synced) == 1
    assert set(synced[0]) <= {"credited", "duplicate", "ignored"}  # it may also find the order already done
    assert len(credited(account)) == 1 and balance(account) == 30_000_000
    assert TopUpOrder.objects.get().status == "credited" and ledger_reconcile() == []


# --- query ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kind"),
    [("NOTPAY", None), ("USERPAYING", None), ("SUCCESS", "paid"), ("CLOSED", "expired"), ("REVOKED", "expired"),
     ("PAYERROR", "expired"), ("REFUND", None)],
)  # fmt: skip
def test_query_translates_wechat_trade_states(bob, gateway, state, kind):
    order = start(bob.account, 20_000_000)
    if state == "SUCCESS":
        gateway.pay(order.pk.hex)
    gateway.orders[order.pk.hex].state = state

    event = get_provider("wechat").query(order=order)

    assert (event.kind if event else None) == kind
    if event is not None:
        assert (event.order_id, event.amount_micros, event.currency) == (order.pk.hex, 20_000_000, "CNY")
    assert gateway.requests[-1].path == f"/v3/pay/transactions/out-trade-no/{order.pk.hex}?mchid={gateway.keys.mchid}"


def test_query_of_an_order_wechat_never_saw_is_pending_and_errors_are_payment_errors(bob, gateway):
    order = start(bob.account)
    del gateway.orders[order.pk.hex]
    assert get_provider("wechat").query(order=order) is None

    gateway.fail_next.append((500, {"code": "SYSTEM_ERROR", "message": "系统错误"}))
    with pytest.raises(PaymentError, match="SYSTEM_ERROR"):
        get_provider("wechat").query(order=order)


def test_close_closes_the_trade_so_it_cannot_be_paid(bob, gateway):
    order = start(bob.account)

    get_provider("wechat").close(order=order)

    assert gateway.orders[order.pk.hex].state == "CLOSED"
    with pytest.raises(ValueError, match="CLOSED"):
        gateway.pay(order.pk.hex)
    del gateway.orders[order.pk.hex]
    get_provider("wechat").close(order=order)  # a trade WeChat never saw is fine


def test_closing_a_paid_trade_is_a_payment_error(bob, gateway):
    order = start(bob.account)
    gateway.pay(order.pk.hex)

    with pytest.raises(PaymentError, match="ORDERPAID"):
        get_provider("wechat").close(order=order)


# --- the sync task: lost callbacks and expiry ------------------------------------------------------------


def backdate(order: TopUpOrder, minutes: int, *, expired: bool = False) -> None:
    """As if the order was opened `minutes` ago (the task leaves the first minute to the callback)."""
    then = timezone.now() - timedelta(minutes=minutes)
    changes = {"created_at": then} | ({"expires_at": then + timedelta(minutes=1)} if expired else {})
    TopUpOrder.objects.filter(pk=order.pk).update(**changes)


def test_a_lost_callback_is_recovered_by_the_sync_task_and_a_late_one_is_a_duplicate(client, bob, gateway):
    order = start(bob.account, 30_000_000)
    transaction_id = gateway.pay(order.pk.hex)  # paid at WeChat; the callback never arrives
    backdate(order, 2)

    result = sync_topups.apply().get()

    assert result == {"credited": 1}
    (entry,) = credited(bob.account)
    assert (entry.amount_micros, entry.idempotency_key) == (30_000_000, f"topup:wechat:{transaction_id}")
    order.refresh_from_db()
    assert (order.status, order.provider_trade_no) == ("credited", transaction_id)
    late = deliver(client, *gateway.notification(order.pk.hex))
    assert late.status_code == 204 and len(credited(bob.account)) == 1
    assert balance(bob.account) == 30_000_000 and ledger_reconcile() == []
    assert sync_topups.apply().get() == {}  # nothing left waiting


def test_the_sync_task_leaves_an_unpaid_order_waiting_until_it_expires(bob, gateway):
    order = start(bob.account)
    backdate(order, 2)

    assert sync_topups.apply().get() == {"pending": 1}
    assert TopUpOrder.objects.get().status == "created" and gateway.orders[order.pk.hex].state == "NOTPAY"


def test_expiry_closes_the_trade_at_wechat_so_it_cannot_be_paid_afterwards(bob, gateway):
    order = start(bob.account)
    backdate(order, 40, expired=True)

    assert sync_topups.apply().get() == {"expired": 1}

    assert TopUpOrder.objects.get().status == "expired"
    assert gateway.orders[order.pk.hex].state == "CLOSED"
    assert [r.path.split("?")[0].rsplit("/", 1)[-1] for r in gateway.requests[1:]] == [
        order.pk.hex, "close", order.pk.hex,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="CLOSED"):
        gateway.pay(order.pk.hex)
    assert not credited(bob.account)


def test_an_order_paid_just_before_expiry_is_credited_not_expired(bob, gateway):
    order = start(bob.account, 10_000_000)
    gateway.pay(order.pk.hex)
    backdate(order, 40, expired=True)

    assert sync_topups.apply().get() == {"credited": 1}
    assert TopUpOrder.objects.get().status == "credited" and len(credited(bob.account)) == 1


def test_the_sync_task_survives_wechat_being_down(bob, gateway):
    order = start(bob.account)
    backdate(order, 2)
    gateway.fail_next.append((503, {"code": "SYSTEM_ERROR", "message": "系统繁忙"}))

    assert sync_topups.apply().get() == {"error": 1}
    assert TopUpOrder.objects.get().status == "created"


# --- refunds ------------------------------------------------------------------------------------------


def paid(client, account, gateway, amount_micros: int = 50_000_000) -> TopUpOrder:
    order = start(account, amount_micros)
    gateway.pay(order.pk.hex)
    assert deliver(client, *gateway.notification(order.pk.hex)).status_code == 204
    order.refresh_from_db()
    return order


def test_partial_then_full_refund_goes_to_wechat_and_writes_ledger_entries(client, bob, gateway):
    order = paid(client, bob.account, gateway, 50_000_000)

    first = topup_refund(order_id=order.pk, amount_micros=20_000_000, reason="customer asked", actor="op")
    rest = topup_refund(order_id=order.pk, amount_micros=30_000_000, reason="closing account", actor="op")

    at_wechat = gateway.orders[order.pk.hex].refunds
    assert {no: r["amount"]["refund"] for no, r in at_wechat.items()} == {first.pk.hex: 2000, rest.pk.hex: 3000}
    assert [(r.status, r.provider_refund_id) for r in (first, rest)] == [
        ("succeeded", at_wechat[first.pk.hex]["refund_id"]),
        ("succeeded", at_wechat[rest.pk.hex]["refund_id"]),
    ]
    sent = [r.body for r in gateway.requests if r.path == "/v3/refund/domestic/refunds"]
    assert [(b["transaction_id"], b["amount"]) for b in sent] == [
        (order.provider_trade_no, {"refund": 2000, "total": 5000, "currency": "CNY"}),
        (order.provider_trade_no, {"refund": 3000, "total": 5000, "currency": "CNY"}),
    ]
    refunds = LedgerEntry.objects.filter(wallet__account=bob.account, kind="refund").order_by("id")
    assert [e.amount_micros for e in refunds] == [-20_000_000, -30_000_000]
    assert balance(bob.account) == 0 == sum(e.amount_micros for e in LedgerEntry.objects.all())
    with pytest.raises(RefundError, match="left to refund"):
        topup_refund(order_id=order.pk, amount_micros=10_000, reason="again", actor="op")
    assert len(sent) == 2 == len(gateway.orders[order.pk.hex].refunds)
    assert ledger_reconcile() == []


def test_a_refund_wechat_refuses_is_reversed_in_the_ledger(client, bob, gateway):
    order = paid(client, bob.account, gateway, 50_000_000)
    refusal = (403, {"code": "NOT_ENOUGH", "message": "基本账户余额不足，请充值后重新发起"})
    gateway.fail_next.extend([refusal, refusal])  # the service retries once with the same refund id

    with pytest.raises(RefundError, match="NOT_ENOUGH"):
        topup_refund(order_id=order.pk, amount_micros=20_000_000, reason="customer asked", actor="op")

    assert not gateway.orders[order.pk.hex].refunds
    refunds = LedgerEntry.objects.filter(wallet__account=bob.account, kind="refund").order_by("id")
    assert [e.amount_micros for e in refunds] == [-20_000_000, 20_000_000]
    assert balance(bob.account) == 50_000_000 and ledger_reconcile() == []


@pytest.mark.parametrize("status", ["SUCCESS", "ABNORMAL", "CLOSED"])
def test_refund_results_wechat_reports(client, bob, gateway, caplog, status):
    order = paid(client, bob.account, gateway, 10_000_000)
    gateway.refund_status = status
    wechat = get_provider("wechat")

    if status == "CLOSED":  # the money stayed with us: not a refund
        with pytest.raises(PaymentError, match="closed"):
            wechat.refund(order=order, amount_micros=10_000_000, refund_id="r1")
        return
    refund_id = wechat.refund(order=order, amount_micros=10_000_000, refund_id="r1")

    assert refund_id == gateway.orders[order.pk.hex].refunds["r1"]["refund_id"]
    # ABNORMAL: the money left our balance but did not reach the customer: an operator finishes it.
    assert any(r.levelname == "ERROR" and refund_id in r.getMessage() for r in caplog.records) == (status == "ABNORMAL")


# --- secrets -------------------------------------------------------------------------------------------


def test_keys_never_appear_in_answers_errors_or_logs(client, bob, gateway, keys, settings, caplog):
    caplog.set_level(logging.DEBUG)  # everything: ours, the SDK's, requests' and urllib3's
    order = start(bob.account)
    gateway.pay(order.pk.hex)
    answers = [
        deliver(client, *gateway.notification(order.pk.hex)),
        deliver(client, *gateway.notification(order.pk.hex, signature="corrupt")),
        deliver(client, *gateway.notification(order.pk.hex, apiv3_key="k" * 32)),
        deliver(client, *gateway.notification(order.pk.hex, mchid="1230000109")),
    ]
    errors = []
    for name, broken in [("WECHATPAY_PRIVATE_KEY", keys.settings("", "")["WECHATPAY_PRIVATE_KEY"][:300]),
                         ("WECHATPAY_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----")]:  # fmt: skip
        good = getattr(settings, name)
        setattr(settings, name, broken)
        with pytest.raises(PaymentError) as raised:
            start(bob.account)
        errors.append(str(raised.value))
        setattr(settings, name, good)
    with pytest.raises(PaymentError) as raised:
        get_provider("wechat").refund(order=order, amount_micros=order.amount_micros * 2, refund_id="r-too-much")
    errors.append(str(raised.value))

    seen = "\n".join(
        [caplog.text, *errors, *(a.content.decode() for a in answers)]
        + list(TopUpOrder.objects.values_list("failure_reason", flat=True))
    )
    assert "WECHATPAY_PRIVATE_KEY" in seen and "订单可退金额" in seen  # the errors are there, and clear
    leaked = [secret for secret in keys.secret_texts if secret in seen]
    assert leaked == []


def test_a_pkcs1_merchant_key_works_too(bob, gateway, keys, settings):
    settings.WECHATPAY_PRIVATE_KEY = keys.merchant_key.private_bytes(
        Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()
    ).decode()  # "BEGIN RSA PRIVATE KEY", as some merchant tools export it

    assert start(bob.account).qr_code == gateway.orders[TopUpOrder.objects.get().pk.hex].code_url
