"""H2: model names cannot grow a worker's memory. The real ASGI app, in-process, on a committed database.

Unknown model ids are cached as misses (so a typo does not cost a query per request), which made every distinct
name a new entry held for good: 300 × 1 MB names held 290 MB. Now a name over HARNMODEL_MAX_MODEL_CHARS is a
400 before any lookup, and the cache is bounded by entries and bytes.
"""

import pytest

from gateway.relay import catalog


@pytest.fixture
def cached_misses(settings):
    settings.HARNMODEL_CATALOG_CACHE_SECONDS = 60  # misses stay cached, as in production
    settings.HARNMODEL_MODEL_CACHE_ENTRIES = 100
    settings.HARNMODEL_MODEL_CACHE_BYTES = 64 * 1024
    catalog.clear_caches()
    yield
    catalog.clear_caches()


def test_an_oversized_model_is_a_short_400_and_caches_nothing(asgi, funded, cached_misses):
    for size in (257, 1_000_000):
        response = asgi.post("/v1/responses", headers=funded.auth, json={"model": "m" * size, "input": "hi"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["param"], error["code"]) == ("model", "string_above_max_length")
        assert len(error["message"]) < 200 and len(response.content) < 400
    assert catalog._models.stats == (0, 0)


def test_many_unknown_names_stay_within_the_cache_bounds(asgi, funded, cached_misses):
    for index in range(300):
        name = f"{index:03d}" + "n" * 253  # 256 characters: allowed, unknown
        response = asgi.post("/v1/responses", headers=funded.auth, json={"model": name, "input": "hi"})
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "model_not_found"
        assert len(error["message"]) < 120  # the name is quoted cut to 64 characters
    entries, size = catalog._models.stats
    assert 0 < entries <= 100
    assert size <= 64 * 1024
    ok = asgi.post("/v1/responses", headers=funded.auth, json={"model": "gpt-4o", "input": "hi"})
    assert ok.status_code == 200, ok.text
