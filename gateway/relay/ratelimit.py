"""Rate limits per API key and per account: requests per minute, tokens per minute, requests in flight.

RPM and TPM are token buckets (capacity = the limit, refilled at limit/60 per second), so
`remaining` and `reset` mean what OpenAI's x-ratelimit-* headers mean. TPM is reserved at
admission (estimated input + the output the request may produce, at most one minute's worth)
and reconciled after with the actual usage; a bucket may go into debt, which the next requests
wait out. Concurrency is a set of request ids with an expiry (a crashed worker's slots lapse).

One atomic Lua script per request at admission and one at the end with REDIS_URL; in-process
dictionaries without it. A key and account without limits costs nothing (no Redis call). If
Redis fails, requests pass (fail open): limits protect the upstream budget, not correctness.

A refusal by a requests-per-minute bucket is remembered by the worker until that bucket must still be
empty (`refuse_known`): nothing gives RPM tokens back and no one can take one from an empty bucket, so until
then every request of the key is refused here, before parsing, without a Redis call (a fast failure).
"""

import math
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.conf import settings

from gateway.relay import shared_state
from gateway.relay.catalog import KeyInfo
from gateway.wire.bounded import BoundedCache
from gateway.wire.errors import ApiError

clock = time.time  # injectable for tests
BUCKET, SLOTS = "b", "c"
_MINUTE_MS = 60_000


class RateLimited(ApiError):
    status = 429
    type = "requests"
    code = "rate_limit_exceeded"
    retryable = True


@dataclass(slots=True)
class Limit:
    key: str
    kind: str  # BUCKET or SLOTS
    dimension: str  # "requests", "tokens" or "concurrency"
    scope: str  # "API key" or "account"
    limit: int
    cost: int = 1


@dataclass(slots=True)
class Ticket:
    """What a request holds; handed back to `finish` when it ends."""

    member: str
    limits: list[Limit]
    headers: dict[str, str] = field(default_factory=dict)


# Set while a turn of a Responses WebSocket is admitted: the socket already holds a concurrency slot of its key
# and account for its whole life (gateway/relay/websocket.py), and its turns run one at a time inside it.
IN_SOCKET_SLOT: ContextVar[bool] = ContextVar("harnmodel_in_socket_slot", default=False)


def _limits(key: KeyInfo, input_tokens: int, max_output_tokens: int) -> list[Limit]:
    wanted = input_tokens + max_output_tokens
    slot_held = IN_SOCKET_SLOT.get()
    limits = []
    for scope, owner, rpm, tpm, concurrency in (
        ("API key", f"k:{key.id}", key.rpm_limit, key.tpm_limit, key.concurrency_limit),
        ("account", f"a:{key.account_id}", key.account_rpm_limit, key.account_tpm_limit, key.account_concurrency_limit),
    ):
        if rpm:
            limits.append(Limit(shared_state.key("rl", owner, "rpm"), BUCKET, "requests", scope, rpm))
        if tpm:
            if input_tokens > tpm:
                raise RateLimited(
                    f"Request too large for the tokens per minute (TPM) limit of this {scope}: limit {tpm}, "
                    f"requested {input_tokens} input tokens. Send a shorter input.",
                    type="tokens",
                    retryable=False,
                )
            limits.append(Limit(shared_state.key("rl", owner, "tpm"), BUCKET, "tokens", scope, tpm, min(wanted, tpm)))
        if concurrency and not slot_held:
            limits.append(Limit(shared_state.key("rl", owner, "inflight"), SLOTS, "concurrency", scope, concurrency))
    return limits


# -- the atomic part, twice: Lua for Redis, Python for one process -----------------------------------

_ACQUIRE = shared_state.Script(
    """
local now, member, slot_ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local levels, ats, wait, blocked = {}, {}, 0, 0
for i = 1, #KEYS do
  local kind, limit, cost = ARGV[1 + i * 3], tonumber(ARGV[2 + i * 3]), tonumber(ARGV[3 + i * 3])
  if kind == 'b' then
    local s = redis.call('HMGET', KEYS[i], 't', 'u')
    local t, u = tonumber(s[1]) or limit, tonumber(s[2]) or now
    -- a request timed before the last write (concurrent callers reach Redis out of order) must not
    -- refill backwards: time only moves forward here
    ats[i] = math.max(now, u)
    t = math.min(limit, t + (ats[i] - u) * limit / 60000)
    levels[i] = t
    if t < cost then
      local w = math.ceil((cost - t) * 60000 / limit)
      if w > wait then wait, blocked = w, i end
    end
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local n = redis.call('ZCARD', KEYS[i])
    levels[i] = limit - n
    if n >= limit and 1000 > wait then wait, blocked = 1000, i end
  end
end
if blocked == 0 then
  for i = 1, #KEYS do
    local kind, cost = ARGV[1 + i * 3], tonumber(ARGV[3 + i * 3])
    if kind == 'b' then
      levels[i] = levels[i] - cost
      redis.call('HSET', KEYS[i], 't', tostring(levels[i]), 'u', ats[i])
      redis.call('PEXPIRE', KEYS[i], 120000)
    else
      redis.call('ZADD', KEYS[i], now + slot_ttl, member)
      redis.call('PEXPIRE', KEYS[i], slot_ttl)
      levels[i] = levels[i] - 1
    end
  end
end
local out = {blocked, wait}
for i = 1, #KEYS do out[#out + 1] = tostring(levels[i]) end
return out
"""
)

