"""The hot path's hold and settle on the event loop: PostgreSQL, without a thread hop.

fastpath.py made each write one statement; run through the ORM it still costs a hand-off to a
pool thread and back, Django's cursor wrappers, and a statement PostgreSQL parses and plans anew
every time (Django binds parameters on the client). Here the same statements run on a few
autocommit psycopg connections owned by the event loop, as server-side prepared statements.

Like fastpath, each call answers None when it cannot decide alone (wallet short, hold already
closed, a duplicate, any database error): the caller then runs the ORM path in a thread, which
handles every case. Same SQL, same rows, same rules.
"""

import asyncio
import logging
from datetime import timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

from . import fastpath
from .pricing import PriceSnapshot, Usage, charge_micros, estimate_micros
from .services import RequestFacts, Reservation, Settlement

log = logging.getLogger("harnmodel.billing")


class _Pool:
    """A few connections for one event loop. Connections are created on demand, up to `size`."""

    def __init__(self, size: int, persistent: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.idle: list[psycopg.AsyncConnection] = []
        self.slots = asyncio.Semaphore(size)
        self.persistent = persistent

    async def _connect(self) -> psycopg.AsyncConnection:
        params = connections["default"].get_connection_params()
        for django_only in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(django_only, None)
        # Prepare on first use: these two statements run on every request.
        return await psycopg.AsyncConnection.connect(**params, autocommit=True, prepare_threshold=0)

    async def fetch_one(self, sql: str, params: dict[str, Any]) -> tuple | None:
        async with self.slots:
            conn = self.idle.pop() if self.idle else await self._connect()
            keep = self.persistent
            try:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchone()
            except BaseException:
                keep = keep and not conn.broken  # a cancelled or failed statement may leave it unusable
                raise
            finally:
                if keep and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                    self.idle.append(conn)
                else:
                    await _close(conn)


async def _close(conn: psycopg.AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:  # closing a broken connection: nothing left to do
        pass


_pool: _Pool | None = None


def enabled() -> bool:
    return settings.HARNMODEL_DB_ASYNC and connections["default"].vendor == "postgresql"


def _current_pool() -> _Pool:
    global _pool
    if _pool is None or _pool.loop is not asyncio.get_running_loop():
        _pool = _Pool(settings.HARNMODEL_DB_ASYNC_CONNECTIONS, settings.HARNMODEL_DB_PERSISTENT)
    return _pool


async def _fetch(sql: str, params: dict[str, Any]) -> tuple | None:
    try:
        return await _current_pool().fetch_one(sql, params)
    except psycopg.Error as exc:  # autocommit: the failed statement changed nothing
        log.warning("async fast path fell back to the ORM: %s", type(exc).__name__)
        return None


async def hold_reserve(
    *,
    account_id: int,
    request_id: str,
    input_tokens: int,
    max_output_tokens: int,
    price: PriceSnapshot,
    ttl_seconds: int,
    tool_micros: int = 0,
) -> Reservation | None:
    """services.hold_reserve's common case in one statement; None means "ask the ORM path"."""
    amount = estimate_micros(input_tokens, max_output_tokens, price, tool_micros)
    params = fastpath.reserve_params(
        account_id=account_id, request_id=request_id, amount=amount, ttl=timedelta(seconds=ttl_seconds)
    )
    row = await _fetch(fastpath.RESERVE_SQL, params)
    if row is None:
        return None
    return Reservation(hold_id=str(row[0]), amount_micros=amount, output_cap=max_output_tokens)


async def hold_settle(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool
) -> Settlement | None:
    """services.hold_settle's common case in one statement; None means "ask the ORM path"."""
    cost = charge_micros(usage, price) if usage is not None else 0
    params = fastpath.settle_params(
        request_id=request_id, cost=cost, usage=usage, price_id=price.id, facts=facts, estimated=usage_estimated,
        group_rule_id=price.group_rule_id,
    )
    row = await _fetch(fastpath.SETTLE_SQL, params)
    if row is None:
        return None
    return Settlement(cost_micros=cost, balance_micros=row[0], replayed=False)
