"""Every page renders for a member, asks anonymous visitors to log in, and speaks both languages."""

import pytest
from django.urls import reverse

MEMBER_PAGES = ["dashboard", "keys", "key_create", "projects", "usage", "billing", "playground", "account", "password_change"]
PUBLIC_PAGES = ["models", "docs", "login", "signup", "password_reset", "signup_resend"]


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_member_pages_render(alice, name):
    response = alice.client.get(reverse(f"portal:{name}"))
    assert response.status_code == 200
    assert b"alice@example.com" in response.content


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_member_pages_send_anonymous_visitors_to_login(client, db, name):
    response = client.get(reverse(f"portal:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login") + "?next=")


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_render_for_anyone(client, model, name):
    assert client.get(reverse(f"portal:{name}")).status_code == 200


def test_home_goes_to_login_or_dashboard(client, alice):
    assert client.get("/")["Location"] == reverse("portal:login")
    assert alice.client.get("/")["Location"] == reverse("portal:dashboard")


def test_user_without_membership_sees_no_account_page(client, db):
    from tests.portal.conftest import make_user

    client.force_login(make_user("loner@example.com"))
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 403
    assert b"not a member of any account" in response.content


def test_models_page_lists_prices_per_million(client, model):
    body = client.get(reverse("portal:models")).content.decode()
    assert "gpt-4o" in body
    assert "¥2.50" in body and "¥1.25" in body and "¥10.00" in body


def test_docs_use_the_real_base_url(client, model, settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]  # the default answers only to the site URL's host
    body = client.get(reverse("portal:docs"), HTTP_HOST="portal.example.com").content.decode()
    assert "http://portal.example.com/v1/responses" in body
    assert "base_url=&quot;http://portal.example.com/v1&quot;" in body  # Python sample
    assert "baseURL: &quot;http://portal.example.com/v1&quot;" in body  # Node sample
    for code in ["invalid_request_error", "invalid_auth_header", "model_not_allowed", "insufficient_balance",
                 "model_not_available"]:  # fmt: skip
        assert code in body
    assert "response.output_text.delta" in body


def test_docs_prefer_the_configured_public_base(client, model, settings):
    settings.HARNMODEL_PUBLIC_API_BASE = "https://api.example.com/v1"
    assert "https://api.example.com/v1/responses" in client.get(reverse("portal:docs")).content.decode()


def test_docs_in_chinese_say_what_our_doc_page_says(client, model):
    body = client.get(reverse("portal:docs"), HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert '<html lang="zh-hans">' in body
    for text in ["平台统一模型 ID。", "系统级指令。", "是否使用流式返回。", "余额不足，平台在调用前预检时已拒绝请求。",
                 "当前 API Key 没有访问该模型的权限。", "当前模型没有可用路由或上游渠道不可用。"]:  # fmt: skip
        assert text in body, text


def test_language_follows_the_browser_and_the_switch(client, alice):
    assert (
        "仪表盘"
        in alice.client.get(reverse("portal:dashboard"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    )
    response = alice.client.post(reverse("set_language"), {"language": "en", "next": reverse("portal:dashboard")})
    assert response.status_code == 302
    body = alice.client.get(reverse("portal:dashboard"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "Dashboard" in body and "仪表盘" not in body


def test_pages_carry_security_headers(alice):
    response = alice.client.get(reverse("portal:dashboard"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_static_assets_are_local(alice):
    body = alice.client.get(reverse("portal:dashboard")).content.decode()
    assert "/static/portal/vendor/chart.umd.min.js" in body
    assert "/static/portal/vendor/htmx.min.js" in body
    assert "https://" not in body and "//cdn" not in body
