"""The margin report: revenue − upstream cost by customer group, channel and model over a date range.

Revenue is what requests were charged (UsageRecord.cost_micros); upstream cost is what their channel
charged us at its cost price when they settled (upstream_cost_micros). Revenue on a channel without a
cost price has no known margin: it is shown apart, never guessed. A request is counted under the group
whose rule priced it; one priced under no rule (its group never had terms) under its account's group.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import UsageRecord

DIMENSIONS = ("group", "channel", "model")
MAX_DAYS = 366  # a report reads at most a year of usage rows


@dataclass(frozen=True, slots=True)
class MarginRow:
    group: str
    channel: str
    model: str
    requests: int
    revenue_micros: int
    upstream_cost_micros: int  # where the channel's cost price is known
    uncosted_revenue_micros: int  # revenue on channels without a cost price

    @property
    def margin_micros(self) -> int:
        return self.revenue_micros - self.uncosted_revenue_micros - self.upstream_cost_micros

    @property
    def margin_ppm(self) -> int | None:
        """Margin as a share of the costed revenue, in ppm (integer); None when none of it is costed."""
        costed = self.revenue_micros - self.uncosted_revenue_micros
        return self.margin_micros * 1_000_000 // costed if costed > 0 else None


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Local calendar days, `end` included."""
    zone = timezone.get_current_timezone()
    return (datetime.combine(start, time.min, tzinfo=zone),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone))


def margin_report(*, start: date, end: date, by: tuple[str, ...] = DIMENSIONS) -> tuple[list[MarginRow], MarginRow]:
    """Rows per combination of the `by` dimensions, biggest revenue first, and the total over all of them."""
    if end < start or (end - start).days >= MAX_DAYS:
        raise ValueError(f"a report covers 1 to {MAX_DAYS} days")
    if not by or set(by) - set(DIMENSIONS):
        raise ValueError(f"group by one or more of {', '.join(DIMENSIONS)}")
    since, until = _bounds(start, end)
    fields = {
        "group": Coalesce(F("group_rule__group__slug"), F("account__group__slug")),
        "channel": F("channel__name"),
        "model": F("model_id"),
    }
    keys = {name: fields[name] for name in by}
    rows = (
        UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until)
        .values(**{f"k_{name}": expr for name, expr in keys.items()})
        .annotate(
            requests=Count("id"),
            revenue=Sum("cost_micros"),
            known=Sum("upstream_cost_micros"),
            uncosted=Sum("cost_micros", filter=Q(upstream_cost_micros__isnull=True)),
        )
        .order_by("-revenue")
    )
    result = [
        MarginRow(
            group=row.get("k_group") or ("" if "group" not in by else "—"),
            channel=row.get("k_channel") or ("" if "channel" not in by else "—"),
            model=row.get("k_model") or "",
            requests=row["requests"],
            revenue_micros=row["revenue"] or 0,
            upstream_cost_micros=row["known"] or 0,
            uncosted_revenue_micros=row["uncosted"] or 0,
        )
        for row in rows
    ]
    total = MarginRow(
        group="", channel="", model="",
        requests=sum(r.requests for r in result),
        revenue_micros=sum(r.revenue_micros for r in result),
        upstream_cost_micros=sum(r.upstream_cost_micros for r in result),
        uncosted_revenue_micros=sum(r.uncosted_revenue_micros for r in result),
    )
    return result, total
