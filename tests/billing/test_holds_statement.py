"""The single statements through Django's connection (billing/holds/statement.py) must write exactly what the
locked path writes. Every column, side by side: tests/billing/test_holds_parity.py."""

import pytest
from django.db import connection

from billing import services
from billing.holds import statement
from billing.models import Hold, LedgerEntry, UsageRecord
from billing.pricing import PriceSnapshot, Usage
from billing.selectors import wallet_summary
from tests.factories import make_customer

pytestmark = [pytest.mark.django_db(transaction=True)]
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the fast path is PostgreSQL's")


def _reserve(account, rid, **kw):
    return services.hold_reserve(account_id=account.pk, request_id=rid, input_tokens=kw.get("input_tokens", 100),
                                 max_output_tokens=kw.get("max_output", 1000), price=PRICE, ttl_seconds=60)


def _settle(account, rid, usage):
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o", attempts=[{"channel": 1, "status": 200}])
    return services.hold_settle(request_id=rid, usage=usage, price=PRICE, facts=facts)


def test_fast_path_is_taken_and_books_like_the_orm_path():
    assert statement.available()
    account, _ = make_customer("fast@example.com", balance="1")
    reservation = _reserve(account, "r1")
    assert reservation.amount_micros == 10_250
    result = _settle(account, "r1", Usage(input_tokens=100, cached_input_tokens=40, output_tokens=50))
    assert result.cost_micros == 150 + 50 + 500 and not result.replayed
    summary = wallet_summary(account_id=account.pk)
    assert summary["balance_micros"] == 1_000_000 - 700 == summary["ledger_sum_micros"] == result.balance_micros
    assert summary["held_micros"] == 0 == summary["open_holds_micros"]
    entry = LedgerEntry.objects.get(idempotency_key="charge:r1")
    assert (entry.amount_micros, entry.balance_after_micros, entry.kind) == (-700, 999_300, "charge")
    record = UsageRecord.objects.get(request_id="r1")
    assert (record.input_tokens, record.cached_input_tokens, record.output_tokens, record.cost_micros) == (100, 40, 50, 700)
    assert record.attempts == [{"channel": 1, "status": 200}]
    assert Hold.objects.get(request_id="r1").status == "settled"


def test_replayed_settle_falls_back_and_charges_nothing_more():
    account, _ = make_customer("fast@example.com", balance="1")
    _reserve(account, "r1")
    _settle(account, "r1", Usage(input_tokens=100, output_tokens=50))
    again = _settle(account, "r1", Usage(input_tokens=100, output_tokens=50))
    assert again.replayed and again.cost_micros == 750
    assert LedgerEntry.objects.filter(kind="charge").count() == 1 and UsageRecord.objects.count() == 1


def test_short_wallet_falls_back_to_a_capped_hold():
    account, _ = make_customer("fast@example.com", balance="0.005")
    reservation = _reserve(account, "r1", max_output=128_000)
    assert reservation.output_cap < 128_000 and reservation.amount_micros <= 5000


def test_usage_above_the_hold_falls_back_and_is_capped(settings):
    settings.HARNMODEL_OVERDRAFT_LIMIT_MICROS = 0  # with an overdraft: tests/billing/test_overdraft.py
    account, _ = make_customer("fast@example.com", balance="0.02")
    _reserve(account, "r1", input_tokens=0, max_output=1000)
    _reserve(account, "r2", input_tokens=0, max_output=1000)
    assert _settle(account, "r1", Usage(output_tokens=5000)).cost_micros == 10_000
    assert UsageRecord.objects.get(request_id="r1").error_code == "charge_capped"


def test_release_without_usage():
    account, _ = make_customer("fast@example.com", balance="1")
    _reserve(account, "r1")
    assert _settle(account, "r1", None).cost_micros == 0
    assert Hold.objects.get(request_id="r1").status == "released"
    assert wallet_summary(account_id=account.pk)["held_micros"] == 0
