"""The Channel truth page in Chromium against the real server: scores with their evidence fit a 1280 px
screen, and the operator runs the canaries and lifts a demotion from it (the server calls the fake
upstreams over real HTTP)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect

from gateway.upstream.truth import canary_run, score
from gateway.upstream.truth.models import TruthScore
from tests.factories import make_channel, make_model
from tests.upstream.truth_fake import TruthUpstream


@pytest.fixture
def upstream():
    server = TruthUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def console(page, portal_server):
    operator = User.objects.create_superuser("truth-ops", "ops@example.com", "console-password-2718")
    client = Client()
    client.force_login(operator)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                               "url": portal_server.url}])  # fmt: skip
    errors: list[str] = []

    def on_console(msg) -> None:
        if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):  # the browser's own ask
            errors.append(f"{msg.text} {msg.location}")

    page.on("console", on_console)
    page.truth_errors = errors
    return page


@pytest.mark.django_db(transaction=True)
def test_truth_page_runs_canaries_and_lifts_a_demotion(console, portal_server, upstream, shot):
    page = console
    page.set_viewport_size({"width": 1280, "height": 800})
    make_model("gpt-4o")
    made = {}
    for name, persona in (("reference-upstream", "a"), ("cheaper-relay-serving-something-else", "b")):
        made[name] = make_channel(name, provider="openai_responses", base_url=upstream.serve(name, persona),
                                  secret="sk-up", models={"gpt-4o": "gpt-4o"})  # fmt: skip
    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this thread: the canaries get their own
        thread.submit(canary_run.record_references, [made["reference-upstream"].pk]).result()
    score.score_all()

    page.goto(portal_server.url + "/admin/truth/truthscore/")
    expect(page.locator("#result_list")).to_contain_text("cheaper-relay-serving-something-else")
    page.locator("#action-toggle").check()  # every row
    page.locator("select[name=action]").select_option("run_canaries")
    page.locator("button[name=index]").click()  # the actions bar's Go
    expect(page.locator(".messagelist")).to_contain_text("6 canary answers, 3 drifting.")
    row = page.locator("#result_list tr", has_text="cheaper-relay-serving-something-else")
    expect(row).to_contain_text("● 25")
    expect(row).to_contain_text("schema ✗ drift")
    expect(row).to_contain_text("× 0.1 until")
    shot(page, "console-truth-1280", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    row.locator("input[name=_selected_action]").check()
    page.locator("select[name=action]").select_option("lift_demotion")
    page.locator("button[name=index]").click()  # the actions bar's Go
    expect(page.locator(".messagelist")).to_contain_text("Demotion lifted.")
    assert TruthScore.objects.get(channel=made["cheaper-relay-serving-something-else"]).demoted_until is None
    assert page.truth_errors == []
