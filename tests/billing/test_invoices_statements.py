"""Monthly statements: the totals are the ledger's, to the micro, over random ledgers; CSV and PDF."""

import csv
import io
import re
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services
from billing.models import LedgerEntry
from billing.statement_pdf import statement_pdf
from billing.statements import StatementError, statement_csv, statement_of
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 1, tzinfo=UTC)
MONTHS = [(2025, 12), (2026, 1), (2026, 2), (2026, 3), (2026, 4)]
KINDS = ["charge", "credit", "topup", "redeem", "adjust", "refund"]

entry = st.tuples(
    st.sampled_from(KINDS),
    st.integers(min_value=-5_000_000_000, max_value=5_000_000_000).filter(bool),
    st.integers(min_value=0, max_value=100 * 24 * 3600),  # seconds after START: January to April
)


def write(account, rows) -> None:
    """Each row through the real ledger path, at its own time; a big first credit keeps debits legal."""
    with time_machine.travel(START - timedelta(days=5), tick=False):
        services.wallet_credit(account_id=account.pk, amount_micros=10**12, idempotency_key=f"seed:{account.pk}",
                               kind="topup")  # fmt: skip
    for index, (kind, amount, offset) in enumerate(sorted(rows, key=lambda r: r[2])):
        with time_machine.travel(START + timedelta(seconds=offset), tick=False):
            services.wallet_credit(account_id=account.pk, amount_micros=amount, kind=kind,
                                   idempotency_key=f"e:{account.pk}:{index}", note="INTERNAL")  # fmt: skip


def csv_rows(statement) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(statement_csv(statement)))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(entry, max_size=25))
def test_statement_totals_equal_the_ledger_to_the_micro(rows):
    account, _ = make_customer(f"{uuid.uuid4().hex[:8]}@example.com")
    write(account, rows)
    ledger = list(LedgerEntry.objects.filter(wallet__account=account).order_by("created_at", "id"))
    previous_closing = None
    for year, month in MONTHS:
        statement = statement_of(account_id=account.pk, year=year, month=month)
        inside = [e for e in ledger if statement.start <= e.created_at < statement.end]
        before = [e for e in ledger if e.created_at < statement.start]
        # The ledger's own running balance is the reference: opening and closing must land on it.
        assert statement.opening_micros == (before[-1].balance_after_micros if before else 0)
        assert statement.closing_micros == (inside[-1].balance_after_micros if inside else statement.opening_micros)
        assert statement.closing_micros - statement.opening_micros == sum(e.amount_micros for e in inside)
        for kind in KINDS:
            assert statement.totals.get(kind, 0) == sum(e.amount_micros for e in inside if e.kind == kind)
        assert previous_closing in (None, statement.opening_micros)
        previous_closing = statement.closing_micros

        lines = csv_rows(statement)
        entries = [r for r in lines if r["row"] == "entry"]
        assert [int(r["id"]) for r in entries] == [e.pk for e in inside]
        assert all(Decimal(r["amount"]) * 1_000_000 == int(r["amount_micros"]) for r in lines)
        assert sum(int(r["amount_micros"]) for r in entries) == statement.net_micros
        summary = {(r["row"], r["kind"]): int(r["amount_micros"]) for r in lines if r["row"] != "entry"}
        assert summary.pop(("opening", "")) == statement.opening_micros
        assert summary.pop(("closing", "")) == statement.closing_micros
        assert summary == {("total", kind): total for kind, total in statement.totals.items()}
    assert previous_closing == account.wallet.__class__.objects.get(account=account).balance_micros


def test_the_statement_shows_the_customer_text_never_the_note_and_defuses_formulas():
    account, _ = make_customer("carol@example.com")
    with time_machine.travel(datetime(2026, 3, 10, tzinfo=UTC), tick=False):
        services.wallet_adjust(account_id=account.pk, amount_micros=1_234_567, reason="SECRET staff note",
                               actor="op", description="=HYPERLINK(1) welcome credit")  # fmt: skip
        services.wallet_credit(account_id=account.pk, amount_micros=5, idempotency_key="k", kind="topup")
    text = "".join(statement_csv(statement_of(account_id=account.pk, year=2026, month=3)))

    assert "SECRET" not in text
    assert "'=HYPERLINK(1) welcome credit" in text and ",Top-up," in text
    assert "1.234567,1234567" in text


def inflate(pdf: bytes) -> str:
    """The text of an fpdf2 PDF: its content streams are Flate-compressed; no PDF tool needed."""
    chunks = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    out = []
    for chunk in chunks:
        try:
            out.append(zlib.decompress(chunk).decode("latin-1"))
        except zlib.error:
            out.append(chunk.decode("latin-1"))
    return "\n".join(out)


def test_the_pdf_statement_carries_the_exact_totals():
    account, _ = make_customer("dave@example.com")
    with time_machine.travel(datetime(2026, 2, 3, 8, tzinfo=UTC), tick=False):
        services.wallet_credit(account_id=account.pk, amount_micros=100_000_000, idempotency_key="a", kind="topup")
        services.wallet_credit(account_id=account.pk, amount_micros=-1_234, idempotency_key="b", kind="charge")
        services.wallet_credit(account_id=account.pk, amount_micros=-1, idempotency_key="c", kind="charge")
        services.wallet_adjust(account_id=account.pk, amount_micros=7, reason="SECRET", actor="op",
                               description="赠送 credit")  # fmt: skip
    statement = statement_of(account_id=account.pk, year=2026, month=2)
    pdf = statement_pdf(statement, account_label="Dave <dave@example.com>")
    text = inflate(pdf)

    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    for expected in ("Statement 2026-02", "Opening balance", "0.000000", "Closing balance", "99.998772",
                     "-0.001235", "API usage: 2 requests", "100.000000", "?? credit"):  # fmt: skip
        assert expected in text, expected
    assert "SECRET" not in text


@pytest.mark.parametrize(("year", "month"), [(2026, 0), (2026, 13), (1999, 5), (9999, 1)])
def test_a_month_that_cannot_be_is_refused(year, month):
    with pytest.raises(StatementError):
        statement_of(account_id=1, year=year, month=month)
