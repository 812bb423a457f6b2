"""Monthly statements, rolled up from the ledger alone: the opening balance (Σ of every entry before
the month), every entry of the month, totals by kind, the closing balance. closing − opening = Σ entries
of the month, to the micro, by construction; tests hold it against each entry's balance_after.

Months are calendar months in the platform time zone (settings.TIME_ZONE). Customers read the entry's
`description` (or a neutral text for its kind), never the staff `note`."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from .exports import cell, csv_line, money
from .models import LedgerEntry

# What a customer reads for an entry without a description of its own (English: statements are
# documents for accounting, the same in every language of the portal).
DEFAULT_TEXT = {
    LedgerEntry.Kind.CHARGE: "API usage",
    LedgerEntry.Kind.CREDIT: "Credit",
    LedgerEntry.Kind.TOPUP: "Top-up",
    LedgerEntry.Kind.REDEEM: "Redeemed code",
    LedgerEntry.Kind.ADJUST: "Balance adjustment",
    LedgerEntry.Kind.REFUND: "Refund",
}
EARLIEST_YEAR = 2000  # bounds the month a URL may ask for


class StatementError(ValueError):
    pass


@dataclass
class Statement:
    account_id: int
    year: int
    month: int
    start: datetime
    end: datetime
    opening_micros: int
    totals: dict[str, int] = field(default_factory=dict)  # kind → Σ amount_micros
    counts: dict[str, int] = field(default_factory=dict)  # kind → entries

    @property
    def period(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def net_micros(self) -> int:
        return sum(self.totals.values())

    @property
    def closing_micros(self) -> int:
        return self.opening_micros + self.net_micros

    def entries(self) -> QuerySet[LedgerEntry]:
        return month_entries(self.account_id, self.start, self.end)


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    now = timezone.localtime()
    if not (1 <= month <= 12 and EARLIEST_YEAR <= year <= now.year + 1):
        raise StatementError("no such month")
    tz = timezone.get_current_timezone()
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start, end


def month_entries(account_id: int, start: datetime, end: datetime) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(
        wallet__account_id=account_id, created_at__gte=start, created_at__lt=end
    ).order_by("created_at", "id")


def statement_of(*, account_id: int, year: int, month: int) -> Statement:
    start, end = month_bounds(year, month)
    before = LedgerEntry.objects.filter(wallet__account_id=account_id, created_at__lt=start)
    opening = before.aggregate(total=Sum("amount_micros"))["total"] or 0
    statement = Statement(account_id=account_id, year=year, month=month, start=start, end=end, opening_micros=opening)
    rows = month_entries(account_id, start, end).order_by().values("kind").annotate(
        total=Sum("amount_micros"), n=Count("id")
    )
    for row in rows:
        statement.totals[row["kind"]] = row["total"]
        statement.counts[row["kind"]] = row["n"]
    return statement


def customer_text(entry: LedgerEntry) -> str:
    return entry.description or DEFAULT_TEXT.get(entry.kind, entry.kind)


CSV_HEADER = ("row", "id", "created_at", "kind", "description", "request_id", "amount", "amount_micros",
              "balance_after", "balance_after_micros")  # fmt: skip


def _summary_line(row: str, kind: str, micros: int) -> str:
    return csv_line([row, "", "", kind, "", "", cell(money(micros)), cell(micros), "", ""])


def statement_csv(statement: Statement, *, chunk_size: int = 2000) -> Iterator[str]:
    """`row` tells the lines apart: "opening", every "entry" (exact decimals and raw micros, text
    defused as in billing.exports), a "total" per kind, "closing". Streamed: a month of charges can
    be large. Summing amount_micros over the "entry" rows gives closing − opening."""
    yield csv_line(CSV_HEADER)
    yield _summary_line("opening", "", statement.opening_micros)
    for entry in statement.entries().iterator(chunk_size=chunk_size):
        yield csv_line(["entry", cell(entry.pk), cell(entry.created_at), cell(entry.kind), cell(customer_text(entry)),
                        cell(entry.request_id), cell(money(entry.amount_micros)), cell(entry.amount_micros),
                        cell(money(entry.balance_after_micros)), cell(entry.balance_after_micros)])  # fmt: skip
    for kind, total in sorted(statement.totals.items()):
        yield _summary_line("total", kind, total)
    yield _summary_line("closing", "", statement.closing_micros)
