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

A request whose key has no spend caps or budgets (nothing reads its hold before it settles) is carved from a
wallet lease when the event-loop tier runs (lease.py): no statement before the upstream call; its settlement
then moves its carve out of the lease (lease_sql.py, or orm.settle_leased).
"""

from typing import Any

from billing.db import run_db  # the bounded DB thread pool every async caller shares

from ..pricing import PriceSnapshot, Usage, estimate_micros, hold_for
from . import aio, lease, lease_sql, orm, statement
from .types import InsufficientBalance, RequestFacts, Reservation, Settlement

__all__ = ["InsufficientBalance", "RequestFacts", "Reservation", "Settlement", "is_carved", "release_leases", "reserve", "settle"]


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
    leasable: bool = False,
) -> Reservation:
    """Hold a request's worst case (raises InsufficientBalance). `api_key_id` is written with the hold,
    so the key's spend-cap check counts it from the start; `leasable`: nothing reads this request's hold
    before it settles, so it may be carved from a wallet lease instead."""
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
        if leasable:
            amount = estimate_micros(input_tokens, max_output_tokens, price, tool_micros)
            carve = await lease.current().carve(account_id, request_id, amount)
            if carve is not None:
                return Reservation(hold_id=carve.hold_id, amount_micros=amount, output_cap=max_output_tokens)
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
        carve = lease.current().claim(request_id)
        if carve is not None:
            return await _settle_carved(carve, closing)
        settlement = await aio.settle(**closing)
        return settlement if settlement is not None else await run_db(orm.settle, **closing)
    return await run_db(statement.settle, **closing)


async def _settle_carved(carve: lease.Carve, closing: dict[str, Any]) -> Settlement:
    where: dict[str, Any] = {"lease_id": carve.lease.lease_id, "carve": carve.amount, "hold_id": carve.hold_id}
    try:
        cost, params = lease_sql.settle_params(**where, **closing)
        row = await aio.fetch("settle", closing["request_id"], carve.lease.account_id, lease_sql.settle_sql(), params)
        if row is not None:
            return Settlement(cost_micros=cost, balance_micros=row[0], replayed=False)
        return await run_db(orm.settle_leased, **where, **closing)
    finally:  # settled or not, the carve is done: what it did not charge goes back with its lease
        lease.current().settled(carve)


async def release_leases() -> None:
    """At shutdown: give back this worker's wallet leases (a killed worker's expire and are swept)."""
    await lease.release_all()


def is_carved(request_id: str) -> bool:
    """Whether a live request rides on a wallet lease (no hold row of its own to keep alive)."""
    return lease.is_carved(request_id)
