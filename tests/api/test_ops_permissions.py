"""Every operator endpoint × every console role (accounts migration 0005): allowed roles get a 2xx, every
other staff member a 403 `role_required`, a non-staff user 403 `staff_only`, nobody 401. Every allowed write
leaves an AuditEntry, as the console's writes do."""

import pytest
from rest_framework.test import APIClient

from accounts.api import urls as api_urls
from accounts.api import webhooks
from accounts.api.services import management_key_issue
from accounts.models import AuditEntry, WebhookDelivery, WebhookEndpoint
from gateway.models import CatalogModel, Channel

from .conftest import make_operator, make_user

pytestmark = pytest.mark.django_db

VIEW = {"support", "finance", "admin"}
ALL_STAFF = {None, "support", "finance", "admin"}
ROLES = [None, "support", "finance", "admin"]


def cases(t):
    channel = Channel.objects.get(name="sim")
    model = CatalogModel.objects.get(public_id="gpt-4o")
    hook = WebhookEndpoint.objects.filter(account=None).first()
    if hook is None:
        hook, _ = webhooks.endpoint_create(account_id=None, url="https://ops.example.com/hook", events=[])
    delivery = WebhookDelivery.objects.filter(endpoint=hook).first() or WebhookDelivery.objects.create(
        endpoint=hook, message_id="msg_ops_1", event_type="channel.disabled", payload={})
    # (route name, method, url, body, roles allowed, writes an audit entry)
    return [
        ("ops-customer-list", "get", "/api/v1/ops/customers/?q=alice", None, VIEW, False),
        ("ops-customer-detail", "get", f"/api/v1/ops/customers/{t.account.pk}/", None, VIEW, False),
        ("ops-adjustment-list", "post", "/api/v1/ops/adjustments/",
         {"account": t.account.pk, "amount_micros": 1_000_000, "reason": "goodwill"}, {"finance"}, True),
        ("ops-usage-list", "get", f"/api/v1/ops/usage/?account={t.account.pk}", None, VIEW, False),
        ("ops-management-key-list", "get", "/api/v1/ops/management-keys/", None, ALL_STAFF, False),
        ("ops-management-key-list", "post", "/api/v1/ops/management-keys/", {"name": "ops"}, ALL_STAFF, True),
        ("ops-management-key-revoke", "post", "/api/v1/ops/management-keys/{own_key}/revoke/", None, ALL_STAFF, True),
        ("ops-channel-list", "get", "/api/v1/ops/channels/", None, VIEW, False),
        ("ops-channel-list", "post", "/api/v1/ops/channels/",
         {"name": "new", "provider": "simulator", "secret": "sk-new-upstream-secret"}, {"admin"}, True),
        ("ops-channel-detail", "get", f"/api/v1/ops/channels/{channel.pk}/", None, VIEW, False),
        ("ops-channel-detail", "patch", f"/api/v1/ops/channels/{channel.pk}/", {"weight": 5}, {"admin"}, True),
        ("ops-channel-health", "get", f"/api/v1/ops/channels/{channel.pk}/health/", None, VIEW, False),
        ("ops-model-list", "get", "/api/v1/ops/models/", None, VIEW, False),
        ("ops-model-list", "post", "/api/v1/ops/models/", {"public_id": "new-model"}, {"admin"}, True),
        ("ops-model-detail", "get", f"/api/v1/ops/models/{model.pk}/", None, VIEW, False),
        ("ops-model-detail", "patch", f"/api/v1/ops/models/{model.pk}/", {"display_name": "GPT"}, {"admin"}, True),
        # Prices are billing's: the console lets finance publish them (billing.add_price), not admin.
        ("ops-model-prices", "post", f"/api/v1/ops/models/{model.pk}/prices/",
         {"input_micros": 1, "cached_input_micros": 1, "output_micros": 2}, {"finance"}, True),
        ("ops-redemption-batch-list", "get", "/api/v1/ops/redemption-batches/", None, VIEW, False),
        ("ops-redemption-batch-list", "post", "/api/v1/ops/redemption-batches/",
         {"batch": "promo", "count": 2, "amount_micros": 1_000_000}, {"finance"}, True),
        ("ops-webhook-list", "get", "/api/v1/ops/webhooks/", None, VIEW, False),
        ("ops-webhook-list", "post", "/api/v1/ops/webhooks/",
         {"url": "https://ops-hooks.example.com/in", "events": ["channel.disabled"]}, {"admin"}, True),
        ("ops-webhook-detail", "get", f"/api/v1/ops/webhooks/{hook.pk}/", None, VIEW, False),
        ("ops-webhook-detail", "patch", f"/api/v1/ops/webhooks/{hook.pk}/", {"description": "x"}, {"admin"}, True),
        ("ops-webhook-test", "post", f"/api/v1/ops/webhooks/{hook.pk}/test/", None, {"admin"}, False),
        ("ops-webhook-delivery-list", "get", "/api/v1/ops/webhook-deliveries/", None, VIEW, False),
        ("ops-webhook-delivery-detail", "get", f"/api/v1/ops/webhook-deliveries/{delivery.pk}/", None, VIEW, False),
        ("ops-webhook-delivery-redeliver", "post", f"/api/v1/ops/webhook-deliveries/{delivery.pk}/redeliver/", None,
         {"admin"}, True),
        ("ops-webhook-detail", "delete", f"/api/v1/ops/webhooks/{hook.pk}/", None, {"admin"}, True),
    ]  # fmt: skip


