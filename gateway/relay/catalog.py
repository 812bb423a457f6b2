"""What the hot path needs to know about a model and a key, cached in-process for a few seconds.

A revoked key, a disabled channel or a new price takes effect on every worker within
HARNMODEL_*_CACHE_SECONDS; in exchange a request costs no database round trip before its hold.
"""

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from billing.db import run_db
from billing.pricing import PriceSnapshot
from billing.selectors import price_current, price_snapshot
from gateway.crypto import SecretUnreadable, decrypt_secret
from gateway.models import ApiKey, CatalogModel, ChannelModel
from gateway.upstream.truth.demotion import factors as truth_factors
from gateway.wire import limits
from gateway.wire.bounded import BoundedCache


@dataclass(frozen=True, slots=True)
class CredentialRoute:
    """One enabled credential of a channel's pool (gateway/pool/pick.py picks among them)."""

    id: int
    public_id: str  # cred_3f9a1c: what logs, metrics and usage records name; never the secret
    secret: str
    weight: int
    rpm_limit: int | None = None
    tpm_limit: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelRoute:
    id: int
    name: str
    provider: str
    base_url: str
    priority: int
    weight: int
    options: dict
    upstream_model: str
    # Per-channel timeouts in seconds; None = the platform default (HARNMODEL_*_TIMEOUT).
    connect_timeout: float | None = None
    first_byte_timeout: float | None = None
    idle_timeout: float | None = None
    cost: PriceSnapshot | None = None  # what the channel charges us for this model; None = unknown
    truth_factor: float = 1.0  # < 1 while the truth score demotes it (gateway/upstream/truth/score.py)
    credentials: tuple[CredentialRoute, ...] = ()  # its enabled keys; empty = the upstream needs none


@dataclass(frozen=True, slots=True)
class ModelRoute:
    public_id: str
    default_max_output_tokens: int
    price: PriceSnapshot | None
    channels: tuple[ChannelRoute, ...]
    routing: str = "weighted"  # or "adaptive" (gateway/relay/adaptive.py)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    account_id: int
    prefix: str
    allowed_models: frozenset[str]
    expires_at: datetime | None
    revoked: bool
    account_active: bool
    # Rate limits, None = none: this key's own, and its account's (every key together).
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    concurrency_limit: int | None = None
    account_rpm_limit: int | None = None
    account_tpm_limit: int | None = None
    account_concurrency_limit: int | None = None
    # Spend caps in micros, None = none: (total, per calendar day, per calendar month).
    spend_caps: tuple[int | None, int | None, int | None] = (None, None, None)
    session_budget: int | None = None  # micros per session (gateway/relay/sessions.py), None = none

    # Its project's and its creator's budgets (gateway.relay.budgets.Budget); empty = none, no query at admission.
    budgets: tuple = ()
    group_id: int | None = None  # the account's customer group: its prices and models (group_routes.py)

    @property
    def rate_limits(self) -> tuple[int | None, ...]:
        return (
            self.rpm_limit,
            self.tpm_limit,
            self.concurrency_limit,
            self.account_rpm_limit,
            self.account_tpm_limit,
            self.account_concurrency_limit,
        )

    @property
    def limited(self) -> bool:
        return any(self.rate_limits)

    def usable(self, now: datetime) -> bool:
        return not self.revoked and self.account_active and (self.expires_at is None or self.expires_at > now)


def _route_bytes(key: str, route: object) -> int:
    """Bytes a model route holds (its id and every channel's strings); a miss (None) costs its key alone."""
    size = sys.getsizeof(key)
    for channel in getattr(route, "channels", ()):
        size += 400 + sum(map(len, (channel.name, channel.base_url, channel.upstream_model)))
        size += sum(200 + len(c.secret) for c in channel.credentials)
        size += len(repr(channel.options)) if channel.options else 0
    return size + (300 if route is not None else 0)


def _key_bytes(key: str, info: object) -> int:
    allowed = getattr(info, "allowed_models", ())
    budgets = 200 * len(getattr(info, "budgets", ()))
    return sys.getsizeof(key) + (300 + budgets + sum(len(name) + 60 for name in allowed) if info is not None else 0)


class TTLCache:
    """Entries live HARNMODEL_*_CACHE_SECONDS, and the cache is bounded by entries and bytes (gateway/wire/bounded.py):
    unknown model names are cached as misses too, so a client sending many distinct names only evicts."""

    def __init__(self, ttl_setting: str, entries_setting: str, bytes_setting: str, size) -> None:
        self._ttl_setting = ttl_setting
        self._data = BoundedCache(
            lambda: getattr(settings, entries_setting, CACHE_DEFAULTS[entries_setting]),
            lambda: getattr(settings, bytes_setting, CACHE_DEFAULTS[bytes_setting]),
            size=size,
        )

    @property
    def stats(self) -> tuple[int, int]:
        """(entries, bytes) held now: what the limits bound."""
        return len(self._data), self._data.bytes

    def get(self, key: str) -> tuple[bool, object]:
        return self._data.lookup(key)

    def put(self, key: str, value: object) -> None:
        ttl = getattr(settings, self._ttl_setting)
        if ttl > 0:
            self._data.put(key, value, ttl)

    def clear(self) -> None:
        self._data.clear()


