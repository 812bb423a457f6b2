"""An Alipay top-up in a real browser against a real server: the portal offers only Alipay (the one
provider configured), shows the QR code the fake Alipay gateway issued, and once the gateway posts its
signed notification to the server the page notices by itself and lands on the credited balance."""

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from billing.models import TopUpOrder
from tests.browser.conftest import collect_errors
from tests.e2e.conftest import launch_gateway, stop_gateway
from tests.portal.conftest import PASSWORD, make_member
from tests.upstream.fake_alipay import FakeAlipay, alipay_settings, start_fake_alipay

EMAIL = "erin@example.com"


@pytest.fixture(scope="module")
def fake_alipay() -> Iterator[FakeAlipay]:
    fake = start_fake_alipay()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def alipay_portal(django_db_setup, fake_alipay, tmp_path_factory):
    root = tmp_path_factory.mktemp("alipay-portal")
    server = launch_gateway(
        root / "uvicorn.log", STRIPE_SECRET_KEY="", STRIPE_WEBHOOK_SECRET="", **alipay_settings(fake_alipay)
    )
    try:
        yield server
    finally:
        stop_gateway(server)


@pytest.mark.django_db(transaction=True)
def test_alipay_top_up_walks_to_the_qr_code_and_credits(browser, alipay_portal, fake_alipay, shot):
    make_member(EMAIL, balance="100")
    base = alipay_portal.url
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    errors = collect_errors(page)
    page.set_default_timeout(15_000)
    try:
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_test_id("balance")).to_be_visible()

        # Billing offers Alipay, and only Alipay: Stripe is not configured on this server.
        page.goto(base + "/billing/")
        providers = page.get_by_test_id("topup-providers")
        expect(providers.get_by_label("Alipay")).to_be_checked()
        expect(providers).not_to_contain_text("Stripe")
        page.get_by_label("¥50", exact=True).check()
        page.get_by_role("button", name="Continue to payment").click()

        # The QR page: the code Alipay issued for this order, drawn inline, and a status that polls.
        expect(page.get_by_role("heading", name="Scan to pay")).to_be_visible()
        expect(page.get_by_test_id("topup-amount")).to_have_text("¥50.00")
        code = page.get_by_test_id("qr-code").locator("svg path.qrline")  # the modules: one path
        expect(code).to_have_count(1)
        expect(page.get_by_test_id("topup-status")).to_contain_text("Waiting for payment")
        shot(page, "topup-qr")
        order = TopUpOrder.objects.get()
        assert (order.provider, order.status, order.amount_micros) == ("alipay", "created", 50_000_000)
        assert order.qr_code == f"https://qr.alipay.test/{order.pk.hex}" and not fake_alipay.rejected

        # The buyer pays; Alipay notifies the server; the page sees the credit without a reload.
        fake_alipay.pay(order.pk.hex)
        reply = httpx.post(
            base + "/billing/webhooks/alipay/",
            content=fake_alipay.notification(order.pk.hex),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert reply.text == "success"
        expect(page.locator(".flash")).to_contain_text("Payment received")
        expect(page.get_by_test_id("balance")).to_have_text("¥150.00")
        assert page.url.rstrip("/").endswith("/billing")
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"
