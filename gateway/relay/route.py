"""Which channel to try next: breaker not open, priority tiers, weighted random inside a tier, never twice."""

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.relay import breaker
from gateway.relay.catalog import ChannelRoute, ModelRoute


def channel_order(channels: Iterable[ChannelRoute], *, rng: random.Random | None = None) -> list[ChannelRoute]:
    """All candidate channels in the order to try them: higher priority first; inside a tier a
    weighted shuffle (each pick proportional to weight), so load spreads and failover stays in tier."""
    chooser: Any = rng or random  # the module and a Random both have .choices
    tiers: dict[int, list[ChannelRoute]] = {}
    for channel in channels:
        if channel.weight > 0:
            tiers.setdefault(channel.priority, []).append(channel)
    ordered: list[ChannelRoute] = []
    for priority in sorted(tiers, reverse=True):
        pool = list(tiers[priority])
        while pool:
            pick = chooser.choices(range(len(pool)), weights=[c.weight for c in pool])[0]
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
    candidates = [Candidate(c, verdicts[c.id].state == breaker.HALF_OPEN) for c in channel_order(allowed, rng=rng)]
    if candidates:
        return Plan(candidates)
    waits = [v.retry_in for v in verdicts.values() if v.state == breaker.OPEN]
    return Plan([], min(waits) if waits else None)