CACHE_DEFAULTS = {
    "HARNMODEL_MODEL_CACHE_ENTRIES": 10_000,
    "HARNMODEL_MODEL_CACHE_BYTES": 16 * 1024 * 1024,
    "HARNMODEL_KEY_CACHE_ENTRIES": 100_000,
    "HARNMODEL_KEY_CACHE_BYTES": 64 * 1024 * 1024,
}
_models = TTLCache(
    "HARNMODEL_CATALOG_CACHE_SECONDS", "HARNMODEL_MODEL_CACHE_ENTRIES", "HARNMODEL_MODEL_CACHE_BYTES", _route_bytes
)
_keys = TTLCache("HARNMODEL_AUTH_CACHE_SECONDS", "HARNMODEL_KEY_CACHE_ENTRIES", "HARNMODEL_KEY_CACHE_BYTES", _key_bytes)
_loading: dict[tuple[str, str], asyncio.Task] = {}  # (kind, key) → the load under way


def clear_caches() -> None:
    from gateway.relay import (
        budgets,  # budgets imports this module
        group_routes,
        ratelimit,  # so does ratelimit
    )

    _models.clear()
    _keys.clear()
    _loading.clear()
    budgets.forget_spend()
    group_routes.clear()
    ratelimit.forget_refusals()


def load_model_route(public_id: str) -> ModelRoute | None:
    model = CatalogModel.objects.filter(public_id=public_id, enabled=True).first()
    if model is None:
        return None
    price = price_current(model_id=public_id)
    maps = (
        ChannelModel.objects.filter(model=model, channel__enabled=True)
        .select_related("channel")
        .prefetch_related("channel__credentials")
    )
    pools = {m.channel.pk: _pool(m.channel) for m in maps}
    demoted = truth_factors(public_id)
    channels = tuple(
        ChannelRoute(
            id=m.channel.pk,
            name=m.channel.name,
            provider=m.channel.provider,
            base_url=m.channel.base_url,
            credentials=pools[m.channel.pk] or (),
            priority=m.channel.priority,
            weight=m.channel.weight,
            options=m.channel.options or {},
            upstream_model=m.upstream_name or public_id,
            connect_timeout=m.channel.connect_timeout,
            first_byte_timeout=m.channel.first_byte_timeout,
            idle_timeout=m.channel.idle_timeout,
            cost=(
                PriceSnapshot(None, m.cost_input_micros, m.cost_cached_input_micros, m.cost_output_micros)
                if m.cost_input_micros is not None
                else None
            ),
            truth_factor=demoted.get(m.channel.pk, 1.0),
        )
        for m in maps
        if pools[m.channel.pk] is not None
    )
    return ModelRoute(
        public_id=public_id,
        default_max_output_tokens=model.default_max_output_tokens,
        price=price_snapshot(price) if price else None,
        channels=channels,
        routing=model.routing,
    )


def _pool(channel) -> tuple[CredentialRoute, ...] | None:
    """The channel's usable credentials; () when it has none at all (it needs none), None when it has some
    but none usable (every one switched off or unreadable: the channel cannot serve)."""
    every = list(channel.credentials.all())
    if not every:
        return ()
    usable = []
    for c in every:
        if not c.enabled:
            continue
        try:
            secret = decrypt_secret(c.secret_encrypted)
        except SecretUnreadable:
            continue
        usable.append(CredentialRoute(c.pk, c.public_id, secret, c.weight, c.rpm_limit, c.tpm_limit))
    return tuple(usable) or None


def load_key(secret_hash: str) -> KeyInfo | None:
    from gateway.relay.budgets import for_key  # budgets imports this module

    key = ApiKey.objects.filter(secret_hash=secret_hash).select_related("account", "project", "created_by").first()
    if key is None:
        return None
    return KeyInfo(
        id=key.pk,
        account_id=key.account_id,
        prefix=key.prefix,
        allowed_models=frozenset(key.allowed_models or ()),
        expires_at=key.expires_at,
        revoked=key.revoked_at is not None,
        account_active=key.account.is_active,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        concurrency_limit=key.concurrency_limit,
        account_rpm_limit=key.account.rpm_limit,
        account_tpm_limit=key.account.tpm_limit,
        account_concurrency_limit=key.account.concurrency_limit,
        spend_caps=(key.spend_limit_total_micros, key.spend_limit_daily_micros, key.spend_limit_monthly_micros),
        session_budget=key.session_budget_micros,
        budgets=for_key(key),
        group_id=key.account.group_id,
    )


async def _load_once(cache: TTLCache, kind: str, key: str, loader: Callable[[str], object]) -> object:
    """One database load per expired entry, however many requests are waiting for it: when a busy key's
    entry expires, every concurrent request would otherwise query it at the same moment."""
    loop = asyncio.get_running_loop()
    slot = (kind, key)
    task = _loading.get(slot)
    if task is None or task.get_loop() is not loop:
        task = loop.create_task(run_db(loader, key))
        _loading[slot] = task

        def finished(done: asyncio.Task) -> None:
            if _loading.get(slot) is not done:
                return  # the caches were cleared meanwhile: this answer may predate the change
            del _loading[slot]
            if not done.cancelled() and done.exception() is None:
                cache.put(key, done.result())

        task.add_done_callback(finished)
    return await asyncio.shield(task)  # a waiter that is cancelled does not cancel the others' load


async def model_route(public_id: str) -> ModelRoute | None:
    if "\x00" in public_id or len(public_id) > limits.model_chars():
        return None  # no catalog id holds NUL (PostgreSQL refuses it) or is that long: neither queried nor cached
    found, route = _models.get(public_id)
    if not found:
        route = await _load_once(_models, "model", public_id, load_model_route)
    return route  # type: ignore[return-value]


async def key_info(secret_hash: str) -> KeyInfo | None:
    found, info = _keys.get(secret_hash)
    if not found:
        info = await _load_once(_keys, "key", secret_hash, load_key)
    return info  # type: ignore[return-value]


def now() -> datetime:
    return timezone.now()
