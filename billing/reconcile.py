"""Proof that the books add up: every wallet's balance is the sum of its ledger, and what it holds
is the sum of its open holds. A drift means money moved outside the services (or a bug in them)."""

from dataclasses import asdict, dataclass

from django.db.models import BigIntegerField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import Hold, LedgerEntry, Wallet


@dataclass(frozen=True, slots=True)
class Drift:
    wallet_id: int
    account_id: int
    balance_micros: int
    ledger_sum_micros: int
    held_micros: int
    open_holds_micros: int

    @property
    def balance_drift_micros(self) -> int:
        return self.balance_micros - self.ledger_sum_micros

    @property
    def held_drift_micros(self) -> int:
        return self.held_micros - self.open_holds_micros

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "balance_drift_micros": self.balance_drift_micros,
            "held_drift_micros": self.held_drift_micros,
        }


def _sum_of(queryset, field: str) -> Coalesce:
    total = queryset.order_by().values("wallet_id").annotate(s=Sum(field)).values("s")
    return Coalesce(Subquery(total), Value(0), output_field=BigIntegerField())


def ledger_reconcile() -> list[Drift]:
    """Every wallet whose balance or held amount disagrees with its ledger or open holds.

    One statement, so the wallet row and the sums come from the same snapshot: a charge committing
    while this runs cannot show up as a false drift.
    """
    ledger = LedgerEntry.objects.filter(wallet_id=OuterRef("pk"))
    holds = Hold.objects.filter(wallet_id=OuterRef("pk"), status=Hold.Status.OPEN)
    rows = (
        Wallet.objects.annotate(ledger_sum=_sum_of(ledger, "amount_micros"), open_holds=_sum_of(holds, "amount_micros"))
        .exclude(balance_micros=F("ledger_sum"), held_micros=F("open_holds"))  # NOT (both agree)
        .values_list("pk", "account_id", "balance_micros", "ledger_sum", "held_micros", "open_holds")
        .order_by("pk")
    )
    return [Drift(*row) for row in rows]
