"""A monthly statement as a PDF (fpdf2). Charges are summed per day (a month can hold millions of
requests; the CSV lists each one); every other entry is listed, up to MAX_LISTED. Amounts are exact
to the micro. Text uses the PDF core font (Latin-1): CJK in a description is shown as "?", the
amounts and the CSV are unaffected.

fpdf2 (with fontTools and Pillow, ~20 MB) is imported when a statement is drawn, not when the URLconf
loads it: every gateway worker loads the portal's views, few ever draw a PDF."""

from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import LedgerEntry
from .statements import Statement, customer_text

if TYPE_CHECKING:
    from fpdf import FPDF

MAX_LISTED = 1000  # non-charge entries listed one by one; beyond that, the CSV has them
_WIDTHS = (38, 26, 70, 28, 28)


def _latin(text: str) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _amount(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    units, fraction = divmod(abs(micros), 1_000_000)
    return f"{sign}{units:,}.{fraction:06d}"


def _row(pdf: "FPDF", cells: tuple[str, ...], *, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 8)
    for index, (width, text) in enumerate(zip(_WIDTHS, cells, strict=True)):
        pdf.cell(width, 5, _latin(text)[:60], align="R" if index >= 3 else "L")
    pdf.ln(5)


def statement_pdf(statement: Statement, *, account_label: str) -> bytes:
    from fpdf import FPDF

    code = settings.HARNMODEL_CURRENCY
    pdf = FPDF(format="A4")
    pdf.set_title(f"Statement {statement.period}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, f"Statement {statement.period}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, _latin(f"Account: {account_label}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, f"Amounts in {code}, exact to six decimal places. Time zone: {settings.TIME_ZONE}.",
             new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    pdf.ln(3)
    _row(pdf, ("Opening balance", "", "", "", _amount(statement.opening_micros)), bold=True)
    for kind, total in sorted(statement.totals.items()):
        _row(pdf, (f"Total {kind}", f"{statement.counts[kind]} entries", "", _amount(total), ""))
    _row(pdf, ("Closing balance", "", "", "", _amount(statement.closing_micros)), bold=True)
    pdf.ln(4)
    _row(pdf, ("Date", "Type", "Details", "Amount", "Balance after"), bold=True)
    entries = statement.entries()
    tz = timezone.get_current_timezone()
    days = (
        entries.filter(kind=LedgerEntry.Kind.CHARGE).order_by()
        .annotate(day=TruncDate("created_at", tzinfo=tz)).values("day")
        .annotate(total=Sum("amount_micros"), n=Count("id")).order_by("day")
    )  # fmt: skip
    for day in days:
        _row(pdf, (day["day"].isoformat(), "charge", f"API usage: {day['n']} requests", _amount(day["total"]), ""))
    others = entries.exclude(kind=LedgerEntry.Kind.CHARGE)
    for entry in others[:MAX_LISTED]:
        when = timezone.localtime(entry.created_at, tz).strftime("%Y-%m-%d %H:%M:%S")
        _row(pdf, (when, entry.kind, customer_text(entry), _amount(entry.amount_micros),
                   _amount(entry.balance_after_micros)))  # fmt: skip
    if others.count() > MAX_LISTED:
        _row(pdf, ("", "", "... more entries: see the CSV statement", "", ""))
    return bytes(pdf.output())
