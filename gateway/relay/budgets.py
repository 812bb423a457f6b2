"""Team budgets at admission: a key's project and its creator's member budget, per calendar day and month.

The budgets come with the key's cached KeyInfo (catalog.load_key calls for_key), so a key without any
costs nothing here. With budgets, admission asks twice, as for a key's own spend caps
(billing.selectors.key_spend_over_cap): before the hold (cheap refusal) and once the hold exists, tagged
with its key, so requests admitted together see each other and a scope overshoots by one hold at most.

Spend of a scope = the settled cost of its keys' requests in the period + what their open holds reserve.
Periods are calendar days and months in settings.TIME_ZONE, as for key caps. The first refusal of a
period also tells the customer (webhook event `spend.limit_reached`), once per scope and period.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from billing import services as billing
from billing.db import run_db
from billing.models import Hold, UsageRecord
from billing.signals import customer_event
from gateway.models import ApiKey
from gateway.relay import catalog, ratelimit
from gateway.relay.attempts import in_background
from gateway.wire.errors import BudgetExceeded, KeySpendLimitReached

log = logging.getLogger("harnmodel.relay")
LIMIT_REACHED = "spend.limit_reached"
PERIODS = ("daily", "monthly")


@dataclass(frozen=True, slots=True)
class Budget:
    scope: str  # "project" or "member"
    scope_id: int  # the project's id, or the membership's
    label: str  # the project's name or the member's email, for the message
    period: str  # "daily" or "monthly"
    limit_micros: int
    keys: tuple[tuple[str, int], ...]  # ApiKey lookups that select the scope's keys


def for_key(key: ApiKey) -> tuple[Budget, ...]:
    """The budgets a key spends against (called when its KeyInfo is loaded; the key's project is joined)."""
    found: list[Budget] = []
    project = key.project
    lookups: tuple[tuple[str, int], ...]
    if project is not None:
        lookups = (("project_id", project.pk),)
        for period, limit in zip(PERIODS, (project.budget_daily_micros, project.budget_monthly_micros), strict=True):
            if limit is not None:
                found.append(Budget("project", project.pk, project.name, period, limit, lookups))
    if key.created_by_id is not None:
        # The membership is accounts' row: read by its reverse name, never imported (imports point down).
        member = key.created_by.memberships.filter(account_id=key.account_id).values(
            "pk", "budget_daily_micros", "budget_monthly_micros").first()  # fmt: skip
        if member is not None:
            lookups = (("created_by_id", key.created_by_id), ("account_id", key.account_id))
            for period in PERIODS:
                limit = member[f"budget_{period}_micros"]
                if limit is not None:
                    found.append(Budget("member", member["pk"], key.created_by.email, period, limit, lookups))
    return tuple(found)


def period_starts(now: datetime | None = None) -> dict[str, datetime]:
    now = timezone.localtime(now)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"daily": day, "monthly": day.replace(day=1)}


def _key_filter(prefix: str, lookups: tuple[tuple[str, int], ...]) -> Q:
    return Q(**{f"{prefix}{field}": value for field, value in lookups})


@dataclass(frozen=True, slots=True)
class _Closed:
    """A scope's settled spend in this period up to `cut`, from the last full count."""

    cut: datetime
    day: datetime
    month: datetime
    daily: int
    monthly: int


# The settled spend of a period grows only at its end: a full count of the month per request would cost
# O(requests this month) on every admission. So each worker counts everything older than CLOSED_LAG in full
# at most every CLOSED_REFRESH, and each check adds only the records since that cut (an index range over the
# scope's keys). A record older than the lag that commits after a count (a settlement transaction open over a
# minute) would be missed until the period ends: settlements are single short transactions.
CLOSED_LAG = timedelta(seconds=60)
CLOSED_REFRESH = timedelta(seconds=30)
_closed: dict[tuple, _Closed] = {}
_MAX_CLOSED = 10_000


def _usage(lookups: tuple[tuple[str, int], ...], since: datetime, day: datetime, until: datetime | None = None):
    records = UsageRecord.objects.filter(_key_filter("api_key__", lookups), created_at__gte=since)
    if until is not None:
        records = records.filter(created_at__lt=until)
    sums = records.aggregate(daily=Sum("cost_micros", filter=Q(created_at__gte=day)), monthly=Sum("cost_micros"))
    return sums["daily"] or 0, sums["monthly"] or 0


def settled_micros(lookups: tuple[tuple[str, int], ...], now: datetime | None = None) -> dict[str, int]:
    """{"daily": µ, "monthly": µ}: what the scope's settled requests cost this calendar day and month."""
    now = now or timezone.now()
    starts = period_starts(now)
    day, month = starts["daily"], starts["monthly"]
    closed = _closed.get(lookups)
    if closed is None or (closed.day, closed.month) != (day, month) or closed.cut < now - CLOSED_LAG - CLOSED_REFRESH:
        cut = max(now - CLOSED_LAG, month)
        closed = _Closed(cut, day, month, *_usage(lookups, month, day, until=cut))
        if len(_closed) >= _MAX_CLOSED:
            _closed.clear()
        _closed[lookups] = closed
    live_daily, live_monthly = _usage(lookups, closed.cut, day)
    return {"daily": closed.daily + live_daily, "monthly": closed.monthly + live_monthly}


def forget_spend() -> None:
    _closed.clear()


