"""What the money path takes and answers: shared by every tier (statement, event loop, locked ORM)."""

from dataclasses import dataclass, field


class InsufficientBalance(Exception):
    """The wallet cannot pay for even the input of this request."""


@dataclass(frozen=True, slots=True)
class Reservation:
    hold_id: str
    amount_micros: int
    output_cap: int  # the max output tokens the hold pays for; the upstream is told this cap


@dataclass(slots=True)
class RequestFacts:
    """What the gateway knows about a request when it settles: written to its UsageRecord."""

    account_id: int
    model_id: str
    api_key_id: int | None = None
    channel_id: int | None = None
    upstream_model: str = ""
    door: str = "responses"  # the client protocol: responses, chat, messages, gemini
    stream: bool = False
    status: int = 200
    error_code: str = ""
    latency_ms: int = 0
    first_byte_ms: int | None = None
    attempts: list = field(default_factory=list)
    upstream_cost_micros: int | None = None  # at the channel's cost price; None = unknown
    cost_limit_micros: int | None = None  # the request's cost ceiling (X-Max-Cost, session share): never charged above


@dataclass(frozen=True, slots=True)
class Settlement:
    cost_micros: int
    balance_micros: int
    replayed: bool  # True when this request had already been settled: nothing was charged again
