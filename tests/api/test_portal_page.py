"""The portal page next to API keys: owners make a management key (shown once) and revoke it; members only look."""

import re

import pytest
from django.test import Client

from accounts.models import ManagementKey
from gateway.crypto import hash_api_key

pytestmark = pytest.mark.django_db


def test_owner_creates_sees_it_once_and_revokes(tenant_a):
    client = Client()
    client.force_login(tenant_a.owner)
    assert 'href="/keys/management/"' in client.get("/keys/").content.decode()
    page = client.get("/keys/management/").content.decode()
    assert tenant_a.mk.prefix in page and "/api/v1/docs/" in page
    created = client.post("/keys/management/new/", {"name": "ci"})
    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    secret = re.search(r'value="(mk-[A-Za-z0-9]{48})"', created.content.decode()).group(1)
    key = ManagementKey.objects.get(secret_hash=hash_api_key(secret))
    assert key.account_id == tenant_a.account.pk and key.name == "ci"
    assert secret not in client.get("/keys/management/").content.decode()
    # the new key works on the API at once, and stops when revoked
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/account/").status_code == 200
    assert client.post(f"/keys/management/{key.pk}/revoke/").status_code == 302
    assert api.get("/api/v1/account/").status_code == 401


def test_members_see_but_cannot_create_or_revoke_and_others_keys_are_404(tenant_a, tenant_b):
    member = Client()
    member.force_login(tenant_a.member.user)
    assert member.get("/keys/management/").status_code == 200
    assert member.post("/keys/management/new/", {"name": "x"}).status_code == 403
    assert member.post(f"/keys/management/{tenant_a.mk.pk}/revoke/").status_code == 403
    owner = Client()
    owner.force_login(tenant_a.owner)
    assert owner.post(f"/keys/management/{tenant_b.mk.pk}/revoke/").status_code == 404
    assert ManagementKey.objects.get(pk=tenant_b.mk.pk).revoked_at is None
