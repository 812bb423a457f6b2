"""Which channel to try next: breaker not open, priority tiers, weighted random inside a tier, never twice."""

import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.relay import adaptive, breaker
from gateway.relay.catalog import ChannelRoute, ModelRoute


def _rendezvous(seed: bytes, channel: ChannelRoute) -> float:
    """Weighted rendezvous score (smaller first): a channel is first for a share of seeds = its weight share."""
    digest = hashlib.blake2b(seed + b"\0" + str(channel.id).encode(), digest_size=8).digest()
    unit = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)  # in (0, 1)
    return -math.log(unit) / (channel.weight * channel.truth_factor)


def channel_order(channels: Iterable[ChannelRoute], *, rng: random.Random | None = None,
                  sticky: bytes | None = None, learn: str | None = None) -> list[ChannelRoute]:
    """All candidate channels in the order to try them: higher priority first; inside a tier a
    weighted shuffle (each pick proportional to weight), so load spreads and failover stays in tier.
    With `sticky` (a conversation's prompt-cache key, relay/prompt_cache.py) the order inside a tier is a
    weighted rendezvous hash of it instead: the same for every turn, still proportional to weight across keys
    (cache locality wins over adaptive bias). With `learn` (a model id routed adaptively) the weights are
    biased by gateway/relay/adaptive.py. A channel the truth score demotes keeps `truth_factor` of its weight."""
    chooser: Any = rng or random  # the module and a Random both have .choices
    tiers: dict[int, list[ChannelRoute]] = {}
    for channel in channels:
        if channel.weight > 0:
            tiers.setdefault(channel.priority, []).append(channel)
    ordered: list[ChannelRoute] = []
    for priority in sorted(tiers, reverse=True):
        pool = list(tiers[priority])
        if sticky is not None:
            ordered.extend(sorted(pool, key=lambda c: _rendezvous(sticky, c)))
            continue
        factors = adaptive.factors(learn, pool) if learn is not None and len(pool) > 1 else None
        while pool:
            weights = [c.weight * c.truth_factor * (factors[c.id] if factors else 1.0) for c in pool]
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


async def plan(route: ModelRoute, *, rng: random.Random | None = None, sticky: bytes | None = None) -> Plan:
    """The channels to try for one request, in order, leaving out those whose breaker is open."""
    verdicts = await breaker.verdicts(route.public_id, [c.id for c in route.channels])
    allowed = [c for c in route.channels if verdicts[c.id].state != breaker.OPEN]
    learn = route.public_id if route.routing == adaptive.ADAPTIVE else None
    ordered = channel_order(allowed, rng=rng, sticky=sticky, learn=learn)
    candidates = [Candidate(c, verdicts[c.id].state == breaker.HALF_OPEN) for c in ordered]
    if candidates:
        return Plan(candidates)
    waits = [v.retry_in for v in verdicts.values() if v.state == breaker.OPEN]
    return Plan([], min(waits) if waits else None)
