"""Dashboard: balance first, spend today / this month, per-day per-model series, error rate."""

from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from billing.models import UsageRecord
from billing.services import wallet_credit


def _record(member, *, days_ago=0, model="gpt-4o", status=200, cost=1_000_000):
    row = UsageRecord.objects.create(request_id=f"r{UsageRecord.objects.count()}", account=member.account,
                                     model_id=model, status=status, cost_micros=cost)  # fmt: skip
    UsageRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))


@time_machine.travel("2026-03-20 12:00:00+00:00", tick=False)
def test_dashboard_numbers(alice):
    _record(alice, cost=1_500_000)
    _record(alice, model="deepseek-chat", status=502, cost=0)
    _record(alice, days_ago=3, cost=2_000_000)
    _record(alice, days_ago=25, cost=4_000_000)  # last month, still in the 30-day window
    _record(alice, days_ago=40, cost=8_000_000)  # outside everything
    response = alice.client.get(reverse("portal:dashboard"))
    data = response.context["d"]
    assert data.spend_today_micros == 1_500_000
    assert data.spend_month_micros == 3_500_000
    assert (data.requests_30d, data.errors_30d) == (4, 1)
    chart = data.chart
    assert len(chart["labels"]) == 30 and chart["labels"][-1] == "2026-03-20"
    series = {m["model"]: m for m in chart["models"]}
    assert series["gpt-4o"]["requests"][-1] == 1 and series["gpt-4o"]["requests"][-4] == 1
    assert series["gpt-4o"]["spend"][-1] == "1.5"
    assert series["deepseek-chat"]["requests"][-1] == 1
    body = response.content.decode()
    assert body.index("¥100.00") < body.index("¥1.50")  # balance comes first
    assert "25%" in body and 'id="chart-data"' in body


def test_low_balance_banner_below_the_platform_default(bob, settings):
    settings.HARNMODEL_LOW_BALANCE_DEFAULT = "10"
    assert "Low balance." not in bob.client.get(reverse("portal:dashboard")).content.decode()  # ¥100
    wallet_credit(account_id=bob.account.pk, amount_micros=-95_000_000, idempotency_key="t:spend")
    assert "Low balance." in bob.client.get(reverse("portal:dashboard")).content.decode()
