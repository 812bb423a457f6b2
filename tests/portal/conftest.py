"""Portal personas: alice owns account A (funded), bob owns account B; mallory is a member of A."""

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from accounts.models import Account, Membership
from tests.factories import make_customer, make_model

PASSWORD = "correct-horse-battery-9"


@dataclass
class Member:
    user: object
    account: Account
    key: str  # an API key secret of the account
    client: Client


def make_user(email: str, *, password: str = PASSWORD, active: bool = True):
    user = get_user_model()(username=email, email=email, is_active=active)
    user.set_password(password)
    user.save()
    return user


def make_member(email: str, *, account: Account | None = None, role: str = "owner", balance: str = "100") -> Member:
    key = ""
    if account is None:
        account, key = make_customer(email, balance=balance)
    user = make_user(email)
    Membership.objects.create(account=account, user=user, role=role)
    client = Client()
    client.force_login(user)
    return Member(user=user, account=account, key=key, client=client)


@pytest.fixture(autouse=True)
def _fast_and_fresh(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.HARNMODEL_SITE_URL = "http://testserver"  # mailed links, as the test client reaches us
    cache.clear()  # throttle counters
    yield
    cache.clear()


@pytest.fixture
def model(db):
    return make_model("gpt-4o")


@pytest.fixture
def alice(model) -> Member:
    return make_member("alice@example.com")


@pytest.fixture
def bob(model) -> Member:
    return make_member("bob@example.com")


@pytest.fixture
def mallory(alice) -> Member:
    """A plain member (not owner) of alice's account."""
    return make_member("mallory@example.com", account=alice.account, role="member")
