"""Two customers with one of everything (A: alice, B: bob), and operators of each console role.

Rows a customer makes in real life only through traffic or a payment provider (usage records, top-up
orders) are written straight to the database here: the API only reads them."""

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import projects
from accounts.api import webhooks
from accounts.api.services import management_key_issue
from accounts.models import (
    Account,
    Invitation,
    ManagementKey,
    Membership,
    Project,
    WebhookDelivery,
    WebhookEndpoint,
)
from billing.models import LedgerEntry, TopUpOrder, UsageRecord
from billing.services import wallet_credit
from gateway.models import ApiKey
from tests.factories import make_channel, make_customer, make_model


@dataclass
class Tenant:
    account: Account
    owner: object
    member: Membership  # a second, plain member
    api_key: ApiKey
    mk: ManagementKey
    mk_secret: str
    usage: UsageRecord
    ledger: LedgerEntry
    topup: TopUpOrder
    invitation: Invitation
    webhook: WebhookEndpoint
    delivery: WebhookDelivery
    project: Project  # a second project besides the default one, holding no keys

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.mk_secret}")
        return client

    def session(self) -> APIClient:
        client = APIClient(enforce_csrf_checks=False)
        client.force_login(self.owner)
        return client


def make_user(email: str, *, staff: bool = False):
    user = get_user_model().objects.create_user(username=email, email=email, password=None, is_staff=staff)
    return user


def make_tenant(name: str) -> Tenant:
    account, secret = make_customer(f"{name}@example.com", balance="100")
    owner = make_user(f"{name}@example.com")
    Membership.objects.create(account=account, user=owner, role=Membership.Role.OWNER)
    member = Membership.objects.create(account=account, user=make_user(f"{name}-member@example.com"))
    api_key = ApiKey.objects.get(account=account)
    mk, mk_secret = management_key_issue(account_id=account.pk, user=owner, name=f"{name}-mk")
    usage = UsageRecord.objects.create(
        request_id=f"req_{name}_{uuid.uuid4().hex[:8]}", account=account, api_key=api_key, model_id="gpt-4o",
        status=200, input_tokens=10, output_tokens=5, cost_micros=123,
    )
    ledger = wallet_credit(account_id=account.pk, amount_micros=5_000_000, idempotency_key=f"test:{name}:extra")
    topup = TopUpOrder.objects.create(account=account, provider="stripe", amount_micros=1_000_000, currency="CNY",
                                      qr_code="")  # fmt: skip
    invitation = Invitation.objects.create(
        account=account, email=f"{name}-invitee@example.com", token_hash=uuid.uuid4().hex,
        expires_at=timezone.now() + timezone.timedelta(days=7),
    )
    webhook, _ = webhooks.endpoint_create(account_id=account.pk, url=f"https://hooks.example.com/{name}-hook",
                                          events=[])  # fmt: skip
    delivery = WebhookDelivery.objects.create(endpoint=webhook, message_id=f"msg_{name}_{uuid.uuid4().hex[:8]}",
                                              event_type="webhook.test", payload={})  # fmt: skip
    project = projects.project_create(account_id=account.pk, name=f"{name}-project")
    return Tenant(account, owner, member, api_key, mk, mk_secret, usage, ledger, topup, invitation, webhook, delivery,
                  project)  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.HARNMODEL_SITE_URL = "http://testserver"
    cache.clear()  # throttle counters
    yield
    cache.clear()


@pytest.fixture
def catalog(db):
    model = make_model("gpt-4o")
    make_channel("sim", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 0},
                 secret="sk-upstream-secret-value")  # fmt: skip
    return model


@pytest.fixture
def tenant_a(catalog) -> Tenant:
    return make_tenant("alice")


@pytest.fixture
def tenant_b(catalog) -> Tenant:
    return make_tenant("bob")


def make_operator(role: str | None, *, superuser: bool = False):
    user = make_user(f"op-{role or 'none'}{'-su' if superuser else ''}@example.com", staff=True)
    if superuser:
        user.is_superuser = True
        user.save()
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator_client():
    def build(role: str | None) -> APIClient:
        client = APIClient()
        client.force_login(make_operator(role))
        return client

    return build
