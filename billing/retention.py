"""Retention: raw rows behind the rollups are deleted once nothing reads them, so storage stays flat.

What goes (settings HARNMODEL_RETAIN_*; the hourly task `billing.tasks.retention_run` and `manage.py retention`):
- usage records and receipts created before the usage horizon (the start of the local day
  HARNMODEL_RETAIN_USAGE_DAYS ago). First every day being purged gets its rollup recomputed from the raw rows
  one last time, then the horizon is recorded (RetentionMark: rollups of earlier days are final from then on,
  billing/rollups.py), then the rows go: whole months by dropping their partition on PostgreSQL
  (billing/partitions.py), the rest in DELETEs of HARNMODEL_RETENTION_BATCH rows, each its own transaction.
  A crash anywhere leaves a state the next run finishes.
- closed holds (settled, released, expired) closed more than HARNMODEL_RETAIN_HOLDS_DAYS ago. Open holds
  never: the sweeper closes them.
What stays: the ledger, whole (balance = Σ ledger; a dispute cites its charge), and the rollups.
"""

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from . import partitions, rollups
from .models import Hold, Receipt, RetentionMark, UsageRecord

USAGE = RetentionMark.USAGE


@dataclass
class Purged:
    usage_horizon: str | None = None
    rollup_days: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    usage_records: int = 0
    receipts: int = 0
    holds: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def usage_horizon(now: datetime) -> datetime | None:
    """Usage records and receipts created before this go; None: kept forever."""
    days = settings.HARNMODEL_RETAIN_USAGE_DAYS
    if not days:
        return None
    return rollups.day_bounds(timezone.localdate(now) - timedelta(days=days))[0]


def _delete(queryset: models.QuerySet, *, dry_run: bool) -> int:
    """Delete in batches, each its own short transaction (no long lock, no giant WAL burst)."""
    if dry_run:
        return queryset.count()
    total = 0
    batch = settings.HARNMODEL_RETENTION_BATCH
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            total += queryset.filter(pk__in=ids).delete()[0]


def _final_rollups(horizon: datetime) -> int:
    """Recompute, from the raw rows, every day about to lose them (days already purged are final)."""
    before = UsageRecord.objects.filter(created_at__lt=horizon).order_by("created_at")
    oldest = before.values_list("created_at", flat=True).first()
    if oldest is None:
        return 0
    day: date = timezone.localtime(oldest).date()
    mark = RetentionMark.purged_before_of(USAGE)
    if mark is not None:
        day = max(day, timezone.localtime(mark).date())
    last = timezone.localtime(horizon).date()
    count = 0
    while day < last:
        rollups.usage_rollup(day=day)
        day += timedelta(days=1)
        count += 1
    return count


def _purge_usage(horizon: datetime, result: Purged, *, dry_run: bool) -> None:
    result.usage_horizon = horizon.isoformat()
    if not dry_run:
        result.rollup_days = _final_rollups(horizon)
        with transaction.atomic():
            mark, created = RetentionMark.objects.select_for_update().get_or_create(
                kind=USAGE, defaults={"purged_before": horizon}
            )
            if not created and mark.purged_before < horizon:
                mark.purged_before = horizon
                mark.save(update_fields=["purged_before", "updated_at"])
        result.partitions_dropped = partitions.drop_months_before(horizon)
    result.usage_records = _delete(UsageRecord.objects.filter(created_at__lt=horizon), dry_run=dry_run)
    result.receipts = _delete(Receipt.objects.filter(created_at__lt=horizon), dry_run=dry_run)


def purge(*, now: datetime | None = None, dry_run: bool = False) -> Purged:
    now = now or timezone.now()
    result = Purged(dry_run=dry_run)
    horizon = usage_horizon(now)
    if horizon is not None:
        _purge_usage(horizon, result, dry_run=dry_run)
    if settings.HARNMODEL_RETAIN_HOLDS_DAYS:
        closed = Hold.objects.exclude(status=Hold.Status.OPEN).filter(
            closed_at__lt=now - timedelta(days=settings.HARNMODEL_RETAIN_HOLDS_DAYS)
        )
        result.holds = _delete(closed, dry_run=dry_run)
    return result


def maintain(*, now: datetime | None = None) -> dict:
    """The hourly task: the coming months' partitions exist, then the purge."""
    now = now or timezone.now()
    created = partitions.ensure_months(today=now.date(), ahead=settings.HARNMODEL_USAGE_PARTITIONS_AHEAD)
    return {"partitions_created": created, **purge(now=now).as_dict()}
