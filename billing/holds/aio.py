"""The single statements on the event loop (PostgreSQL), without a hop to a DB thread.

Through the ORM a statement still costs a hand-off to a pool thread and back, Django's cursor
wrappers, and a statement PostgreSQL parses and plans anew every time (Django binds parameters on
the client). Here the same statements (sql.py) run on a few autocommit psycopg connections owned by
the event loop, as server-side prepared statements, concurrent ones in one round trip and one commit
(batch.py). None means "the locked path decides".
"""

import asyncio
import functools
import logging
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

from ..models import Wallet
from ..pricing import PriceSnapshot, Usage
from . import sql
from .batch import Batcher
from .errors import statement_failed
from .types import RequestFacts, Reservation, Settlement

log = logging.getLogger("harnmodel.billing")


class _Pool:
    """A few connections for one event loop, created on demand up to `size`; statements go through the
    batcher (group commit, batch.py), which takes a slot before it checks a connection out."""

    def __init__(self, size: int, persistent: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.idle: list[psycopg.AsyncConnection] = []
        self.slots = asyncio.Semaphore(size)
        self.persistent = persistent
        self.batcher = Batcher(self)

    async def _connect(self) -> psycopg.AsyncConnection:
        params = connections["default"].get_connection_params()
        for django_only in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(django_only, None)
        # Prepare on first use: these two statements run on every request.
        return await psycopg.AsyncConnection.connect(**params, autocommit=True, prepare_threshold=0)

    async def checkout(self) -> psycopg.AsyncConnection:
        return self.idle.pop() if self.idle else await self._connect()

    async def checkin(self, conn: psycopg.AsyncConnection, ok: bool) -> None:
        # a cancelled or failed statement may leave a connection unusable: it is closed, not reused
        keep = self.persistent and (ok or not conn.broken)
        if keep and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            self.idle.append(conn)
        else:
            await _close(conn)

    async def fetch_one(self, order: int, query: str, params: dict[str, Any]) -> tuple | None:
        return await self.batcher.fetch_one(order, query, params)


async def _close(conn: psycopg.AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:  # closing a broken connection: nothing left to do
        pass


_pool: _Pool | None = None


@functools.cache
def _postgres() -> bool:
    # `connections[...]` is an async-context-local lookup, measured at ~1.5 % of a request: the backend
    # of a process never changes, so it is asked once.
    return connections["default"].vendor == "postgresql"


def enabled() -> bool:
    return settings.HARNMODEL_DB_ASYNC and _postgres()


def current_pool() -> _Pool:
    global _pool
    if _pool is None or _pool.loop is not asyncio.get_running_loop():
        _pool = _Pool(settings.HARNMODEL_DB_ASYNC_CONNECTIONS, settings.HARNMODEL_DB_PERSISTENT)
    return _pool


async def fetch(op: str, request_id: str, account_id: int, query: str, params: dict[str, Any]) -> tuple | None:
    try:
        return await current_pool().fetch_one(account_id, query, params)
    except psycopg.Error as exc:
        statement_failed(op=op, request_id=request_id, exc=exc)
        return None


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
) -> Reservation | None:
    amount, params = sql.reserve_params(
        account_id=account_id,
        request_id=request_id,
        input_tokens=input_tokens,
        max_output_tokens=max_output_tokens,
        price=price,
        ttl_seconds=ttl_seconds,
        tool_micros=tool_micros,
        api_key_id=api_key_id,
    )
    row = await fetch("reserve", request_id, account_id, sql.reserve_sql(), params)
    if row is None:
        return None
    return Reservation(hold_id=str(row[0]), amount_micros=amount, output_cap=max_output_tokens)


async def free_micros(account_id: int) -> int | None:
    """The wallet's balance not held, read without a lock (None: no wallet, or the read failed). Only a
    refusal may rest on it: a request refused on it is one that arrived a moment earlier."""
    wallet = Wallet._meta.db_table
    query = f"SELECT balance_micros - held_micros FROM {wallet} WHERE account_id = %(account)s::bigint"
    try:
        row = await current_pool().fetch_one(account_id, query, {"account": account_id})
    except psycopg.Error:  # a read changed nothing: the locked path decides, as without it
        log.warning("reading the wallet's free balance failed; the locked path decides", exc_info=True)
        return None
    return None if row is None else row[0]


async def settle(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool = False
) -> Settlement | None:
    cost, params = sql.settle_params(
        request_id=request_id, usage=usage, price=price, facts=facts, usage_estimated=usage_estimated
    )
    row = await fetch("settle", request_id, facts.account_id, sql.settle_sql(), params)
    if row is None:
        return None
    return Settlement(cost_micros=cost, balance_micros=row[0], replayed=False)
