"""Reads of the portal. Every query is filtered by the account it is asked about, first thing."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy

from billing import group_selectors
from billing import selectors as billing_selectors
from billing.models import LedgerEntry, Price, UsageRecord, Wallet
from gateway import selectors as gateway_selectors
from gateway.models import ApiKey

from ..models import Account, Invitation, Membership
from . import billing_hooks, usage_totals
from .pagination import Page, keyset_chunks, keyset_page

# What a customer may see of a usage record: never the channel, the upstream model or the attempts
# (they name our upstream accounts).
USAGE_FIELDS = (
    "id",
    "created_at",
    "request_id",
    "api_key_id",
    "api_key__name",
    "api_key__prefix",
    "model_id",
    "stream",
    "status",
    "error_code",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_micros",
    "latency_ms",
    "usage_estimated",
)
# Never `note`: it is the staff's internal text. The customer reads `description`.
LEDGER_FIELDS = ("id", "created_at", "kind", "amount_micros", "balance_after_micros", "description", "request_id",
                 "idempotency_key")
STATUS_CHOICES = ("ok", "error", "400", "401", "402", "403", "404", "429", "499", "500", "502", "503", "504")


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


# --- dashboard ------------------------------------------------------------------------------------


@dataclass
class Dashboard:
    wallet: Wallet
    spend_today_micros: int
    spend_month_micros: int
    requests_30d: int
    errors_30d: int
    low_balance: bool
    threshold_micros: int | None
    chart: dict = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors_30d / self.requests_30d if self.requests_30d else None


def dashboard(*, account_id: int, days: int = 30) -> Dashboard:
    wallet = Wallet.objects.get(account_id=account_id)
    today = timezone.localdate()
    start_day = today - timedelta(days=days - 1)
    month_first = today.replace(day=1)
    days_list = [start_day + timedelta(days=n) for n in range(days)]
    index = {day: n for n, day in enumerate(days_list)}
    per_model: dict[str, dict[str, list]] = {}
    requests = errors = spend_today = spend_month = 0
    # Day × model: past days from the rollup, today (since the last rollup) from raw rows.
    for row in usage_totals.daily(account_id=account_id, since=min(start_day, month_first)):
        day, cost = row["day"], row["cost"] or 0
        if day == today:
            spend_today += cost
        if day >= month_first:
            spend_month += cost
        slot = index.get(day)
        if slot is None:
            continue
        model = per_model.setdefault(row["model_id"], {"requests": [0] * days, "spend": [0] * days})
        model["requests"][slot] += row["requests"]
        model["spend"][slot] += cost
        requests += row["requests"]
        errors += row["errors"] or 0
    threshold = wallet.low_balance_threshold_micros
    if threshold is None:
        threshold = billing_hooks.default_threshold_micros()
    available = wallet.balance_micros - wallet.held_micros
    return Dashboard(
        wallet=wallet,
        spend_today_micros=spend_today,
        spend_month_micros=spend_month,
        requests_30d=requests,
        errors_30d=errors,
        low_balance=available <= 0 or (threshold is not None and available < threshold),
        threshold_micros=threshold,
        chart={
            "labels": [day.isoformat() for day in days_list],
            "models": [
                # Spend as a decimal string of currency units: the chart only draws it.
                {"model": name, "requests": data["requests"], "spend": [str(v / 1_000_000) for v in data["spend"]]}
                for name, data in sorted(per_model.items())
            ],
        },
    )


# --- usage ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageFilter:
    start: date | None = None
    end: date | None = None
    key_id: int | None = None
    model: str = ""
    status: str = ""
    request_id: str = ""  # the full id (x-request-id): one row, through the unique index


def usage_queryset(*, account_id: int, flt: UsageFilter) -> QuerySet[UsageRecord]:
    qs = UsageRecord.objects.filter(account_id=account_id)
    if flt.start:
        qs = qs.filter(created_at__gte=_day_start(flt.start))
    if flt.end:
        qs = qs.filter(created_at__lt=_day_start(flt.end + timedelta(days=1)))
    if flt.request_id:
        qs = qs.filter(request_id=flt.request_id)
    if flt.key_id:
        qs = qs.filter(api_key_id=flt.key_id)
    if flt.model:
        qs = qs.filter(model_id=flt.model)
    if flt.status == "ok":
        qs = qs.filter(status__lt=400)
    elif flt.status == "error":
        qs = qs.filter(status__gte=400)
    elif flt.status.isdigit():
        qs = qs.filter(status=int(flt.status))
    return qs


def usage_page(*, account_id: int, flt: UsageFilter, after: str | None, before: str | None, size: int = 50) -> Page:
    return keyset_page(
        usage_queryset(account_id=account_id, flt=flt), after=after, before=before, size=size, fields=USAGE_FIELDS
    )


def usage_rows(*, account_id: int, flt: UsageFilter, chunk: int = 2000):
    """Every matching row, newest first, in chunks (for the CSV export)."""
    return keyset_chunks(usage_queryset(account_id=account_id, flt=flt), fields=USAGE_FIELDS, size=chunk)


def usage_record(*, account_id: int, request_id: str) -> dict | None:
    return UsageRecord.objects.filter(account_id=account_id, request_id=request_id).values(*USAGE_FIELDS).first()


def usage_model_ids(*, account_id: int) -> list[str]:
    """Models to filter by: the catalog's plus any this account used in 90 days (a model since retired)."""
    catalog = set(gateway_selectors.models_enabled().values_list("public_id", flat=True))
    recent = usage_totals.model_ids_since(account_id=account_id, since=timezone.localdate() - timedelta(days=90))
    return sorted(catalog | recent)


