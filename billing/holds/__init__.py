"""One home for holds and settlements: the money path's statements, column map and entry points.

Three tiers write the same rows from one column map (columns.py):
- aio.py: the single statements (sql.py) on the event loop (PostgreSQL, HARNMODEL_DB_ASYNC);
- statement.py: the same statements through Django's connection, for sync callers;
- orm.py: the locked path under the wallet's row lock, which decides every case the statements
  hand it (a short wallet, a replay, usage above the hold, an expired hold) and runs on any database.

`reserve()` and `settle()` are the async entry points the gateway calls: the event-loop statement
first, then, in a DB thread, the locked path (or, without the event-loop tier, the statement first). A hold
the statement declines is refused at once when a plain read of the wallet's free balance cannot pay even its input.
A failed statement is logged and counted, never silently retried (errors.py).
"""

from typing import Any

from billing.db import run_db  # the bounded DB thread pool every async caller shares

from ..pricing import PriceSnapshot, Usage, hold_for
from . import aio, orm, statement
from .types import InsufficientBalance, RequestFacts, Reservation, Settlement

__all__ = ["InsufficientBalance", "RequestFacts", "Reservation", "Settlement", "reserve", "settle"]


async def reserve(
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
    """Hold a request's worst case (raises InsufficientBalance). `api_key_id` is written with the hold,
    so the key's spend-cap check counts it from the start."""
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
    if aio.enabled():
        reservation = await aio.reserve(**hold)
        if reservation is not None:
            return reservation
        # Declined: a wallet that cannot pay even the input is refused here, without a DB thread or the wallet's
        # row lock (a 402 costs one read, and a busy wallet's traffic does not queue behind its refusals).
        free = await aio.free_micros(account_id)
        if free is not None and hold_for(input_tokens, max_output_tokens, price, tool_micros, free) is None:
            raise InsufficientBalance
        return await run_db(orm.reserve, **hold)
    return await run_db(statement.reserve, **hold)


async def settle(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool = False
) -> Settlement:
    """Charge what the request used, release the rest, write its usage record; once per request."""
    closing: dict[str, Any] = {
        "request_id": request_id,
        "usage": usage,
        "price": price,
        "facts": facts,
        "usage_estimated": usage_estimated,
    }
    if aio.enabled():
        settlement = await aio.settle(**closing)
        return settlement if settlement is not None else await run_db(orm.settle, **closing)
    return await run_db(statement.settle, **closing)
