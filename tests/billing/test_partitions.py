"""Usage records partitioned by month on PostgreSQL (migration 0016, billing/partitions.py): rows land in their
month, months are created ahead (moving what the default partition caught), and retention drops whole months."""

from datetime import UTC, date, datetime

import pytest
from django.db import connection

from billing import partitions, retention
from billing.models import UsageRecord, UsageRollup
from tests.billing.test_rollups_alerts import record, rollup_rows

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL's; on SQLite retention deletes rows (test_retention.py)")


def where(record_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM billing_usagerecord WHERE id = %s", [record_id])
        return cursor.fetchone()[0]


def test_the_table_is_partitioned_with_months_ahead_and_a_default():
    assert partitions.partitioned()
    this = partitions.Month.of(date.today())
    assert {this.plus(n) for n in range(4)} <= set(partitions.months())
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partitions.DEFAULT])
        assert cursor.fetchone()[0]


def test_a_record_lands_in_its_month_and_ids_keep_counting(alice):
    now = datetime.now(UTC)
    first = record(alice.account, now)
    second = record(alice.account, now)
    assert where(first.pk) == partitions.Month.of(now.date()).name
    assert second.pk == first.pk + 1


def test_a_new_month_takes_over_what_the_default_partition_caught(alice):
    stray = record(alice.account, datetime(2031, 1, 15, tzinfo=UTC))  # no partition that far ahead
    assert where(stray.pk) == partitions.DEFAULT

    created = partitions.ensure_months(today=date(2031, 1, 2), ahead=1)

    assert created == ["billing_usagerecord_y2031m01", "billing_usagerecord_y2031m02"]
    assert where(stray.pk) == "billing_usagerecord_y2031m01"
    assert UsageRecord.objects.get(pk=stray.pk).request_id == stray.request_id
    assert partitions.ensure_months(today=date(2031, 1, 2), ahead=1) == []  # idempotent


def test_retention_drops_whole_months_and_deletes_the_rest(alice, settings):
    settings.HARNMODEL_RETAIN_USAGE_DAYS = 62
    partitions.ensure_months(today=date(2025, 2, 1), ahead=2)  # Feb, Mar, Apr 2025
    feb = record(alice.account, datetime(2025, 2, 20, tzinfo=UTC), cost=3)
    mar = record(alice.account, datetime(2025, 3, 31, 23, tzinfo=UTC), cost=5)
    apr_old = record(alice.account, datetime(2025, 4, 8, tzinfo=UTC), cost=7)
    apr_kept = record(alice.account, datetime(2025, 4, 9, 1, tzinfo=UTC), cost=11)

    with connection.cursor() as cursor:  # the rows' deferred FK checks, due at a commit this test never makes
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    done = retention.purge(now=datetime(2025, 6, 10, 12, tzinfo=UTC))  # horizon 2025-04-09

    assert done.partitions_dropped == ["billing_usagerecord_y2025m02", "billing_usagerecord_y2025m03"]
    assert done.usage_records == 1  # April's old row, by DELETE: its month is still partly kept
    assert list(UsageRecord.objects.filter(created_at__year=2025).values_list("pk", flat=True)) == [apr_kept.pk]
    assert where(apr_kept.pk) == "billing_usagerecord_y2025m04"
    # every purged day was rolled up before its rows went
    assert rollup_rows(date(2025, 2, 20)) == {(alice.account.pk, None, "gpt-4o"): (1, 0, 100, 20, 50, 5, 3)}
    assert UsageRollup.objects.filter(day=date(2025, 3, 31)).get().cost_micros == 5
    assert UsageRollup.objects.filter(day=date(2025, 4, 8)).get().cost_micros == 7
    assert {feb.pk, mar.pk, apr_old.pk}.isdisjoint(UsageRecord.objects.values_list("pk", flat=True))
