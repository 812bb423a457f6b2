"""Billing: ledger, redeem a code, top-up through Stripe Checkout (or a note without it), threshold."""

from types import SimpleNamespace

from django.urls import reverse

from accounts.portal import billing_hooks
from billing.models import LedgerEntry, Wallet
from billing.money import parse_amount
from billing.redemption import redemption_codes_generate


def _code(amount="50"):
    return redemption_codes_generate(count=1, amount_micros=parse_amount(amount), expires_at=None, batch="t",
                                     created_by="test")[0]  # fmt: skip


def _balance(member) -> int:
    return Wallet.objects.get(account=member.account).balance_micros


def test_billing_page_shows_balance_and_ledger(alice):
    body = alice.client.get(reverse("portal:billing")).content.decode()
    assert "¥100.00" in body and "Credit" in body  # the entry's customer text (its note is staff-only)


def test_balances_never_show_more_than_the_wallet_has(alice):
    from billing import services

    services.wallet_adjust(account_id=alice.account.pk, amount_micros=-75_000_623, reason="spend", actor="test")
    for page in ("portal:billing", "portal:dashboard"):
        body = alice.client.get(reverse(page)).content.decode()
        assert 'data-testid="balance">¥24.99<' in body, page  # ¥24.999377 floored, not rounded up to ¥25.00
        assert "¥25.00" not in body, page


def test_redeem_a_code_adds_its_amount_once(alice, bob):
    code = _code()
    response = alice.client.post(reverse("portal:redeem"), {"code": code.lower()})
    assert response.status_code == 302
    assert _balance(alice) == parse_amount("150")
    assert LedgerEntry.objects.filter(wallet__account=alice.account, kind="redeem").count() == 1
    again = alice.client.post(reverse("portal:redeem"), {"code": code})
    assert again.status_code == 400 and b"already redeemed" in again.content
    bob_try = bob.client.post(reverse("portal:redeem"), {"code": code})
    assert bob_try.status_code == 400 and _balance(bob) == parse_amount("100")


def test_members_may_redeem(mallory, alice):
    assert mallory.client.post(reverse("portal:redeem"), {"code": _code("5")}).status_code == 302
    assert _balance(alice) == parse_amount("105")


def test_redeem_guesses_are_throttled(alice):
    for _ in range(10):
        assert alice.client.post(reverse("portal:redeem"), {"code": "HM-AAAA-BBBB-CCCC-DDDD"}).status_code == 400
    response = alice.client.post(reverse("portal:redeem"), {"code": _code()})
    assert response.status_code == 429
    assert _balance(alice) == parse_amount("100")


def test_topup_is_hidden_with_a_note_when_stripe_is_not_configured(alice):
    body = alice.client.get(reverse("portal:billing")).content.decode()
    assert 'data-testid="topup-unavailable"' in body and "Continue to payment" not in body
    response = alice.client.post(reverse("portal:topup"), {"preset": "100"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:billing")


def test_topup_sends_the_owner_to_stripe_checkout(alice, settings, monkeypatch):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_x", "whsec_x"
    calls = []

    def fake_start(**kwargs):
        calls.append(kwargs)
        return SimpleNamespace(redirect_url="https://checkout.stripe.test/c/pay_123", qr_code="", order=None)

    monkeypatch.setattr(billing_hooks, "topup_start", fake_start)
    page = alice.client.get(reverse("portal:billing")).content.decode()
    assert "Continue to payment" in page and 'value="stripe"' in page and 'value="alipay"' not in page
    response = alice.client.post(reverse("portal:topup"), {"preset": "100", "custom": ""})
    assert response["Location"] == "https://checkout.stripe.test/c/pay_123"
    response = alice.client.post(reverse("portal:topup"), {"preset": "100", "custom": "42.50"})
    assert [c["amount_micros"] for c in calls] == [100_000_000, 42_500_000]
    assert calls[0]["account_id"] == alice.account.pk and calls[0]["provider"] == "stripe"
    assert calls[0]["success_url"].endswith("/billing/?topup=success")
    assert alice.client.post(reverse("portal:topup"), {"custom": "abc"}).status_code == 400
    assert len(calls) == 2


def test_topup_failure_is_shown_not_raised(alice, settings, monkeypatch):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_x", "whsec_x"

    def broken(**kwargs):
        raise billing_hooks.PaymentError("stripe is down")

    monkeypatch.setattr(billing_hooks, "topup_start", broken)
    response = alice.client.post(reverse("portal:topup"), {"preset": "50"})
    assert response.status_code == 400 and b"could not be opened" in response.content


def test_only_owners_top_up_and_set_the_threshold(mallory, alice, settings):
    settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET = "sk_test_x", "whsec_x"
    assert mallory.client.post(reverse("portal:topup"), {"preset": "100"}).status_code == 403
    assert mallory.client.post(reverse("portal:threshold"), {"threshold": "5"}).status_code == 403
    assert Wallet.objects.get(account=alice.account).low_balance_threshold_micros is None


def test_set_and_clear_the_low_balance_threshold(alice):
    assert alice.client.post(reverse("portal:threshold"), {"threshold": "150"}).status_code == 302
    assert Wallet.objects.get(account=alice.account).low_balance_threshold_micros == 150_000_000
    dashboard = alice.client.get(reverse("portal:dashboard")).content.decode()
    assert "Low balance." in dashboard and "¥150.00" in dashboard
    alice.client.post(reverse("portal:threshold"), {"threshold": ""})
    assert Wallet.objects.get(account=alice.account).low_balance_threshold_micros is None
    assert "Low balance." not in alice.client.get(reverse("portal:dashboard")).content.decode()
    assert alice.client.post(reverse("portal:threshold"), {"threshold": "x"}).status_code == 400


def test_ledger_pagination(alice):
    from billing.services import wallet_credit

    for n in range(60):
        wallet_credit(account_id=alice.account.pk, amount_micros=1, idempotency_key=f"t:{n}")
    first = alice.client.get(reverse("portal:billing")).context["ledger"]
    assert len(first.rows) == 50 and first.older
    second = alice.client.get(reverse("portal:billing"), {"after": first.older}).context["ledger"]
    assert len(second.rows) == 11


def test_charges_are_summed_per_day_next_to_the_other_entries(alice, bob):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from billing.services import wallet_credit

    def charge(member, n, micros, days_ago=0):  # the ledger is append-only, even for created_at: travel instead
        with time_machine.travel(timezone.now() - timedelta(days=days_ago)):
            wallet_credit(account_id=member.account.pk, amount_micros=-micros, idempotency_key=f"c:{n}",
                          kind=LedgerEntry.Kind.CHARGE)  # fmt: skip

    for n in range(3):
        charge(alice, n, 1_000_000)
    charge(alice, 3, 2_500_000, days_ago=2)
    charge(alice, 4, 9_000_000, days_ago=40)  # outside the 30 days
    charge(bob, 5, 7_000_000)
    wallet_credit(account_id=alice.account.pk, amount_micros=5_000_000, idempotency_key="t:gift", description="sorry")
    response = alice.client.get(reverse("portal:billing"))
    today = timezone.localdate()
    assert [(c["day"], c["count"], c["amount_micros"]) for c in response.context["charges_by_day"]] == [
        (today, 3, -3_000_000),
        (today - timedelta(days=2), 1, -2_500_000),
    ]
    assert {e["kind"] for e in response.context["ledger"].rows} == {"credit"}  # no per-request charge rows
    body = response.content.decode()
    assert "Charges by day" in body and "-¥3.00" in body and "-¥2.50" in body and "sorry" in body
    assert "-¥7.00" not in body and "-¥9.00" not in body
