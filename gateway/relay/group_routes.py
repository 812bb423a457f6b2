"""The price a key's account pays and the models its customer group may see, on the hot path.

A group's terms are cached per group (like the catalog, HARNMODEL_CATALOG_CACHE_SECONDS), and the
route priced for a group is cached per (model, group), sharing the model route's channels: a request
costs no database round trip and, once warm, no arithmetic. The pricing itself is billing's one pure
function (billing/group_pricing.py).
"""

from dataclasses import replace

from django.conf import settings

from billing.group_pricing import GroupTerms, group_price
from billing.group_selectors import group_terms
from gateway.relay import catalog
from gateway.relay.catalog import KeyInfo, ModelRoute
from gateway.wire.bounded import BoundedCache
from gateway.wire.errors import ModelNotAllowed
from gateway.wire.limits import clip


def _entries() -> int:
    return getattr(settings, "HARNMODEL_MODEL_CACHE_ENTRIES", catalog.CACHE_DEFAULTS["HARNMODEL_MODEL_CACHE_ENTRIES"])


def _bytes() -> int:
    return getattr(settings, "HARNMODEL_MODEL_CACHE_BYTES", catalog.CACHE_DEFAULTS["HARNMODEL_MODEL_CACHE_BYTES"])


def _terms_bytes(key: str, terms: object) -> int:
    return 300 + len(key) + 80 * (len(getattr(terms, "allowed_models", ())) + len(getattr(terms, "multipliers", ()))
                                  + len(getattr(terms, "fixed", ())))


_terms = catalog.TTLCache(
    "HARNMODEL_CATALOG_CACHE_SECONDS", "HARNMODEL_MODEL_CACHE_ENTRIES", "HARNMODEL_MODEL_CACHE_BYTES", _terms_bytes
)
# (public id, group id) → (the model route, the terms, the route at the group's price). Only keys of
# models that exist reach it (after the catalog's 404), so its size is models × groups.
_priced = BoundedCache(_entries, _bytes, size=lambda key, value: 400 + len(key[0]))


def clear() -> None:
    _terms.clear()
    _priced.clear()


def _load_terms(group_id: str) -> GroupTerms:
    return group_terms(int(group_id))


async def terms_for(group_id: int) -> GroupTerms:
    found, terms = _terms.get(str(group_id))
    if not found:
        terms = await catalog._load_once(_terms, "group", str(group_id), _load_terms)
    return terms  # type: ignore[return-value]


async def priced_route(route: ModelRoute, key: KeyInfo) -> ModelRoute:
    """`route` with the price this key's account pays (route.price then names the group rule too).
    ModelNotAllowed (403) when the account's group may not use the model."""
    if key.group_id is None:
        return route
    terms = await terms_for(key.group_id)
    if not terms.allows(route.public_id):
        raise ModelNotAllowed(f"Your account may not use the model '{clip(route.public_id)}'.", param="model")
    if terms.rule_id is None or route.price is None:
        return route
    slot = (route.public_id, key.group_id)
    found, entry = _priced.lookup(slot)
    if found and entry[0] is route and entry[1] is terms:
        return entry[2]
    priced = replace(route, price=group_price(route.price, terms, route.public_id))
    _priced.put(slot, (route, terms, priced), settings.HARNMODEL_CATALOG_CACHE_SECONDS)
    return priced