def test_every_operator_route_has_a_case(tenant_a):
    names = {p.name for p in api_urls.operator.urls}
    assert names == {name for name, *_ in cases(tenant_a)}


@pytest.mark.parametrize("role", ROLES)
def test_operator_endpoints_follow_the_console_roles(role, tenant_a):
    user = make_operator(role)
    own_key, _ = management_key_issue(account_id=None, user=user)
    client = APIClient()
    client.force_login(user)
    for name, method, url, body, allowed, audited in cases(tenant_a):
        url = url.replace("{own_key}", str(own_key.pk))
        entries = AuditEntry.objects.count()
        response = getattr(client, method)(url, body, format="json")
        if role in allowed:
            assert 200 <= response.status_code < 300, (name, method, role, response.content)
            assert AuditEntry.objects.count() == entries + (1 if audited else 0), (name, method)
        else:
            assert response.status_code == 403, (name, method, role, response.status_code)
            assert response.json()["error"]["code"] == "role_required"
            assert AuditEntry.objects.count() == entries


def test_non_staff_and_anonymous_are_refused_everywhere(tenant_a):
    customer = APIClient()
    customer.force_login(tenant_a.owner)
    for name, method, url, body, *_ in cases(tenant_a):
        url = url.replace("{own_key}", "1")
        response = getattr(customer, method)(url, body, format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "staff_only", (name, method)
        response = getattr(tenant_a.client(), method)(url, body, format="json")  # a customer's mk- key
        assert response.status_code == 403 and response.json()["error"]["code"] == "staff_only", (name, method)
        response = getattr(APIClient(), method)(url, body, format="json")
        assert response.status_code == 401, (name, method)
        assert response.json()["error"]["type"] == "authentication_error"


def test_operator_key_acts_with_its_users_role_rechecked_each_time(tenant_a):
    user = make_operator("finance")
    key, secret = management_key_issue(account_id=None, user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = {"account": tenant_a.account.pk, "amount_micros": 1_000_000, "reason": "refund by key"}
    assert client.post("/api/v1/ops/adjustments/", body, format="json").status_code == 201
    assert client.post("/api/v1/ops/channels/", {"name": "x", "provider": "simulator"},
                       format="json").status_code == 403  # fmt: skip
    # Minting keys needs the session, even for operators.
    assert client.post("/api/v1/ops/management-keys/", {}, format="json").json()["error"]["code"] == "session_required"
    user.is_staff = False
    user.save()
    assert client.get("/api/v1/ops/customers/").status_code == 401


def test_operator_key_of_a_deleted_role_loses_it(tenant_a):
    user = make_user("plain@example.com", staff=True)
    _, secret = management_key_issue(account_id=None, user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/ops/customers/").json()["error"]["code"] == "role_required"
    # and it is no customer key either
    assert client.get("/api/v1/account/").status_code == 403
