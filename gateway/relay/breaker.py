"""A circuit breaker per channel and model: stop sending traffic to an upstream that keeps failing.

closed ──(FAILURES failures in WINDOW s, or > FAILURE_RATE of ≥ MIN_CALLS calls, or a Retry-After)──► open
open ──(cooldown over)──► half-open: one request (the probe) may go ──success──► closed
                                                                    ──failure──► open again

The rolling window is a sliding-window counter (this window's counts plus the previous window's,
weighted by how much of it still overlaps): O(1) time and memory per channel. Only failures
another channel could do better count (connect errors, timeouts, 429, 5xx, refused credentials);
a customer's own 4xx proves the channel is alive. With REDIS_URL every worker shares one state
(a hash per channel+model, updated by small Lua scripts); without it, or while Redis is down,
each process keeps its own.

Every state change this process makes or sees is published to the `harnmodel_breaker_state` gauge
(metrics.set_breaker_state, only when the value changes: one dict lookup per call otherwise). With Redis,
changes made by other workers are seen whenever this worker routes that model (verdicts()).

The same breaker guards each credential of a key pool (scope CREDENTIAL, gateway/pool/pick.py): keyed by the
credential's id and its channel in place of the model (a key's rate limit holds whatever the model), and not
on the channel gauge.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings

from gateway.observe import metrics
from gateway.relay import breaker_successes as successes
from gateway.relay import shared_state
from gateway.wire.bounded import BoundedCache

clock = time.time  # injectable for tests

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
CHANNEL, CREDENTIAL = "br", "cr"  # what an id names: a channel (per model) or a pool's credential


class Verdict(NamedTuple):
    state: str
    retry_in: float = 0.0  # seconds until a request may try again (open only)


@dataclass(slots=True)
class _State:
    bucket: int = 0  # start of the current window, ms
    calls: int = 0
    fails: int = 0
    prev_calls: int = 0
    prev_fails: int = 0
    open_until: int = 0  # ms; 0 = closed
    probe_until: int = 0  # ms; a half-open probe is in flight until then


# Keyed by catalog models and channels, not by anything a client names; bounded all the same (gateway/wire/bounded.py).
MAX_ENTRIES, MAX_BYTES = 50_000, 32 * 1024 * 1024
_local: BoundedCache = BoundedCache(MAX_ENTRIES, MAX_BYTES)  # Redis key → _State
_cache = BoundedCache(MAX_ENTRIES, MAX_BYTES)  # model → (fetched, {channel: (open, probe)})
_published = BoundedCache(MAX_ENTRIES, MAX_BYTES)  # (channel, model) → the state last sent to the metrics gauge


def _now_ms() -> int:
    return int(clock() * 1000)


def _key(channel_id: int, model: str, scope: str = CHANNEL) -> str:
    return shared_state.key(scope, channel_id, model)


def _verdict(open_until: int, probe_until: int, now: int) -> Verdict:
    if not open_until:
        return Verdict(CLOSED)
    if now < open_until:
        return Verdict(OPEN, (open_until - now) / 1000)
    if probe_until > now:
        return Verdict(OPEN, (probe_until - now) / 1000)
    return Verdict(HALF_OPEN)


def _gauge_state(open_until: int, now: int) -> str:
    """The state an operator sees: a channel past its cooldown (probe in flight or awaited) is half-open."""
    if not open_until:
        return CLOSED
    return OPEN if now < open_until else HALF_OPEN


def _publish(channel_id: int, model: str, state: str, scope: str = CHANNEL) -> None:
    if scope == CHANNEL and _published.get((channel_id, model)) != state:
        _published[(channel_id, model)] = state
        metrics.set_breaker_state(channel_id, state, model=model)


def _observe(channel_id: int, model: str, open_until: int, now: int, scope: str = CHANNEL) -> None:
    """Publish what a read or a record learnt; channels that never tripped cost nothing here."""
    if scope == CHANNEL and (open_until or (channel_id, model) in _published):
        _publish(channel_id, model, _gauge_state(open_until, now))


def reset_local() -> None:
    successes.reset()
    _local.clear()
    _cache.clear()
    _published.clear()


# -- reading -----------------------------------------------------------------------------------------


async def verdicts(model: str, channel_ids: Sequence[int], scope: str = CHANNEL) -> dict[int, Verdict]:
    """Each channel's state for `model`: one Redis round trip at most, none while cached."""
    now = _now_ms()
    states = await _states(model, channel_ids, scope)
    result = {}
    for cid in channel_ids:
        open_until, probe_until = states.get(cid, (0, 0))
        result[cid] = _verdict(open_until, probe_until, now)
        _observe(cid, model, open_until, now, scope)
    return result


