"""M4: invitations cannot be used to mail strangers at will, nor to carry a phishing line in our name."""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Account, Invitation

PHISH = "Security alert: verify your card at https://evil.example/login or www.evil.example today"


def _invite(member, email):
    return member.client.post(reverse("portal:invitation_create"), {"email": email, "role": "member"})


def test_invitations_per_account_per_day_are_capped(alice, bob, settings, django_capture_on_commit_callbacks):
    settings.HARNMODEL_INVITATIONS_PER_DAY = 3
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            assert _invite(alice, f"target{n}@example.org").status_code == 302
        refused = _invite(alice, "target9@example.org")
    assert refused.status_code == 429
    assert "as many invitations as it may in one day" in refused.content.decode()
    assert len(mail.outbox) == 3 and Invitation.objects.filter(account=alice.account).count() == 3
    # Another account has its own allowance.
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(bob, "target9@example.org").status_code == 302
    assert len(mail.outbox) == 4


def test_the_mail_keeps_the_account_name_out_of_the_subject_and_defuses_links(
    alice, django_capture_on_commit_callbacks
):
    Account.objects.filter(pk=alice.account.pk).update(name=PHISH)  # e.g. set by an operator, or before this rule
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(alice, "victim@example.org").status_code == 302
    [message] = mail.outbox
    assert message.subject == "You're invited to join a team on harnmodel"
    assert "verify" not in message.subject and "evil" not in message.subject
    body = message.body.replace(message.body.split()[-1], "")  # the accept link (ours) aside
    for part in ("evil.example", "https://", "www.evil"):
        assert part not in body
    assert "https[:]//evil[.]example" in message.body  # still legible, no longer a link
    assert "\u2026" in message.body  # cut to a bounded length


@pytest.mark.parametrize("name", ["https://evil.example", "Visit www.evil.example", "ftp:/x"])
def test_an_account_name_with_a_link_is_refused(alice, name):
    response = alice.client.post(reverse("portal:account_rename"), {"name": name})
    assert response.status_code == 400
    alice.account.refresh_from_db()
    assert alice.account.name != name