def spend_micros(lookups: tuple[tuple[str, int], ...], *, exclude_request_id: str | None = None) -> dict[str, int]:
    """{"daily": µ, "monthly": µ} a scope spent this day and month, open holds included."""
    settled = settled_micros(lookups)
    holds = Hold.objects.filter(_key_filter("api_key__", lookups), status=Hold.Status.OPEN)
    if exclude_request_id is not None:
        holds = holds.exclude(request_id=exclude_request_id)
    in_flight = holds.aggregate(s=Sum("amount_micros"))["s"] or 0
    return {period: settled[period] + in_flight for period in PERIODS}


def spend_by(field: str, ids: list[int], **extra) -> dict[int, dict[str, int]]:
    """Settled spend this day and month per value of an ApiKey field (project_id, created_by_id) in one
    query, for pages that list projects or members: {id: {"daily": µ, "monthly": µ}}."""
    starts = period_starts()
    rows = (UsageRecord.objects.filter(**{f"api_key__{field}__in": ids}, created_at__gte=starts["monthly"],
                                       **{f"api_key__{k}": v for k, v in extra.items()})
            .values(f"api_key__{field}")
            .annotate(daily=Sum("cost_micros", filter=Q(created_at__gte=starts["daily"])), monthly=Sum("cost_micros")))  # fmt: skip
    spend = {i: {"daily": 0, "monthly": 0} for i in ids}
    for row in rows:
        spend[row[f"api_key__{field}"]] = {"daily": row["daily"] or 0, "monthly": row["monthly"] or 0}
    return spend


def over_budget(budgets: tuple[Budget, ...], *, api_key_id: int, hold_request_id: str | None = None) -> Budget | None:
    """The first budget used up, or None. With `hold_request_id` the hold is first tagged with its key
    (so the others' checks count it), then left out of this one's own check."""
    if hold_request_id is not None:
        Hold.objects.filter(request_id=hold_request_id).update(api_key_id=api_key_id)
    spent: dict[tuple, dict[str, int]] = {}
    for budget in budgets:
        if budget.keys not in spent:
            spent[budget.keys] = spend_micros(budget.keys, exclude_request_id=hold_request_id)
        if spent[budget.keys][budget.period] >= budget.limit_micros:
            return budget
    return None


def _refusal(budget: Budget) -> BudgetExceeded:
    what = f"project '{budget.label}'" if budget.scope == "project" else f"member {budget.label}"
    return BudgetExceeded(f"The {what} has reached its {budget.period} budget.")


async def admit(key: catalog.KeyInfo) -> None:
    """Before the hold: refuse a key whose project or member budget is already used up."""
    budget = await run_db(over_budget, key.budgets, api_key_id=key.id)
    if budget is not None:
        _tell(key.account_id, budget.scope, budget.scope_id, budget.period, budget.limit_micros)
        raise _refusal(budget)


async def recheck(key: catalog.KeyInfo, request_id: str, model_id: str, price, limits) -> None:
    """With the hold taken: over a budget now, the request gives its hold back (a 402 usage record, cost 0)."""
    budget = await run_db(over_budget, key.budgets, api_key_id=key.id, hold_request_id=request_id)
    if budget is None:
        return
    facts = billing.RequestFacts(account_id=key.account_id, model_id=model_id, api_key_id=key.id, status=402,
                                 error_code=BudgetExceeded.code)  # fmt: skip
    try:
        await run_db(billing.hold_settle, request_id=request_id, usage=None, price=price, facts=facts)
    finally:
        await ratelimit.finish(limits, 0)
    _tell(key.account_id, budget.scope, budget.scope_id, budget.period, budget.limit_micros)
    raise _refusal(budget)


def key_cap_reached(key: catalog.KeyInfo, which: str) -> KeySpendLimitReached:
    """The pipeline's refusal for a key's own cap ("total", "daily", "monthly"), told to the customer once."""
    limit = dict(zip(("total", "daily", "monthly"), key.spend_caps, strict=True)).get(which)
    _tell(key.account_id, "key", key.id, which, limit)
    return KeySpendLimitReached(f"This API key has reached its {which} spend limit.")


# --- telling the customer, once per scope and period -----------------------------------------------

_told: set[str] = set()  # once-keys this worker already sent: later refusals cost nothing
_MAX_TOLD = 10_000


def once_key(scope: str, scope_id: int, period: str, now: datetime | None = None) -> str:
    start = period_starts(now)[period].date().isoformat() if period in PERIODS else "all"
    return f"{LIMIT_REACHED}:{scope}:{scope_id}:{period}:{start}"


def _tell(account_id: int, scope: str, scope_id: int, period: str, limit_micros: int | None) -> None:
    once = once_key(scope, scope_id, period)
    if once in _told:
        return
    if len(_told) >= _MAX_TOLD:
        _told.clear()
    _told.add(once)
    data = {"scope": scope, "id": scope_id, "period": period, "limit_micros": limit_micros}
    in_background(_send(account_id, data, once))


async def _send(account_id: int, data: dict, once: str) -> None:
    """Other workers may send the same event: the receiver keeps one per `once` (a stable message id)."""
    try:
        await run_db(customer_event.send, sender=None, account_id=account_id, event_type=LIMIT_REACHED, data=data,
                     once=once)  # fmt: skip
    except Exception:
        log.exception("could not record the spend.limit_reached event")
