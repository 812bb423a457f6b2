"""A customer's first day, in a real browser against a real server: sign up, confirm, create a key,
stream from the Playground, find the request in Usage, redeem a code, switch language.

Screenshots of every page land in tests/artifacts/ (git-ignored); docs/screenshots/ holds the ones
the README shows.
"""

import re

import pytest
from playwright.sync_api import expect

from billing import services as billing_services
from billing.money import parse_amount
from billing.redemption import redemption_codes_generate
from tests.factories import make_channel, make_model

EMAIL = "dana@example.com"
PASSWORD = "tour-password-2718"


def money(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


@pytest.fixture
def catalog(transactional_db):
    make_model("gpt-4o")
    make_model("deepseek-chat", input_price="2", cached_price="0.5", output_price="8")
    # A visible token-by-token stream: 40 ms between pieces.
    make_channel("sim", provider="simulator", models={"gpt-4o": "", "deepseek-chat": ""},
                 options={"latency_ms": 50, "token_delay_ms": 40})  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_portal_tour(page, portal_server, catalog, shot):
    base = portal_server.url
    [code] = redemption_codes_generate(
        count=1, amount_micros=parse_amount("50"), expires_at=None, batch="tour", created_by="test"
    )

    # Sign up, then confirm through the link in the email.
    page.goto(base + "/signup/")
    shot(page, "signup")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = portal_server.link_in_mail(EMAIL, r"http://\S+/signup/confirm/\S+/")
    page.goto(link)
    expect(page.locator(".flash")).to_contain_text("Your email is confirmed")
    shot(page, "login")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=re.compile("Dashboard"))).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("¥0.00")
    expect(page.locator(".banner.warn")).to_contain_text("Low balance")

    # An operator grants trial credit (through the ledger, as every credit).
    from accounts.models import Account

    account = Account.objects.get(email=EMAIL)
    billing_services.wallet_credit(
        account_id=account.pk, amount_micros=parse_amount("10"), idempotency_key="tour:trial", note="trial credit"
    )

    # Create a key: the secret is shown once, with a copy button and a warning.
    page.goto(base + "/keys/new/")
    page.get_by_label("Name").fill("tour-key")
    page.get_by_label("Requests per minute").fill("60")
    shot(page, "key-new")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Copy this key now. It will not be shown again.")).to_be_visible()
    secret = page.get_by_test_id("secret").input_value()
    assert secret.startswith("sk-")
    copy = page.locator('button[data-copy="#secret"]')
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    shot(page, "key-created")

    # The Playground gets the key from the tab; stream and watch the text grow token by token.
    page.get_by_role("link", name="Try it in the Playground").click()
    expect(page.get_by_label("API key")).to_have_value(secret)
    page.get_by_label("Model").select_option("gpt-4o")
    page.get_by_label("Input").fill("Summarize the integration steps")
    expect(page.get_by_label("Stream the answer (stream: true)")).to_be_checked()
    page.get_by_role("button", name="Send").click()
    output = page.get_by_test_id("output")
    expect(output).not_to_be_empty()
    partial = output.inner_text()
    expect(page.locator("#pg-status")).to_have_text(re.compile("^Done"), timeout=20_000)
    final = output.inner_text()
    assert final.startswith("Sure.") and "harnmodel simulator" in final
    assert len(partial) < len(final), "the answer should have appeared piece by piece"
    expect(page.get_by_test_id("events")).to_contain_text("response.output_text.delta")
    expect(page.get_by_test_id("events")).to_contain_text("response.completed")
    expect(page.locator("#pg-request")).to_contain_text('"stream": true')
    cost_cell = page.locator('#pg-usage [data-testid="cost"]')
    expect(cost_cell).to_have_text(re.compile(r"^¥0\.\d+"), timeout=15_000)
    cost = cost_cell.inner_text()
    page.locator("#pg-events").evaluate("el => el.closest('details').open = true")
    shot(page, "playground", full_page=False)

    # Usage shows the request with the same cost, and never an upstream channel.
    page.goto(base + "/usage/")
    row = page.locator("table.usage tbody tr").first
    expect(row).to_contain_text("gpt-4o")
    expect(row).to_contain_text("tour-key")
    expect(row).to_contain_text("200")
    expect(row.get_by_test_id("cost")).to_have_text(cost)
    expect(row.get_by_test_id("request-id")).to_contain_text(re.compile(r"req_[0-9a-f]{8}"))
    assert "sim" not in page.locator("table.usage").inner_text().replace("simulator", "")
    page.get_by_label("Status").select_option("error")
    expect(page.locator("table.usage tbody")).to_contain_text("No requests match.")
    page.get_by_label("Status").select_option("")
    expect(page.locator("table.usage tbody tr").first).to_contain_text("gpt-4o")
    shot(page, "usage")

    # Redeem a code: the balance goes up by exactly its amount.
    page.goto(base + "/billing/")
    before = money(page.get_by_test_id("balance").inner_text())
    expect(page.get_by_test_id("topup-unavailable")).to_be_visible()
    page.get_by_label("Redemption code").fill(code.lower())  # people type codes any old way
    page.get_by_role("button", name="Redeem").click()
    expect(page.locator(".flash")).to_contain_text("Code redeemed: ¥50.00 added.")
    after = money(page.get_by_test_id("balance").inner_text())
    assert round(after - before, 2) == 50.0
    shot(page, "billing")

    # The rest of the pages, for the record.
    page.goto(base + "/dashboard/")
    expect(page.locator("#chart-requests")).to_be_visible()
    page.wait_for_timeout(300)
    shot(page, "dashboard")
    page.goto(base + "/keys/")
    expect(page.locator("tbody")).to_contain_text("tour-key")
    shot(page, "keys")
    for name in ("models", "docs", "account"):
        page.goto(f"{base}/{name}/")
        expect(page.get_by_test_id("base-url") if name == "docs" else page.locator("h1")).to_be_visible()
        shot(page, name, full_page=name != "docs")

    # Switch language: the same pages, in Chinese.
    page.goto(base + "/dashboard/")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name=re.compile("仪表盘"))).to_be_visible()
    shot(page, "dashboard-zh")
    page.goto(base + "/docs/")
    expect(page.get_by_text("平台统一模型 ID。")).to_be_visible()
    expect(page.get_by_test_id("base-url")).to_have_text(base + "/v1")
    shot(page, "docs-zh", full_page=False)
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
