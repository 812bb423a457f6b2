"""Pure pricing: usage × price → micros. No database, no floats."""

from dataclasses import dataclass

from .money import TOKENS_PER_PRICE_UNIT, ceil_div


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    cached_input_tokens: int = 0  # a subset of input_tokens
    output_tokens: int = 0  # reasoning included
    reasoning_tokens: int = 0  # a subset of output_tokens
    cache_write_tokens: int = 0  # a subset of input_tokens: written to the upstream's prompt cache
    # Hosted-tool calls the upstream made, ((kind, count), ...) sorted: charged per call, not in tokens.
    tool_calls: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        for name in ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "cache_write_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} is negative")
        if any(count < 0 for _, count in self.tool_calls):
            raise ValueError("a tool call count is negative")


@dataclass(frozen=True, slots=True)
class PriceSnapshot:
    """The price version a request was admitted with; settlement charges exactly this."""

    id: int | None
    input_micros: int
    cached_input_micros: int
    output_micros: int
    # Per hosted-tool call, ((kind, micros), ...): a kind not listed has no price and may not be used.
    tool_call_micros: tuple[tuple[str, int], ...] = ()
    cache_write_micros: int | None = None  # None: cache writes cost the input price
    # The customer group rule that multiplied this version (billing/group_pricing.py); None: the base price.
    group_rule_id: int | None = None

    @property
    def write_micros(self) -> int:
        return self.input_micros if self.cache_write_micros is None else self.cache_write_micros

    @property
    def worst_input_micros(self) -> int:
        """What one input token may cost at most: a hold prices all input so (any of it may be a cache write)."""
        return max(self.input_micros, self.write_micros)

    def tool_price(self, kind: str) -> int | None:
        return next((micros for name, micros in self.tool_call_micros if name == kind), None)


def tool_calls_micros(tool_calls: tuple[tuple[str, int], ...], price: PriceSnapshot) -> int:
    """What hosted-tool calls cost: whole micros per call, so no rounding. A kind without a price costs
    nothing here: admission refuses such tools, so only an upstream acting unasked could make one."""
    return sum(count * (price.tool_price(kind) or 0) for kind, count in tool_calls)


def charge_micros(usage: Usage, price: PriceSnapshot) -> int:
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    written = min(usage.cache_write_tokens, usage.input_tokens - cached)
    total = (
        (usage.input_tokens - cached - written) * price.input_micros
        + cached * price.cached_input_micros
        + written * price.write_micros
        + usage.output_tokens * price.output_micros
    )
    return ceil_div(total, TOKENS_PER_PRICE_UNIT) + tool_calls_micros(usage.tool_calls, price)


def tool_hold_micros(kinds: tuple[str, ...], max_calls: int, price: PriceSnapshot) -> int:
    """Worst case for hosted tools: every allowed call made with the dearest tool the request offers."""
    return max_calls * max((price.tool_price(kind) or 0 for kind in kinds), default=0)


def estimate_micros(input_tokens: int, max_output_tokens: int, price: PriceSnapshot, tool_micros: int = 0) -> int:
    """Worst case for a request: all input uncached (or written to the cache, when that costs more), every
    allowed output token generated, plus `tool_micros` for its hosted-tool calls (tool_hold_micros)."""
    written = input_tokens if price.write_micros > price.input_micros else 0
    usage = Usage(input_tokens=input_tokens, cache_write_tokens=written, output_tokens=max_output_tokens)
    return charge_micros(usage, price) + tool_micros


def affordable_output_tokens(available_micros: int, input_tokens: int, price: PriceSnapshot) -> int:
    """How many output tokens `available_micros` pays for once the input is paid. 0 if not even that."""
    input_cost = input_tokens * price.worst_input_micros
    budget = available_micros * TOKENS_PER_PRICE_UNIT - input_cost
    if budget <= 0:
        return 0
    if price.output_micros == 0:
        return 1 << 31
    return budget // price.output_micros


def hold_for(input_tokens: int, max_output_tokens: int, price: PriceSnapshot, tool_micros: int,
             available_micros: int) -> tuple[int, int] | None:
    """(amount, output cap) a hold takes from a wallet with `available_micros` free: the worst case, or when
    the wallet has less, what it has with the output capped to what that pays for. None: not even one
    output token fits (the wallet is short). The hold statement and quotes both ask this."""
    amount = estimate_micros(input_tokens, max_output_tokens, price, tool_micros)
    if amount <= available_micros:
        return amount, max_output_tokens
    cap = min(max_output_tokens, affordable_output_tokens(available_micros - tool_micros, input_tokens, price))
    if available_micros <= 0 or cap < 1:
        return None
    return estimate_micros(input_tokens, cap, price, tool_micros), cap
