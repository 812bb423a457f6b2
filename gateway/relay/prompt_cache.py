"""Prompt caching for agents: one conversation keeps meeting the same upstream, and customers never share
a cache bucket.

`prompt_cache_key` (Responses, Chat) is what agents such as Codex send to say "these requests share a
prefix". We use it twice:
- **sticky routing**: inside a priority tier the channel order is a weighted rendezvous hash of the key
  (route.py), so every turn of a conversation goes to the same channel (and its warm cache) while
  different conversations still spread by weight; a channel that fails moves only its own keys;
- **namespacing**: the key an upstream sees is an HMAC of (account, key), so two customers who send the
  same key never land in one bucket of the operator's upstream account (a cache-timing side channel).
"""

import hashlib
import hmac

from django.conf import settings


def upstream_key(account_id: int, key: str | None) -> str | None:
    """The `prompt_cache_key` an upstream sees for this account's key (stable, 32 hex, not reversible)."""
    if not key:
        return None
    secret = settings.SECRET_KEY.encode()
    digest = hmac.new(secret, f"prompt-cache\0{account_id}\0{key}".encode(), hashlib.sha256).hexdigest()
    return "hm-" + digest[:32]


def sticky_seed(account_id: int, key: str | None) -> bytes | None:
    """What the routing hash is seeded with: the same conversation → the same channel order."""
    return None if not key else f"{account_id}\0{key}".encode()
