"""Console pages in Chromium against a real server: no JavaScript errors, working date widgets, and
lists that fit a 1280 px wide screen."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect


@pytest.fixture
def console(page, portal_server):
    """The page, signed in to the console as a superuser; console errors are collected too."""
    operator = User.objects.create_superuser("ops", "ops@example.com", "console-password-2718")
    client = Client()
    client.force_login(operator)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": portal_server.url,
            }
        ]  # fmt: skip
    )
    page.console_errors = []

    def on_console(msg) -> None:
        if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):  # the browser's own ask
            page.console_errors.append(f"{msg.text} {msg.location}")

    page.on("console", on_console)
    return page


@pytest.mark.django_db(transaction=True)
def test_generate_codes_page_has_a_working_calendar(console, portal_server, shot):
    page = console
    page.goto(portal_server.url + "/admin/billing/redemptioncode/generate/")
    expect(page.get_by_role("heading", name="Generate redemption codes")).to_be_visible()
    page.locator("#calendarlink0").click()
    calendar = page.locator("#calendarbox0")
    expect(calendar).to_be_visible()
    calendar.get_by_role("link", name="Tomorrow").click()
    expect(page.locator("#id_expires_at_0")).not_to_have_value("")
    page.locator("#clocklink0").click()
    expect(page.locator("#clockbox0")).to_be_visible()
    shot(page, "console-generate-codes")
    assert page.console_errors == []


def _busy_console() -> int:
    """Rows with the long values real operators have: URLs, reasons, keys, notes. Returns a channel id."""
    from billing import services as billing_services
    from gateway.models import Channel
    from tests.factories import make_channel, make_customer, make_model

    models = [f"vendor-{n}-chat-preview-2026-05-longest-name" for n in range(3)]
    for model in models:
        make_model(model)
    for n in range(4):
        channel = make_channel(
            f"openai-compatible-upstream-account-{n}-eu-west-primary",
            provider="openai_responses",
            base_url=f"https://api.upstream-provider-with-a-long-host-name-{n}.example.com/openai/deployments/v1",
            secret=f"sk-upstream-secret-value-{n}-0123456789abcdef",
            models={m: f"{m}-upstream-deployment-name-{n}" for m in models},
        )
    Channel.objects.filter(pk=channel.pk).update(
        enabled=False, disabled_reason="401 from the upstream during the probe: the credential was rotated " * 2
    )
    account, _ = make_customer("a-customer-with-a-long-address@enterprise-customer.example.com", balance="100")
    for n in range(5):
        billing_services.wallet_adjust(
            account_id=account.pk, amount_micros=1_234_567, actor="finance-operator-with-long-name",
            reason=f"goodwill credit for the incident INC-{n} where the upstream timed out for many requests " * 2,
            idempotency_key=f"adjust:{n}:0f8fad5b-d9cb-469f-a165-70867728950e-{n}-extra-long-suffix",
        )  # fmt: skip
    return channel.pk


@pytest.mark.django_db(transaction=True)
def test_console_lists_fit_a_1280_screen(console, portal_server, shot):
    page = console
    page.set_viewport_size({"width": 1280, "height": 800})
    channel = _busy_console()
    for name, path in [
        ("channels", "/admin/gateway/channel/"),
        ("ledger", "/admin/billing/ledgerentry/"),
        ("model-map", f"/admin/gateway/channel/{channel}/change/"),
    ]:
        page.goto(portal_server.url + path)
        expect(page.locator("#content")).to_be_visible()
        if name == "model-map":
            page.locator("#model_maps-group").scroll_into_view_if_needed()
        shot(page, f"console-{name}-1280", full_page=False)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, f"{path} is {width} px wide at 1280 px"
    assert page.console_errors == []