async def _states(model: str, channel_ids: Sequence[int], scope: str = CHANNEL) -> dict[int, tuple[int, int]]:
    ttl = settings.HARNMODEL_BREAKER_CACHE_SECONDS
    slot = model if scope == CHANNEL else (scope, model)
    cached = _cache.get(slot)
    if cached and cached[0] + ttl > time.monotonic() and all(cid in cached[1] for cid in channel_ids):
        return cached[1]

    async def fetch(redis):
        pipe = redis.pipeline(transaction=False)
        for cid in channel_ids:
            pipe.hmget(_key(cid, model, scope), "o", "h")
        return await pipe.execute()

    used, rows = await shared_state.call(fetch)
    if used:
        states = {cid: (int(row[0] or 0), int(row[1] or 0)) for cid, row in zip(channel_ids, rows or (), strict=True)}
        if ttl > 0:
            _cache[slot] = (time.monotonic(), states)
        return states
    local = {}
    for cid in channel_ids:
        state = _local.get(_key(cid, model, scope))
        local[cid] = (state.open_until, state.probe_until) if state else (0, 0)
    return local


def _remember(model: str, channel_id: int, open_until: int, probe_until: int = 0, scope: str = CHANNEL) -> None:
    cached = _cache.get(model if scope == CHANNEL else (scope, model))
    if cached:
        cached[1][channel_id] = (open_until, probe_until)


# -- half-open probes --------------------------------------------------------------------------------

_CLAIM = shared_state.Script(
    """
local s = redis.call('HMGET', KEYS[1], 'o', 'h')
local o, h = tonumber(s[1]) or 0, tonumber(s[2]) or 0
local now = tonumber(ARGV[1])
if o == 0 then return 1 end
if now < o or h > now then return 0 end
redis.call('HSET', KEYS[1], 'h', now + tonumber(ARGV[2]))
return 1
"""
)


async def claim_probe(channel_id: int, model: str, hold_seconds: float, scope: str = CHANNEL) -> bool:
    """After the cooldown exactly one request may try the channel; it holds the claim until its
    outcome is recorded, or for `hold_seconds` at most."""
    now, hold = _now_ms(), int(hold_seconds * 1000)
    used, claimed = await shared_state.call(lambda r: _CLAIM(r, [_key(channel_id, model, scope)], [now, hold]))
    if used:
        if claimed:
            _remember(model, channel_id, 1, now + hold, scope)  # this worker's other requests wait for the probe
            if _published.get((channel_id, model)) == OPEN:  # the script does not say whether it was open
                _publish(channel_id, model, HALF_OPEN, scope)
        return bool(claimed)
    state = _local.get(_key(channel_id, model, scope))
    if state is None or not state.open_until:
        return True
    if now < state.open_until or state.probe_until > now:
        return False
    state.probe_until = now + hold
    _publish(channel_id, model, HALF_OPEN, scope)
    return True


# -- recording ---------------------------------------------------------------------------------------

_RECORD = shared_state.Script(
    """
local now, ok, window = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
local earlier = tonumber(ARGV[9] or '0')  -- successes this worker counted since its last write
local s = redis.call('HMGET', KEYS[1], 'bs', 'c', 'f', 'pc', 'pf', 'o', 'h')
local bs = tonumber(s[1]) or now
local c, f, pc, pf = tonumber(s[2]) or 0, tonumber(s[3]) or 0, tonumber(s[4]) or 0, tonumber(s[5]) or 0
local o, h = tonumber(s[6]) or 0, tonumber(s[7]) or 0
if now - bs >= 2 * window then
  bs, c, f, pc, pf = now, 0, 0, 0, 0
elseif now - bs >= window then
  bs, pc, pf, c, f = bs + window, c, f, 0, 0
end
if o == 0 then c = c + earlier end  -- they count only while the breaker is closed
if ARGV[2] == '2' then
  if earlier == 0 then return o end
elseif ok then
  if o > 0 and now < o then return o end
  if o > 0 then o, h, c, f, pc, pf = 0, 0, 0, 0, 0, 0 end
  c = c + 1
else
  c, f = c + 1, f + 1
  local weight = 1 - (now - bs) / window
  local ef, ec = f + pf * weight, c + pc * weight
  local cooldown = tonumber(ARGV[7])
  if o > 0 or ARGV[8] == '1' or ef >= tonumber(ARGV[4])
     or (ec >= tonumber(ARGV[5]) and ef / ec > tonumber(ARGV[6])) then
    o, h = math.max(o, now + cooldown), 0
  end
end
redis.call('HSET', KEYS[1], 'bs', bs, 'c', c, 'f', f, 'pc', pc, 'pf', pf, 'o', o, 'h', h)
redis.call('PEXPIRE', KEYS[1], math.max(2 * window, o - now + window))
return o
"""
)


