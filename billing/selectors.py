"""Reads of money state."""

from django.db.models import Sum
from django.utils import timezone

from .models import Hold, LedgerEntry, Price, UsageRecord, Wallet
from .pricing import PriceSnapshot


def price_current(*, model_id: str, at=None) -> Price | None:
    return (
        Price.objects.filter(model_id=model_id, effective_from__lte=at or timezone.now())
        .order_by("-effective_from")
        .first()
    )


def price_snapshot(price: Price) -> PriceSnapshot:
    return PriceSnapshot(
        id=price.pk,
        input_micros=price.input_micros,
        cached_input_micros=price.cached_input_micros,
        output_micros=price.output_micros,
        cache_write_micros=price.cache_write_micros,
        tool_call_micros=tuple(sorted((kind, int(micros)) for kind, micros in (price.tool_call_micros or {}).items())),
    )


def wallet_summary(*, account_id: int) -> dict:
    """Balance, holds and the ledger's own sum, to show or to reconcile."""
    wallet = Wallet.objects.get(account_id=account_id)
    ledger_sum = LedgerEntry.objects.filter(wallet=wallet).aggregate(s=Sum("amount_micros"))["s"] or 0
    open_holds = Hold.objects.filter(wallet=wallet, status=Hold.Status.OPEN).aggregate(s=Sum("amount_micros"))["s"] or 0
    return {
        "balance_micros": wallet.balance_micros,
        "held_micros": wallet.held_micros,
        "available_micros": wallet.balance_micros - wallet.held_micros,
        "ledger_sum_micros": ledger_sum,
        "open_holds_micros": open_holds,
    }


def available_micros(*, account_id: int) -> int:
    """What the wallet can still hold (balance minus open holds); 0 without a wallet."""
    row = Wallet.objects.filter(account_id=account_id).values_list("balance_micros", "held_micros").first()
    return row[0] - row[1] if row else 0


def key_spend_over_cap(
    *, api_key_id: int, caps: tuple[int | None, int | None, int | None], hold_request_id: str | None = None
) -> str | None:
    """Which spend cap of a key is used up: "total", "daily", "monthly", or None.

    Periods are calendar days and months in settings.TIME_ZONE, so caps reset on their own. Spend is
    what the key's settled requests cost plus what its open holds reserve (requests in flight count
    now, in every period), so a burst of concurrent requests cannot run far past a cap.

    Called twice by the pipeline for a capped key: before its hold (cheap refusal), and with
    `hold_request_id` once the hold exists. The hold was written with its key (billing/holds), so
    every check counts it from the moment it exists; this one leaves it out: of the requests admitted
    together, the last one held saw all the others, so the key overshoots a cap by at most one
    request's hold. A read only.
    """
    total_cap, daily_cap, monthly_cap = caps
    now = timezone.localtime()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    holds = Hold.objects.filter(api_key_id=api_key_id, status=Hold.Status.OPEN)
    if hold_request_id is not None:
        holds = holds.exclude(request_id=hold_request_id)
    in_flight = holds.aggregate(s=Sum("amount_micros"))["s"] or 0
    checks = [
        ("total", total_cap, None),
        ("monthly", monthly_cap, day_start.replace(day=1)),
        ("daily", daily_cap, day_start),
    ]
    for name, cap, since in checks:
        if cap is None:
            continue
        records = UsageRecord.objects.filter(api_key_id=api_key_id)
        if since is not None:
            records = records.filter(created_at__gte=since)
        if (records.aggregate(s=Sum("cost_micros"))["s"] or 0) + in_flight >= cap:
            return name
    return None
