"""Issue 17's browser proof: a customer opens a billed request's receipt in the portal (verified), disputes the
charge; finance refunds it from the console's queue; the refund is on the customer's Billing page and mailed.
Everything real: the request goes through the gateway, the receipt is the one it sent."""

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect

from billing.models import Dispute, LedgerEntry, Receipt
from billing.money import format_exact
from tests.e2e.conftest import wait_for
from tests.factories import make_channel, make_model
from tests.portal.conftest import make_member

pytestmark = pytest.mark.django_db(transaction=True)


def _signed_in(browser, portal_server, user):
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
              "url": portal_server.url}  # fmt: skip
    context.add_cookies([cookie])
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def test_dispute_in_the_portal_refund_in_the_console_refund_on_billing(browser, portal_server, shot):
    make_model("gpt-4o")
    make_channel("sim", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 0})
    alice = make_member("alice@example.com")
    answer = httpx.post(portal_server.url + "/v1/responses", headers={"authorization": f"Bearer {alice.key}"},
                        json={"model": "gpt-4o", "input": "你好"}, timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-request-id"]
    stored = wait_for(lambda: Receipt.objects.filter(request_id=request_id).first(), what="the kept receipt")
    assert stored.jws == answer.headers["x-harnmodel-receipt"]
    cost = -LedgerEntry.objects.get(idempotency_key=f"charge:{request_id}").amount_micros

    customer, page, customer_errors = _signed_in(browser, portal_server, alice.user)
    page.goto(portal_server.url + "/usage/")
    page.get_by_test_id("receipt-link").first.click()
    expect(page.get_by_test_id("receipt-status")).to_have_text("Signature valid; the ledger holds this charge.")
    expect(page.get_by_test_id("receipt-jws")).to_have_text(stored.jws)
    page.get_by_label("What is wrong with this charge?").fill("The answer never arrived.")
    page.get_by_test_id("dispute").click()
    expect(page.get_by_test_id("dispute-status")).to_contain_text("Your dispute is open")
    shot(page, "receipt-disputed")
    dispute = Dispute.objects.get(request_id=request_id)
    assert (dispute.status, dispute.amount_micros) == ("open", cost)

    # A transactional test flushes the roles the migrations made; the role rules are tested in tests/billing.
    fay = User.objects.create_superuser("fay", "fay@example.com", "pw-finance-31415")
    console, desk, console_errors = _signed_in(browser, portal_server, fay)
    desk.goto(portal_server.url + "/admin/billing/dispute/?status__exact=open")
    desk.get_by_role("link", name="Refund or reject…").click()
    expect(desk.get_by_test_id("reason")).to_have_text("The answer never arrived.")
    desk.get_by_role("button", name=f"Refund {format_exact(cost)} and mail the customer").click()
    expect(desk.locator(".messagelist")).to_contain_text("refunded; the customer was mailed")
    shot(desk, "console-dispute-refunded")

    page.goto(portal_server.url + "/billing/")
    expect(page.get_by_text("Refund of a disputed charge")).to_be_visible()
    shot(page, "billing-dispute-refund")
    assert LedgerEntry.objects.get(idempotency_key=f"dispute:{dispute.pk}").amount_micros == cost
    assert wait_for(lambda: [m for m in portal_server.mails() if f"dispute #{dispute.pk}" in m and "To: alice@example.com" in m],
                    what="the refund mail")  # fmt: skip
    page.goto(portal_server.url + f"/usage/requests/{request_id}/receipt/")
    expect(page.get_by_test_id("dispute-status")).to_contain_text("went back to your balance")
    customer.close()
    console.close()
    assert customer_errors == console_errors == []
