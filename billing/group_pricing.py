"""Pure group pricing: a model's price version × a group's terms → the price this customer pays.

No database, no floats. The multiplied price per 1M tokens is rounded up to a whole micro (the one
rounding rule, money.ceil_div), so the result is an ordinary PriceSnapshot and every later step (hold,
settle, the fast SQL paths) charges it exactly as it charges a base price.
"""

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from .money import ceil_div
from .pricing import PriceSnapshot

PPM = 1_000_000
MAX_MULTIPLIER_PPM = 1000 * PPM  # ×1000: anything above is a typo, not a price


class MultiplierError(ValueError):
    """Not a multiplier: not a number, negative, too large or more precise than a millionth."""


@dataclass(frozen=True, slots=True)
class FixedPrice:
    """A per-model price that replaces the multiplied one (per 1M tokens)."""

    input_micros: int
    cached_input_micros: int
    output_micros: int
    cache_write_micros: int | None = None


@dataclass(frozen=True, slots=True)
class GroupTerms:
    """One group rule version as the hot path sees it. rule_id None: the group has no rule (×1, all models)."""

    group_id: int | None
    rule_id: int | None
    multiplier_ppm: int = PPM
    allowed_models: frozenset[str] = frozenset()  # empty: every model
    multipliers: tuple[tuple[str, int], ...] = ()  # per-model multiplier overrides, (model_id, ppm)
    fixed: tuple[tuple[str, FixedPrice], ...] = ()  # per-model fixed prices

    def allows(self, model_id: str) -> bool:
        return not self.allowed_models or model_id in self.allowed_models

    def multiplier_for(self, model_id: str) -> int:
        return next((ppm for name, ppm in self.multipliers if name == model_id), self.multiplier_ppm)

    def fixed_for(self, model_id: str) -> FixedPrice | None:
        return next((price for name, price in self.fixed if name == model_id), None)


IDENTITY = GroupTerms(group_id=None, rule_id=None)


def scale(micros: int, ppm: int) -> int:
    return ceil_div(micros * ppm, PPM)


def group_price(base: PriceSnapshot, terms: GroupTerms, model_id: str) -> PriceSnapshot:
    """The price of `model_id` for a member of the group: the base version × the group's multiplier, or the
    model's override. It keeps the base version's id and carries the rule's, so the usage record names both."""
    if terms.rule_id is None:
        return base
    ppm = terms.multiplier_for(model_id)
    tools = tuple((kind, scale(micros, ppm)) for kind, micros in base.tool_call_micros)
    fixed = terms.fixed_for(model_id)
    if fixed is not None:
        return replace(
            base,
            input_micros=fixed.input_micros,
            cached_input_micros=fixed.cached_input_micros,
            output_micros=fixed.output_micros,
            cache_write_micros=fixed.cache_write_micros,
            tool_call_micros=tools,
            group_rule_id=terms.rule_id,
        )
    return replace(
        base,
        input_micros=scale(base.input_micros, ppm),
        cached_input_micros=scale(base.cached_input_micros, ppm),
        output_micros=scale(base.output_micros, ppm),
        cache_write_micros=None if base.cache_write_micros is None else scale(base.cache_write_micros, ppm),
        tool_call_micros=tools,
        group_rule_id=terms.rule_id,
    )


def parse_multiplier(text: str | int | Decimal) -> int:
    """'0.85' → 850_000 ppm. Exact; refuses floats' noise, negatives and more than six decimals."""
    if isinstance(text, bool) or isinstance(text, float):
        text = str(text)  # a YAML 0.85 is the float 0.85: its shortest repr is the decimal the operator typed
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise MultiplierError(f"not a multiplier: {text!r}") from exc
    if not value.is_finite():
        raise MultiplierError(f"not a multiplier: {text!r}")
    ppm = value * PPM
    if ppm != ppm.to_integral_value():
        raise MultiplierError(f"more than six decimal places: {text!r}")
    if ppm < 0 or ppm > MAX_MULTIPLIER_PPM:
        raise MultiplierError(f"a multiplier must be between 0 and {MAX_MULTIPLIER_PPM // PPM}: {text!r}")
    return int(ppm)


def millionths_text(value: int) -> str:
    """850_000 → '0.85': millionths (ppm, or micros) as exact decimal text, no trailing zeros."""
    text = f"{Decimal(value) / PPM:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_multiplier(ppm: int) -> str:
    return millionths_text(ppm)
