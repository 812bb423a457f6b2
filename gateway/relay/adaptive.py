"""Routing that learns (a model's `routing = adaptive`): inside a priority tier the weighted pick is biased by each
channel's recent first-byte time and error rate, so the fastest healthy upstream gets more of the traffic.

Each channel × model keeps two exponentially weighted moving averages in this process: the first-byte time of its
successful attempts (ms; for JSON answers the whole answer) and its error rate (retryable failures only: a
customer's own 4xx proves nothing). Its share is its configured weight times

    factor = max(FLOOR, (fastest first byte in the tier / its first byte) ** SPEED_EXPONENT × (1 − error rate) ** 2)

so a channel twice as slow as the tier's fastest gets a quarter of its weight, one failing half the time a
quarter, and none ever drops below FLOOR (5 %) of its weight: slow channels keep being measured and can win
their share back. A channel without measurements counts as the tier's fastest (it gets measured at once).
State is bounded (gateway/wire/bounded.py) and forgotten after IDLE_SECONDS without traffic, so an old
verdict never outlives the upstream's recovery. Per process: each worker learns from its own traffic.
"""

from collections.abc import Iterable

from gateway.wire.bounded import BoundedCache

ADAPTIVE = "adaptive"
ALPHA = 0.2  # weight of the newest sample: about the last ten attempts matter
FLOOR = 0.05
SPEED_EXPONENT = 2.0
IDLE_SECONDS = 600.0
MAX_ENTRIES, MAX_BYTES = 20_000, 4 * 1024 * 1024
_stats = BoundedCache(MAX_ENTRIES, MAX_BYTES)  # (model, channel id) → [first-byte EWMA ms or None, error EWMA]


def reset_local() -> None:
    _stats.clear()


def observe(model: str, channel_id: int, first_byte_ms: int | None) -> None:
    """One attempt's outcome: its first-byte time, or None for a failure another channel might not have had."""
    key = (model, channel_id)
    found, stat = _stats.lookup(key)
    if not found:
        stat = [None, 0.0]
    if first_byte_ms is None:
        stat[1] += ALPHA * (1.0 - stat[1])
    else:
        stat[1] -= ALPHA * stat[1]
        sample = float(max(first_byte_ms, 1))
        stat[0] = sample if stat[0] is None else stat[0] + ALPHA * (sample - stat[0])
    _stats.put(key, stat, IDLE_SECONDS)


def factors(model: str, channels: Iterable) -> dict[int, float]:
    """channel id → the multiplier of its weight, among `channels` (one priority tier)."""
    stats = {c.id: _stats.get((model, c.id)) for c in channels}
    measured = [s[0] for s in stats.values() if s is not None and s[0] is not None]
    fastest = min(measured) if measured else None
    result = {}
    for cid, stat in stats.items():
        if stat is None:
            result[cid] = 1.0
            continue
        latency, errors = stat
        speed = 1.0 if latency is None or fastest is None else (fastest / latency) ** SPEED_EXPONENT
        result[cid] = max(FLOOR, speed * (1.0 - errors) ** 2)
    return result


def snapshot(model: str, channel_id: int) -> tuple[float | None, float] | None:
    """(first-byte EWMA ms, error EWMA) for the console and tests; None when not measured."""
    stat = _stats.get((model, channel_id))
    return (stat[0], stat[1]) if stat is not None else None
