"""Console additions: the health-probe history (read-only, newest first, filtered by channel and result,
linked from the channel page), per-channel timeouts in the channel form, and account-wide rate limits."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AuditEntry
from gateway.models import Channel, ChannelProbe
from tests.admin.test_admin import _channel_form
from tests.factories import make_channel, make_customer, make_model

PROBES = "admin:gateway_channelprobe_changelist"


@pytest.fixture
def channels(db):
    make_model("gpt-4o")
    a = make_channel("alpha", provider="openai_chat", base_url="https://a.example.com/v1", secret="sk-a")
    b = make_channel("beta", provider="openai_chat", base_url="https://b.example.com/v1", secret="sk-b")
    now = timezone.now()
    for age, channel, ok, error in [
        (3, a, True, ""),
        (2, a, False, "upstream said teapot-old"),
        (1, b, False, "upstream said beta-broken"),
        (0, a, False, "upstream said teapot-new"),
    ]:
        probe = ChannelProbe.objects.create(
            channel=channel, model_id="gpt-4o", ok=ok, status=200 if ok else 500, latency_ms=10, error=error
        )
        ChannelProbe.objects.filter(pk=probe.pk).update(created_at=now - timedelta(minutes=age))
    return a, b


def test_probe_history_lists_newest_first_and_filters(admin_client, channels):
    a, _ = channels
    html = admin_client.get(reverse(PROBES)).content.decode()
    assert html.index("teapot-new") < html.index("beta-broken") < html.index("teapot-old")
    only_a = admin_client.get(reverse(PROBES), {"channel__id__exact": a.pk}).content.decode()
    assert "teapot-new" in only_a and "teapot-old" in only_a and "beta-broken" not in only_a
    ok_only = admin_client.get(reverse(PROBES), {"ok__exact": "1"}).content.decode()
    assert "teapot" not in ok_only and "beta-broken" not in ok_only and "● ok" in ok_only
    failed_a = admin_client.get(reverse(PROBES), {"ok__exact": "0", "channel__id__exact": a.pk}).content.decode()
    assert "teapot-new" in failed_a and "beta-broken" not in failed_a


def test_probe_history_is_read_only(admin_client, channels):
    probe = ChannelProbe.objects.first()
    assert admin_client.get(reverse("admin:gateway_channelprobe_add")).status_code == 403
    page = admin_client.get(reverse("admin:gateway_channelprobe_change", args=[probe.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(reverse("admin:gateway_channelprobe_delete", args=[probe.pk])).status_code == 403
    assert ChannelProbe.objects.count() == 4


def test_a_support_operator_can_read_the_history(client, channels):
    user = User.objects.create_user("sup", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="support"))
    client.force_login(user)
    assert "teapot-new" in client.get(reverse(PROBES)).content.decode()


def test_the_channel_page_links_to_its_probe_history(admin_client, channels):
    a, _ = channels
    html = admin_client.get(reverse("admin:gateway_channel_change", args=[a.pk])).content.decode()
    link = reverse(PROBES) + f"?channel__id__exact={a.pk}"
    assert link in html and "Probe history (3)" in html


# -- per-channel timeouts ------------------------------------------------------------------------------


def test_channel_timeouts_are_set_audited_and_cleared_in_the_form(admin_client, channels):
    a, _ = channels
    url = reverse("admin:gateway_channel_change", args=[a.pk])
    page = admin_client.get(url).content.decode()
    for name in ("connect_timeout", "first_byte_timeout", "idle_timeout"):
        assert f'name="{name}"' in page
    form = _channel_form(a, connect_timeout="4", first_byte_timeout="12.5", idle_timeout="90")
    assert admin_client.post(url, form).status_code == 302
    a.refresh_from_db()
    assert (a.connect_timeout, a.first_byte_timeout, a.idle_timeout) == (4.0, 12.5, 90.0)
    entry = AuditEntry.objects.filter(object_type="gateway.channel", object_id=str(a.pk)).latest("pk")
    assert entry.after.get("first_byte_timeout") == 12.5
    assert (
        admin_client.post(url, _channel_form(a, connect_timeout="", first_byte_timeout="", idle_timeout="")).status_code
        == 302
    )
    a.refresh_from_db()
    assert (a.connect_timeout, a.first_byte_timeout, a.idle_timeout) == (None, None, None)


@pytest.mark.parametrize("value", ["0", "-2", "99999"])
def test_channel_timeouts_must_be_positive_and_bounded(admin_client, channels, value):
    a, _ = channels
    response = admin_client.post(
        reverse("admin:gateway_channel_change", args=[a.pk]), _channel_form(a, idle_timeout=value)
    )
    assert response.status_code == 200 and "Seconds between 0 and" in response.content.decode()
    assert Channel.objects.get(pk=a.pk).idle_timeout is None


# -- account-wide rate limits ------------------------------------------------------------------------------


def _account_form(account: Account, **changes: str) -> dict[str, str]:
    data = {
        "name": account.name,
        "email": account.email,
        "is_active": "on",
        "rpm_limit": "",
        "tpm_limit": "",
        "concurrency_limit": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_account_rate_limits_are_set_and_audited(admin_client, db):
    account, _ = make_customer("limits@example.com")
    url = reverse("admin:accounts_account_change", args=[account.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="rpm_limit"' in page and 'name="tpm_limit"' in page and 'name="concurrency_limit"' in page
    response = admin_client.post(url, _account_form(account, rpm_limit="60", tpm_limit="100000", concurrency_limit="4"))
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.rpm_limit, account.tpm_limit, account.concurrency_limit) == (60, 100000, 4)
    entry = AuditEntry.objects.get(action="account_limits", object_id=str(account.pk))
    assert entry.before == {"rpm_limit": None, "tpm_limit": None, "concurrency_limit": None}
    assert entry.after == {"rpm_limit": 60, "tpm_limit": 100000, "concurrency_limit": 4}
    # Cleared again: no limit.
    assert admin_client.post(url, _account_form(account, rpm_limit="60")).status_code == 302
    account.refresh_from_db()
    assert (account.rpm_limit, account.tpm_limit, account.concurrency_limit) == (60, None, None)
    assert AuditEntry.objects.filter(action="account_limits").count() == 2


def test_account_limits_reach_the_gateways_key_info(admin_client, db):
    from gateway.models import ApiKey
    from gateway.relay.catalog import load_key

    account, _ = make_customer("reach@example.com")
    url = reverse("admin:accounts_account_change", args=[account.pk])
    assert admin_client.post(url, _account_form(account, rpm_limit="7", concurrency_limit="2")).status_code == 302
    info = load_key(ApiKey.objects.get(account=account).secret_hash)
    assert (info.account_rpm_limit, info.account_tpm_limit, info.account_concurrency_limit) == (7, None, 2)


def test_a_new_account_can_be_created_with_limits(admin_client, db):
    data = _account_form(Account(name="New", email="new@example.com"), tpm_limit="5000")
    assert admin_client.post(reverse("admin:accounts_account_add"), data).status_code == 302
    account = Account.objects.get(email="new@example.com")
    assert account.tpm_limit == 5000 and account.rpm_limit is None
