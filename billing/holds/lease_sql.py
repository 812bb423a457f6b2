"""The wallet-lease statements (PostgreSQL): take a lease, settle a request carved from it, touch, release.

A lease is an ordinary open hold (request_id `lease_…`), so the wallet's held_micros stays the sum of its
open holds and everything that reads holds (the sweeper, reconciliation, the console) sees it as one. A
request carved from a lease has no row until it settles; its settle statement moves its amount from the
lease's hold to its own (inserted closed) and charges it exactly as settle_sql does (the shared tail), so
the request's hold row is what makes its settlement once-only (request_id is unique). A statement that
returns no row could not decide alone (lease closed, usage above the carve): orm.settle_leased decides.

Lock order: a lease's row is shared by all of its requests, and a batch (batch.py) is one transaction, so every
statement here that writes the lease's row first locks the wallet (`wl`), as every other money statement does;
otherwise two batches could each hold one of the two rows and wait for the other.
"""

import functools
import uuid
from datetime import timedelta

from django.utils import timezone

from ..models import Hold, Wallet
from ..pricing import PriceSnapshot, Usage
from . import columns, sql
from .types import RequestFacts


def take_sql() -> str:
    """Hold `amount` for a lease when the wallet's free balance is at least `floor` (≥ amount): the hold statement."""
    return sql.reserve_sql()


def _wallet_first() -> str:
    return f"""wl AS (
    SELECT id FROM {Wallet._meta.db_table} WHERE account_id = %(account)s::bigint FOR UPDATE
)"""


@functools.cache
def settle_sql() -> str:
    hold = Hold._meta.db_table
    cols = ", ".join(columns.HOLD_COLUMNS)
    return f"""
WITH {_wallet_first()}, lease AS (
    UPDATE {hold} SET amount_micros = amount_micros - %(carve)s::bigint FROM wl
    WHERE request_id = %(lease)s::varchar AND {hold}.wallet_id = wl.id
      AND status = 'open' AND amount_micros >= %(carve)s::bigint
      AND %(carve)s::bigint >= %(cost)s::bigint
    RETURNING {hold}.wallet_id
), h AS (
    INSERT INTO {hold} (id, wallet_id, created_at, expires_at, {cols})
    SELECT %(hold)s::uuid, lease.wallet_id, now(), now(), {sql.placeholders(Hold, columns.HOLD_COLUMNS, "h_")}
    FROM lease
    RETURNING wallet_id, amount_micros
), {sql.charge_tail()}"""


@functools.cache
def release_sql() -> str:
    """Close a lease and give back what it still holds (read from its row, not from memory)."""
    wallet, hold = Wallet._meta.db_table, Hold._meta.db_table
    return f"""
WITH {_wallet_first()}, h AS (
    UPDATE {hold} SET status = 'released', closed_at = now() FROM wl
    WHERE request_id = %(lease)s::varchar AND {hold}.wallet_id = wl.id AND status = 'open'
    RETURNING {hold}.wallet_id, {hold}.amount_micros
)
UPDATE {wallet} SET held_micros = held_micros - h.amount_micros FROM h WHERE {wallet}.id = h.wallet_id
RETURNING h.amount_micros
"""


@functools.cache
def touch_sql() -> str:
    """Push a lease's expiry; no row answered: it is no longer open (the sweeper closed it)."""
    hold = Hold._meta.db_table
    return f"""
WITH {_wallet_first()}
UPDATE {hold} SET expires_at = now() + %(ttl)s::interval FROM wl
WHERE request_id = %(lease)s::varchar AND {hold}.wallet_id = wl.id AND status = 'open'
RETURNING request_id
"""


def take_params(*, account_id: int, lease_id: str, amount: int, floor: int, ttl_seconds: int) -> dict:
    params = {"h_" + k: v for k, v in columns.hold_values(request_id=lease_id, amount=amount, api_key_id=None).items()}
    params.update(account=account_id, hold=uuid.uuid4(), ttl=timedelta(seconds=ttl_seconds), floor=max(floor, amount))
    return params


def settle_params(
    *,
    lease_id: str,
    carve: int,
    hold_id: str,
    request_id: str,
    usage: Usage | None,
    price: PriceSnapshot,
    facts: RequestFacts,
    usage_estimated: bool = False,
) -> tuple[int, dict]:
    """(the cost, the parameters): the request's own hold row is written closed, with its carve as amount."""
    cost, params = sql.settle_params(
        request_id=request_id, usage=usage, price=price, facts=facts, usage_estimated=usage_estimated
    )
    own = columns.carved_hold_values(
        request_id=request_id, amount=carve, api_key_id=facts.api_key_id, usage=usage, closed_at=timezone.now()
    )
    params.update({"h_" + k: v for k, v in own.items()})
    params.update(lease=lease_id, carve=carve, hold=uuid.UUID(hold_id), account=facts.account_id)
    return cost, params
