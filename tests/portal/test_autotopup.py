"""The Auto top-up page (save a card on Stripe's page, settings within bounds, attempts, zh and en) and
the console's read-only view of attempts. Stripe is the local fake over HTTP (tests/upstream/fake_stripe.py)."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import stripe
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.autotopup_models import AutoTopUp, AutoTopUpAttempt
from billing.autotopup_run import autotopups_run
from billing.money import parse_amount
from billing.services import wallet_adjust
from tests.upstream.fake_stripe import FakeStripe

PAGE = "/billing/auto-topup/"


@pytest.fixture(scope="module")
def fake():
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_on(_fast_and_fresh, settings, fake, monkeypatch):
    fake.reset()
    settings.STRIPE_SECRET_KEY = fake.secret_key
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    settings.HARNMODEL_CURRENCY = "CNY"
    monkeypatch.setattr(stripe, "api_base", fake.base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    return fake


def save_card(member, fake) -> AutoTopUp:
    """Owner clicks "Save a card", fills Stripe's page, comes back to the success URL."""
    response = member.client.post(reverse("portal:autotopup_card"))
    assert response.status_code == 302 and response["Location"].startswith(f"{fake.base_url}/c/pay/")
    [(session_id, session)] = [
        (k, v) for k, v in fake.sessions.items() if v["metadata"]["account_id"] == str(member.account.pk)
    ]
    fake.complete_setup(session_id)
    back = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
    assert urlsplit(back).path == PAGE
    assert member.client.get(PAGE + "?" + urlsplit(back).query).status_code == 302
    return AutoTopUp.objects.get(account=member.account)


def test_without_stripe_the_page_says_so(alice):
    body = alice.client.get(PAGE).content.decode()
    assert 'data-testid="autotopup-unavailable"' in body
    assert 'data-testid="autotopup-link"' in alice.client.get(reverse("portal:billing")).content.decode()


def test_an_owner_saves_a_card_and_switches_it_on_within_bounds(alice, stripe_on):
    auto = save_card(alice, stripe_on)
    assert auto.has_card and auto.card_last4 == "4242"
    page = alice.client.get(PAGE).content.decode()
    assert "VISA •••• 4242" in page

    too_small = alice.client.post(reverse("portal:autotopup_save"), {"enabled": "on", "threshold": "50", "amount": "5"})
    assert too_small.status_code == 400 and "Between ¥10.00 and ¥5,000.00." in too_small.content.decode()
    garbage = alice.client.post(reverse("portal:autotopup_save"), {"enabled": "on", "threshold": "x", "amount": "100"})
    assert garbage.status_code == 400

    saved = alice.client.post(reverse("portal:autotopup_save"), {"enabled": "on", "threshold": "50", "amount": "200"})
    assert saved.status_code == 302
    auto.refresh_from_db()
    assert (auto.enabled, auto.threshold_micros, auto.amount_micros) == (True, parse_amount("50"), parse_amount("200"))
    form = alice.client.get(PAGE).content.decode()
    assert 'value="50"' in form and 'value="200"' in form


def test_it_cannot_be_switched_on_without_a_card(alice, stripe_on):
    response = alice.client.post(
        reverse("portal:autotopup_save"), {"enabled": "on", "threshold": "50", "amount": "100"}
    )
    assert response.status_code == 400 and "Save a card first." in response.content.decode()
    assert not AutoTopUp.objects.filter(account=alice.account, enabled=True).exists()


def test_members_see_it_but_only_owners_change_it(alice, mallory, stripe_on):
    assert mallory.client.get(PAGE).status_code == 200
    for name in ("portal:autotopup_save", "portal:autotopup_card", "portal:autotopup_card_remove"):
        assert mallory.client.post(reverse(name), {"threshold": "1", "amount": "100"}).status_code == 403, name
    assert not stripe_on.customers


def test_a_return_with_another_accounts_session_keeps_nothing(alice, bob, stripe_on):
    alice.client.post(reverse("portal:autotopup_card"))
    [session_id] = stripe_on.sessions
    stripe_on.complete_setup(session_id)

    response = bob.client.get(PAGE + f"?card=saved&session_id={session_id}", follow=True)

    assert "belongs to another account" in response.content.decode()
    assert not AutoTopUp.objects.filter(account=bob.account).exists()
    assert AutoTopUp.objects.get(account=alice.account).stripe_payment_method_id == ""


def test_attempts_and_a_pause_are_shown_in_zh_and_en(alice, stripe_on):
    auto = save_card(alice, stripe_on)
    alice.client.post(reverse("portal:autotopup_save"), {"enabled": "on", "threshold": "50", "amount": "200"})
    stripe_on.set_outcome(auto.stripe_payment_method_id, "decline")
    wallet_adjust(account_id=alice.account.pk, amount_micros=-parse_amount("60"), reason="spent", actor="test")
    now = timezone.now()
    autotopups_run(now=now)
    autotopups_run(now=now + timedelta(minutes=61))

    english = alice.client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="autotopup-paused"' in english and "card_declined" in english
    assert ">failed<" in english
    chinese = alice.client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "自动充值已暂停" in chinese and ">失败<" in chinese and "扣款记录" in chinese


def test_the_card_can_be_removed_and_that_switches_it_off(alice, stripe_on):
    save_card(alice, stripe_on)
    alice.client.post(reverse("portal:autotopup_save"), {"enabled": "on", "threshold": "50", "amount": "200"})
    assert alice.client.post(reverse("portal:autotopup_card_remove")).status_code == 302
    auto = AutoTopUp.objects.get(account=alice.account)
    assert (auto.enabled, auto.has_card) == (False, False)


@pytest.mark.parametrize("role", ["support", "finance", "admin"])
def test_the_console_shows_an_accounts_attempts_read_only(alice, bob, stripe_on, role):
    for member in (alice, bob):
        save_card(member, stripe_on)
        member.client.post(reverse("portal:autotopup_save"), {"enabled": "on", "threshold": "50", "amount": "200"})
        wallet_adjust(account_id=member.account.pk, amount_micros=-parse_amount("60"), reason="spent", actor="test")
    autotopups_run()
    mine = AutoTopUpAttempt.objects.get(account=alice.account)
    user = User.objects.create_user(role, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    console = Client()
    console.force_login(user)

    account_page = console.get(reverse("admin:accounts_account_change", args=[alice.account.pk])).content.decode()
    link = reverse("admin:billing_autotopupattempt_changelist") + f"?customer={alice.account.pk}"
    assert f'<a href="{link}">auto top-ups</a>' in account_page
    listing = console.get(link)
    assert listing.status_code == 200
    body = listing.content.decode()
    assert str(mine.order_id) in body and "bob@example.com" not in body
    detail = console.get(reverse("admin:billing_autotopupattempt_change", args=[mine.pk])).content.decode()
    assert "payment_intent" in detail and 'name="_save"' not in detail
    auto_page = console.get(
        reverse("admin:billing_autotopup_change", args=[AutoTopUp.objects.get(account=alice.account).pk])
    )
    assert auto_page.status_code == 200 and "•••• 4242" in auto_page.content.decode()
    assert console.post(reverse("admin:billing_autotopupattempt_delete", args=[mine.pk])).status_code == 403
