"""The operator scope's behaviour: channel secrets go in and never come out, adjustments need a reason and are
audited like the console's, price publication versions, code batches shown once, channel health."""

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEntry
from billing import redemption
from billing.models import LedgerEntry, Price, RedemptionCode
from gateway.models import Channel, ChannelProbe
from gateway.pool.store import secrets_of

from .conftest import make_operator

pytestmark = pytest.mark.django_db


def client_for(role: str | None = None, *, superuser: bool = False) -> APIClient:
    client = APIClient()
    client.force_login(make_operator(role, superuser=superuser))
    return client


def test_channel_secret_is_write_only(tenant_a):
    admin = client_for("admin")
    created = admin.post("/api/v1/ops/channels/", {"name": "up", "provider": "simulator",
                                                    "secret": "sk-very-secret-upstream-1234"}, format="json")  # fmt: skip
    assert created.status_code == 201, created.content
    channel = Channel.objects.get(name="up")
    assert list(secrets_of(channel).values()) == ["sk-very-secret-upstream-1234"]
    for response in (created, admin.get(f"/api/v1/ops/channels/{channel.pk}/"), admin.get("/api/v1/ops/channels/")):
        text = response.content.decode()
        assert "very-secret" not in text and "secret_encrypted" not in text
    assert created.json()["secret_hint"] == "…1234" and created.json()["has_secret"] is True
    # a change without `secret` keeps it; the audit trail never holds it either
    assert admin.patch(f"/api/v1/ops/channels/{channel.pk}/", {"weight": 3}, format="json").status_code == 200
    channel.refresh_from_db()
    assert channel.weight == 3 and list(secrets_of(channel).values()) == ["sk-very-secret-upstream-1234"]
    entries = AuditEntry.objects.filter(object_type="gateway.channel", object_id=str(channel.pk))
    assert [e.action for e in entries] == ["channel_change", "channel_add"]
    assert all("very-secret" not in str(e.before) + str(e.after) for e in entries)


def test_channel_rules_are_the_consoles(tenant_a):
    admin = client_for("admin")
    bad = admin.post("/api/v1/ops/channels/", {"name": "x", "provider": "no-such", "base_url": "ftp://x"},
                     format="json")  # fmt: skip
    assert bad.status_code == 400 and {"provider", "base_url"} <= set(bad.json()["error"]["fields"])
    assert admin.patch("/api/v1/ops/channels/999999/", {"weight": 1}, format="json").status_code == 404


def test_adjustment_needs_a_reason_and_is_audited(tenant_a):
    finance = client_for("finance")
    missing = finance.post("/api/v1/ops/adjustments/", {"account": tenant_a.account.pk, "amount_micros": 5},
                           format="json")  # fmt: skip
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "reason"
    blank = finance.post("/api/v1/ops/adjustments/", {"account": tenant_a.account.pk, "amount_micros": 5,
                                                      "reason": "   "}, format="json")  # fmt: skip
    assert blank.status_code == 400
    too_much = finance.post("/api/v1/ops/adjustments/", {"account": tenant_a.account.pk,
                            "amount_micros": -10**12, "reason": "x"}, format="json")  # fmt: skip
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_balance"
    done = finance.post("/api/v1/ops/adjustments/", {"account": tenant_a.account.pk, "amount_micros": -5_000_000,
                        "reason": "duplicate top-up", "description": "Correction"}, format="json")  # fmt: skip
    assert done.status_code == 201
    entry = LedgerEntry.objects.get(pk=done.json()["ledger_entry"])
    assert (entry.kind, entry.note, entry.description, entry.amount_micros) == (
        "adjust", "duplicate top-up", "Correction", -5_000_000)
    audit = AuditEntry.objects.get(action="balance_adjust")
    assert audit.object_id == str(tenant_a.account.pk) and audit.after["ledger_entry"] == entry.pk
    assert audit.after["balance_micros"] - audit.before["balance_micros"] == -5_000_000
    assert finance.post("/api/v1/ops/adjustments/", {"account": 10**15, "amount_micros": 5, "reason": "x"},
                        format="json").status_code == 404  # fmt: skip


def test_prices_are_published_as_new_versions(tenant_a):
    finance = client_for("finance")
    model_id = finance.get("/api/v1/ops/models/").json()["results"][0]["id"]
    body = {"input_micros": 3_000_000, "cached_input_micros": 1_000_000, "output_micros": 9_000_000}
    first = finance.post(f"/api/v1/ops/models/{model_id}/prices/", body, format="json")
    assert first.status_code == 201 and first.json()["price"]["input_micros"] == 3_000_000
    assert finance.post(f"/api/v1/ops/models/{model_id}/prices/", body, format="json").status_code == 200  # same
    assert Price.objects.filter(model_id="gpt-4o").count() == 2
    negative = finance.post(f"/api/v1/ops/models/{model_id}/prices/", {**body, "output_micros": -1}, format="json")
    assert negative.status_code == 400


def test_code_batch_is_shown_once_and_listed_by_batch(tenant_a):
    finance = client_for("finance")
    made = finance.post("/api/v1/ops/redemption-batches/", {"batch": "spring", "count": 3,
                                                            "amount_micros": 2_000_000}, format="json")  # fmt: skip
    assert made.status_code == 201 and len(made.json()["codes"]) == 3 and made["Cache-Control"] == "no-store"
    codes = made.json()["codes"]
    assert RedemptionCode.objects.filter(code_hash__in=[redemption.code_hash(c) for c in codes]).count() == 3
    assert not RedemptionCode.objects.filter(code_hash__in=codes).exists()  # only hashes are stored
    listed = finance.get("/api/v1/ops/redemption-batches/").json()
    assert listed == [{"batch": "spring", "codes": 3, "redeemed": 0, "amount_micros": 6_000_000}]
    assert finance.post("/api/v1/ops/redemption-batches/", {"batch": "x", "count": 10_001, "amount_micros": 1},
                        format="json").status_code == 400  # fmt: skip


def test_usage_across_accounts_and_channel_health(tenant_a, tenant_b):
    support = client_for("support")
    rows = support.get("/api/v1/ops/usage/").json()["results"]
    assert {r["account_id"] for r in rows} == {tenant_a.account.pk, tenant_b.account.pk}
    only_b = support.get(f"/api/v1/ops/usage/?account={tenant_b.account.pk}").json()["results"]
    assert [r["request_id"] for r in only_b] == [tenant_b.usage.request_id]
    channel = Channel.objects.get(name="sim")
    ChannelProbe.objects.create(channel=channel, model_id="gpt-4o", ok=False, status=502, error="bad gateway")
    health = support.get(f"/api/v1/ops/channels/{channel.pk}/health/").json()
    assert health["probes"][0]["error"] == "bad gateway" and health["enabled"] is True
    found = support.get("/api/v1/ops/customers/?q=bob").json()["results"]
    assert [c["email"] for c in found] == ["bob@example.com"]
