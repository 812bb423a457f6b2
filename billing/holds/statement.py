"""The single statements through Django's connection (sync callers: the DB threads, tasks, tests)."""

from typing import Any

from django.db import DatabaseError, connection

from ..pricing import PriceSnapshot, Usage
from . import orm, sql
from .errors import statement_failed
from .types import RequestFacts, Reservation, Settlement


def available() -> bool:
    # Inside a caller's transaction the statement would no longer be its own: the locked path then.
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _fetch_one(op: str, request_id: str, query: str, params: dict) -> tuple | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchone()
    except DatabaseError as exc:
        statement_failed(op=op, request_id=request_id, exc=exc)
        return None


def reserve(
    *,
    account_id: int,
    request_id: str,
    input_tokens: int,
    max_output_tokens: int,
    price: PriceSnapshot,
    ttl_seconds: int,
    tool_micros: int = 0,
    api_key_id: int | None = None,
) -> Reservation:
    """The statement when the wallet has the worst case; else the locked path (capped output, or refusal)."""
    hold: dict[str, Any] = {
        "account_id": account_id,
        "request_id": request_id,
        "input_tokens": input_tokens,
        "max_output_tokens": max_output_tokens,
        "price": price,
        "ttl_seconds": ttl_seconds,
        "tool_micros": tool_micros,
        "api_key_id": api_key_id,
    }
    if available():
        amount, params = sql.reserve_params(**hold)
        row = _fetch_one("reserve", request_id, sql.reserve_sql(), params)
        if row is not None:
            return Reservation(hold_id=str(row[0]), amount_micros=amount, output_cap=max_output_tokens)
    return orm.reserve(**hold)


def settle(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool = False
) -> Settlement:
    """The statement when the cost fits the open hold; else the locked path (replay, overdraft, late)."""
    if available():
        cost, params = sql.settle_params(
            request_id=request_id, usage=usage, price=price, facts=facts, usage_estimated=usage_estimated
        )
        row = _fetch_one("settle", request_id, sql.settle_sql(), params)
        if row is not None:
            return Settlement(cost_micros=cost, balance_micros=row[0], replayed=False)
    return orm.settle(request_id=request_id, usage=usage, price=price, facts=facts, usage_estimated=usage_estimated)
