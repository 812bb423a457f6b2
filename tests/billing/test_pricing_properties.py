"""More properties of pricing and rounding: exact with a cached price, cached input never dearer,
amounts round-trip, and many charges add up exactly, in the pure functions and in the ledger."""

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services
from billing.models import LedgerEntry, UsageRecord
from billing.money import decimal_string, parse_amount
from billing.pricing import PriceSnapshot, Usage, charge_micros
from billing.reconcile import ledger_reconcile
from billing.selectors import wallet_summary
from tests.factories import make_customer

tokens = st.integers(min_value=0, max_value=10**9)
prices = st.integers(min_value=0, max_value=10**9)


@st.composite
def usages(draw, max_tokens: int = 10**9):
    inp = draw(st.integers(min_value=0, max_value=max_tokens))
    return Usage(
        input_tokens=inp,
        cached_input_tokens=draw(st.integers(min_value=0, max_value=inp)),
        output_tokens=draw(st.integers(min_value=0, max_value=max_tokens)),
    )


def exact(usage: Usage, price: PriceSnapshot) -> Decimal:
    uncached = usage.input_tokens - usage.cached_input_tokens
    total = (
        uncached * price.input_micros
        + usage.cached_input_tokens * price.cached_input_micros
        + usage.output_tokens * price.output_micros
    )
    return Decimal(total) / 1_000_000


@given(usages(), prices, prices, prices)
def test_charge_is_exact_to_one_micro_with_a_cached_price(usage, p_in, p_cached, p_out):
    price = PriceSnapshot(None, p_in, p_cached, p_out)
    charged = charge_micros(usage, price)
    assert 0 <= charged - exact(usage, price) < 1


@given(usages(), prices, prices, prices, st.integers(min_value=1, max_value=1000))
def test_cached_input_is_never_dearer_than_uncached(usage, p_in, p_cached, p_out, more):
    p_cached = min(p_cached, p_in)  # the catalog's rule: a cache hit costs at most the input price
    price = PriceSnapshot(None, p_in, p_cached, p_out)
    cached_more = Usage(
        input_tokens=usage.input_tokens + more,
        cached_input_tokens=usage.cached_input_tokens + more,
        output_tokens=usage.output_tokens,
    )
    as_uncached = Usage(
        input_tokens=usage.input_tokens + more,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
    )
    base = charge_micros(usage, price)
    assert base <= charge_micros(cached_more, price) <= charge_micros(as_uncached, price)


@given(st.integers(min_value=0, max_value=10**18))
def test_amounts_round_trip_through_their_decimal_string(micros):
    assert parse_amount(decimal_string(micros)) == micros
    assert parse_amount(decimal_string(-micros), allow_negative=True) == -micros


@given(st.lists(usages(), max_size=50), prices, prices, prices)
def test_many_charges_sum_exactly(batch, p_in, p_cached, p_out):
    """Each request is rounded once, up, by less than a micro: n charges exceed the exact total by < n."""
    price = PriceSnapshot(None, p_in, p_cached, p_out)
    charges = [charge_micros(usage, price) for usage in batch]
    total_exact = sum((exact(usage, price) for usage in batch), Decimal(0))
    assert all(charge >= 0 for charge in charges)
    assert 0 <= sum(charges) - total_exact < max(len(batch), 1)


_emails = itertools.count()
PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(usages(max_tokens=20_000), min_size=1, max_size=12))
def test_settled_charges_sum_to_the_balance_drop(batch):
    """Through the services: Σ ledger charges == Σ usage costs == start − balance, and the books close."""
    account, _ = make_customer(f"prop{next(_emails)}@example.com", balance="1000")
    start = parse_amount("1000")
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o")
    for index, usage in enumerate(batch):
        request_id = f"prop-{account.pk}-{index}"
        services.hold_reserve(
            account_id=account.pk,
            request_id=request_id,
            input_tokens=usage.input_tokens,
            max_output_tokens=usage.output_tokens,
            price=PRICE,
            ttl_seconds=60,
        )
        services.hold_settle(request_id=request_id, usage=usage, price=PRICE, facts=facts)
    expected = sum(charge_micros(usage, PRICE) for usage in batch)
    charged = -sum(
        LedgerEntry.objects.filter(wallet__account=account, kind="charge").values_list("amount_micros", flat=True)
    )
    recorded = sum(UsageRecord.objects.filter(account=account).values_list("cost_micros", flat=True))
    summary = wallet_summary(account_id=account.pk)
    assert charged == recorded == expected == start - summary["balance_micros"]
    assert summary["balance_micros"] == summary["ledger_sum_micros"] and summary["held_micros"] == 0
    assert ledger_reconcile() == []
