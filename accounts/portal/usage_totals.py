"""Usage totals for the portal's summaries (dashboard, key spend, the model filter) that stay fast at
millions of rows: past days come from billing.UsageRollup, only the newest day(s) from UsageRecord.

The rollup job (billing.tasks.rollup_usage, every 10 minutes) recomputes *today and yesterday* whole on
each run. So once it has summed day D, every day before D is final, and D itself may still grow. The
boundary is therefore the newest rolled-up day: days before it are read from the rollup, rows from its
first instant on are read raw. While the job runs, that is today only (just after midnight, until the
first run, yesterday too). If the job never ran there is no boundary and everything is read raw, as
before. A day the job skipped entirely (the job stopped for days) stays missing until it is backfilled
with billing.rollups.usage_rollup(day=...).
"""

from collections.abc import Iterator
from datetime import date, datetime

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import UsageRecord, UsageRollup


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def rollup_boundary() -> date | None:
    """The first day read from raw rows (None: the rollup never ran, read everything raw).

    MAX(day) is one probe of the rollup's unique index, which leads with `day`."""
    last = UsageRollup.objects.aggregate(last=Max("day"))["last"]
    return None if last is None else min(last, timezone.localdate())


def _raw(account_id: int, boundary: date | None, since: date | None):
    start = max(d for d in (boundary, since) if d is not None) if boundary or since else None
    qs = UsageRecord.objects.filter(account_id=account_id)
    return qs.filter(created_at__gte=day_start(start)) if start is not None else qs


def _rolled(account_id: int, boundary: date | None, since: date | None):
    if boundary is None or (since is not None and since >= boundary):
        return None
    qs = UsageRollup.objects.filter(account_id=account_id, day__lt=boundary)
    return qs.filter(day__gte=since) if since is not None else qs


def daily(*, account_id: int, since: date, by: str = "model_id") -> Iterator[dict]:
    """Rows {day, <by>, requests, errors, cost} for days >= since. A (day, <by>) pair comes from one
    source only, but callers should still add rows up rather than assume one row per pair."""
    boundary = rollup_boundary()
    rolled = _rolled(account_id, boundary, since)
    if rolled is not None:
        yield from (
            rolled.order_by()
            .values("day", by)
            .annotate(requests=Sum("requests"), errors=Sum("errors"), cost=Sum("cost_micros"))
        )
    yield from (
        _raw(account_id, boundary, since)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day", by)
        .annotate(requests=Count("id"), errors=Count("id", filter=Q(status__gte=400)), cost=Sum("cost_micros"))
    )


def spend_per_key(*, account_id: int, month_first: date) -> dict[int, dict[str, int]]:
    """{api_key_id: {"total": all-time cost, "month": cost since month_first}}."""
    boundary = rollup_boundary()
    result: dict[int, dict[str, int]] = {}

    def add(rows) -> None:
        for row in rows:
            slot = result.setdefault(row["api_key_id"], {"total": 0, "month": 0})
            slot["total"] += row["total"] or 0
            slot["month"] += row["month"] or 0

    rolled = _rolled(account_id, boundary, None)
    if rolled is not None:
        add(
            rolled.filter(api_key_id__isnull=False)
            .order_by()
            .values("api_key_id")
            .annotate(total=Sum("cost_micros"), month=Sum("cost_micros", filter=Q(day__gte=month_first)))
        )
    add(
        _raw(account_id, boundary, None)
        .filter(api_key_id__isnull=False)
        .order_by()
        .values("api_key_id")
        .annotate(total=Sum("cost_micros"), month=Sum("cost_micros", filter=Q(created_at__gte=day_start(month_first))))
    )
    return result


def model_ids_since(*, account_id: int, since: date) -> set[str]:
    """Models this account used on or after `since`."""
    boundary = rollup_boundary()
    found: set[str] = set()
    rolled = _rolled(account_id, boundary, since)
    if rolled is not None:
        found.update(rolled.order_by().values_list("model_id", flat=True).distinct())
    found.update(_raw(account_id, boundary, since).order_by().values_list("model_id", flat=True).distinct())
    return found
