"""Reads of money state."""

from django.db.models import Sum
from django.utils import timezone

from .models import Hold, LedgerEntry, Price, Wallet
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
