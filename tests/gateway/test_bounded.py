"""gateway/wire/bounded.py: every in-process cache is bounded by entries and by bytes, oldest evicted first."""

import time

import pytest

from gateway.observe import livelog
from gateway.protocols.responses import openapi_view
from gateway.relay import breaker, catalog, ratelimit
from gateway.wire.bounded import ENTRY_OVERHEAD, BoundedCache


def test_entry_cap_evicts_the_oldest():
    cache = BoundedCache(3, 10**9)
    for key in "abcd":
        cache.put(key, key.upper())
    assert list(cache) == ["b", "c", "d"]
    assert cache.get("a") is None and cache["d"] == "D"
    assert cache.evictions == 1


def test_byte_cap_counts_keys_and_values():
    cache = BoundedCache(10**6, 10_000)
    for index in range(100):
        cache.put(f"{index:04d}" + "k" * 1000, "v" * 1000)  # ≈ 2 KB an entry
    assert cache.bytes <= 10_000
    assert 1 <= len(cache) <= 5
    assert f"{99:04d}" + "k" * 1000 in cache  # the newest stays


def test_an_entry_bigger_than_the_budget_is_not_stored():
    cache = BoundedCache(10, 1000)
    cache.put("small", 1)
    cache.put("x" * 5000, None)
    assert len(cache) == 1 and "small" in cache


def test_bytes_follow_replace_pop_and_clear():
    cache = BoundedCache(10, 10**6, size=lambda key, value: len(value))
    cache.put("a", "x" * 100)
    assert cache.bytes == 100 + ENTRY_OVERHEAD
    cache.put("a", "x" * 10)
    assert cache.bytes == 10 + ENTRY_OVERHEAD and len(cache) == 1
    assert cache.pop("a") == "x" * 10 and cache.bytes == 0
    cache.put("b", "y")
    cache.clear()
    assert (len(cache), cache.bytes) == (0, 0)


def test_time_to_live():
    cache = BoundedCache(10, 10**6)
    cache.put("a", 1, ttl=0.05)
    cache.put("b", 2)  # no ttl: until evicted
    assert cache.lookup("a") == (True, 1)
    time.sleep(0.06)
    assert cache.lookup("a") == (False, None)
    assert cache.lookup("b") == (True, 2)
    assert len(cache) == 1


def test_limits_may_be_read_from_settings(settings):
    settings.HARNMODEL_MODEL_CACHE_ENTRIES = 2
    settings.HARNMODEL_CATALOG_CACHE_SECONDS = 60
    catalog.clear_caches()
    try:
        for name in ("m1", "m2", "m3"):
            catalog._models.put(name, None)
        assert catalog._models.stats[0] == 2
    finally:
        catalog.clear_caches()


@pytest.mark.parametrize(
    "cache",
    [
        catalog._models._data,
        catalog._keys._data,
        breaker._local,
        breaker._cache,
        breaker._published,
        ratelimit._buckets,
        ratelimit._slots,
        livelog._pub.names,
        openapi_view._cache,
    ],
    ids=["models", "keys", "breaker-local", "breaker-cache", "breaker-published", "rl-buckets", "rl-slots",
         "livelog-names", "openapi"],  # fmt: skip
)
def test_every_process_cache_is_bounded(cache):
    assert isinstance(cache, BoundedCache)
    assert 0 < cache.max_entries <= 200_000
    assert 0 < cache.max_bytes <= 64 * 1024 * 1024
