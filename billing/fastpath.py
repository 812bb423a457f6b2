"""Single-statement hold and settle for PostgreSQL: the hot path's two writes, one round trip each.

The ORM versions in services.py take a row lock and make four to nine round trips while holding
it; for one busy wallet that lock is the throughput limit. Here each write is one statement (so one
implicit transaction, the wallet row locked only for its duration). Each returns None when it
cannot decide alone (wallet short, hold already closed, usage above the hold, a key collision) and
the caller falls back to the ORM path, which handles every such case. Same rules, same rows.
"""

import uuid
from datetime import timedelta

import msgspec
from django.db import DatabaseError, connection

from .models import Hold, LedgerEntry, UsageRecord, Wallet

_WALLET = Wallet._meta.db_table
_HOLD = Hold._meta.db_table
_LEDGER = LedgerEntry._meta.db_table
_USAGE = UsageRecord._meta.db_table

RESERVE_SQL = f"""
WITH w AS (
    UPDATE {_WALLET} SET held_micros = held_micros + %(amount)s::bigint
    WHERE account_id = %(account)s::bigint AND balance_micros - held_micros >= %(amount)s::bigint
    RETURNING id
)
INSERT INTO {_HOLD} (id, wallet_id, request_id, amount_micros, status, created_at, expires_at)
SELECT %(hold)s::uuid, w.id, %(request)s::varchar, %(amount)s::bigint, 'open', now(), now() + %(ttl)s::interval
FROM w
RETURNING id
"""

SETTLE_SQL = f"""
WITH h AS (
    UPDATE {_HOLD} SET status = %(status)s::varchar, closed_at = now()
    WHERE request_id = %(request)s::varchar AND status = 'open' AND amount_micros >= %(cost)s::bigint
    RETURNING wallet_id, amount_micros
), w AS (
    UPDATE {_WALLET} SET balance_micros = balance_micros - %(cost)s::bigint,
                         held_micros = held_micros - h.amount_micros, updated_at = now()
    FROM h WHERE {_WALLET}.id = h.wallet_id
    RETURNING {_WALLET}.id, {_WALLET}.balance_micros
), ledger AS (
    INSERT INTO {_LEDGER} (wallet_id, kind, amount_micros, balance_after_micros, idempotency_key, request_id,
                           note, actor, created_at)
    SELECT w.id, 'charge', -%(cost)s::bigint, w.balance_micros, %(key)s::varchar, %(request)s::varchar,
           %(model)s::varchar, 'gateway', now()
    FROM w WHERE %(cost)s::bigint > 0
), usage AS (
    INSERT INTO {_USAGE} (request_id, account_id, api_key_id, channel_id, price_id, group_rule_id, model_id,
                          upstream_model, door, stream, status, error_code, input_tokens, cached_input_tokens,
                          output_tokens, reasoning_tokens, tool_calls, cost_micros, upstream_cost_micros,
                          usage_estimated, latency_ms, first_byte_ms, attempts, created_at)
    SELECT %(request)s::varchar, %(account)s::bigint, %(api_key)s::bigint, %(channel)s::bigint, %(price)s::bigint,
           %(group_rule)s::bigint, %(model)s::varchar, %(upstream)s::varchar, %(door)s::varchar, %(stream)s::boolean,
           %(http_status)s::smallint,
           %(error)s::varchar, %(input)s::bigint, %(cached)s::bigint, %(output)s::bigint, %(reasoning)s::bigint,
           %(tool_calls)s::jsonb, %(cost)s::bigint, %(upstream_cost)s::bigint, %(estimated)s::boolean, %(latency)s::integer,
           %(first_byte)s::integer,
           %(attempts)s::jsonb, now()
    FROM w
)
SELECT balance_micros FROM w
"""


def available() -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def reserve_params(*, account_id: int, request_id: str, amount: int, ttl: timedelta) -> dict:
    return {"amount": amount, "account": account_id, "hold": uuid.uuid4(), "request": request_id, "ttl": ttl}


def reserve(*, account_id: int, request_id: str, amount: int, ttl_seconds: int) -> str | None:
    """Hold `amount` if the wallet has it. Returns the hold id, or None (caller decides)."""
    params = reserve_params(account_id=account_id, request_id=request_id, amount=amount, ttl=timedelta(seconds=ttl_seconds))
    try:
        with connection.cursor() as cursor:
            cursor.execute(RESERVE_SQL, params)
            row = cursor.fetchone()
    except DatabaseError:  # autocommit: the failed statement changed nothing
        return None
    return str(row[0]) if row else None


def settle_params(
    *, request_id: str, cost: int, usage, price_id, facts, estimated: bool, group_rule_id: int | None = None
) -> dict:
    return {
        "status": Hold.Status.SETTLED if usage is not None else Hold.Status.RELEASED,
        "request": request_id,
        "cost": cost,
        "key": f"charge:{request_id}",
        "model": facts.model_id,
        "account": facts.account_id,
        "api_key": facts.api_key_id,
        "channel": facts.channel_id,
        "price": price_id,
        "group_rule": group_rule_id,
        "upstream": facts.upstream_model,
        "door": facts.door,
        "stream": facts.stream,
        "http_status": facts.status,
        "error": facts.error_code,
        "input": usage.input_tokens if usage else 0,
        "cached": usage.cached_input_tokens if usage else 0,
        "output": usage.output_tokens if usage else 0,
        "reasoning": usage.reasoning_tokens if usage else 0,
        "tool_calls": msgspec.json.encode(dict(usage.tool_calls) if usage else {}).decode(),
        "upstream_cost": facts.upstream_cost_micros,
        "estimated": estimated,
        "latency": facts.latency_ms,
        "first_byte": facts.first_byte_ms,
        "attempts": msgspec.json.encode(facts.attempts).decode(),
    }


def settle(
    *, request_id: str, cost: int, usage, price_id, facts, estimated: bool, group_rule_id: int | None = None
) -> int | None:
    """Charge `cost` (≤ the hold) and close the hold. Returns the new balance, or None (caller decides)."""
    params = settle_params(
        request_id=request_id, cost=cost, usage=usage, price_id=price_id, facts=facts, estimated=estimated,
        group_rule_id=group_rule_id,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(SETTLE_SQL, params)
            row = cursor.fetchone()
    except DatabaseError:  # e.g. a duplicate usage record: let the ORM path sort out what happened
        return None
    return row[0] if row else None
