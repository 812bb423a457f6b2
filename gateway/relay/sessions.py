"""Session budgets: a key may cap what one agent session spends, so a runaway loop stops.

A session is the `X-Session-Id` header, or else the body's `prompt_cache_key`; a key with a budget and a
request naming no session is not counted. The session's counter holds what it was charged plus the
shares of its requests in flight: admission takes a share (the request's worst case, at most what is
left) in one atomic step, and settlement turns the share into the real charge. The share is the
request's cost ceiling (gateway/relay/ceilings.py), so its hold and its charge never exceed it and the
counter never passes the budget, however many requests of the session run at once.

Counters live in Redis with REDIS_URL (one Lua script a step), else in the database (SessionSpend, one
row-locked statement a step). A counter ends HARNMODEL_SESSION_IDLE_SECONDS after the session's last
request (Redis expiry; `purge_idle` for rows). Only a hash of the session id is stored. A worker that dies
mid-request leaves its share counted: a session stops early, never late. Redis failing falls back to the
database's counter, which starts afresh: exactness holds within each store.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.db import run_db
from billing.money import decimal_string
from gateway.models import SessionSpend
from gateway.relay import shared_state
from gateway.wire.errors import InvalidRequest, SessionBudgetExceeded
from gateway.wire.schema import ResponsesRequest

log = logging.getLogger("harnmodel.sessions")
HEADER = "x-session-id"
MAX_SESSION_CHARS = 128

# KEYS[1] the counter; ARGV budget, want, minimum, idle seconds. Returns the share taken, or -1 when less
# than `minimum` is left (nothing taken).
_TAKE = shared_state.Script("""
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = tonumber(ARGV[1]) - used
if left < tonumber(ARGV[3]) then return -1 end
local take = math.min(tonumber(ARGV[2]), left)
redis.call('INCRBY', KEYS[1], take)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return take
""")
# KEYS[1] the counter; ARGV delta (charge − share), idle seconds. A counter that lapsed stays gone.
_SETTLE = shared_state.Script("""
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
""")


def session_id(headers, typed: ResponsesRequest) -> str | None:
    """The request's session: `X-Session-Id`, else `prompt_cache_key` (already length-bounded by the schema)."""
    header = headers.get(HEADER)
    if header is not None:
        header = header.strip()
        if not header or len(header) > MAX_SESSION_CHARS or not header.isprintable():
            raise InvalidRequest(f"X-Session-Id must be 1 to {MAX_SESSION_CHARS} printable characters.",
                                 param="X-Session-Id", code="invalid_session_id")
        return header
    return typed.prompt_cache_key or None


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode("utf-8", "replace")).hexdigest()


@dataclass(slots=True)
class Share:
    """A request's part of its session's budget: `taken` micros, counted until settlement corrects it."""

    key_id: int
    digest: str
    taken: int
    in_redis: bool
    open: bool = True

    async def settle(self, cost: int) -> None:
        """The request was charged `cost` (≤ taken): the counter keeps that and drops the rest of the share."""
        if not self.open:
            return
        self.open = False
        delta = cost - self.taken
        if delta == 0:
            return
        if self.in_redis:
            idle = settings.HARNMODEL_SESSION_IDLE_SECONDS
            ok, _ = await shared_state.call(lambda redis: _SETTLE(redis, [_redis_key(self.key_id, self.digest)],
                                                                  [delta, idle]))
            if not ok:
                log.warning("session share not returned (Redis down); the session stops early")
            return
        await run_db(_db_settle, key_id=self.key_id, digest=self.digest, delta=delta)


def _redis_key(key_id: int, digest: str) -> str:
    return shared_state.key("sess", key_id, digest)


async def take(*, key_id: int, budget: int, session: str, want: int, minimum: int) -> Share:
    """Take min(want, what is left) of the session's budget; 402 when less than `minimum` is left."""
    digest = _digest(session)
    idle = settings.HARNMODEL_SESSION_IDLE_SECONDS
    in_redis, taken = await shared_state.call(
        lambda redis: _TAKE(redis, [_redis_key(key_id, digest)], [budget, want, minimum, idle])
    )
    if not in_redis:
        taken = await run_db(_db_take, key_id=key_id, digest=digest, budget=budget, want=want, minimum=minimum)
    if taken is None or int(taken) < 0:
        raise spent(budget)
    return Share(key_id=key_id, digest=digest, taken=int(taken), in_redis=in_redis)


def spent(budget: int) -> SessionBudgetExceeded:
    return SessionBudgetExceeded(
        f"This session has spent its budget of {decimal_string(budget)} for this API key: what is left does not "
        "cover this request's input and one output token. Start a new session (X-Session-Id) or raise the key's "
        "session budget."
    )


async def left(*, key_id: int, budget: int, session: str) -> int:
    """What the session may still spend (a quote's look, nothing taken)."""
    digest = _digest(session)
    found, stored = await shared_state.call(lambda redis: redis.get(_redis_key(key_id, digest)))
    used = int(stored or 0) if found else await run_db(_db_used, key_id=key_id, digest=digest)
    return max(0, budget - used)


def _fresh_since():
    return timezone.now() - timedelta(seconds=settings.HARNMODEL_SESSION_IDLE_SECONDS)


def _db_used(*, key_id: int, digest: str) -> int:
    row = SessionSpend.objects.filter(api_key_id=key_id, session=digest, updated_at__gt=_fresh_since()).first()
    return row.used_micros if row else 0


@transaction.atomic
def _db_take(*, key_id: int, digest: str, budget: int, want: int, minimum: int) -> int:
    now = timezone.now()
    row, _ = SessionSpend.objects.select_for_update().get_or_create(
        api_key_id=key_id, session=digest, defaults={"updated_at": now}
    )
    used = row.used_micros if row.updated_at > _fresh_since() else 0  # an idle session starts afresh
    if budget - used < minimum:
        return -1
    share = min(want, budget - used)
    SessionSpend.objects.filter(pk=row.pk).update(used_micros=used + share, updated_at=now)
    return share


def _db_settle(*, key_id: int, digest: str, delta: int) -> None:
    SessionSpend.objects.filter(api_key_id=key_id, session=digest).update(
        used_micros=F("used_micros") + delta, updated_at=timezone.now()
    )


def purge_idle() -> int:
    """Delete session rows idle past HARNMODEL_SESSION_IDLE_SECONDS (a periodic task); returns how many."""
    deleted, _ = SessionSpend.objects.filter(updated_at__lt=_fresh_since()).delete()
    return deleted
