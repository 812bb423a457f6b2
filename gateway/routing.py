"""Which channel to try next: priority tiers, weighted random inside a tier, never twice."""

import random
from collections.abc import Iterable

from .catalog import ChannelRoute


def channel_order(channels: Iterable[ChannelRoute], *, rng: random.Random | None = None) -> list[ChannelRoute]:
    """All candidate channels in the order to try them: higher priority first; inside a tier a
    weighted shuffle (each pick proportional to weight), so load spreads and failover stays in tier."""
    rng = rng or random
    tiers: dict[int, list[ChannelRoute]] = {}
    for channel in channels:
        if channel.weight > 0:
            tiers.setdefault(channel.priority, []).append(channel)
    ordered: list[ChannelRoute] = []
    for priority in sorted(tiers, reverse=True):
        pool = list(tiers[priority])
        while pool:
            pick = rng.choices(range(len(pool)), weights=[c.weight for c in pool])[0]
            ordered.append(pool.pop(pick))
    return ordered
