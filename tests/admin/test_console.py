"""The operator console: control room, channel actions, balance adjustments, roles and the audit trail."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from billing import services as billing_services
from billing.models import LedgerEntry, UsageRecord, Wallet
from gateway.console.ops_selectors import percentile, requests_per_hour, traffic
from gateway.models import Channel, ChannelProbe
from tests.factories import make_channel, make_customer, make_model

CHANGELIST = "admin:gateway_channel_changelist"


@pytest.fixture
def sim(db):
    make_model("gpt-4o")
    return make_channel("sim", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 0})


@pytest.fixture
def alice(db):
    account, _ = make_customer("alice@example.com", balance="100")
    return account


def _operator(username: str, group: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def _usage(account, n: int, *, status: int = 200, latency_ms: int = 100, cost_micros: int = 1000, age=None):
    for i in range(n):
        record = UsageRecord.objects.create(
            request_id=f"r-{status}-{latency_ms}-{i}-{UsageRecord.objects.count()}",
            account=account,
            model_id="gpt-4o",
            status=status,
            latency_ms=latency_ms,
            cost_micros=cost_micros,
        )
        if age is not None:
            UsageRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - age)


# -- control room ---------------------------------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([7], 0.99) == 7
    assert percentile([], 0.5) is None


def test_traffic_counts_rate_errors_and_latency(alice):
    _usage(alice, 9, latency_ms=100)
    _usage(alice, 1, status=502, latency_ms=2000)
    _usage(alice, 5, age=timedelta(hours=2))  # outside every window
    stats = traffic()
    assert stats.requests_per_minute == 2.0  # 10 in the last 5 minutes
    assert stats.requests_last_hour == 10
    assert stats.error_rate == pytest.approx(0.1)
    assert (stats.p50_ms, stats.p99_ms) == (100, 2000)


def test_requests_per_hour_has_every_hour(alice):
    _usage(alice, 3)
    _usage(alice, 2, status=500, age=timedelta(hours=3))
    hours = requests_per_hour()
    assert len(hours) == 24
    assert hours[-1][1:] == (3, 0)
    assert sum(n for _, n, _ in hours) == 5
    assert sum(e for _, _, e in hours) == 2


def test_control_room_renders_numbers_channels_and_local_chartjs(admin_client, sim, alice):
    _usage(alice, 4, latency_ms=250)
    billing_services.wallet_adjust(account_id=alice.pk, amount_micros=1, reason="x", actor="t")
    make_channel("off", models={"gpt-4o": ""})
    Channel.objects.filter(name="off").update(enabled=False, disabled_reason="health: upstream refused")
    html = admin_client.get(reverse("admin:ops")).content.decode()
    assert "Control room" in html
    assert "250 / 250 ms" in html
    assert "health: upstream refused" in html
    assert "portal/vendor/chart.umd.min.js" in html
    assert not re.search(r"<script[^>]+src=\"https?://", html)  # no CDN: the console works offline
    assert reverse("admin:ops") in admin_client.get(reverse("admin:index")).content.decode()


def test_control_room_shows_revenue_and_top_customers(admin_client, sim, alice):
    from billing.pricing import Usage
    from billing.selectors import price_current, price_snapshot

    price = price_snapshot(price_current(model_id="gpt-4o"))
    billing_services.hold_reserve(
        account_id=alice.pk, request_id="q1", input_tokens=1000, max_output_tokens=10, price=price, ttl_seconds=60
    )
    facts = billing_services.RequestFacts(account_id=alice.pk, model_id="gpt-4o")
    billing_services.hold_settle(request_id="q1", usage=Usage(input_tokens=1_000_000), price=price, facts=facts)
    html = admin_client.get(reverse("admin:ops")).content.decode()
    assert "¥2.50" in html  # 1M input tokens at ¥2.5 / 1M
    assert "alice@example.com" in html or str(alice.name) in html


def test_control_room_needs_staff(client, db):
    response = client.get(reverse("admin:ops"))
    assert response.status_code == 302 and "login" in response["Location"]


# -- channel actions -------------------------------------------------------------------------------------


def _act(client, action: str, *channels: Channel):
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [c.pk for c in channels]}, follow=True
    )


def test_test_now_probes_records_history_and_reports_inline(admin_client, sim):
    response = _act(admin_client, "test_now", sim)
    html = response.content.decode()
    assert "sim / gpt-4o: ok in" in html.lower()
    probe = ChannelProbe.objects.get(channel=sim)
    assert probe.ok and probe.model_id == "gpt-4o"
    sim.refresh_from_db()
    assert sim.last_probe_ok is True and sim.last_probe_at is not None
    entry = AuditEntry.objects.get(action="channel_test")
    assert entry.after["probes"][0]["ok"] is True


def test_disable_enable_and_drain_are_audited_with_before_and_after(admin_client, admin_user, sim):
    _act(admin_client, "disable_selected", sim)
    sim.refresh_from_db()
    assert (sim.enabled, sim.disabled_reason) == (False, "operator: admin")
    _act(admin_client, "enable_selected", sim)
    sim.refresh_from_db()
    assert (sim.enabled, sim.disabled_reason) == (True, "")
    _act(admin_client, "drain_selected", sim)
    sim.refresh_from_db()
    assert sim.weight == 0 and sim.enabled
    entries = {e.action: e for e in AuditEntry.objects.all()}
    assert entries["channel_disable"].before == {"enabled": True, "disabled_reason": "", "weight": 1}
    assert entries["channel_disable"].after == {"enabled": False, "disabled_reason": "operator: admin", "weight": 1}
    assert entries["channel_drain"].after["weight"] == 0 and entries["channel_drain"].before["weight"] == 1
    assert entries["channel_enable"].actor == admin_user
    assert entries["channel_disable"].object_id == str(sim.pk)


def test_channel_list_shows_health_and_disabled_reason(admin_client, sim):
    Channel.objects.filter(pk=sim.pk).update(
        enabled=False, disabled_reason="operator: bob", last_probe_ok=False, last_probe_error="gpt-4o: HTTP 401"
    )
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "operator: bob" in html and "failing" in html and "gpt-4o: HTTP 401" in html


# -- balance adjustments ---------------------------------------------------------------------------------


def _adjust_url(account) -> str:
    return reverse("admin:accounts_account_adjust_balance", args=[account.pk])


def test_adjust_balance_goes_through_the_ledger_and_is_audited(admin_client, admin_user, alice):
    response = admin_client.post(_adjust_url(alice), {"amount": "-2.5", "reason": "refund of a test"}, follow=True)
    assert "New balance: ¥97.50" in response.content.decode()
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.ADJUST)
    assert (entry.amount_micros, entry.actor, entry.note) == (-2_500_000, "admin", "refund of a test")
    assert Wallet.objects.get(account=alice).balance_micros == 97_500_000
    audit = AuditEntry.objects.get(action="balance_adjust")
    assert audit.before == {"balance_micros": 100_000_000}
    assert audit.after == {"balance_micros": 97_500_000, "ledger_entry": entry.pk}
    assert audit.actor == admin_user and audit.object_id == str(alice.pk)


@pytest.mark.parametrize(
    "data, error",
    [
        ({"amount": "5", "reason": ""}, "This field is required"),
        ({"amount": "0", "reason": "x"}, "must not be zero"),
        ({"amount": "1.0000001", "reason": "x"}, "more than six decimal places"),
        ({"amount": "-500", "reason": "x"}, "below zero"),
    ],
)
def test_a_refused_adjustment_changes_nothing(admin_client, alice, data, error):
    response = admin_client.post(_adjust_url(alice), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).exists()
    assert not AuditEntry.objects.exists()
    assert Wallet.objects.get(account=alice).balance_micros == 100_000_000


def test_the_adjust_action_opens_the_form_for_one_account(admin_client, alice):
    response = admin_client.post(
        reverse("admin:accounts_account_changelist"), {"action": "adjust_balance", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 302 and response["Location"] == _adjust_url(alice)
    assert "Balance now: <strong>¥100.00" in admin_client.get(_adjust_url(alice)).content.decode()


# -- roles -------------------------------------------------------------------------------------------------


def test_the_roles_exist_with_their_permissions(db):
    support = Group.objects.get(name="support")
    finance = Group.objects.get(name="finance")
    admin = Group.objects.get(name="admin")
    names = lambda g: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()}  # noqa: E731
    assert {"gateway.change_apikey", "billing.view_ledgerentry", "accounts.view_account"} <= names(support)
    assert "accounts.adjust_balance" not in names(support)
    assert {"accounts.adjust_balance", "billing.add_redemptioncode", "billing.add_price"} <= names(finance)
    assert "gateway.change_channel" not in names(finance)
    assert {"gateway.change_channel", "gateway.delete_channel", "gateway.add_apikey"} <= names(admin)
    assert "gateway.view_taskrun" in names(support) & names(finance) & names(admin)
    assert {"otp_totp.view_totpdevice", "otp_totp.delete_totpdevice"} <= names(admin)
    assert not any(name.startswith("otp_totp.") for name in names(support) | names(finance))


def test_support_sees_the_scheduled_jobs_list(client, db):
    client.force_login(_operator("sid", "support"))
    assert client.get(reverse("admin:gateway_taskrun_changelist")).status_code == 200


def test_support_cannot_adjust_a_balance(client, alice):
    client.force_login(_operator("sam", "support"))
    assert client.get(_adjust_url(alice)).status_code == 403
    assert client.post(_adjust_url(alice), {"amount": "5", "reason": "x"}).status_code == 403
    changelist = client.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "adjust_balance" not in changelist
    assert Wallet.objects.get(account=alice).balance_micros == 100_000_000


def test_finance_can_adjust_a_balance(client, alice):
    client.force_login(_operator("fay", "finance"))
    response = client.post(_adjust_url(alice), {"amount": "5", "reason": "goodwill"}, follow=True)
    assert "New balance: ¥105.00" in response.content.decode()
    assert LedgerEntry.objects.get(kind=LedgerEntry.Kind.ADJUST).actor == "fay"


def test_finance_cannot_edit_or_switch_a_channel(client, sim):
    client.force_login(_operator("fay", "finance"))
    change = reverse("admin:gateway_channel_change", args=[sim.pk])
    assert client.get(change).status_code == 200  # view only
    client.post(change, {"name": "hijacked", "provider": "simulator", "priority": 0, "weight": 1})
    response = _act(client, "disable_selected", sim)
    assert "No action selected" in response.content.decode() or response.status_code in (200, 403)
    sim.refresh_from_db()
    assert (sim.name, sim.enabled) == ("sim", True)
    assert not AuditEntry.objects.exists()


def test_support_can_revoke_a_key_and_it_is_audited(client, alice):
    from gateway.models import ApiKey

    user = _operator("sam", "support")
    client.force_login(user)
    key = ApiKey.objects.get(account=alice)
    client.post(reverse("admin:gateway_apikey_changelist"), {"action": "revoke_selected", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None
    entry = AuditEntry.objects.get(action="api_key_revoke")
    assert entry.actor == user and entry.before == {"revoked_at": None}


def test_audit_entries_are_read_only_in_the_admin(admin_client, admin_user, alice):
    from accounts.audit import audit_record

    entry = audit_record(actor=admin_user, action="x", obj=alice, before={"a": 1}, after={"a": 2})
    assert admin_client.get(reverse("admin:accounts_auditentry_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:accounts_auditentry_change", args=[entry.pk])).content.decode()
    assert "&quot;a&quot;: 1" in page or '"a": 1' in page
    assert admin_client.get(reverse("admin:accounts_auditentry_add")).status_code == 403