_FINISH = shared_state.Script(
    """
local now, member = tonumber(ARGV[1]), ARGV[2]
for i = 1, #KEYS do
  local kind, limit, delta = ARGV[i * 3], tonumber(ARGV[1 + i * 3]), tonumber(ARGV[2 + i * 3])
  if kind == 'b' then
    local s = redis.call('HMGET', KEYS[i], 't', 'u')
    local t, u = tonumber(s[1]) or limit, tonumber(s[2]) or now
    local at = math.max(now, u)
    t = math.min(limit, t + (at - u) * limit / 60000 - delta)
    redis.call('HSET', KEYS[i], 't', tostring(t), 'u', at)
    redis.call('PEXPIRE', KEYS[i], 120000)
  else
    redis.call('ZREM', KEYS[i], member)
  end
end
return 1
"""
)

_lock = threading.Lock()
# Without Redis only; keyed by key and account ids. Bounded (gateway/wire/bounded.py): an evicted bucket starts full.
MAX_ENTRIES, MAX_BYTES = 200_000, 64 * 1024 * 1024
_buckets = BoundedCache(MAX_ENTRIES, MAX_BYTES)  # key → (tokens, updated ms)
_slots = BoundedCache(MAX_ENTRIES, MAX_BYTES)  # key → {member: expires ms}; at most `limit` members each


def reset_local() -> None:
    with _lock:
        _buckets.clear()
        _slots.clear()
    forget_refusals()


def forget_refusals() -> None:
    """Forgetting a refusal is always safe: the next request asks the bucket again."""
    _refused.clear()


def _refilled(level: float, limit: int, elapsed_ms: int) -> float:
    """A bucket's level `elapsed_ms` after it read `level` (the Lua scripts' rule); time never runs backwards."""
    return min(float(limit), level + max(0, elapsed_ms) * limit / _MINUTE_MS)


def _refill(key: str, limit: int, now: int) -> float:
    tokens, updated = _buckets.get(key, (float(limit), now))
    return _refilled(tokens, limit, now - updated)


def _later(key: str, now: int) -> int:
    return max(now, _buckets.get(key, (0.0, now))[1])


def _acquire_local(limits: list[Limit], member: str, now: int, slot_ttl: int) -> tuple[int, int, list[float]]:
    with _lock:
        levels, wait, blocked = [], 0, 0
        for index, limit in enumerate(limits, 1):
            if limit.kind == BUCKET:
                level = _refill(limit.key, limit.limit, now)
                if level < limit.cost:
                    needed = math.ceil((limit.cost - level) * _MINUTE_MS / limit.limit)
                    if needed > wait:
                        wait, blocked = needed, index
            else:
                slots = _slots.setdefault(limit.key, {})
                for gone in [m for m, expires in slots.items() if expires <= now]:
                    del slots[gone]
                level = float(limit.limit - len(slots))
                if len(slots) >= limit.limit and wait < 1000:
                    wait, blocked = 1000, index
            levels.append(level)
        if not blocked:
            for index, limit in enumerate(limits):
                if limit.kind == BUCKET:
                    levels[index] -= limit.cost
                    _buckets[limit.key] = (levels[index], _later(limit.key, now))
                else:
                    _slots.setdefault(limit.key, {})[member] = now + slot_ttl
                    levels[index] -= 1
        return blocked, wait, levels


def _finish_local(limits: list[Limit], member: str, deltas: list[int], now: int) -> None:
    with _lock:
        for limit, delta in zip(limits, deltas, strict=True):
            if limit.kind == BUCKET:
                level = min(float(limit.limit), _refill(limit.key, limit.limit, now) - delta)
                _buckets[limit.key] = (level, _later(limit.key, now))
            else:
                _slots.get(limit.key, {}).pop(member, None)


# -- the API ---------------------------------------------------------------------------------------


async def acquire(key: KeyInfo, request_id: str, input_tokens: int, max_output_tokens: int) -> Ticket | None:
    """Admit one request under every limit of its key and account, or raise RateLimited (429)."""
    if not key.limited:
        return None
    limits = _limits(key, input_tokens, max_output_tokens)
    now = int(clock() * 1000)
    slot_ttl = settings.HARNMODEL_HOLD_TTL_SECONDS * 1000
    args: list = [now, request_id, slot_ttl]
    for limit in limits:
        args += [limit.kind, limit.limit, limit.cost]
    used, reply = await shared_state.call(lambda r: _ACQUIRE(r, [limit.key for limit in limits], args))
    if used and reply is not None:
        blocked, wait, levels = int(reply[0]), int(reply[1]), [float(v) for v in reply[2:]]
    elif shared_state.configured():
        return None  # Redis is down: let traffic through rather than guess
    else:
        blocked, wait, levels = _acquire_local(limits, request_id, now, slot_ttl)
    if blocked:
        if limits[blocked - 1].dimension == "requests":
            _refused[key.id] = (now + wait - 1, key.rate_limits, limits, levels, now, blocked)
        raise _refusal(limits, levels, blocked, wait)
    return Ticket(member=request_id, limits=limits, headers=_headers(limits, levels))


