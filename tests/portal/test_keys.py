"""API keys: create with limits (secret shown once), list with spend, revoke with confirmation."""

from django.urls import reverse
from django.utils import timezone

from gateway.crypto import hash_api_key
from gateway.models import ApiKey
from tests.factories import make_model


def _create(member, **extra):
    data = {"name": "ci-bot", "expiry": "", **extra}
    return member.client.post(reverse("portal:key_create"), data)


def test_create_key_shows_the_secret_exactly_once(alice):
    page = _create(alice)  # the response to the POST itself shows the secret: no redirect, nothing kept for later
    key = ApiKey.objects.get(account=alice.account, name="ci-bot")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    secret = page.context["secret"]
    assert secret.startswith("sk-") and key.secret_hash == hash_api_key(secret)
    assert "It will not be shown again" in page.content.decode()
    assert 'data-copy="#secret"' in page.content.decode()
    again = alice.client.get(reverse("portal:key_created", args=[key.pk]))
    assert again.context["secret"] is None and secret not in again.content.decode()
    assert secret not in alice.client.get(reverse("portal:keys")).content.decode()


def test_the_secret_is_stored_in_no_session_row(alice):
    """django_session rows decode without SECRET_KEY (base64 + a signature): the secret must never be in one."""
    from django.contrib.sessions.models import Session

    page = _create(alice)
    secret = page.context["secret"]
    assert secret.startswith("sk-")
    for row in Session.objects.all():
        assert secret not in str(row.get_decoded()) and secret not in row.session_data
    # Nor does the messages framework carry it in a cookie.
    assert all(secret not in morsel.value for morsel in page.cookies.values())


def test_create_key_with_models_expiry_caps_and_rate_limits(alice):
    make_model("deepseek-chat")
    _create(
        alice,
        allowed_models=["gpt-4o"],
        expiry="30",
        spend_limit_total="12.5",
        spend_limit_daily="1",
        spend_limit_monthly="0.000001",
        session_budget="0.25",
        rpm_limit="60",
        tpm_limit="100000",
        concurrency_limit="4",
    )
    key = ApiKey.objects.get(account=alice.account, name="ci-bot")
    assert key.allowed_models == ["gpt-4o"]
    assert key.expires_at is not None
    assert (key.spend_limit_total_micros, key.spend_limit_daily_micros, key.spend_limit_monthly_micros) == (
        12_500_000,
        1_000_000,
        1,
    )
    assert (key.rpm_limit, key.tpm_limit, key.concurrency_limit) == (60, 100000, 4)
    assert key.session_budget_micros == 250_000


def test_create_key_rejects_bad_input_and_writes_nothing(alice):
    before = ApiKey.objects.count()
    for data in (
        {"allowed_models": ["no-such-model"]},
        {"spend_limit_total": "abc"},
        {"spend_limit_total": "-1"},
        {"spend_limit_daily": "0.0000001"},
        {"session_budget": "lots"},
        {"rpm_limit": "0"},
        {"expiry": "date"},
        {"expiry": "date", "expires_on": "2000-01-01"},
    ):
        assert _create(alice, **data).status_code == 400, data
    assert alice.client.post(reverse("portal:key_create"), {"name": ""}).status_code == 400
    assert ApiKey.objects.count() == before


def test_key_list_shows_prefix_last_used_and_spend(alice):
    from billing.models import UsageRecord

    key = ApiKey.objects.get(account=alice.account)
    UsageRecord.objects.create(request_id="r1", account=alice.account, api_key=key, model_id="gpt-4o", status=200,
                               cost_micros=1_234_567)  # fmt: skip
    body = alice.client.get(reverse("portal:keys")).content.decode()
    assert f"{key.prefix}…" in body
    assert "¥1.23" in body
    assert "never" in body  # last used: not yet
    from gateway.services import api_key_touch

    api_key_touch(key_id=key.pk)  # what the relay does after serving a request (tests/routing/test_key_last_used.py)
    key.refresh_from_db()
    body = alice.client.get(reverse("portal:keys")).content.decode()
    assert key.last_used_at is not None and "never" not in body
    assert timezone.localtime(key.last_used_at).strftime("%Y-%m-%d %H:%M") in body


def test_revoke_asks_first_then_revokes(alice):
    key = ApiKey.objects.get(account=alice.account)
    page = alice.client.get(reverse("portal:key_revoke", args=[key.pk]))
    assert page.status_code == 200 and b"Revoke this key?" in page.content
    key.refresh_from_db()
    assert key.revoked_at is None
    response = alice.client.post(reverse("portal:key_revoke", args=[key.pk]))
    assert response["Location"] == reverse("portal:keys")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_members_create_keys_but_only_owners_revoke(alice, mallory):
    assert _create(mallory).status_code == 200  # the page with the secret
    key = ApiKey.objects.get(account=alice.account, name="ci-bot")
    assert mallory.client.get(reverse("portal:key_revoke", args=[key.pk])).status_code == 403
    assert mallory.client.post(reverse("portal:key_revoke", args=[key.pk])).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
