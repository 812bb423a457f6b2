"""Which credential of a channel's pool a request is sent with, and what its failure means.

Inside a channel the enabled credentials are tried in a weighted shuffle (each pick proportional to its weight),
leaving out those whose own breaker is open (scope CREDENTIAL in gateway/relay/breaker.py), those this process
saw die a moment ago, and those whose RPM/TPM caps are spent. A cap mirrors the upstream's quota for that key:
TPM is charged with the request's input and its whole output cap when it is sent, as the big upstreams count
it, so nothing needs reconciling afterwards. Caps use the rate limiter's token buckets (gateway/relay/ratelimit.py),
shared through Redis when configured and failing open while it is down; a credential without caps costs nothing.

After a failure (blame()):
- the credential is dead (401/403, quota exhausted: gateway/pool/fatal.py): it is switched off alone, off the
  response path (gateway/pool/disable.py), and the request moves on to the next credential of the same channel;
- the upstream rate-limits this key (429): the credential's breaker counts it (honouring Retry-After) and the next
  credential is tried; a channel's only key has no breaker of its own: the channel's counts it, as before pools;
- anything else (5xx, timeouts, broken streams) is the channel's: its breaker counts it and the next channel is tried.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from billing.db import run_db
from gateway.pool import disable
from gateway.relay import breaker, ratelimit, shared_state
from gateway.relay.catalog import ChannelRoute, CredentialRoute, clear_caches
from gateway.wire.bounded import BoundedCache

NO_CREDENTIAL = CredentialRoute(0, "", "", 1)  # a channel without credentials (the simulator, open upstreams)
_dead = BoundedCache(10_000, 2 * 1024 * 1024)  # credential id → True: died here a moment ago


@dataclass(frozen=True, slots=True)
class Pick:
    credential: CredentialRoute
    state: str = breaker.CLOSED  # its breaker's state when picked; half-open claims the one probe first
    channel_id: int = 0

    @property
    def pooled(self) -> bool:
        return self.credential.id != 0


def _slot(channel_id: int) -> str:
    """The breaker's "model" slot for a credential: its channel, so each channel's keys are read (and cached)
    together in one round trip, and one channel's reads never evict another's."""
    return f"ch{channel_id}"


def reset_local() -> None:
    _dead.clear()


def _alive(cred: CredentialRoute) -> bool:
    return cred.weight > 0 and _dead.get(cred.id) is None


async def order(channel: ChannelRoute, *, rng: random.Random | None = None) -> Iterator[Pick]:
    """The credentials to try for one request on this channel, in order (lazily: most requests take only the
    first); empty when none may be tried now."""
    creds = channel.credentials
    if not creds:
        return iter((Pick(NO_CREDENTIAL, channel_id=channel.id),))
    pool = [c for c in creds if _alive(c)] if len(_dead) else [c for c in creds if c.weight > 0]
    if not pool:
        return iter(())
    if len(creds) == 1:  # a lone key's rate limits are its channel's breaker's business (blame): nothing to read
        return iter((Pick(pool[0], breaker.CLOSED, channel.id),))
    verdicts = await breaker.verdicts(_slot(channel.id), [c.id for c in pool], scope=breaker.CREDENTIAL)
    pool = [c for c in pool if verdicts[c.id].state != breaker.OPEN]
    return _shuffled(pool, verdicts, channel.id, rng or random)


def _shuffled(pool: list[CredentialRoute], verdicts: dict, channel_id: int, chooser: Any) -> Iterator[Pick]:
    """A weighted shuffle: each next pick proportional to weight among those left."""
    while pool:
        index = chooser.choices(range(len(pool)), weights=[c.weight for c in pool])[0] if len(pool) > 1 else 0
        cred = pool.pop(index)
        yield Pick(cred, verdicts[cred.id].state, channel_id)


async def admit(pick: Pick, request_id: str, tokens: int, hold_seconds: float) -> bool:
    """May this credential take the request now: its probe claimed if half-open, its caps not spent."""
    cred = pick.credential
    if pick.state == breaker.HALF_OPEN and not await breaker.claim_probe(
        cred.id, _slot(pick.channel_id), hold_seconds, scope=breaker.CREDENTIAL
    ):
        return False
    if not (cred.rpm_limit or cred.tpm_limit):
        return True
    limits = []
    owner = f"cred:{cred.id}"
    if cred.rpm_limit:
        limits.append(ratelimit.Limit(shared_state.key("rl", owner, "rpm"), ratelimit.BUCKET, "requests",
                                      "credential", cred.rpm_limit))
    if cred.tpm_limit:
        limits.append(ratelimit.Limit(shared_state.key("rl", owner, "tpm"), ratelimit.BUCKET, "tokens",
                                      "credential", cred.tpm_limit, min(max(tokens, 1), cred.tpm_limit)))
    return await ratelimit.take(limits, request_id)


def blame(channel: ChannelRoute, pick: Pick, error: Any, upstream_status: int, fatal: str) -> str:
    """Who failed: "credential" (try the next credential of this channel) or "channel" (its breaker counts it).
    Side effects run in the background; the caller records the channel's breaker when told "channel"."""
    from gateway.relay.attempts import in_background  # the relay's background set (import cycle otherwise)

    cred = pick.credential
    if not pick.pooled:
        return "channel"
    if fatal:
        # Until the switch-off is written and the route reloaded: a route cached just before must not resend it.
        _dead.put(cred.id, True, max(5.0, 3 * settings.HARNMODEL_CATALOG_CACHE_SECONDS))
        in_background(_disable(cred.id, f"relay: {fatal}"))
        return "credential"
    if upstream_status == 429:
        in_background(run_db(disable.note_error, cred.id, f"HTTP 429: {error.message}"))
        if len(channel.credentials) <= 1:
            return "channel"  # the key is the channel: its breaker counts it, as for a channel without a pool
        in_background(breaker.record(cred.id, _slot(channel.id), False, error.retry_after, scope=breaker.CREDENTIAL))
        return "credential"
    return "channel"


def succeeded(pick: Pick) -> None:
    """A closed credential breaker needs no news (no extra Redis call per request); a tripped one closes."""
    if pick.pooled and pick.state != breaker.CLOSED:
        from gateway.relay.attempts import in_background

        in_background(breaker.record(pick.credential.id, _slot(pick.channel_id), True, scope=breaker.CREDENTIAL))


async def _disable(credential_id: int, reason: str) -> None:
    if (await run_db(disable.disable_credential, credential_id, reason)).credential:
        clear_caches()  # this process reloads the pool at once; other workers within the catalog cache's seconds
