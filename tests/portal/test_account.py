"""Account page: rename, invitations (owner/member), members, switching accounts."""

import re

from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Invitation, Membership
from tests.portal.conftest import PASSWORD, make_user


def _invite(member, email="erin@example.com", role="member", capture=None):
    return member.client.post(reverse("portal:invitation_create"), {"email": email, "role": role})


def _accept_path(message) -> str:
    return re.search(r"http://testserver(/invite/\S+/)", message.body).group(1)


def test_owner_renames_the_account(alice, mallory):
    assert alice.client.post(reverse("portal:account_rename"), {"name": "Alice Labs"}).status_code == 302
    alice.account.refresh_from_db()
    assert alice.account.name == "Alice Labs"
    assert mallory.client.post(reverse("portal:account_rename"), {"name": "Mine"}).status_code == 403


def test_invite_a_new_person_who_sets_a_password(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(alice).status_code == 302
    [message] = mail.outbox
    assert message.to == ["erin@example.com"] and "alice@example.com" in message.body
    guest = Client()
    page = guest.get(_accept_path(message))
    assert page.status_code == 200 and b"Create login and join" in page.content
    response = guest.post(_accept_path(message), {"password1": PASSWORD, "password2": PASSWORD})
    assert response["Location"] == reverse("portal:dashboard")
    membership = Membership.objects.get(user__email="erin@example.com")
    assert membership.account == alice.account and membership.role == "member"
    assert guest.get(reverse("portal:dashboard")).status_code == 200
    assert Client().get(_accept_path(message)).status_code == 404  # used


def test_invite_someone_with_a_login_into_a_second_account(alice, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice, email="bob@example.com", role="owner")
    path = _accept_path(mail.outbox[0])
    anonymous = Client().get(path)
    assert b"Log in to accept" in anonymous.content
    assert bob.client.post(path).status_code == 302
    assert Membership.objects.get(account=alice.account, user=bob.user).role == "owner"
    # Bob now switches between his account and Alice's.
    assert bob.client.post(reverse("portal:account_switch"), {"account": alice.account.pk}).status_code == 302
    assert b"alice" in bob.client.get(reverse("portal:dashboard")).content


def test_invitation_is_for_its_address_only(alice, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice, email="erin@example.com")
    response = bob.client.post(_accept_path(mail.outbox[0]))
    assert response.status_code == 400
    assert not Membership.objects.filter(account=alice.account, user=bob.user).exists()


def test_only_owners_invite_and_duplicates_are_refused(alice, mallory):
    assert _invite(mallory).status_code == 403
    assert _invite(alice, email="mallory@example.com").status_code == 400
    assert not Invitation.objects.exists()


def test_a_new_invitation_replaces_the_old_link(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice)
        _invite(alice)
    first, second = (_accept_path(m) for m in mail.outbox)
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200


def test_owner_withdraws_an_invitation(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice)
    invitation = Invitation.objects.get()
    assert alice.client.post(reverse("portal:invitation_revoke", args=[invitation.pk])).status_code == 302
    assert Client().get(_accept_path(mail.outbox[0])).status_code == 404


def test_owner_removes_a_member_but_never_the_last_owner(alice, mallory):
    own = Membership.objects.get(account=alice.account, user=alice.user)
    assert alice.client.post(reverse("portal:member_remove", args=[own.pk])).status_code == 302
    assert Membership.objects.filter(pk=own.pk).exists()
    member = Membership.objects.get(user=mallory.user)
    assert mallory.client.post(reverse("portal:member_remove", args=[own.pk])).status_code == 403
    assert alice.client.post(reverse("portal:member_remove", args=[member.pk])).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert mallory.client.get(reverse("portal:dashboard")).status_code == 403  # no account left


def test_account_page_lists_members_and_pending_invitations(alice, mallory, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice, email="erin@example.com")
    body = alice.client.get(reverse("portal:account")).content.decode()
    assert "mallory@example.com" in body and "erin@example.com" in body
    assert "erin@example.com" not in mallory.client.get(reverse("portal:account")).content.decode()


def test_invited_user_can_then_log_in(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice)
    Client().post(_accept_path(mail.outbox[0]), {"password1": PASSWORD, "password2": PASSWORD})
    client = Client()
    assert client.post(reverse("portal:login"), {"email": "erin@example.com", "password": PASSWORD}).status_code == 302


def test_stale_session_account_falls_back_to_a_real_membership(alice, bob):
    session = alice.client.session
    session["portal_account_id"] = bob.account.pk  # forged or stale
    session.save()
    body = alice.client.get(reverse("portal:dashboard")).content.decode()
    assert "alice@example.com" in body and "bob@example.com" not in body  # "bob" alone can occur in a CSRF token
    assert make_user  # the helper is shared with other modules
