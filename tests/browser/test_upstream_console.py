"""Upstream model sync and upstream balances in the console, in Chromium against a real server: the review page
lists what an upstream's model list added and dropped, an operator applies one finding as a draft model and
ignores another with the list's actions, and the channel list shows the upstream balance with its trend."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_pages import console  # noqa: F401  (a fixture)
from tests.upstream_sync.fake import FakeUpstream


@pytest.fixture(scope="module")
def fake_upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_an_operator_reviews_a_model_list_diff_and_sees_the_balance(console, portal_server, fake_upstream, shot):  # noqa: F811
    from gateway import tasks
    from gateway.models import CatalogModel, UpstreamModelFinding
    from tests.factories import make_channel, make_model

    make_model("gpt-4o")
    make_channel("relay-up", provider="openai_chat", base_url=fake_upstream.url + "/v1", secret="k",
                 models={"gpt-4o": ""}, options={"balance_kind": "deepseek"})  # fmt: skip
    fake_upstream.models, fake_upstream.page_size = ["fresh-model", "noise-model", "gpt-4o"], 2
    for amount in ("9.00", "7.50"):
        fake_upstream.balance = amount
        tasks.poll_upstream_balances.apply()
    tasks.sync_upstream_models.apply()

    page = console
    page.goto(portal_server.url + "/admin/gateway/upstreammodelfinding/")
    table = page.locator("#result_list")
    expect(table).to_contain_text("fresh-model")
    expect(table).to_contain_text("noise-model")
    ids = {f.upstream_name: f.pk for f in UpstreamModelFinding.objects.all()}

    page.check(f"input[name=_selected_action][value='{ids['fresh-model']}']")
    page.select_option("select[name=action]", "apply_selected")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_be_visible()
    page.check(f"input[name=_selected_action][value='{ids['noise-model']}']")
    page.select_option("select[name=action]", "ignore_selected")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_be_visible()
    shot(page, "console-upstream-model-sync")

    draft = CatalogModel.objects.get(public_id="fresh-model")
    assert draft.enabled is False  # a draft: never served, no price published
    states = {f.upstream_name: f.state for f in UpstreamModelFinding.objects.all()}
    assert states["noise-model"] == "ignored"

    page.goto(portal_server.url + "/admin/gateway/channel/")
    channels = page.locator("#result_list")
    expect(channels).to_contain_text("Upstream balance")
    expect(channels).to_contain_text("7.5")
    shot(page, "console-upstream-balance")
    assert page.console_errors == []
