"""The client doors' doc pages in Chromium (issue 15): reached from the docs navigation, in English and
Chinese, their copy buttons work under the CSP, no console or CSP errors; screenshots in tests/artifacts/."""

import pytest
from playwright.sync_api import expect

from .conftest import collect_errors

pytestmark = pytest.mark.django_db(transaction=True)
PAGES = [("Chat Completions", "chat"), ("Anthropic Messages", "messages"), ("Gemini", "gemini")]


def test_door_pages_from_the_docs_navigation(page, portal_server, shot):
    base = portal_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(base + "/docs/")
    nav = page.get_by_role("navigation", name="API docs")
    for title, slug in PAGES:
        nav.get_by_role("link", name=title).click()
        expect(page).to_have_url(f"{base}/docs/{slug}/")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(nav.get_by_role("link", name=title)).to_have_attribute("aria-current", "page")
        expect(page.get_by_test_id("base-url")).to_contain_text(base)
        copy = page.locator('button[data-copy="#curl-json"]')
        copy.click()
        expect(copy).to_contain_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()").startswith(f"curl '{base}/v1")
        shot(page, f"docs-{slug}")
    nav.get_by_role("link", name="Coding agents").click()
    expect(page.get_by_role("heading", name="Claude Code")).to_be_visible()
    shot(page, "docs-agents")


def test_door_pages_in_chinese(browser, portal_server, shot):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN",
                                  extra_http_headers={"Accept-Language": "zh-Hans"})  # fmt: skip
    page = context.new_page()
    errors = collect_errors(page)
    try:
        for _title, slug in PAGES:
            page.goto(f"{portal_server.url}/docs/{slug}/")
            expect(page.get_by_role("heading", name="拒绝的字段")).to_be_visible()
            expect(page.get_by_role("navigation", name="API 文档")).to_be_visible()
            shot(page, f"docs-{slug}-zh")
    finally:
        context.close()
    assert not errors, errors
