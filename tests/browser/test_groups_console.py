"""Customer groups and the margin report in Chromium against a real server: an operator creates a group
with its terms, moves an account into it, and reads the margin report, with no JavaScript errors."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_pages import console  # noqa: F401  (a fixture)


@pytest.mark.django_db(transaction=True)
def test_an_operator_creates_a_group_moves_an_account_and_reads_the_margin(console, portal_server, shot):  # noqa: F811
    from accounts.models import Account
    from billing.group_models import GroupRule
    from tests.factories import make_customer

    account, _ = make_customer("reseller@example.com", balance="10")
    page = console
    page.goto(portal_server.url + "/admin/billing/customergroup/add/")
    page.fill("#id_slug", "resellers")
    page.fill("#id_name", "Resellers")
    page.fill("#id_multiplier", "0.85")
    page.fill("#id_overrides", '{"gpt-4o": {"multiplier": "0.5"}}')
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("New terms published")
    rule = GroupRule.objects.get(group__slug="resellers")
    assert (rule.multiplier_ppm, rule.overrides) == (850_000, {"gpt-4o": {"multiplier_ppm": 500_000}})
    expect(page.locator("#result_list")).to_contain_text("×0.85")

    page.goto(portal_server.url + f"/admin/accounts/account/{account.pk}/change/")
    page.select_option("#id_group", label="Resellers")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_be_visible()
    assert Account.objects.get(pk=account.pk).group.slug == "resellers"

    page.goto(portal_server.url + "/admin/ops/")
    page.click("#ops-margin-link")
    expect(page.locator("#margin-table")).to_be_visible()
    expect(page.locator("#margin-total")).to_contain_text("Total")
    shot(page, "console-margin-report")
    assert page.console_errors == []
