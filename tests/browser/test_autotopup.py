"""Auto top-up in a real browser against a real server and the local fake Stripe: the owner saves a card
on the (fake) hosted setup page and comes back to it shown, switches auto top-up on, the balance falls
below the threshold, the sweep charges the card off-session, Stripe's signed webhook reaches the server
(twice), and the page shows the attempt credited once and the balance topped up."""

from collections.abc import Iterator

import httpx
import pytest
import stripe
from playwright.sync_api import expect

from billing.autotopup_run import autotopups_run
from billing.models import LedgerEntry
from billing.money import parse_amount
from billing.services import wallet_adjust
from tests.browser.conftest import collect_errors
from tests.e2e.conftest import launch_gateway, stop_gateway
from tests.portal.conftest import PASSWORD, make_member
from tests.upstream.fake_stripe import FakeStripe, sign

EMAIL = "frank@example.com"
WEBHOOK_SECRET = "whsec_browser"


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stripe_portal(django_db_setup, fake_stripe, tmp_path_factory):
    root = tmp_path_factory.mktemp("stripe-portal")
    server = launch_gateway(
        root / "uvicorn.log",
        STRIPE_SECRET_KEY=fake_stripe.secret_key,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=fake_stripe.base_url,
        HARNMODEL_CURRENCY="CNY",
    )
    try:
        yield server
    finally:
        stop_gateway(server)


@pytest.fixture
def sweep_settings(settings, fake_stripe, monkeypatch):
    """This process runs the sweep (the beat job): it talks to the same fake Stripe."""
    settings.STRIPE_SECRET_KEY = fake_stripe.secret_key
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.HARNMODEL_CURRENCY = "CNY"
    monkeypatch.setattr(stripe, "api_base", fake_stripe.base_url)


@pytest.mark.django_db(transaction=True)
def test_save_a_card_switch_it_on_and_see_the_top_up_credited(
    browser, stripe_portal, fake_stripe, sweep_settings, shot
):
    member = make_member(EMAIL, balance="100")
    base = stripe_portal.url
    fake_stripe.reset()
    fake_stripe.return_origin = base.rstrip("/")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    errors = collect_errors(page)
    page.set_default_timeout(15_000)
    try:
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_test_id("balance")).to_be_visible()

        page.goto(base + "/billing/")
        page.get_by_test_id("autotopup-link").click()
        expect(page.get_by_test_id("autotopup-card")).to_have_text("No card saved.")
        page.get_by_role("button", name="Save a card").click()  # Stripe's page, and back

        expect(page.get_by_test_id("autotopup-card")).to_have_text("VISA •••• 4242")
        expect(page.get_by_text("Card saved.")).to_be_visible()
        page.get_by_label("Top up automatically").check()
        page.get_by_label("When the balance falls below").fill("50")
        page.get_by_label("Charge the card").fill("200")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("Auto top-up saved.")).to_be_visible()

        wallet_adjust(account_id=member.account.pk, amount_micros=-parse_amount("60"), reason="spent", actor="t")
        assert autotopups_run() == {"started_processing": 1}
        [intent] = fake_stripe.intents.values()
        payload = fake_stripe.event("payment_intent.succeeded", intent)
        for _ in range(2):  # delivered twice, as Stripe may
            answer = httpx.post(f"{base}/billing/webhooks/stripe/", content=payload,
                                headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET),
                                         "Content-Type": "application/json"})  # fmt: skip
            assert answer.status_code == 200, answer.text
        assert autotopups_run() == {"closed_succeeded": 1}

        page.reload()
        expect(page.get_by_test_id("autotopup-attempts")).to_contain_text("credited")
        expect(page.get_by_test_id("autotopup-attempts")).to_contain_text("¥200.00")
        shot(page, "autotopup")
        page.goto(base + "/billing/")
        expect(page.get_by_test_id("balance")).to_have_text("¥240.00")
        assert LedgerEntry.objects.filter(wallet__account=member.account, kind="topup").count() == 1
    finally:
        context.close()
    assert not errors, errors
