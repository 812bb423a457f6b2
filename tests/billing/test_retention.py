"""Retention (billing/retention.py): raw rows past their window go, the rollups of their days stay exact and
final, the ledger is never touched. Both databases (on PostgreSQL whole months go by partition: test_partitions)."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from billing import retention
from billing.models import Hold, LedgerEntry, Receipt, RetentionMark, UsageRecord, UsageRollup
from billing.reconcile import ledger_reconcile
from billing.rollups import usage_rollup
from tests.billing.test_rollups_alerts import record, rollup_rows

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # with 62 days kept, the horizon is 2026-04-09 00:00 UTC


@pytest.fixture(autouse=True)
def windows(settings):
    settings.HARNMODEL_RETAIN_USAGE_DAYS = 62
    settings.HARNMODEL_RETAIN_HOLDS_DAYS = 30


def receipt(account, at: datetime, request_id: str) -> Receipt:
    with time_machine.travel(at, tick=False):
        return Receipt.objects.create(request_id=request_id, account=account, kid="k1", jws="x.y.z")


def hold(wallet, *, status: str, created: datetime, closed: datetime | None) -> Hold:
    with time_machine.travel(created, tick=False):
        return Hold.objects.create(
            wallet=wallet, request_id=f"hold-{created:%m%d%H}-{status}", amount_micros=5, status=status,
            expires_at=created + timedelta(hours=1), closed_at=closed,
        )  # fmt: skip


def test_usage_and_receipts_past_the_horizon_go_after_their_days_are_rolled_up(alice):
    old = [
        record(alice.account, datetime(2026, 3, 5, 9, tzinfo=UTC), cost=100),
        record(alice.account, datetime(2026, 3, 5, 10, tzinfo=UTC), status=502, cost=0),
        record(alice.account, datetime(2026, 4, 8, 23, 59, 59, tzinfo=UTC), cost=7),
    ]
    kept = [
        record(alice.account, datetime(2026, 4, 9, 0, tzinfo=UTC), cost=11),
        record(alice.account, datetime(2026, 6, 1, 8, tzinfo=UTC), cost=13),
    ]
    receipt(alice.account, datetime(2026, 3, 5, 9, tzinfo=UTC), old[0].request_id)
    receipt(alice.account, datetime(2026, 6, 1, 8, tzinfo=UTC), kept[1].request_id)
    assert not UsageRollup.objects.exists()  # the rollup job never ran on those days

    done = retention.purge(now=NOW)

    assert (done.usage_records, done.receipts) == (3, 1)
    assert done.usage_horizon == "2026-04-09T00:00:00+00:00"
    assert done.rollup_days == (date(2026, 4, 9) - date(2026, 3, 5)).days  # every day up to the horizon
    assert sorted(UsageRecord.objects.values_list("pk", flat=True)) == sorted(r.pk for r in kept)
    assert list(Receipt.objects.values_list("request_id", flat=True)) == [kept[1].request_id]
    # the purged days' rollups are what the raw rows said, one last time
    assert rollup_rows(date(2026, 3, 5)) == {(alice.account.pk, None, "gpt-4o"): (2, 1, 200, 40, 100, 10, 100)}
    assert rollup_rows(date(2026, 4, 8)) == {(alice.account.pk, None, "gpt-4o"): (1, 0, 100, 20, 50, 5, 7)}
    assert RetentionMark.objects.get(kind="usage").purged_before == datetime(2026, 4, 9, tzinfo=UTC)


def test_a_purged_day_is_final_a_later_recompute_leaves_it(alice):
    record(alice.account, datetime(2026, 3, 5, 9, tzinfo=UTC), cost=100)
    retention.purge(now=NOW)
    before = rollup_rows(date(2026, 3, 5))

    assert usage_rollup(day=date(2026, 3, 5)) == 1  # not recomputed from nothing
    assert rollup_rows(date(2026, 3, 5)) == before
    record(alice.account, datetime(2026, 4, 9, 1, tzinfo=UTC), cost=5)
    assert usage_rollup(day=date(2026, 4, 9)) == 1  # the horizon's own day is still live


def test_a_second_run_finishes_what_a_crash_left(alice, settings):
    # A run that rolled the day up and recorded the horizon, then died before deleting: the next run deletes
    # the rows (in batches) and leaves the final rollup as it was.
    for hour in range(5):
        record(alice.account, datetime(2026, 3, 5, hour, tzinfo=UTC))
    usage_rollup(day=date(2026, 3, 5))
    RetentionMark.objects.create(kind="usage", purged_before=datetime(2026, 4, 9, tzinfo=UTC))
    settings.HARNMODEL_RETENTION_BATCH = 2  # three DELETE transactions

    done = retention.purge(now=NOW)

    assert (done.usage_records, done.rollup_days) == (5, 0)
    assert retention.purge(now=NOW).usage_records == 0
    assert rollup_rows(date(2026, 3, 5))[(alice.account.pk, None, "gpt-4o")][0] == 5


def test_closed_holds_past_their_window_go_open_holds_never(alice):
    wallet = alice.account.wallet
    long_ago = NOW - timedelta(days=100)
    stale_open = hold(wallet, status=Hold.Status.OPEN, created=long_ago, closed=None)
    settled_old = hold(wallet, status=Hold.Status.SETTLED, created=long_ago, closed=NOW - timedelta(days=31))
    released_recent = hold(wallet, status=Hold.Status.RELEASED, created=long_ago, closed=NOW - timedelta(days=10))
    expired_old = hold(wallet, status=Hold.Status.EXPIRED, created=long_ago, closed=NOW - timedelta(days=45))

    assert retention.purge(now=NOW).holds == 2

    assert set(Hold.objects.values_list("pk", flat=True)) == {stale_open.pk, released_recent.pk}
    assert not {settled_old.pk, expired_old.pk} & set(Hold.objects.values_list("pk", flat=True))


def test_the_ledger_is_never_purged_and_the_books_still_close(alice):
    entries = LedgerEntry.objects.count()
    record(alice.account, datetime(2026, 3, 5, 9, tzinfo=UTC))
    with time_machine.travel(NOW + timedelta(days=800), tick=False):
        retention.purge()
    assert LedgerEntry.objects.count() == entries
    assert ledger_reconcile() == []


def test_dry_run_counts_and_changes_nothing(alice, capsys):
    record(alice.account, datetime(2026, 3, 5, 9, tzinfo=UTC))
    record(alice.account, datetime(2026, 6, 1, 9, tzinfo=UTC))

    with time_machine.travel(NOW, tick=False):
        call_command("retention", "--dry-run")

    assert '"usage_records": 1' in capsys.readouterr().out
    assert UsageRecord.objects.count() == 2
    assert not RetentionMark.objects.exists() and not UsageRollup.objects.exists()


def test_zero_keeps_everything(alice, settings):
    settings.HARNMODEL_RETAIN_USAGE_DAYS = 0
    settings.HARNMODEL_RETAIN_HOLDS_DAYS = 0
    record(alice.account, datetime(2020, 1, 1, tzinfo=UTC))
    hold(alice.account.wallet, status=Hold.Status.SETTLED, created=datetime(2020, 1, 1, tzinfo=UTC),
         closed=datetime(2020, 1, 1, 0, 5, tzinfo=UTC))  # fmt: skip

    done = retention.purge(now=NOW)

    assert (done.usage_records, done.holds, done.usage_horizon) == (0, 0, None)
    assert UsageRecord.objects.count() == 1 and Hold.objects.count() == 1


@pytest.mark.parametrize("name, value", [("HARNMODEL_RETAIN_USAGE_DAYS", "30"), ("HARNMODEL_RETAIN_HOLDS_DAYS", "1")])
def test_a_window_shorter_than_what_reads_raw_rows_is_refused_at_start(name, value):
    env = {**os.environ, name: value}
    done = subprocess.run(
        [sys.executable, "-c", "import harnmodel.settings"], cwd=Path(__file__).resolve().parents[2], env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "ImproperlyConfigured" in done.stderr and name in done.stderr