# --- keys -----------------------------------------------------------------------------------------


def keys_with_spend(*, account_id: int) -> list[ApiKey]:
    keys = list(
        gateway_selectors.keys_of_account(account_id=account_id).select_related("project").order_by("-created_at")
    )
    spend = usage_totals.spend_per_key(account_id=account_id, month_first=timezone.localdate().replace(day=1))
    now = timezone.now()
    for key in keys:
        key.spend_total_micros = (spend.get(key.pk) or {}).get("total") or 0
        key.spend_month_micros = (spend.get(key.pk) or {}).get("month") or 0
        key.state = "revoked" if key.revoked_at else "expired" if key.expires_at and key.expires_at <= now else "active"
    return keys


def key_of_account(*, account_id: int, key_id: int) -> ApiKey:
    return gateway_selectors.keys_of_account(account_id=account_id).get(pk=key_id)


# --- billing --------------------------------------------------------------------------------------


def ledger_page(*, account_id: int, after: str | None, before: str | None, size: int = 50) -> Page:
    """Top-ups, codes, credits, refunds and adjustments one by one; charges (one per request) are
    summed per day by charges_by_day instead, or they would bury everything else."""
    qs = LedgerEntry.objects.filter(wallet__account_id=account_id).exclude(kind=LedgerEntry.Kind.CHARGE)
    page = keyset_page(qs, after=after, before=before, size=size, fields=LEDGER_FIELDS)
    for row in page.rows:
        disputed = row["idempotency_key"].startswith("dispute:")  # a charge given back (billing/disputes.py)
        row["details"] = row["description"] or (
            _DISPUTE_REFUND_TEXT if disputed else _LEDGER_DEFAULT_TEXT.get(row["kind"], "")
        )
    return page


# What the customer reads for an entry that has no customer text of its own.
_DISPUTE_REFUND_TEXT = gettext_lazy("Refund of a disputed charge")
_LEDGER_DEFAULT_TEXT = {
    LedgerEntry.Kind.CREDIT: gettext_lazy("Credit"),
    LedgerEntry.Kind.TOPUP: gettext_lazy("Top-up"),
    LedgerEntry.Kind.REDEEM: gettext_lazy("Redeemed code"),
    LedgerEntry.Kind.ADJUST: gettext_lazy("Balance adjustment"),
    LedgerEntry.Kind.REFUND: gettext_lazy("Refund"),
}


def charges_by_day(*, account_id: int, days: int = 30) -> list[dict]:
    """[{day, count, amount_micros (negative)}] of the ledger's charges, newest day first, days with charges only."""
    since = _day_start(timezone.localdate() - timedelta(days=days - 1))
    return list(
        LedgerEntry.objects.filter(wallet__account_id=account_id, kind=LedgerEntry.Kind.CHARGE, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day")
        .annotate(count=Count("id"), amount_micros=Sum("amount_micros"))
        .order_by("-day")
    )


def wallet_of(*, account_id: int) -> dict:
    summary = billing_selectors.wallet_summary(account_id=account_id)
    wallet = Wallet.objects.get(account_id=account_id)
    summary["threshold_micros"] = wallet.low_balance_threshold_micros
    return summary


# --- catalog --------------------------------------------------------------------------------------


def models_with_prices(*, account_id: int | None = None) -> list[dict]:
    """Enabled models and their current prices; for an account, only its group's models, at its group's price."""
    models = list(gateway_selectors.models_enabled().order_by("public_id"))
    now = timezone.now()
    current: dict[str, Price] = {}
    # Newest effective version per model, in one query (catalogs are small; versions few).
    for price in Price.objects.filter(model_id__in=[m.public_id for m in models], effective_from__lte=now).order_by(
        "model_id", "-effective_from"
    ):
        current.setdefault(price.model_id, price)
    if account_id is None:
        return [{"model": model, "price": current.get(model.public_id)} for model in models]
    terms = group_selectors.group_terms(Account.objects.values_list("group_id", flat=True).get(pk=account_id))
    return [
        {"model": model, "price": price and group_selectors.price_shown(price, terms, model.public_id)}
        for model in models
        if terms.allows(model.public_id)
        for price in [current.get(model.public_id)]
    ]


# --- members --------------------------------------------------------------------------------------


def members(*, account_id: int) -> list[Membership]:
    return list(Membership.objects.filter(account_id=account_id).select_related("user").order_by("created_at"))


def invitations_pending(*, account_id: int) -> list[Invitation]:
    return list(
        Invitation.objects.filter(
            account_id=account_id, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        ).order_by("-created_at")
    )