def _refusal(limits: list[Limit], levels: list[float], blocked: int, wait: int) -> RateLimited:
    limit = limits[blocked - 1]
    seconds = max(1, math.ceil(wait / 1000))
    return RateLimited(
        _message(limit, seconds),
        type="tokens" if limit.dimension == "tokens" else "requests",
        headers={**_headers(limits, levels), "retry-after": str(seconds), "retry-after-ms": str(max(wait, 1))},
    )


# key id → (refused until ms, the key's limits then, limits, levels, at ms, blocking index): RPM refusals only
_refused = BoundedCache(50_000, 16 * 1024 * 1024)


def refuse_known(key: KeyInfo) -> None:
    """429 at once while an RPM bucket this worker saw refuse the key must still be empty. `until` is one ms
    short of the refusal's own wait (rounded up): the bucket is below one request for the whole time. Bucket
    levels in the headers are the refusal's, refilled by the time since; a token reservation given back since
    (TPM) is not seen there. Changed limits (the key's cached info) forget the refusal."""
    if not key.limited:
        return
    known = _refused.get(key.id)
    if known is None:
        return
    until, signature, limits, levels, at, blocked = known
    now = int(clock() * 1000)
    if now >= until or signature != key.rate_limits:
        _refused.pop(key.id, None)
        return
    levels = [_refilled(lvl, lim.limit, now - at) if lim.kind == BUCKET else lvl
              for lim, lvl in zip(limits, levels, strict=True)]
    raise _refusal(limits, levels, blocked, until + 1 - now)


async def take(limits: list[Limit], member: str) -> bool:
    """Charge these token buckets together if every one has room, else none (the key pools' per-credential caps,
    gateway/pool/pick.py). Same scripts, same fail-open rule as `acquire`."""
    now = int(clock() * 1000)
    args: list = [now, member, 0]
    for limit in limits:
        args += [limit.kind, limit.limit, limit.cost]
    used, reply = await shared_state.call(lambda r: _ACQUIRE(r, [limit.key for limit in limits], args))
    if used and reply is not None:
        return int(reply[0]) == 0
    if shared_state.configured():
        return True
    return _acquire_local(limits, member, now, 0)[0] == 0


async def finish(ticket: Ticket | None, used_tokens: int) -> None:
    """The request ended: free its slot, and settle its token reservation against what it used."""
    if ticket is None:
        return
    ends = [limit for limit in ticket.limits if limit.dimension != "requests"]
    if not ends:
        return
    deltas = [used_tokens - limit.cost if limit.kind == BUCKET else 0 for limit in ends]
    now = int(clock() * 1000)
    args: list = [now, ticket.member]
    for limit, delta in zip(ends, deltas, strict=True):
        args += [limit.kind, limit.limit, delta]
    used, _ = await shared_state.call(lambda r: _FINISH(r, [limit.key for limit in ends], args))
    if not used and not shared_state.configured():
        _finish_local(ends, ticket.member, deltas, now)


def _message(limit: Limit, seconds: int) -> str:
    if limit.dimension == "concurrency":
        return (
            f"Too many concurrent requests for this {limit.scope}: limit {limit.limit}. "
            f"Wait for a request to finish, then try again."
        )
    name = "requests per minute (RPM)" if limit.dimension == "requests" else "tokens per minute (TPM)"
    return f"Rate limit reached for {name} on this {limit.scope}: limit {limit.limit}. Try again in {seconds}s."


def _duration(ms: float) -> str:
    """OpenAI's reset format: 20ms, 1s, 1.5s, 6m0s."""
    ms = math.ceil(max(0.0, ms))
    if ms < 1000:
        return f"{ms}ms"
    minutes, seconds = divmod(ms / 1000, 60)
    seconds_text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{seconds_text}s" if minutes else f"{seconds_text}s"


def _headers(limits: list[Limit], levels: list[float]) -> dict[str, str]:
    """x-ratelimit-* for requests and tokens: the tighter of the key's and the account's limit."""
    headers: dict[str, str] = {}
    for dimension in ("requests", "tokens"):
        pairs = [(lvl, lim) for lim, lvl in zip(limits, levels, strict=True) if lim.dimension == dimension]
        if not pairs:
            continue
        level, limit = min(pairs, key=lambda pair: pair[0] / pair[1].limit)
        headers[f"x-ratelimit-limit-{dimension}"] = str(limit.limit)
        headers[f"x-ratelimit-remaining-{dimension}"] = str(max(0, math.floor(level)))
        headers[f"x-ratelimit-reset-{dimension}"] = _duration((limit.limit - level) * _MINUTE_MS / limit.limit)
    return headers
