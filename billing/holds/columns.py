"""The column map: what every path writes into Hold, LedgerEntry and UsageRecord, in one place.

Each `*_values` function gives the columns whose value is the same whichever path writes the row;
the `*_BY_PATH` sets name the few each path fills its own way (the wallet's id and new balance, the
database clock, a key the database generates). Together they must cover every concrete column of the
model: tests/billing/test_holds_drift.py fails when a column is added and no path writes it.
"""

from ..models import Hold, LedgerEntry, UsageRecord
from ..pricing import Usage
from .types import RequestFacts

# Filled by each path itself: the ORM from its locked wallet and Python's clock, the statement from
# the wallet row it updated and PostgreSQL's now().
HOLD_BY_PATH = frozenset({"id", "wallet_id", "created_at", "expires_at"})
LEDGER_BY_PATH = frozenset({"id", "wallet_id", "balance_after_micros", "created_at"})
USAGE_BY_PATH = frozenset({"id", "created_at"})

CHARGE_ACTOR = "gateway"


def charge_key(request_id: str) -> str:
    """The idempotency key of a request's charge: at most one per request, whichever path wrote it."""
    return f"charge:{request_id}"


def hold_values(*, request_id: str, amount: int, api_key_id: int | None) -> dict:
    """A new open hold. The key is written with it, so a spend-cap check counts it from the start."""
    return {
        "request_id": request_id,
        "amount_micros": amount,
        "status": str(Hold.Status.OPEN),
        "api_key_id": api_key_id,
        "closed_at": None,
    }


def carved_hold_values(*, request_id: str, amount: int, api_key_id: int | None, usage: Usage | None, closed_at) -> dict:
    """The row of a request carved from a wallet lease, written when it settles: already closed."""
    values = hold_values(request_id=request_id, amount=amount, api_key_id=api_key_id)
    values.update(status=hold_closed_status(usage), closed_at=closed_at)
    return values


def hold_closed_status(usage: Usage | None) -> str:
    return str(Hold.Status.SETTLED if usage is not None else Hold.Status.RELEASED)


def charge_values(*, request_id: str, cost: int, facts: RequestFacts) -> dict:
    """A request's charge row, but for the wallet and its balance after (the path's own)."""
    return {
        "kind": str(LedgerEntry.Kind.CHARGE),
        "amount_micros": -cost,
        "idempotency_key": charge_key(request_id),
        "request_id": request_id,
        "note": facts.model_id,
        "description": "",
        "actor": CHARGE_ACTOR,
    }


def usage_values(
    *, request_id: str, usage: Usage | None, cost: int, price_id: int | None, facts: RequestFacts, estimated: bool,
    group_rule_id: int | None = None,
) -> dict:
    """A request's usage record; `usage=None` (nothing billable happened) records zero tokens."""
    used = usage or Usage()
    return {
        "request_id": request_id,
        "account_id": facts.account_id,
        "api_key_id": facts.api_key_id,
        "channel_id": facts.channel_id,
        "price_id": price_id,
        "group_rule_id": group_rule_id,  # the customer group's terms the price was made with (billing/group_pricing)
        "model_id": facts.model_id,
        "upstream_model": facts.upstream_model,
        "door": facts.door,
        "stream": facts.stream,
        "status": facts.status,
        "error_code": facts.error_code,
        "input_tokens": used.input_tokens,
        "cached_input_tokens": used.cached_input_tokens,
        "cache_write_tokens": used.cache_write_tokens,
        "output_tokens": used.output_tokens,
        "reasoning_tokens": used.reasoning_tokens,
        "tool_calls": dict(used.tool_calls),
        "cost_micros": cost,
        "upstream_cost_micros": facts.upstream_cost_micros,
        "usage_estimated": estimated,
        "latency_ms": facts.latency_ms,
        "first_byte_ms": facts.first_byte_ms,
        "attempts": facts.attempts,
    }


# The keys of the functions above, in order: the statements' column lists are built from these.
HOLD_COLUMNS = tuple(hold_values(request_id="", amount=0, api_key_id=None))
CHARGE_COLUMNS = tuple(charge_values(request_id="", cost=0, facts=RequestFacts(account_id=0, model_id="")))
USAGE_COLUMNS = tuple(
    usage_values(
        request_id="", usage=None, cost=0, price_id=None, facts=RequestFacts(account_id=0, model_id=""), estimated=False
    )
)


def model_columns(model) -> frozenset[str]:
    """Every column of a model, by attribute name (`wallet_id`, not `wallet`)."""
    return frozenset(f.attname for f in model._meta.concrete_fields)


TABLES = {
    Hold: (HOLD_COLUMNS, HOLD_BY_PATH),
    LedgerEntry: (CHARGE_COLUMNS, LEDGER_BY_PATH),
    UsageRecord: (USAGE_COLUMNS, USAGE_BY_PATH),
}

