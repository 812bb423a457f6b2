"""Dashboard, key spend and the model filter read the rollup for past days and raw rows only since the
last rollup; the numbers equal a computation over every raw row."""

from collections import defaultdict
from datetime import datetime, timedelta

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.portal import selectors
from billing.models import UsageRecord, UsageRollup
from billing.rollups import usage_rollup
from gateway.models import ApiKey

NOW = "2026-03-31 12:00:00+00:00"  # month end: the month starts before the 30-day window


def _row(member, n, *, at, model="gpt-4o", status=200, cost=1_000, key=True):
    api_key = ApiKey.objects.filter(account=member.account).first() if key else None
    row = UsageRecord.objects.create(request_id=f"{member.account.pk}-{n}", account=member.account, api_key=api_key,
                                     model_id=model, status=status, cost_micros=cost)  # fmt: skip
    UsageRecord.objects.filter(pk=row.pk).update(created_at=at)


def _history(member, *, offset=0):
    now = timezone.now()
    n = offset
    for days_ago in (0, 1, 2, 5, 29, 30, 31, 45):
        for hour in (0, 7, 23):
            at = now.replace(hour=hour, minute=30) - timedelta(days=days_ago)
            _row(member, n, at=at, cost=1_000 + n)
            _row(member, n + 1, at=at, model="deepseek-chat", status=502 if hour == 7 else 200, cost=0, key=False)
            _row(member, n + 2, at=at, model="old-model", status=429, cost=7 * n, key=days_ago % 2 == 0)
            n += 3
    return n


def _raw_numbers(account):
    """Everything from raw rows, the slow obvious way."""
    today = timezone.localdate()
    start, month_first = today - timedelta(days=29), today.replace(day=1)
    chart = defaultdict(lambda: [0, 0])
    keys = defaultdict(lambda: [0, 0])
    spend_today = spend_month = requests = errors = 0
    for r in UsageRecord.objects.filter(account=account):
        day = timezone.localdate(r.created_at)
        spend_today += r.cost_micros if day == today else 0
        spend_month += r.cost_micros if day >= month_first else 0
        if day >= start:
            chart[(day, r.model_id)][0] += 1
            chart[(day, r.model_id)][1] += r.cost_micros
            requests += 1
            errors += r.status >= 400
        if r.api_key_id:
            keys[r.api_key_id][0] += r.cost_micros
            keys[r.api_key_id][1] += r.cost_micros if day >= month_first else 0
    return spend_today, spend_month, requests, errors, dict(chart), dict(keys)


def _portal_numbers(account):
    d = selectors.dashboard(account_id=account.pk)
    chart = {}
    for series in d.chart["models"]:
        for label, n, spend in zip(d.chart["labels"], series["requests"], series["spend"], strict=True):
            if n:
                chart[(datetime.fromisoformat(label).date(), series["model"])] = [n, round(float(spend) * 1e6)]
    keys = {
        k.pk: [k.spend_total_micros, k.spend_month_micros]
        for k in selectors.keys_with_spend(account_id=account.pk)
        if k.spend_total_micros
    }
    return d.spend_today_micros, d.spend_month_micros, d.requests_30d, d.errors_30d, chart, keys


@time_machine.travel(NOW, tick=False)
def test_rollup_backed_numbers_equal_the_raw_computation(alice, bob):
    n = _history(alice)
    _history(bob, offset=n)
    before = _portal_numbers(alice.account)  # no rollup yet: all raw
    assert before == _raw_numbers(alice.account)
    today = timezone.localdate()
    for days_ago in range(46, -1, -1):  # the job ran every day, and just now
        usage_rollup(day=today - timedelta(days=days_ago))
    assert UsageRollup.objects.filter(account=alice.account).exists()
    _row(alice, 10_000, at=timezone.now() - timedelta(minutes=5), cost=555)  # after the last run: raw only
    _row(alice, 10_001, at=timezone.now() - timedelta(minutes=4), model="new-model", status=500, cost=0)
    after = _portal_numbers(alice.account)
    assert after == _raw_numbers(alice.account)
    assert after != before and after[0] == before[0] + 555
    models = selectors.usage_model_ids(account_id=alice.account.pk)
    assert {"deepseek-chat", "old-model", "new-model"} <= set(models)


@time_machine.travel(NOW, tick=False)
def test_just_after_midnight_yesterday_is_still_read_raw(alice):
    """The last run was yesterday evening: yesterday's later rows are not in the rollup yet."""
    _history(alice)
    for days_ago in range(46, 0, -1):
        usage_rollup(day=timezone.localdate() - timedelta(days=days_ago))
    UsageRollup.objects.filter(day=timezone.localdate()).delete()
    _row(alice, 20_000, at=timezone.now() - timedelta(days=1) + timedelta(hours=11), cost=999)  # 23:00 yesterday
    assert _portal_numbers(alice.account) == _raw_numbers(alice.account)


@time_machine.travel(NOW, tick=False)
def test_raw_rows_are_read_only_since_the_last_rollup(alice):
    _history(alice)
    today = timezone.localdate()
    for days_ago in range(46, -1, -1):
        usage_rollup(day=today - timedelta(days=days_ago))
    with CaptureQueriesContext(connection) as ctx:
        selectors.dashboard(account_id=alice.account.pk)
        selectors.keys_with_spend(account_id=alice.account.pk)
        selectors.usage_model_ids(account_id=alice.account.pk)
    raw = [q["sql"] for q in ctx.captured_queries if "billing_usagerecord" in q["sql"]]
    assert len(raw) == 3  # one per summary
    for sql in raw:
        assert '"billing_usagerecord"."created_at" >=' in sql, sql
        assert today.isoformat() in sql and (today - timedelta(days=1)).isoformat() not in sql, sql
