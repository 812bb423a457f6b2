"""Customer-group prices (分组倍率), the pure part: base price version × the group's terms, exact to the micro."""

import pytest

from billing.group_pricing import (
    IDENTITY,
    FixedPrice,
    GroupTerms,
    MultiplierError,
    format_multiplier,
    group_price,
    parse_multiplier,
)
from billing.pricing import PriceSnapshot, Usage, charge_micros

BASE = PriceSnapshot(
    id=7, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000,
    tool_call_micros=(("web_search", 25_000),), cache_write_micros=3_125_000,
)


def terms(ppm: int, **extra) -> GroupTerms:
    return GroupTerms(group_id=1, rule_id=42, multiplier_ppm=ppm, **extra)


def test_a_multiplier_scales_every_unit_price_rounding_a_fraction_of_a_micro_up():
    price = group_price(BASE, terms(1_333_333), "m")
    # 2_500_000 × 1.333333 = 3_333_332.5 → 3_333_333; the other parts are whole.
    assert (price.input_micros, price.cached_input_micros, price.output_micros, price.cache_write_micros) == (
        3_333_333, 1_666_667, 13_333_330, 4_166_666,
    )
    assert price.tool_call_micros == (("web_search", 33_334),)
    assert (price.id, price.group_rule_id) == (7, 42)  # both versions travel to the usage record
    usage = Usage(input_tokens=1_000, cached_input_tokens=300, output_tokens=777)
    # 700 × 3_333_333 + 300 × 1_666_667 + 777 × 13_333_330 = 13_193_330_610 → /1M, rounded up
    assert charge_micros(usage, price) == 13_194


def test_no_rule_is_the_base_price_itself():
    assert group_price(BASE, IDENTITY, "m") is BASE
    assert group_price(BASE, GroupTerms(group_id=3, rule_id=None), "m") is BASE


def test_a_rule_at_one_keeps_the_prices_and_names_the_rule():
    price = group_price(BASE, terms(1_000_000), "m")
    assert price.input_micros == BASE.input_micros and price.group_rule_id == 42


def test_per_model_overrides_a_multiplier_or_a_fixed_price():
    fixed = FixedPrice(input_micros=1_000_000, cached_input_micros=100_000, output_micros=4_000_000)
    rule = terms(2_000_000, multipliers=(("cheap", 500_000),), fixed=(("flat", fixed),))
    assert group_price(BASE, rule, "cheap").output_micros == 5_000_000
    assert group_price(BASE, rule, "other").output_micros == 20_000_000
    flat = group_price(BASE, rule, "flat")
    assert (flat.input_micros, flat.cached_input_micros, flat.output_micros, flat.cache_write_micros) == (
        1_000_000, 100_000, 4_000_000, None,
    )
    assert flat.tool_call_micros == (("web_search", 50_000),)  # tools keep the group's multiplier


def test_allowed_models_empty_means_all():
    assert terms(1).allows("any")
    limited = terms(1, allowed_models=frozenset({"a"}))
    assert limited.allows("a") and not limited.allows("b")


@pytest.mark.parametrize(("text", "ppm"), [("1", 1_000_000), ("0.85", 850_000), (0.85, 850_000), ("1.333333", 1_333_333),
                                           ("0", 0), (2, 2_000_000)])
def test_multipliers_parse_exactly(text, ppm):
    assert parse_multiplier(text) == ppm
    assert parse_multiplier(format_multiplier(ppm)) == ppm


@pytest.mark.parametrize("text", ["-1", "0.0000001", "abc", "nan", "inf", "1001", True])
def test_bad_multipliers_are_refused(text):
    with pytest.raises(MultiplierError):
        parse_multiplier(text)
