"""The operator's live request log in a real browser against a real server: requests sent with the official
openai SDK appear as they settle, and a customer filter hides the others without reconnecting."""

import openai
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from billing.models import UsageRecord
from tests.e2e.conftest import wait_for
from tests.factories import make_channel, make_customer, make_model

PASSWORD = "live-log-password-1618"


@pytest.fixture
def shop(transactional_db):
    make_model("gpt-4o")
    make_model("deepseek-chat", input_price="2", cached_price="0.5", output_price="8")
    make_channel("sim", provider="simulator", models={"gpt-4o": "", "deepseek-chat": ""},
                 options={"latency_ms": 0, "token_delay_ms": 0})  # fmt: skip
    User.objects.create_user("ops", password=PASSWORD, is_staff=True, is_superuser=True)
    _, alice_key = make_customer("alice@example.com", balance="100")
    _, bob_key = make_customer("bob@example.com", balance="100")
    return alice_key, bob_key


def _ask(server_url: str, key: str, model: str, *, stream: bool = False) -> str:
    """One request with the official SDK; returns the gateway's request id."""
    client = openai.OpenAI(base_url=server_url + "/v1", api_key=key, max_retries=0, timeout=30)
    if stream:
        with client.responses.with_streaming_response.create(model=model, input="hello", stream=True) as response:
            for _ in response.iter_lines():
                pass
            return response.headers["x-request-id"]
    raw = client.responses.with_raw_response.create(model=model, input="hello")
    assert raw.parse().output_text
    return raw.headers["x-request-id"]


@pytest.mark.django_db(transaction=True)
def test_requests_appear_live_and_filters_hide_the_rest(page, portal_server, shop, shot):
    alice_key, bob_key = shop
    base = portal_server.url

    page.goto(base + "/admin/login/?next=/admin/ops/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Live request log").click()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    first = _ask(base, alice_key, "gpt-4o")
    streamed = _ask(base, bob_key, "deepseek-chat", stream=True)
    rows = page.locator("#live-rows tr")
    expect(page.locator(f'tr[data-request-id="{first}"] .live-customer')).to_have_attribute("title", "alice@example.com")
    expect(page.locator(f'tr[data-request-id="{streamed}"] .live-model')).to_have_text("deepseek-chat")
    expect(page.locator(f'tr[data-request-id="{streamed}"] .live-status')).to_have_text("200")
    expect(rows).to_have_count(2)
    shot(page, "live-log")

    # Only Bob from now on: Alice's row goes at once, her next request never shows, Bob's does.
    page.get_by_label("Customer").fill("bob@")
    expect(rows).to_have_count(1)
    expect(page.locator(f'tr[data-request-id="{first}"]')).to_have_count(0)
    hidden = _ask(base, alice_key, "gpt-4o")
    # Settled (so published) before Bob's request starts: the page has had its chance to show it.
    wait_for(lambda: UsageRecord.objects.filter(request_id=hidden).exists(), what="the hidden request settled")
    shown = _ask(base, bob_key, "gpt-4o")
    expect(page.locator(f'tr[data-request-id="{shown}"]')).to_be_visible()
    expect(page.locator(f'tr[data-request-id="{hidden}"]')).to_have_count(0)
    expect(rows).to_have_count(2)

    # Clearing the filter redraws every request this page received, the hidden one included.
    page.get_by_label("Customer").fill("")
    expect(rows).to_have_count(4)
    expect(page.locator(f'tr[data-request-id="{hidden}"] .live-customer')).to_have_attribute("title", "alice@example.com")
