"""A strict Content-Security-Policy on the portal and the console, and pages that need nothing looser.

The browser tour (tests/browser/) checks the same pages in Chromium with the header on: no CSP violation.
"""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[^>]+\sstyle\s*=", re.I)
STYLE_TAG = re.compile(r"<style(?![^>]*\bnonce=)[^>]*>", re.I)


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


def _assert_strict(response, path):
    policy = _policy(response)
    assert policy["default-src"] == "default-src 'self'", path
    assert "'unsafe-inline'" not in response["Content-Security-Policy"], path
    assert "'unsafe-eval'" not in response["Content-Security-Policy"], path
    assert policy["object-src"] == "object-src 'none'" and policy["frame-ancestors"] == "frame-ancestors 'none'"
    body = response.content.decode()
    assert not INLINE_SCRIPT.search(body), (path, INLINE_SCRIPT.search(body).group(0))
    assert not INLINE_HANDLER.search(body), (path, INLINE_HANDLER.search(body).group(0))
    assert not STYLE_ATTR.search(body), (path, STYLE_ATTR.search(body).group(0))
    assert not STYLE_TAG.search(body), (path, STYLE_TAG.search(body).group(0))


PORTAL_PAGES = [
    "portal:dashboard", "portal:keys", "portal:key_create", "portal:usage", "portal:billing", "portal:playground",
    "portal:models", "portal:docs", "portal:account",
]  # fmt: skip
PUBLIC_PAGES = ["portal:login", "portal:signup", "portal:password_reset", "portal:signup_resend"]


@pytest.mark.parametrize("name", PORTAL_PAGES)
def test_portal_pages_carry_a_strict_policy(alice, name):
    response = alice.client.get(reverse(name))
    assert response.status_code == 200
    _assert_strict(response, name)


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_carry_a_strict_policy(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    _assert_strict(response, name)


CONSOLE_PAGES = [
    "admin:index", "admin:ops", "admin:live_log", "admin:accounts_account_changelist", "admin:billing_usagerecord_changelist",
    "admin:gateway_channel_changelist", "admin:gateway_channel_add", "admin:auth_user_changelist",
]  # fmt: skip


@pytest.mark.parametrize("name", CONSOLE_PAGES)
def test_console_pages_carry_a_strict_policy(db, name):
    operator = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(operator)
    response = client.get(reverse(name))
    assert response.status_code == 200, name
    _assert_strict(response, name)


def test_console_login_carries_it_and_the_nonce_changes_per_response(client, db):
    first, second = client.get(reverse("admin:login")), client.get(reverse("admin:login"))
    _assert_strict(first, "admin:login")
    nonce = re.compile(r"'nonce-([^']+)'")
    assert nonce.search(first["Content-Security-Policy"]).group(1) != nonce.search(
        second["Content-Security-Policy"]
    ).group(1)


def test_no_template_or_admin_column_needs_an_inline_exception():
    """Pages the tests above do not open (errors, rare admin forms) follow the same rule at the source."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sources = [*root.joinpath("templates").rglob("*.html")]
    sources += [p for app in ("accounts", "billing", "gateway") for p in root.joinpath(app).rglob("*.py")]
    found = []
    for path in sources:
        text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"))  # template comments may name a tag
        if path.name == "csp.py":
            continue
        for pattern in (INLINE_SCRIPT, INLINE_HANDLER, STYLE_ATTR, STYLE_TAG):
            match = pattern.search(text)
            if match:
                found.append(f"{path.relative_to(root)}: {match.group(0)[:60]}")
    assert found == []
