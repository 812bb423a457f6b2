"""Customer groups in the operator console: create a group with its terms, publish new terms (a new rule
version, the old one kept), move an account into it, all audited; and the margin report's numbers."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AuditEntry
from billing import services as billing_services
from billing.group_models import CustomerGroup, GroupRule
from billing.group_pricing import GroupTerms, group_price
from billing.group_services import group_create, group_rule_publish
from billing.models import UsageRecord
from billing.pricing import PriceSnapshot, Usage
from tests.factories import make_channel, make_customer, make_model

pytestmark = pytest.mark.django_db


def _group_form(**fields) -> dict:
    form = {"slug": "resellers", "name": "Resellers", "description": "", "multiplier": "1.5", "models": "",
            "overrides": "", "rules-TOTAL_FORMS": "0", "rules-INITIAL_FORMS": "0"}
    return {**form, **fields}


def test_a_group_is_created_with_terms_and_new_terms_are_a_new_version(admin_client):
    response = admin_client.post(reverse("admin:billing_customergroup_add"), _group_form(
        models="gpt-4o\nclaude", overrides='{"gpt-4o": {"multiplier": "0.5"}, "claude": {"input": "1", '
                                           '"cached_input": "0.1", "output": "4"}}'))
    assert response.status_code == 302, response.content.decode()[:2000]
    group = CustomerGroup.objects.get(slug="resellers")
    first = GroupRule.objects.get(group=group)
    assert (first.multiplier_ppm, first.allowed_models) == (1_500_000, ["claude", "gpt-4o"])
    assert first.overrides == {"gpt-4o": {"multiplier_ppm": 500_000}, "claude": {
        "input_micros": 1_000_000, "cached_input_micros": 100_000, "output_micros": 4_000_000,
        "cache_write_micros": None}}
    assert AuditEntry.objects.filter(action="group_create", object_id=str(group.pk)).exists()

    page = admin_client.get(reverse("admin:billing_customergroup_change", args=[group.pk])).content.decode()
    assert 'value="1.5"' in page and "gpt-4o" in page  # the form starts from the current terms

    # Saving the same terms publishes nothing; a new multiplier publishes a version and keeps the old one.
    change = reverse("admin:billing_customergroup_change", args=[group.pk])
    same = _group_form(models="claude\ngpt-4o", overrides=admin_client.get(change).context["adminform"].form[
        "overrides"].initial, **{"rules-TOTAL_FORMS": "1", "rules-INITIAL_FORMS": "1", "rules-0-id": str(first.pk),
                                "rules-0-group": str(group.pk)})
    assert admin_client.post(change, same).status_code == 302
    assert GroupRule.objects.filter(group=group).count() == 1
    assert admin_client.post(change, {**same, "multiplier": "0.9"}).status_code == 302
    rules = list(GroupRule.objects.filter(group=group).order_by("effective_from"))
    assert [r.multiplier_ppm for r in rules] == [1_500_000, 900_000] and rules[0].pk == first.pk
    entry = AuditEntry.objects.get(action="group_rule_publish", after__rule_id=rules[1].pk)
    assert (entry.before["multiplier_ppm"], entry.after["multiplier_ppm"]) == (1_500_000, 900_000)


@pytest.mark.parametrize(("field", "value"), [("multiplier", "-1"), ("multiplier", "1.0000001"),
                                              ("overrides", "{not json"), ("overrides", '{"m": {"multiplier": "x"}}'),
                                              ("overrides", '{"m": {"input": "1"}}')])
def test_bad_terms_are_form_errors_and_write_nothing(admin_client, field, value):
    response = admin_client.post(reverse("admin:billing_customergroup_add"), _group_form(**{field: value}))
    assert response.status_code == 200 and response.context["adminform"].form.errors.get(field)
    assert not CustomerGroup.objects.filter(slug="resellers").exists() and not GroupRule.objects.exists()


def test_an_account_is_moved_into_a_group_and_audited(admin_client):
    account, _ = make_customer("moved@example.com")
    group = group_create(slug="vip")
    assert account.group.slug == "default"
    change = reverse("admin:accounts_account_change", args=[account.pk])
    form = admin_client.get(change).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update({"group": str(group.pk), "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert admin_client.post(change, data).status_code == 302
    assert Account.objects.get(pk=account.pk).group_id == group.pk
    entry = AuditEntry.objects.get(action="account_group")
    assert (entry.before, entry.after) == ({"group": "default"}, {"group": "vip"})


def test_a_used_group_cannot_be_deleted_an_unused_one_can(admin_client):
    used, unused = group_create(slug="used"), group_create(slug="unused")
    make_customer("member@example.com")
    Account.objects.update(group=used)
    assert admin_client.post(reverse("admin:billing_customergroup_delete", args=[used.pk]),
                             {"post": "yes"}).status_code == 403
    assert admin_client.post(reverse("admin:billing_customergroup_delete", args=[unused.pk]),
                             {"post": "yes"}).status_code == 302
    assert list(CustomerGroup.objects.values_list("slug", flat=True).order_by("slug")) == ["default", "used"]
    assert AuditEntry.objects.filter(action="group_delete").count() == 1


BASE = PriceSnapshot(id=None, input_micros=2_000_000, cached_input_micros=1_000_000, output_micros=8_000_000)


def _settled(account: Account, rid: str, price: PriceSnapshot, channel_id: int | None, upstream_cost: int | None,
             model: str = "gpt-4o") -> int:
    billing_services.hold_reserve(account_id=account.pk, request_id=rid, input_tokens=1000, max_output_tokens=500,
                                  price=price, ttl_seconds=60)
    facts = billing_services.RequestFacts(account_id=account.pk, model_id=model, channel_id=channel_id,
                                          upstream_cost_micros=upstream_cost)
    return billing_services.hold_settle(request_id=rid, usage=Usage(input_tokens=1000, output_tokens=500),
                                        price=price, facts=facts).cost_micros


def test_the_margin_report_by_group_channel_and_model(admin_client):
    make_model("gpt-4o")
    cheap = make_channel("cheap", provider="openai_chat", base_url="https://a.example/v1", secret="sk-a")
    relay = make_channel("relay", provider="openai_chat", base_url="https://b.example/v1", secret="sk-b")
    plain, _ = make_customer("plain@example.com", balance="10")
    vip, _ = make_customer("vip@example.com", balance="10")
    group = group_create(slug="vip")
    Account.objects.filter(pk=vip.pk).update(group=group)
    rule, _ = group_rule_publish(group=group, multiplier_ppm=1_500_000)
    vip_price = group_price(BASE, GroupTerms(group_id=group.pk, rule_id=rule.pk, multiplier_ppm=1_500_000), "gpt-4o")
    a = _settled(plain, "r1", BASE, cheap.pk, 3_000)  # 1000 × 2 + 500 × 8 = 6_000 micros
    b = _settled(vip, "r2", vip_price, cheap.pk, 3_000)  # × 1.5 = 9_000
    c = _settled(vip, "r3", vip_price, relay.pk, None)  # no cost price on this channel: uncosted
    assert (a, b, c) == (6_000, 9_000, 9_000)

    today = timezone.localdate().isoformat()
    response = admin_client.get(reverse("admin:margin"), {"start": today, "end": today,
                                                          "by": ["group", "channel", "model"]})
    rows = {(r["row"].group, r["row"].channel, r["row"].model): r["row"] for r in response.context["rows"]}
    assert set(rows) == {("default", "cheap", "gpt-4o"), ("vip", "cheap", "gpt-4o"), ("vip", "relay", "gpt-4o")}
    assert rows[("vip", "cheap", "gpt-4o")].margin_micros == 6_000
    assert rows[("default", "cheap", "gpt-4o")].margin_micros == 3_000
    assert rows[("vip", "relay", "gpt-4o")].uncosted_revenue_micros == 9_000
    total = response.context["total"]["row"]
    assert (total.revenue_micros, total.upstream_cost_micros, total.margin_micros) == (24_000, 6_000, 9_000)
    assert "Margin report" in response.content.decode()

    by_group = admin_client.get(reverse("admin:margin"), {"start": today, "end": today, "by": ["group"]})
    assert {(r["row"].group, r["row"].revenue_micros) for r in by_group.context["rows"]} == {
        ("default", 6_000), ("vip", 18_000)}
    assert UsageRecord.objects.get(request_id="r2").group_rule_id == rule.pk


def test_the_margin_report_refuses_a_backwards_range(admin_client):
    response = admin_client.get(reverse("admin:margin"), {"start": "2026-02-02", "end": "2026-01-01"})
    assert response.status_code == 200 and response.context["total"] is None
    assert "start first" in response.content.decode()


def test_accounts_are_moved_in_bulk_from_the_list_each_audited(admin_client):
    first, _ = make_customer("one@example.com")
    second, _ = make_customer("two@example.com")
    group = group_create(slug="bulk")
    url = reverse("admin:accounts_account_changelist")
    nothing = admin_client.post(url, {"action": "move_to_group", "_selected_action": [first.pk], "group": ""},
                                follow=True)
    assert "Choose the group" in nothing.content.decode()
    response = admin_client.post(url, {"action": "move_to_group", "_selected_action": [first.pk, second.pk],
                                       "group": str(group.pk)}, follow=True)
    assert "Moved 2 account(s)" in response.content.decode()
    assert set(Account.objects.filter(group=group).values_list("pk", flat=True)) == {first.pk, second.pk}
    assert AuditEntry.objects.filter(action="account_group", after={"group": "bulk"}).count() == 2
