"""Which channel to try next: breaker not open, priority tiers, weighted random inside a tier, never twice."""

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.relay import adaptive, breaker
from gateway.relay.catalog import ChannelRoute, ModelRoute


def channel_order(
    channels: Iterable[ChannelRoute], *, rng: random.Random | None = None, learn: str | None = None
) -> list[ChannelRoute]:
    """All candidate channels in the order to try them: higher priority first; inside a tier a
    weighted shuffle (each pick proportional to weight), so load spreads and failover stays in tier.
    With `learn` (a model id routed adaptively) the weights are biased by gateway/relay/adaptive.py."""
    chooser: Any = rng or random  # the module and a Random both have .choices
    tiers: dict[int, list[ChannelRoute]] = {}
    for channel in channels:
        if channel.weight > 0:
            tiers.setdefault(channel.priority, []).append(channel)
    ordered: list[ChannelRoute] = []
    for priority in sorted(tiers, reverse=True):
        pool = list(tiers[priority])
        factors = adaptive.factors(learn, pool) if learn is not None and len(pool) > 1 else None
        while pool:
            weights = [c.weight * factors[c.id] for c in pool] if factors else [c.weight for c in pool]
            pick = chooser.choices(range(len(pool)), weights=weights)[0]
            ordered.append(pool.pop(pick))
    return ordered


@dataclass(frozen=True, slots=True)
class Candidate:
    channel: ChannelRoute
    probe: bool = False  # its breaker is half-open: claim the one probe before trying it


@dataclass(frozen=True, slots=True)
class Plan:
    candidates: list[Candidate]
    retry_in: float | None = None  # nothing to try: seconds until a cooling channel may be tried again


async def plan(route: ModelRoute, *, rng: random.Random | None = None) -> Plan:
    """The channels to try for one request, in order, leaving out those whose breaker is open."""
    verdicts = await breaker.verdicts(route.public_id, [c.id for c in route.channels])
    allowed = [c for c in route.channels if verdicts[c.id].state != breaker.OPEN]
    learn = route.public_id if route.routing == adaptive.ADAPTIVE else None
    ordered = channel_order(allowed, rng=rng, learn=learn)
    candidates = [Candidate(c, verdicts[c.id].state == breaker.HALF_OPEN) for c in ordered]
    if candidates:
        return Plan(candidates)
    waits = [v.retry_in for v in verdicts.values() if v.state == breaker.OPEN]
    return Plan([], min(waits) if waits else None)
