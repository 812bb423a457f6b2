"""Management keys: `mk-…`, shown once, stored as an HMAC by the API keys' rule, never valid on /v1."""

import json

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from accounts.api.services import management_key_issue
from accounts.models import ManagementKey
from gateway.crypto import hash_api_key

pytestmark = pytest.mark.django_db


def test_secret_is_shown_once_and_only_its_hmac_is_stored(tenant_a):
    session = tenant_a.session()
    response = session.post("/api/v1/management-keys/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = response.json()["secret"]
    assert secret.startswith("mk-") and len(secret) == 3 + 48
    key = ManagementKey.objects.get(pk=response.json()["id"])
    assert key.secret_hash == hash_api_key(secret) and secret not in str(key.__dict__)
    listed = session.get("/api/v1/management-keys/").json()["results"]
    assert {row["prefix"] for row in listed} >= {key.prefix} and "secret" not in listed[0]


def test_plain_members_cannot_mint_management_keys(tenant_a):
    from rest_framework.test import APIClient

    member = APIClient()
    member.force_login(tenant_a.member.user)
    response = member.post("/api/v1/management-keys/", {}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "owner_required"


@pytest.mark.parametrize("header", ["Bearer mk-nope", "Bearer sk-nope", "Basic abc", "Bearer "])
def test_unknown_or_malformed_credentials_are_401_in_the_error_shape(tenant_a, header):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/account/")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and set(error) >= {"type", "code", "message", "param"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_api_key_is_not_a_management_key(tenant_a):
    from rest_framework.test import APIClient

    issued = tenant_a.session().post("/api/v1/keys/", {"name": "k"}, format="json").json()["secret"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued}")
    assert client.get("/api/v1/account/").status_code == 401


def test_revoked_key_and_disabled_account_stop_at_once(tenant_a):
    client = tenant_a.client()
    assert client.get("/api/v1/account/").status_code == 200
    tenant_a.account.is_active = False
    tenant_a.account.save()
    assert client.get("/api/v1/account/").json()["error"]["code"] == "account_disabled"
    tenant_a.account.is_active = True
    tenant_a.account.save()
    ManagementKey.objects.filter(pk=tenant_a.mk.pk).update(revoked_at=timezone.now())
    assert client.get("/api/v1/account/").status_code == 401


def test_last_used_is_written_at_most_once_a_minute(tenant_a):
    client = tenant_a.client()
    client.get("/api/v1/account/")
    first = ManagementKey.objects.get(pk=tenant_a.mk.pk).last_used_at
    client.get("/api/v1/account/")
    assert first is not None and ManagementKey.objects.get(pk=tenant_a.mk.pk).last_used_at == first


@pytest.mark.django_db(transaction=True)
def test_management_key_gets_401_on_v1_responses(catalog):
    """The /v1 front (the real ASGI app) looks keys up among API keys only: an mk- key is unknown there."""
    from harnmodel.asgi import application
    from tests.factories import make_customer

    account, sk = make_customer("funded@example.com", balance="100")
    _, mk = management_key_issue(account_id=account.pk, user=None)

    async def post(key: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/v1/responses", headers={"authorization": f"Bearer {key}"},
                                     content=json.dumps({"model": "gpt-4o", "input": "hi"}))  # fmt: skip

    refused = async_to_sync(post)(mk)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    assert async_to_sync(post)(sk).status_code == 200  # the same request with the account's sk- key works


def test_session_writes_need_the_csrf_token(tenant_a):
    """A browser session is CSRF-checked (DRF's SessionAuthentication); a management key needs no token."""
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(tenant_a.owner)
    assert browser.get("/api/v1/keys/").status_code == 200
    refused = browser.post("/api/v1/keys/", {"name": "csrf"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    token = browser.get("/keys/").cookies["csrftoken"].value  # any portal page sets the cookie
    accepted = browser.post("/api/v1/keys/", {"name": "csrf"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201
