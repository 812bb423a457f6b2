"""Each console role sees only the actions it may take, and a forbidden one ends on a console page
that says so, not on a bare "403 Forbidden"."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from tests.factories import make_customer

ISSUE, ADJUST = ">issue a key</a>", ">adjust balance</a>"


@pytest.fixture
def account(db):
    return make_customer("alice@example.com", balance="100")[0]


def _client(role: str) -> Client:
    user = User.objects.create_user(role, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "role, may_issue, may_adjust",
    [("support", False, False), ("finance", False, True), ("admin", True, False)],
)
def test_the_account_page_offers_only_what_the_role_may_do(account, role, may_issue, may_adjust):
    client = _client(role)
    page = client.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert ">API keys</a>" in page and ">ledger</a>" in page and ">usage</a>" in page
    assert (ISSUE in page, ADJUST in page) == (may_issue, may_adjust)
    for url, allowed in (
        (reverse("admin:gateway_apikey_add") + f"?account={account.pk}", may_issue),
        (reverse("admin:accounts_account_adjust_balance", args=[account.pk]), may_adjust),
    ):
        assert client.get(url).status_code == (200 if allowed else 403), url


def test_a_superuser_sees_every_action(admin_client, account):
    page = admin_client.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert ISSUE in page and ADJUST in page


@pytest.mark.parametrize("role", ["support", "finance"])
def test_a_forbidden_action_is_a_console_page(account, role):
    url = (
        reverse("admin:accounts_account_adjust_balance", args=[account.pk])
        if role == "support"
        else reverse("admin:gateway_apikey_add")
    )
    response = _client(role).get(url)
    body = response.content.decode()
    assert response.status_code == 403
    assert 'data-testid="console-forbidden"' in body and "harnmodel operator console" in body
    assert f"Your console roles ({role}) may not do this." in body
    assert reverse("admin:index") in body  # a way back into the console


def test_outside_the_console_a_403_stays_plain(client, account):
    from accounts.models import Membership
    from gateway.models import ApiKey
    from tests.portal.conftest import make_user

    member = make_user("mallory@example.com")
    Membership.objects.create(account=account, user=member, role="member")
    client.force_login(member)
    key = ApiKey.objects.get(account=account)
    response = client.post(reverse("portal:key_revoke", args=[key.pk]))  # only owners revoke
    assert response.status_code == 403 and b"console-forbidden" not in response.content
