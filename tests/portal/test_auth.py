"""Sign-up with email confirmation, log in/out, throttling, password reset and change, CSRF."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Membership
from billing.models import Wallet
from tests.portal.conftest import PASSWORD, make_user

NEW_PASSWORD = "another-long-secret-42"


def _signup(client, email="dana@example.com", password=PASSWORD, **extra):
    data = {"email": email, "password1": password, "password2": password}
    return client.post(reverse("portal:signup"), data, **extra)


def _link(message, pattern=r"http://testserver/\S+"):
    return re.search(pattern, message.body).group(0).replace("http://testserver", "")


def test_signup_mails_a_link_that_activates_and_creates_an_owned_account(
    client, db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _signup(client, email="Dana@Example.com")
    assert response.status_code == 302
    user = get_user_model().objects.get(email="dana@example.com")
    assert not user.is_active
    assert not Account.objects.filter(email="dana@example.com").exists()
    [message] = mail.outbox
    assert message.to == ["dana@example.com"]

    response = client.get(_link(message))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
    user.refresh_from_db()
    assert user.is_active
    account = Account.objects.get(email="dana@example.com")
    assert Membership.objects.get(account=account, user=user).role == "owner"
    assert Wallet.objects.filter(account=account).exists()
    assert client.get(_link(message)).status_code == 400  # single use


def test_unconfirmed_user_cannot_log_in(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _signup(client)
    response = client.post(reverse("portal:login"), {"email": "dana@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_signup_again_kills_the_first_link(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _signup(client)
        _signup(client, password=NEW_PASSWORD)
    first, second = mail.outbox
    assert client.get(_link(first)).status_code == 400
    assert client.get(_link(second)).status_code == 302


def test_signup_with_a_registered_address_reveals_nothing(client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _signup(client, email="alice@example.com")
    assert response.status_code == 302 and "signup/sent" in response["Location"]
    assert "already has an account" in mail.outbox[0].body
    alice.user.refresh_from_db()
    assert alice.user.check_password(PASSWORD)  # untouched


@pytest.mark.parametrize("password", ["short", "12345678901", "password123"])
def test_signup_enforces_password_validators(client, db, password):
    response = _signup(client, password=password)
    assert response.status_code == 400
    assert not get_user_model().objects.exists()


def test_resend_confirmation(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _signup(client)
        client.post(reverse("portal:signup_resend"), {"email": "dana@example.com"})
        client.post(reverse("portal:signup_resend"), {"email": "nobody@example.com"})
    assert [m.to for m in mail.outbox] == [["dana@example.com"], ["dana@example.com"]]


def test_login_and_logout(client, alice):
    response = client.post(reverse("portal:login"), {"email": "ALICE@example.com", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")
    assert client.get(reverse("portal:dashboard")).status_code == 200
    assert client.get(reverse("portal:logout")).status_code == 405  # GET never logs out
    client.post(reverse("portal:logout"))
    assert client.get(reverse("portal:dashboard")).status_code == 302


def test_login_redirects_only_to_our_own_pages(client, alice):
    data = {"email": "alice@example.com", "password": PASSWORD}
    assert client.post(reverse("portal:login") + "?next=/usage/", data)["Location"] == "/usage/"
    client.post(reverse("portal:logout"))
    assert client.post(reverse("portal:login") + "?next=https://evil.example/", data)["Location"] == "/dashboard/"


def test_login_rotates_the_session(client, alice):
    client.get(reverse("portal:login"))
    client.session.save()
    before = client.session.session_key
    client.post(reverse("portal:login"), {"email": "alice@example.com", "password": PASSWORD})
    assert client.session.session_key != before


def test_login_is_throttled_per_email(client, alice, settings):
    settings.HARNMODEL_LOGIN_FAILURES_PER_EMAIL = 3
    for _ in range(3):
        assert (
            client.post(reverse("portal:login"), {"email": "alice@example.com", "password": "wrong"}).status_code == 400
        )
    # Now even the right password is refused for a while: 429, and no session.
    response = client.post(reverse("portal:login"), {"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_login_is_throttled_per_address(client, alice, settings):
    settings.HARNMODEL_LOGIN_FAILURES_PER_IP = 3
    for n in range(3):
        client.post(reverse("portal:login"), {"email": f"guess{n}@example.com", "password": "wrong"})
    response = client.post(reverse("portal:login"), {"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 429
    other = Client(REMOTE_ADDR="10.0.0.2")
    assert other.post(reverse("portal:login"), {"email": "alice@example.com", "password": PASSWORD}).status_code == 302


def test_password_reset_flow(client, alice, django_capture_on_commit_callbacks):
    response = client.post(reverse("portal:password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    [message] = mail.outbox
    response = client.get(_link(message), follow=True)  # Django swaps the token into the session
    assert response.status_code == 200
    url = response.redirect_chain[-1][0]
    response = client.post(url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.check_password(NEW_PASSWORD)


def test_password_reset_mails_are_throttled(client, alice):
    for _ in range(12):
        client.post(reverse("portal:password_reset"), {"email": "alice@example.com"})
    assert len(mail.outbox) == 10


def test_password_change(alice):
    response = alice.client.post(
        reverse("portal:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.check_password(NEW_PASSWORD)


def test_password_change_needs_the_old_password(alice):
    response = alice.client.post(
        reverse("portal:password_change"),
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200 and b"error" in response.content
    alice.user.refresh_from_db()
    assert alice.user.check_password(PASSWORD)


def test_portal_session_cookie_is_httponly_and_lax(client, alice, settings):
    response = client.post(reverse("portal:login"), {"email": "alice@example.com", "password": PASSWORD})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


CSRF_POSTS = [
    ("portal:login", {}, {"email": "alice@example.com", "password": PASSWORD}),
    ("portal:signup", {}, {"email": "x@example.com", "password1": PASSWORD, "password2": PASSWORD}),
    ("portal:key_create", {}, {"name": "k"}),
    ("portal:redeem", {}, {"code": "HM-0000-0000-0000-0000"}),
    ("portal:threshold", {}, {"threshold": "5"}),
    ("portal:invitation_create", {}, {"email": "x@example.com", "role": "member"}),
    ("portal:account_rename", {}, {"name": "x"}),
    ("portal:logout", {}, {}),
]


@pytest.mark.parametrize(("name", "kwargs", "data"), CSRF_POSTS)
def test_every_form_needs_the_csrf_token(alice, name, kwargs, data):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice.user)
    assert strict.post(reverse(name, kwargs=kwargs), data).status_code == 403


def test_csrf_on_key_revoke_and_member_remove(alice, mallory):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice.user)
    key = alice.account.api_keys.first()
    assert strict.post(reverse("portal:key_revoke", args=[key.pk])).status_code == 403
    assert strict.post(reverse("portal:member_remove", args=[mallory.user.memberships.get().pk])).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_forms_render_a_csrf_token(alice):
    body = alice.client.get(reverse("portal:key_create")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in body


def test_user_made_by_tests_helper_can_log_in(client, db):
    make_user("eve@example.com")
    assert client.post(reverse("portal:login"), {"email": "eve@example.com", "password": PASSWORD}).status_code == 302


def test_a_forged_host_never_reaches_a_mail(client, alice, settings, django_capture_on_commit_callbacks):
    """Reset, sign-up and invitation links come from HARNMODEL_SITE_URL, whatever Host the client sends."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.HARNMODEL_SITE_URL = "https://portal.example.com"
    forged = {"HTTP_HOST": "evil.example"}
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(reverse("portal:password_reset"), {"email": "alice@example.com"}, **forged).status_code == 302
        )
        assert _signup(client, email="erin@example.com", **forged).status_code == 302
        response = alice.client.post(
            reverse("portal:invitation_create"), {"email": "frank@example.com", "role": "member"}, **forged
        )
        assert response.status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "erin@example.com", "frank@example.com"]
    for message in mail.outbox:
        text = message.body + "".join(str(content) for content, _ in getattr(message, "alternatives", []))
        assert "evil.example" not in text
        assert "https://portal.example.com/" in text
