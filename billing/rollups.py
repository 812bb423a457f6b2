"""Daily usage per (account, API key, model), recomputed from UsageRecord: what charts read.

A day is recomputed whole (delete and insert in one transaction), so running it again, late or
twice, gives the same rows. Days are in settings.TIME_ZONE.
"""

from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from .models import RetentionMark, UsageRecord, UsageRollup

_SUMMED = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_micros",
    "upstream_cost_micros",  # the known part: a request whose channel has no cost price adds nothing
)
_ADVISORY_LOCK_SPACE = 0x68_6D_72_6C  # "hmrl": rollups' own PostgreSQL advisory-lock namespace


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def _serialize_day(day: date) -> None:
    """Two overlapping runs for one day must not interleave their delete and insert: the unique key
    holds a nullable api_key, and NULLs never collide, so both could insert. SQLite's writers are
    already serial (transactions begin IMMEDIATE); PostgreSQL takes a per-day advisory lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ADVISORY_LOCK_SPACE, day.toordinal()])


@transaction.atomic
def usage_rollup(*, day: date) -> int:
    """Recompute one day's rollup rows. Returns how many rows the day has. A day whose raw rows retention
    has purged (billing/retention.py) is final: left as it is."""
    _serialize_day(day)
    start, end = day_bounds(day)
    purged_before = RetentionMark.purged_before_of(RetentionMark.USAGE)
    if purged_before is not None and start < purged_before:
        return UsageRollup.objects.filter(day=day).count()
    groups = (
        UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values("account_id", "api_key_id", "model_id")
        .annotate(
            n_requests=Count("pk"),
            n_errors=Count("pk", filter=Q(status__gte=400)),
            **{f"sum_{name}": Sum(name) for name in _SUMMED},
        )
    )
    rows = [
        UsageRollup(
            day=day,
            account_id=group["account_id"],
            api_key_id=group["api_key_id"],
            model_id=group["model_id"],
            requests=group["n_requests"],
            errors=group["n_errors"],
            **{name: group[f"sum_{name}"] or 0 for name in _SUMMED},
        )
        for group in groups
    ]
    UsageRollup.objects.filter(day=day).delete()
    UsageRollup.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def usage_rollup_recent(*, now: datetime | None = None) -> dict[str, int]:
    """Today, and yesterday: the last run before midnight missed yesterday's final minutes."""
    today = timezone.localdate(now)
    return {str(day): usage_rollup(day=day) for day in (today - timedelta(days=1), today)}
