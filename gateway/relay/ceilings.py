"""Cost ceilings: what one request may cost at most, from its `X-Max-Cost` header and its session's budget.

`X-Max-Cost: 0.05` (platform currency, at most six decimals) on any door bounds the request: its output
cap is lowered until input + output + hosted-tool calls, at worst, cost no more than the ceiling, so the
hold (the lesser of that worst case and the wallet) never exceeds it; an input that alone does not fit
gets 402 `cost_ceiling_exceeded` before the rate limits, the hold or any upstream. A stream is cut when
its output reaches the cap (gateway/relay/meter.py) and ends `incomplete`; settlement never charges more
than the ceiling, even for an upstream that ignored the cap (billing/overdraft.py, `limit`).

A key's session budget (gateway/relay/sessions.py) becomes a second ceiling: the share the session grants
this request. The least of the two is the request's ceiling.
"""

from dataclasses import dataclass

from billing.money import AmountError, currency, decimal_string, parse_amount
from billing.pricing import PriceSnapshot, affordable_output_tokens, estimate_micros
from gateway.relay import sessions
from gateway.relay.catalog import KeyInfo
from gateway.wire.errors import CostCeilingExceeded, InvalidRequest, SessionBudgetExceeded
from gateway.wire.schema import ResponsesRequest

HEADER = "x-max-cost"
_MAX_HEADER_CHARS = 32


def max_cost(headers) -> int | None:
    """`X-Max-Cost` in micros, None when absent. 400 naming the header for anything but a positive amount."""
    text = headers.get(HEADER)
    if text is None:
        return None
    try:
        if len(text) > _MAX_HEADER_CHARS or "e" in text.lower():  # no exponents: "1e9" is not how money is written
            raise AmountError(text)
        micros = parse_amount(text)
    except AmountError:
        micros = 0
    if micros <= 0:
        raise InvalidRequest(
            f"X-Max-Cost must be a positive amount in {currency()} with at most six decimal places, e.g. 0.05.",
            param="X-Max-Cost", code="invalid_max_cost",
        )
    return micros


def output_within(ceiling: int, *, input_tokens: int, wanted_output: int, price: PriceSnapshot,
                  tool_micros: int) -> int:
    """The most output tokens (≤ wanted) whose worst case, with the input and tools, costs ≤ `ceiling`.
    0 when not even one output token fits."""
    return min(wanted_output, affordable_output_tokens(ceiling - tool_micros, input_tokens, price))


@dataclass(slots=True)
class CostPlan:
    """What admission holds for: the output cap under the ceilings and the most the request may be charged."""

    output_cap: int
    limit: int | None  # micros; None: no ceiling (the overdraft rule alone applies at settlement)
    input_tokens: int
    price: PriceSnapshot
    tool_micros: int
    key: KeyInfo
    session: str | None = None
    share: sessions.Share | None = None

    def _clamp(self, ceiling: int, error: type[CostCeilingExceeded] | type[SessionBudgetExceeded], what: str) -> None:
        cap = output_within(ceiling, input_tokens=self.input_tokens, wanted_output=self.output_cap,
                            price=self.price, tool_micros=self.tool_micros)
        if cap < 1:
            raise error(
                f"{what} ({decimal_string(ceiling)} {currency()}) does not cover this request's input "
                f"(at worst {decimal_string(self.worst_case(0))} {currency()}) and one output token."
            )
        self.output_cap = cap
        self.limit = ceiling if self.limit is None else min(self.limit, ceiling)

    def worst_case(self, output_tokens: int | None = None) -> int:
        out = self.output_cap if output_tokens is None else output_tokens
        return estimate_micros(self.input_tokens, out, self.price, self.tool_micros)

    async def take_share(self) -> None:
        """Take this request's share of its session's budget (402 when the session is spent); the share
        becomes a ceiling. Call `settle` (or `abandon`) exactly once after a successful take."""
        if self.session is None or self.key.session_budget is None:
            return
        self.share = await sessions.take(key_id=self.key.id, budget=self.key.session_budget, session=self.session,
                                         want=self.worst_case(), minimum=self.worst_case(1))
        self._clamp(self.share.taken, SessionBudgetExceeded, "This session's remaining budget")

    async def peek_share(self) -> None:
        """The session's part without taking any (a quote)."""
        if self.session is None or self.key.session_budget is None:
            return
        left = await sessions.left(key_id=self.key.id, budget=self.key.session_budget, session=self.session)
        if left < self.worst_case(1):
            raise sessions.spent(self.key.session_budget)  # as `take` would
        self._clamp(min(left, self.worst_case()), SessionBudgetExceeded, "This session's remaining budget")

    async def settle(self, cost: int) -> None:
        if self.share is not None:
            await self.share.settle(cost)

    async def abandon(self) -> None:
        """Nothing was charged (refused after the share was taken): the whole share goes back."""
        await self.settle(0)


def plan(headers, key: KeyInfo, typed: ResponsesRequest, price: PriceSnapshot, *, input_tokens: int,
         wanted_output: int, tool_micros: int) -> CostPlan:
    """The request's `X-Max-Cost` applied (400 for a bad header, 402 when the input alone exceeds it), and its
    session named when its key has a session budget (taken later, by `take_share`)."""
    ceiling = max_cost(headers)
    cost = CostPlan(output_cap=wanted_output, limit=None, input_tokens=input_tokens, price=price,
                    tool_micros=tool_micros, key=key)
    if ceiling is not None:
        cost._clamp(ceiling, CostCeilingExceeded, "X-Max-Cost")
    if key.session_budget is not None:
        cost.session = sessions.session_id(headers, typed)
    return cost