def _cooldown(retry_after: float | None) -> tuple[int, bool]:
    """Milliseconds to stay open, and whether to open at once (the upstream said when to come back)."""
    if retry_after and retry_after > 0:
        return int(min(retry_after, settings.HARNMODEL_BREAKER_MAX_COOLDOWN) * 1000), True
    return int(settings.HARNMODEL_BREAKER_COOLDOWN * 1000), False


async def record(
    channel_id: int, model: str, ok: bool, retry_after: float | None = None, scope: str = CHANNEL
) -> None:
    now = _now_ms()
    cooldown, force = _cooldown(None if ok else retry_after)
    window = int(settings.HARNMODEL_BREAKER_WINDOW * 1000)
    args = [
        now,
        1 if ok else 0,
        window,
        settings.HARNMODEL_BREAKER_FAILURES,
        settings.HARNMODEL_BREAKER_MIN_CALLS,
        settings.HARNMODEL_BREAKER_FAILURE_RATE,
        cooldown,
        1 if force else 0,
    ]
    key = _key(channel_id, model, scope)
    if ok and shared_state.configured() and _believed_closed(channel_id, model, scope):
        successes.count(key)  # written with the next write of this key, or within SUCCESS_FLUSH seconds
        return
    args.append(successes.take(key))
    used, open_until = await shared_state.call(lambda r: _RECORD(r, [key], args))
    if used:
        open_until = int(open_until or 0)
        _remember(model, channel_id, open_until, 0, scope)
    else:
        state = _local.setdefault(key, _State(bucket=now))
        _record_local(state, now, ok, window, cooldown, force)
        open_until = state.open_until
    _observe(channel_id, model, open_until, now, scope)


def _believed_closed(channel_id: int, model: str, scope: str) -> bool:
    """Whether this worker last saw the breaker closed (a success there only adds to the call count)."""
    cached = _cache.get(model if scope == CHANNEL else (scope, model))
    return bool(cached) and cached[1].get(channel_id, (1, 0))[0] == 0


async def write_successes(pending: dict[str, int]) -> None:
    """Add successes counted in this worker to Redis: one pipeline, counted only where still closed."""
    now, window = _now_ms(), int(settings.HARNMODEL_BREAKER_WINDOW * 1000)

    async def write(redis):
        script, pipe = _RECORD.bound(redis), redis.pipeline(transaction=False)
        for key, count in pending.items():
            await script(keys=[key], args=[now, 2, window, 0, 0, 0, 0, 0, count], client=pipe)
        return await pipe.execute()

    await shared_state.call(write)


def _record_local(s: _State, now: int, ok: bool, window: int, cooldown: int, force: bool) -> None:
    if now - s.bucket >= 2 * window:
        s.bucket, s.calls, s.fails, s.prev_calls, s.prev_fails = now, 0, 0, 0, 0
    elif now - s.bucket >= window:
        s.bucket, s.prev_calls, s.prev_fails, s.calls, s.fails = s.bucket + window, s.calls, s.fails, 0, 0
    if ok:
        if s.open_until and now < s.open_until:
            return  # a request from before the breaker opened: proves nothing about now
        if s.open_until:
            s.open_until = s.probe_until = s.calls = s.fails = s.prev_calls = s.prev_fails = 0
        s.calls += 1
        return
    s.calls += 1
    s.fails += 1
    weight = 1 - (now - s.bucket) / window
    fails, calls = s.fails + s.prev_fails * weight, s.calls + s.prev_calls * weight
    if (
        s.open_until
        or force
        or fails >= settings.HARNMODEL_BREAKER_FAILURES
        or (calls >= settings.HARNMODEL_BREAKER_MIN_CALLS and fails / calls > settings.HARNMODEL_BREAKER_FAILURE_RATE)
    ):
        s.open_until, s.probe_until = max(s.open_until, now + cooldown), 0
