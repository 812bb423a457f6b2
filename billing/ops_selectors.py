"""Money at a glance for the operator console: read-only, bounded queries, integers of micros."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import LedgerEntry, UsageRecord, UsageRollup


@dataclass(frozen=True, slots=True)
class CustomerSpend:
    account_id: int
    name: str
    email: str
    spend_micros: int


def _start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def revenue_today_micros() -> int:
    """What customers were charged since local midnight: charge entries are negative, revenue is not."""
    total = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, created_at__gte=_start_of_today()).aggregate(
        s=Sum("amount_micros")
    )["s"]
    return -(total or 0)


@dataclass(frozen=True, slots=True)
class UpstreamCost:
    known_micros: int  # what channels charged us today, where their cost price is known
    uncosted_revenue_micros: int  # revenue from requests whose channel has no cost price (no margin known)


def upstream_cost_today() -> UpstreamCost:
    """Today's upstream cost from the usage records, each costed at its channel's price when it settled."""
    totals = UsageRecord.objects.filter(created_at__gte=_start_of_today()).aggregate(
        known=Sum("upstream_cost_micros"),
        uncosted=Sum("cost_micros", filter=Q(upstream_cost_micros__isnull=True)),
    )
    return UpstreamCost(known_micros=totals["known"] or 0, uncosted_revenue_micros=totals["uncosted"] or 0)


def top_customers_today(*, limit: int = 5) -> list[CustomerSpend]:
    rows = (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, created_at__gte=_start_of_today())
        .values("wallet__account_id", "wallet__account__name", "wallet__account__email")
        .annotate(total=Sum("amount_micros"))
        .order_by("total")[:limit]  # most negative first = biggest spender
    )
    return [
        CustomerSpend(r["wallet__account_id"], r["wallet__account__name"], r["wallet__account__email"], -r["total"])
        for r in rows
    ]


def spend_per_day(*, days: int = 30) -> list[tuple[date, int]]:
    """Cost per day for the last `days` days, oldest first, every day present (zero if quiet).

    Days the rollup job already summed come from UsageRollup; the others (today, or every day when
    the job never ran) are aggregated from UsageRecord."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    spend: dict[date, int] = dict(
        UsageRollup.objects.filter(day__gte=first, day__lte=today)
        .values_list("day")
        .annotate(total=Sum("cost_micros"))
        .values_list("day", "total")
    )
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    raw = (
        UsageRecord.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(total=Sum("cost_micros"))
        .values_list("day", "total")
    )
    for day, total in raw:
        spend.setdefault(day, total or 0)
    return [(first + timedelta(days=i), spend.get(first + timedelta(days=i), 0) or 0) for i in range(days)]
