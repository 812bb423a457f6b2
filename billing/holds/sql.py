"""The single-statement hold and settle (PostgreSQL), built from the column map (columns.py).

The locked ORM path takes the wallet's row lock and makes four to nine round trips while holding it;
for one busy wallet that lock is the throughput limit. Here each write is one statement, so one
implicit transaction and the wallet row locked only for its duration. A statement that returns no
row could not decide alone (wallet short, hold not open, usage above the hold): the caller then runs
the locked path, which handles every case. Column lists and casts come from the models, so the
statements cannot drift from what the ORM path writes.
"""

import functools
import uuid
from datetime import timedelta

import msgspec
from django.db import connections
from django.db.models import CharField, JSONField

from ..models import Hold, LedgerEntry, UsageRecord, Wallet
from ..pricing import PriceSnapshot, Usage, charge_micros, estimate_micros
from . import columns
from .types import RequestFacts


def _field(model, attname: str):
    return next(f for f in model._meta.concrete_fields if f.attname == attname)


def _cast(model, attname: str) -> str:
    field = _field(model, attname)
    if isinstance(field, CharField):  # `::varchar(64)` would silently cut a longer value; the column refuses it
        return "varchar"
    return field.cast_db_type(connections["default"])


def placeholders(model, names: tuple[str, ...], prefix: str) -> str:
    return ", ".join(f"%({prefix}{name})s::{_cast(model, name)}" for name in names)


def _json_columns(model, names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(n for n in names if isinstance(_field(model, n), JSONField))


@functools.cache
def reserve_sql() -> str:
    wallet, hold = Wallet._meta.db_table, Hold._meta.db_table
    cols = ", ".join(columns.HOLD_COLUMNS)
    return f"""
WITH w AS (
    UPDATE {wallet} SET held_micros = held_micros + %(h_amount_micros)s::bigint
    WHERE account_id = %(account)s::bigint AND balance_micros - held_micros >= %(floor)s::bigint
    RETURNING id
)
INSERT INTO {hold} (id, wallet_id, created_at, expires_at, {cols})
SELECT %(hold)s::uuid, w.id, now(), now() + %(ttl)s::interval, {placeholders(Hold, columns.HOLD_COLUMNS, "h_")}
FROM w
RETURNING id
"""


def charge_tail() -> str:
    """After a CTE `h` (the closing hold's wallet_id and amount_micros): charge the wallet, release the hold's
    amount, write the charge and the usage record; answers the new balance. Shared by both settle statements."""
    wallet, ledger, usage = Wallet._meta.db_table, LedgerEntry._meta.db_table, UsageRecord._meta.db_table
    charge_cols = ", ".join(columns.CHARGE_COLUMNS)
    usage_cols = ", ".join(columns.USAGE_COLUMNS)
    return f"""w AS (
    UPDATE {wallet} SET balance_micros = balance_micros - %(cost)s::bigint,
                        held_micros = held_micros - h.amount_micros, updated_at = now()
    FROM h WHERE {wallet}.id = h.wallet_id
    RETURNING {wallet}.id, {wallet}.balance_micros
), ledger AS (
    INSERT INTO {ledger} (wallet_id, balance_after_micros, created_at, {charge_cols})
    SELECT w.id, w.balance_micros, now(), {placeholders(LedgerEntry, columns.CHARGE_COLUMNS, "l_")}
    FROM w WHERE %(cost)s::bigint > 0
), usage AS (
    INSERT INTO {usage} (created_at, {usage_cols})
    SELECT now(), {placeholders(UsageRecord, columns.USAGE_COLUMNS, "u_")}
    FROM w
)
SELECT balance_micros FROM w
"""


@functools.cache
def settle_sql() -> str:
    hold = Hold._meta.db_table
    return f"""
WITH h AS (
    UPDATE {hold} SET status = %(status)s::varchar, closed_at = now()
    WHERE request_id = %(request)s::varchar AND status = 'open' AND amount_micros >= %(cost)s::bigint
    RETURNING wallet_id, amount_micros
), {charge_tail()}"""


_JSON = msgspec.json.Encoder()
# Parameter names, in the column map's order (each *_values function returns its keys in that order).
_HOLD_NAMES = tuple("h_" + name for name in columns.HOLD_COLUMNS)
_CHARGE_NAMES = tuple("l_" + name for name in columns.CHARGE_COLUMNS)
_USAGE_NAMES = tuple("u_" + name for name in columns.USAGE_COLUMNS)
_USAGE_JSON_NAMES = tuple("u_" + name for name in sorted(_json_columns(UsageRecord, columns.USAGE_COLUMNS)))


def _named(names: tuple[str, ...], values: dict) -> zip:
    return zip(names, values.values(), strict=True)


def reserve_params(
    *,
    account_id: int,
    request_id: str,
    input_tokens: int,
    max_output_tokens: int,
    price: PriceSnapshot,
    ttl_seconds: int,
    tool_micros: int = 0,
    api_key_id: int | None = None,
) -> tuple[int, dict]:
    """(the worst case the statement holds, its parameters): the statement holds it whole or not at all."""
    amount = estimate_micros(input_tokens, max_output_tokens, price, tool_micros)
    params = dict(_named(_HOLD_NAMES, columns.hold_values(request_id=request_id, amount=amount, api_key_id=api_key_id)))
    # `floor`: the free balance the wallet must have; a request's own hold needs its amount (a lease: more)
    params.update(account=account_id, hold=uuid.uuid4(), ttl=timedelta(seconds=ttl_seconds), floor=amount)
    return amount, params


def settle_params(
    *, request_id: str, usage: Usage | None, price: PriceSnapshot, facts: RequestFacts, usage_estimated: bool = False
) -> tuple[int, dict]:
    """(the cost the statement charges, its parameters): charged whole if it fits the open hold, else nothing."""
    cost = charge_micros(usage, price) if usage is not None else 0
    params = {"status": columns.hold_closed_status(usage), "request": request_id, "cost": cost}
    params.update(_named(_CHARGE_NAMES, columns.charge_values(request_id=request_id, cost=cost, facts=facts)))
    values = columns.usage_values(
        request_id=request_id, usage=usage, cost=cost, price_id=price.id, facts=facts, estimated=usage_estimated,
        group_rule_id=price.group_rule_id,
    )
    params.update(_named(_USAGE_NAMES, values))
    for name in _USAGE_JSON_NAMES:
        params[name] = _JSON.encode(params[name]).decode()
    return cost, params
