from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money import AmountError, ceil_div, decimal_string, format_amount, format_balance, parse_amount
from billing.pricing import PriceSnapshot, Usage, affordable_output_tokens, charge_micros, estimate_micros

PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
tokens = st.integers(min_value=0, max_value=10**9)
prices = st.integers(min_value=0, max_value=10**9)


def test_parse_amount_is_exact():
    assert parse_amount("12.5") == 12_500_000
    assert parse_amount("0.000001") == 1
    assert parse_amount(Decimal("3")) == 3_000_000


@pytest.mark.parametrize("bad", ["abc", "1.0000001", "-1", "NaN", "Infinity", ""])
def test_parse_amount_rejects_what_is_not_money(bad):
    with pytest.raises(AmountError):
        parse_amount(bad)


def test_format_amount_uses_currency_symbol_and_precision():
    assert format_amount(12_345_678, "CNY") == "¥12.35"
    assert format_amount(-5_000_000, "USD") == "-$5.00"
    assert decimal_string(12_500_000) == "12.5"
    assert decimal_string(603) == "0.000603"


def test_a_balance_is_floored_to_the_shown_places():
    assert format_balance(24_999_377, "CNY") == "¥24.99"  # a half-up ¥25.00 would promise 0.6 fen more
    assert format_amount(24_999_377, "CNY") == "¥25.00"  # amounts and charges keep their rounding
    assert format_balance(25_000_000, "CNY") == "¥25.00"
    assert format_balance(9_999, "CNY") == "¥0.00"
    assert format_balance(1_999_999_999, "JPY") == "¥1,999"
    assert format_balance(-1, "USD") == "-$0.01"  # overdrawn by a micro: never shown as ¥0.00 or better


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_a_shown_balance_never_exceeds_the_wallet(micros):
    shown = Decimal(format_balance(micros, "USD").replace("$", "").replace(",", ""))
    assert shown * 1_000_000 <= micros < (shown + Decimal("0.01")) * 1_000_000


def test_charge_prices_cached_input_at_cached_price():
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000)
    # 600k × 2.5 + 400k × 1.25 + 100k × 10, per million
    assert charge_micros(usage, PRICE) == 1_500_000 + 500_000 + 1_000_000


def test_fractions_of_a_micro_round_up_once():
    assert charge_micros(Usage(input_tokens=1), PriceSnapshot(None, 1, 1, 1)) == 1
    assert ceil_div(0, 7) == 0


@given(tokens, tokens, tokens, prices, prices, prices)
def test_charge_is_never_negative_and_monotonic(inp, cached, out, p_in, p_cached, p_out):
    price = PriceSnapshot(None, p_in, p_cached, p_out)
    cached = min(cached, inp)
    base = charge_micros(Usage(input_tokens=inp, cached_input_tokens=cached, output_tokens=out), price)
    assert base >= 0
    assert charge_micros(Usage(input_tokens=inp + 1, cached_input_tokens=cached, output_tokens=out), price) >= base
    assert charge_micros(Usage(input_tokens=inp, cached_input_tokens=cached, output_tokens=out + 1), price) >= base


@given(tokens, tokens, prices, prices)
def test_charge_is_exact_to_one_micro(inp, out, p_in, p_out):
    price = PriceSnapshot(None, p_in, 0, p_out)
    exact = Decimal(inp * p_in + out * p_out) / 1_000_000
    charged = charge_micros(Usage(input_tokens=inp, output_tokens=out), price)
    assert 0 <= charged - exact < 1


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**6))
def test_affordable_output_never_exceeds_the_budget(available, inp):
    cap = affordable_output_tokens(available, inp, PRICE)
    if cap > 0:
        assert estimate_micros(inp, cap, PRICE) <= available
        assert estimate_micros(inp, cap + 1, PRICE) > available - 10  # and is (nearly) the most it can buy
