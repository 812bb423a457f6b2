"""The customer scope end to end: keys through the portal's services, usage and CSV, top-ups against the
fake Alipay gateway, codes, invitations with the portal's daily cap, errors in the one shape, cursors, throttles."""

from collections.abc import Iterator

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import WebhookDelivery
from billing import redemption
from billing.models import TopUpOrder, UsageRecord
from gateway.models import ApiKey
from tests.upstream.fake_alipay import FakeAlipay, alipay_settings, start_fake_alipay

pytestmark = pytest.mark.django_db


@pytest.fixture
def alipay(settings) -> Iterator[FakeAlipay]:
    fake = start_fake_alipay()
    for name, value in alipay_settings(fake).items():
        setattr(settings, name, value)
    yield fake
    fake.stop()


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"type", "code", "message", "param"} <= set(body["error"])
    return body["error"]


def test_key_lifecycle_through_the_portal_rules(tenant_a):
    client = tenant_a.client()
    body = {"name": "ci", "allowed_models": ["gpt-4o"], "spend_limit_daily_micros": 5_000_000, "rpm_limit": 60,
            "session_budget_micros": 250_000}
    created = client.post("/api/v1/keys/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["secret"].startswith("sk-") and data["state"] == "active" and data["rpm_limit"] == 60
    key = ApiKey.objects.get(pk=data["id"])
    assert key.spend_limit_daily_micros == 5_000_000 and key.allowed_models == ["gpt-4o"]
    assert key.session_budget_micros == data["session_budget_micros"] == 250_000
    assert "secret" not in client.get(f"/api/v1/keys/{key.pk}/").json()

    expiry = (timezone.now() + timezone.timedelta(days=3)).isoformat()
    updated = client.patch(f"/api/v1/keys/{key.pk}/", {"allowed_models": [], "expires_at": expiry,
                                                       "tpm_limit": 1000, "rpm_limit": None,
                                                       "session_budget_micros": None}, format="json")  # fmt: skip
    assert updated.status_code == 200, updated.content
    key.refresh_from_db()
    assert (key.allowed_models, key.tpm_limit, key.rpm_limit, key.name) == ([], 1000, None, "ci")
    assert key.expires_at is not None and key.session_budget_micros is None

    unknown = client.patch(f"/api/v1/keys/{key.pk}/", {"allowed_models": ["no-such-model"]}, format="json")
    assert unknown.status_code == 400 and error(unknown)["param"] == "allowed_models"

    revoked = client.post(f"/api/v1/keys/{key.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    again = client.patch(f"/api/v1/keys/{key.pk}/", {"name": "zombie"}, format="json")
    assert again.status_code == 409 and error(again)["code"] == "key_revoked"


@pytest.mark.parametrize("body, param", [
    ({"name": "x" * 101}, "name"),
    ({"allowed_models": "gpt-4o"}, "allowed_models"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"spend_limit_total_micros": -1}, "spend_limit_total_micros"),
    ({"rpm_limit": 10**30}, "rpm_limit"),
    ({"spend_limit_daily_micros": 1.5}, "spend_limit_daily_micros"),
    ({"session_budget_micros": 0}, "session_budget_micros"),
])  # fmt: skip
def test_bad_key_bodies_are_400_with_the_field_named(tenant_a, body, param):
    response = tenant_a.client().post("/api/v1/keys/", body, format="json")
    assert response.status_code == 400
    err = error(response)
    assert err["type"] == "invalid_request_error" and err["param"] == param and param in err["fields"]
    assert not ApiKey.objects.filter(account=tenant_a.account).exclude(pk=tenant_a.api_key.pk).exists()


def test_not_json_is_a_4xx_in_the_shape(tenant_a):
    client = tenant_a.client()
    response = client.post("/api/v1/keys/", "{not json", content_type="application/json")
    assert response.status_code == 400 and error(response)["code"] == "parse_error"
    response = client.post("/api/v1/keys/", "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and error(response)["code"] == "unsupported_media_type"
    response = client.put("/api/v1/keys/1/", {}, format="json")
    assert response.status_code == 405


def test_members_create_keys_owners_revoke_them(tenant_a):
    member = APIClient()
    member.force_login(tenant_a.member.user)
    assert member.post("/api/v1/keys/", {"name": "m"}, format="json").status_code == 201
    refused = member.post(f"/api/v1/keys/{tenant_a.api_key.pk}/revoke/")
    assert refused.status_code == 403 and error(refused)["code"] == "owner_required"


def test_usage_filters_detail_and_csv(tenant_a):
    client = tenant_a.client()
    for n in range(3):
        UsageRecord.objects.create(request_id=f"req_more_{n}", account=tenant_a.account, api_key=tenant_a.api_key,
                                   model_id="gpt-4o", status=429 if n else 200, cost_micros=n)  # fmt: skip
    rows = client.get("/api/v1/usage/?status=error").json()["results"]
    assert [r["request_id"] for r in rows] == ["req_more_2", "req_more_1"]
    assert "channel_id" not in rows[0] and "upstream_model" not in rows[0]
    detail = client.get(f"/api/v1/usage/{tenant_a.usage.request_id}/")
    assert detail.status_code == 200 and detail.json()["cost_micros"] == 123
    csv = b"".join(client.get("/api/v1/usage/export/?status=429").streaming_content).decode()
    assert csv.splitlines()[0].startswith("time,request_id") and len(csv.splitlines()) == 3
    bad = client.get("/api/v1/usage/?start=not-a-date")
    assert bad.status_code == 400 and error(bad)["param"] == "start"
    bad = client.get("/api/v1/usage/export/?start=1000-01-01")
    assert bad.status_code == 400 and error(bad)["param"] == "start"
    assert client.get("/api/v1/usage/no-such-request/").status_code == 404


def test_cursor_pagination_walks_every_row_once(tenant_a):
    client = tenant_a.client()
    for n in range(7):
        UsageRecord.objects.create(request_id=f"req_page_{n}", account=tenant_a.account, model_id="gpt-4o",
                                   status=200)  # fmt: skip
    seen, url = [], "/api/v1/usage/?limit=3"
    while url:
        page = client.get(url).json()
        seen += [r["request_id"] for r in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 8
    assert client.get("/api/v1/usage/?limit=100000").status_code == 200  # capped at 200, not refused
    assert client.get("/api/v1/usage/?cursor=garbage").status_code == 404


def test_daily_spend_and_ledger(tenant_a):
    client = tenant_a.client()
    assert client.get("/api/v1/spend/daily/?days=7").status_code == 200
    assert error(client.get("/api/v1/spend/daily/?days=0"))["param"] == "days"
    ledger = client.get("/api/v1/ledger/").json()["results"]
    assert ledger and "note" not in ledger[0] and "actor" not in ledger[0]


def test_top_up_with_a_qr_provider_and_its_status(tenant_a, alipay):
    client = tenant_a.client()
    started = client.post("/api/v1/topups/", {"amount_micros": 50_000_000, "provider": "alipay"}, format="json")
    assert started.status_code == 201, started.content
    body = started.json()
    assert body["qr_code"] and body["order"]["status"] == "created"
    order_id = body["order"]["id"]
    assert client.get(f"/api/v1/topups/{order_id}/").json()["status"] == "created"
    alipay.pay(TopUpOrder.objects.get(pk=order_id).pk.hex)
    client.post("/billing/webhooks/alipay/", data=alipay.notification(TopUpOrder.objects.get(pk=order_id).pk.hex),
                content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert client.get(f"/api/v1/topups/{order_id}/").json()["status"] == "credited"
    # the credit is an event for the account's webhooks (sent once the transaction commits)
    assert WebhookDelivery.objects.filter(endpoint=tenant_a.webhook, event_type="topup.credited").count() == 1
    refused = client.post("/api/v1/topups/", {"amount_micros": 1_000_000, "provider": "stripe"}, format="json")
    assert refused.status_code == 400 and error(refused)["code"] == "topup_refused"
    assert client.get("/api/v1/topups/not-a-uuid-but-long-enough-000000/").status_code == 404


def test_redeem_shares_the_portals_guess_cap(tenant_a):
    client = tenant_a.client()
    for _ in range(10):
        wrong = client.post("/api/v1/redeem/", {"code": "HM-AAAA-BBBB-CCCC-DDDD"}, format="json")
        assert wrong.status_code == 400 and error(wrong)["param"] == "code"
    [code] = redemption.redemption_codes_generate(count=1, amount_micros=1, expires_at=None, batch="b",
                                                  created_by="t")  # fmt: skip
    capped = client.post("/api/v1/redeem/", {"code": code}, format="json")
    assert capped.status_code == 429 and error(capped)["code"] == "too_many_attempts"


def test_invitations_mail_and_keep_the_daily_cap(tenant_a, settings, django_capture_on_commit_callbacks):
    settings.HARNMODEL_INVITATIONS_PER_DAY = 2  # the fixture already sent one today
    client = tenant_a.client()
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/api/v1/invitations/", {"email": "new@example.com", "role": "member"}, format="json")
    assert sent.status_code == 201 and sent.json()["email"] == "new@example.com"
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    capped = client.post("/api/v1/invitations/", {"email": "more@example.com"}, format="json")
    assert capped.status_code == 429 and error(capped)["code"] == "invitation_limit"
    member = client.post("/api/v1/invitations/", {"email": tenant_a.member.user.email}, format="json")
    assert member.status_code in (409, 429)
    listed = client.get("/api/v1/invitations/").json()["results"]
    assert {row["email"] for row in listed} == {"new@example.com", "alice-invitee@example.com"}
    revoked = client.post(f"/api/v1/invitations/{listed[0]['id']}/revoke/")
    assert revoked.status_code == 204


def test_members_list_and_the_last_owner_stays(tenant_a):
    client = tenant_a.client()
    members = client.get("/api/v1/members/").json()["results"]
    assert {m["role"] for m in members} == {"owner", "member"}
    owner = next(m for m in members if m["role"] == "owner")
    refused = client.delete(f"/api/v1/members/{owner['id']}/")
    assert refused.status_code == 409 and error(refused)["code"] == "last_owner"
    assert client.delete(f"/api/v1/members/{tenant_a.member.pk}/").status_code == 204


def test_account_rename_follows_the_portal_rule(tenant_a):
    client = tenant_a.client()
    refused = client.patch("/api/v1/account/", {"name": "visit https://evil.example"}, format="json")
    assert refused.status_code == 400 and error(refused)["param"] == "name"
    assert client.get("/api/v1/account/").json()["wallet"]["balance_micros"] == 105_000_000


def test_models_with_prices(tenant_a):
    rows = tenant_a.client().get("/api/v1/models/").json()
    assert rows[0]["id"] == "gpt-4o" and rows[0]["price"]["input_micros"] == 2_500_000


def test_throttled_callers_get_429_with_retry_after(tenant_a, settings):
    from rest_framework.settings import api_settings

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "api": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = tenant_a.client()
    statuses = [client.get("/api/v1/account/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/v1/account/")
    assert error(limited)["type"] == "rate_limit_error" and int(limited["Retry-After"]) > 0
    # another caller has its own bucket
    assert tenant_a.session().get("/api/v1/account/").status_code == 200
