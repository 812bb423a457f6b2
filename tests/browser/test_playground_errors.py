"""The Playground when the gateway refuses a request (401, 402): the error's own message shows at
once, nothing polls for a cost that was never charged, and a 402 links to the Billing page.
Chromium against a real server."""

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.factories import make_channel, make_model
from tests.portal.conftest import make_member


def log_in(page, base: str, user) -> None:
    """The browser gets a session made by Django's test client (the login form has its own tests)."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base,
            }
        ]  # fmt: skip
    )


@pytest.mark.django_db(transaction=True)
def test_refused_requests_show_their_message_at_once(page, portal_server):
    base = portal_server.url
    make_model("gpt-4o")
    make_channel("sim", provider="simulator", models={"gpt-4o": ""})
    broke = make_member("broke@example.com", balance="0")  # an empty wallet: every request is a 402
    log_in(page, base, broke.user)
    polled: list[str] = []
    page.on("request", lambda request: polled.append(request.url) if "/usage/requests/" in request.url else None)

    page.goto(base + "/playground/")
    page.get_by_label("API key").fill(broke.key)
    page.get_by_role("button", name="Send").click()
    status = page.locator("#pg-status")
    expect(status).to_contain_text("HTTP 402 insufficient_balance: Your balance is too low")
    link = status.get_by_test_id("billing-link")
    expect(link).to_have_text("Top up on the Billing page")
    expect(link).to_have_attribute("href", "/billing/")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    page.wait_for_timeout(600)  # the old page started polling here, 40 times
    expect(page.locator("#pg-usage")).not_to_contain_text("Settling")
    assert polled == []

    page.get_by_label("API key").fill("sk-not-a-real-key")
    page.get_by_role("button", name="Send").click()
    expect(status).to_have_text(re.compile(r"^HTTP 401 invalid_auth_header: Incorrect API key provided\.$"))
    expect(status.get_by_test_id("billing-link")).to_have_count(0)
    page.wait_for_timeout(600)
    expect(page.locator("#pg-usage")).to_be_empty()
    assert polled == []

    link = page.get_by_role("link", name="Top up on the Billing page")
    expect(link).to_have_count(0)
    page.get_by_label("API key").fill(broke.key)
    page.get_by_role("button", name="Send").click()
    page.get_by_role("link", name="Top up on the Billing page").click()
    expect(page).to_have_url(base + "/billing/")
