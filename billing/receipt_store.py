"""Keeping issued receipts: one INSERT per flush. On PostgreSQL it joins the money statements' next
batch on the event loop (no hop to a DB thread); elsewhere the ORM writes the rows."""

import functools

from billing.db import run_db

from .holds import aio
from .receipt_models import Receipt


@functools.cache
def _insert_sql() -> str:
    return f"""
INSERT INTO {Receipt._meta.db_table} (request_id, account_id, kid, jws, created_at)
SELECT r, a, k, j, now() FROM unnest(%(r)s::varchar[], %(a)s::bigint[], %(k)s::varchar[], %(j)s::text[]) AS x(r, a, k, j)
ON CONFLICT (request_id) DO NOTHING
"""


async def keep(rows: list[Receipt]) -> None:
    """Store receipts (a replayed request id keeps its first receipt)."""
    if not rows:
        return
    if aio.enabled():
        params = {
            "r": [row.request_id for row in rows],
            "a": [row.account_id for row in rows],
            "k": [row.kid for row in rows],
            "j": [row.jws for row in rows],
        }
        await aio.current_pool().fetch_one(0, _insert_sql(), params)
        return
    await run_db(Receipt.objects.bulk_create, rows, ignore_conflicts=True)
