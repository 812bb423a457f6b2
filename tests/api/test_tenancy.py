"""Account A can read or change nothing of account B's, by any id, on every customer endpoint.

The route list comes from the API's own routers: an endpoint added without a case here fails
test_every_customer_route_has_a_tenancy_case. Each case runs with A's management key and A's session."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.api import urls as api_urls
from accounts.models import Invitation, ManagementKey, Membership, Project, WebhookDelivery, WebhookEndpoint
from billing import redemption
from billing.models import LedgerEntry, Wallet
from billing.services import wallet_credit
from gateway.models import ApiKey

pytestmark = pytest.mark.django_db

# name → what the tenancy test does with it: "detail" (B's id → 404, B unchanged), "list" (none of B's
# rows in A's answer), "create" (the new row is A's). A route may need several.
CASES = {
    "account": {"list", "create"},
    "key-list": {"list", "create"},
    "key-detail": {"detail"},
    "key-revoke": {"detail"},
    "management-key-list": {"list", "create"},
    "management-key-revoke": {"detail"},
    "project-list": {"list", "create"},
    "project-detail": {"detail"},
    "member-list": {"list"},
    "member-detail": {"detail"},
    "invitation-list": {"list", "create"},
    "invitation-revoke": {"detail"},
    "usage-list": {"list"},
    "usage-detail": {"detail"},
    "usage-export": {"list"},
    "spend-daily-list": {"list"},
    "ledger-list": {"list"},
    "topup-list": {"list", "create"},
    "topup-detail": {"detail"},
    "redeem-list": {"create"},
    "model-list": {"list"},
    "webhook-list": {"list", "create"},
    "webhook-detail": {"detail"},
    "webhook-test": {"detail"},
    "webhook-delivery-list": {"list"},
    "webhook-delivery-detail": {"detail"},
    "webhook-delivery-redeliver": {"detail"},
}


def customer_route_names() -> set[str]:
    names = {"account"}
    for pattern in api_urls.customer.urls:
        assert isinstance(pattern, URLPattern)
        names.add(pattern.name)
    return names


def test_every_customer_route_has_a_tenancy_case():
    assert customer_route_names() == set(CASES)


def test_every_api_route_is_in_a_router_or_listed():
    """Nothing mounted under /api/v1/ outside the routers the tenancy and permission tests walk."""
    api = next(p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/")
    names = {p.name for p in api.url_patterns if isinstance(p, URLPattern)}
    assert names == {"account", "schema", "docs", "not-found"}


@pytest.fixture(params=["management_key", "session"])
def as_a(request, tenant_a, tenant_b):
    return tenant_a.client() if request.param == "management_key" else tenant_a.session()


def b_markers(b) -> list[str]:
    return [b.account.email, b.member.user.email, b.invitation.email, b.api_key.prefix, b.mk.prefix,
            b.usage.request_id, str(b.topup.pk), "-777", b.webhook.url, b.delivery.message_id,
            b.project.name]  # fmt: skip


def _detail_calls(b):
    return [
        ("key-detail", "get", f"/api/v1/keys/{b.api_key.pk}/", None),
        ("key-detail", "patch", f"/api/v1/keys/{b.api_key.pk}/", {"name": "pwned", "allowed_models": []}),
        ("key-revoke", "post", f"/api/v1/keys/{b.api_key.pk}/revoke/", None),
        ("management-key-revoke", "post", f"/api/v1/management-keys/{b.mk.pk}/revoke/", None),
        ("key-detail", "patch", f"/api/v1/keys/{b.api_key.pk}/", {"project": b.project.pk}),
        ("project-detail", "get", f"/api/v1/projects/{b.project.pk}/", None),
        ("project-detail", "patch", f"/api/v1/projects/{b.project.pk}/",
         {"name": "pwned", "budget_daily_micros": 1}),
        ("project-detail", "delete", f"/api/v1/projects/{b.project.pk}/", None),
        ("member-detail", "patch", f"/api/v1/members/{b.member.pk}/", {"budget_daily_micros": 1}),
        ("member-detail", "delete", f"/api/v1/members/{b.member.pk}/", None),
        ("invitation-revoke", "post", f"/api/v1/invitations/{b.invitation.pk}/revoke/", None),
        ("usage-detail", "get", f"/api/v1/usage/{b.usage.request_id}/", None),
        ("topup-detail", "get", f"/api/v1/topups/{b.topup.pk}/", None),
        ("webhook-detail", "get", f"/api/v1/webhooks/{b.webhook.pk}/", None),
        ("webhook-detail", "patch", f"/api/v1/webhooks/{b.webhook.pk}/", {"url": "https://evil.example.com/x"}),
        ("webhook-detail", "delete", f"/api/v1/webhooks/{b.webhook.pk}/", None),
        ("webhook-test", "post", f"/api/v1/webhooks/{b.webhook.pk}/test/", None),
        ("webhook-delivery-detail", "get", f"/api/v1/webhook-deliveries/{b.delivery.pk}/", None),
        ("webhook-delivery-redeliver", "post", f"/api/v1/webhook-deliveries/{b.delivery.pk}/redeliver/", None),
    ]


def test_b_ids_are_404_for_a_and_change_nothing(as_a, tenant_b):
    b = tenant_b
    calls = _detail_calls(b)
    assert {name for name, *_ in calls} == {n for n, kinds in CASES.items() if "detail" in kinds}
    for name, method, url, body in calls:
        response = getattr(as_a, method)(url, body, format="json")
        assert response.status_code == 404, (name, method, response.status_code, response.content)
        assert response.json()["error"]["type"] == "not_found_error"
    key = ApiKey.objects.get(pk=b.api_key.pk)
    assert (key.name, key.revoked_at) == ("test", None)
    assert ManagementKey.objects.get(pk=b.mk.pk).revoked_at is None
    assert Membership.objects.get(pk=b.member.pk).budget_daily_micros is None
    project = Project.objects.get(pk=b.project.pk)
    assert (project.name, project.budget_daily_micros) == ("bob-project", None)
    assert Invitation.objects.get(pk=b.invitation.pk).revoked_at is None
    assert WebhookEndpoint.objects.get(pk=b.webhook.pk).url == b.webhook.url
    assert WebhookDelivery.objects.filter(endpoint=b.webhook).count() == 1  # no test event queued for B
    assert WebhookDelivery.objects.get(pk=b.delivery.pk).attempts == 0


def test_a_lists_show_nothing_of_b(as_a, tenant_a, tenant_b):
    b = tenant_b
    wallet_credit(account_id=b.account.pk, amount_micros=-777, idempotency_key="test:b:charge",
                  kind=LedgerEntry.Kind.CHARGE)  # fmt: skip
    b_ledger = set(LedgerEntry.objects.filter(wallet__account=b.account).values_list("pk", flat=True))
    urls = {
        "account": ["/api/v1/account/"],
        "key-list": ["/api/v1/keys/"],
        "management-key-list": ["/api/v1/management-keys/"],
        "project-list": ["/api/v1/projects/"],
        "member-list": ["/api/v1/members/"],
        "invitation-list": ["/api/v1/invitations/"],
        # B's ids as filters find nothing either
        "usage-list": ["/api/v1/usage/", f"/api/v1/usage/?key={b.api_key.pk}", f"/api/v1/usage/?project={b.project.pk}",
                       f"/api/v1/usage/?request_id={b.usage.request_id}"],  # fmt: skip
        "usage-export": ["/api/v1/usage/export/", f"/api/v1/usage/export/?key={b.api_key.pk}"],
        "spend-daily-list": ["/api/v1/spend/daily/"],
        "ledger-list": ["/api/v1/ledger/", "/api/v1/ledger/?kind=charge"],
        "topup-list": ["/api/v1/topups/"],
        "model-list": ["/api/v1/models/"],
        "webhook-list": ["/api/v1/webhooks/"],
        "webhook-delivery-list": ["/api/v1/webhook-deliveries/", f"/api/v1/webhook-deliveries/?endpoint={b.webhook.pk}"],
    }
    assert set(urls) == {n for n, kinds in CASES.items() if "list" in kinds}
    for name, variants in urls.items():
        for url in variants:
            response = as_a.get(url)
            assert response.status_code == 200, (url, response.content)
            text = b"".join(response.streaming_content) if response.streaming else response.content
            for marker in b_markers(b):
                assert marker.encode() not in text, (name, url, marker)
            if name == "ledger-list":
                assert not {row["id"] for row in response.json()["results"]} & b_ledger
    # and A does see its own
    assert tenant_a.usage.request_id in as_a.get("/api/v1/usage/").content.decode()


def test_a_writes_land_in_a_only(as_a, tenant_a, tenant_b, settings):
    a, b = tenant_a, tenant_b
    b_balance = Wallet.objects.get(account=b.account).balance_micros
    created = {}
    response = as_a.post("/api/v1/keys/", {"name": "new-key"}, format="json")
    created["key-list"] = response.status_code
    assert response.status_code == 201 and ApiKey.objects.get(name="new-key").account_id == a.account.pk
    # A's key cannot land in B's project: B's project id is refused like any unknown one
    response = as_a.post("/api/v1/keys/", {"name": "sneaky", "project": b.project.pk}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_project"
    assert not ApiKey.objects.filter(name="sneaky").exists()
    response = as_a.post("/api/v1/projects/", {"name": "new-project"}, format="json")
    created["project-list"] = response.status_code
    assert response.status_code == 201 and Project.objects.get(name="new-project").account_id == a.account.pk
    response = as_a.post("/api/v1/invitations/", {"email": "x@example.com"}, format="json")
    created["invitation-list"] = response.status_code
    assert response.status_code == 201 and Invitation.objects.get(email="x@example.com").account_id == a.account.pk
    response = as_a.patch("/api/v1/account/", {"name": "renamed"}, format="json")
    created["account"] = response.status_code
    assert response.status_code == 200
    a.account.refresh_from_db()
    b.account.refresh_from_db()
    assert (a.account.name, b.account.name) == ("renamed", "bob")
    [code] = redemption.redemption_codes_generate(count=1, amount_micros=1_000_000, expires_at=None, batch="t",
                                                  created_by="test")  # fmt: skip
    response = as_a.post("/api/v1/redeem/", {"code": code}, format="json")
    created["redeem-list"] = response.status_code
    assert response.status_code == 201
    assert Wallet.objects.get(account=b.account).balance_micros == b_balance
    assert LedgerEntry.objects.get(pk=response.json()["id"]).wallet.account_id == a.account.pk
    # No payment provider is configured here: the order is refused before any row is written for anyone.
    settings.STRIPE_SECRET_KEY = ""
    response = as_a.post("/api/v1/topups/", {"amount_micros": 1_000_000}, format="json")
    created["topup-list"] = response.status_code
    assert response.status_code in (201, 409)
    assert b.account.topup_orders.count() == 1
    # Management keys come from a session only; a key minting keys is refused.
    response = as_a.post("/api/v1/management-keys/", {"name": "more"}, format="json")
    created["management-key-list"] = response.status_code
    if response.status_code == 201:
        assert ManagementKey.objects.get(name="more").account_id == a.account.pk
    else:
        assert response.json()["error"]["code"] == "session_required"
    response = as_a.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/new"}, format="json")
    created["webhook-list"] = response.status_code
    assert response.status_code == 201
    assert WebhookEndpoint.objects.get(url="https://hooks.example.com/new").account_id == a.account.pk
    assert set(created) == {n for n, kinds in CASES.items() if "create" in kinds}
