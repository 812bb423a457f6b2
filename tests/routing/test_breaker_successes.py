"""Successes on a closed breaker are counted in the worker and written to Redis together
(gateway/relay/breaker_successes.py): no Redis round trip per successful request, yet the failure-rate
rule still counts every one of them, and a probe's success is still written at once."""

import asyncio

import pytest
from redis import asyncio as aioredis

from gateway.relay import breaker, breaker_successes, shared_state

MODEL = "gpt-4o"


@pytest.fixture
def redis_backend(settings):
    from tests.routing.conftest import REDIS_URL

    if not REDIS_URL:
        pytest.skip("needs REDIS_URL")
    settings.REDIS_URL = REDIS_URL
    settings.HARNMODEL_BREAKER_SUCCESS_FLUSH = 0.2
    settings.HARNMODEL_BREAKER_CACHE_SECONDS = 0.5  # as in production: a worker remembers what it read
    breaker.reset_local()
    shared_state.reset()
    yield
    breaker.reset_local()


async def _calls(channel_id: int) -> int:
    redis = aioredis.Redis.from_url(shared_state.settings.REDIS_URL)
    try:
        return int(await redis.hget(breaker._key(channel_id, MODEL), "c") or 0)
    finally:
        await redis.aclose()


async def test_successes_on_a_closed_breaker_are_written_together(redis_backend):
    await breaker.verdicts(MODEL, [7])  # this worker now knows the breaker is closed
    for _ in range(30):
        await breaker.record(7, MODEL, True)
    assert await _calls(7) == 0  # nothing written yet: counted here
    await asyncio.sleep(0.5)
    assert await _calls(7) == 30  # one pipeline, within the flush interval


async def test_a_failure_carries_the_counted_successes_into_the_rate_rule(redis_backend, settings):
    settings.HARNMODEL_BREAKER_FAILURES = 1000  # only the failure-rate rule
    settings.HARNMODEL_BREAKER_SUCCESS_FLUSH = 60  # no timed flush during the test
    await breaker.verdicts(MODEL, [8])
    for _ in range(10):
        await breaker.record(8, MODEL, True)
    for _ in range(10):  # 10 of 20 failed: not more than half, so still closed
        await breaker.record(8, MODEL, False)
    assert await _calls(8) == 20
    breaker.reset_local()  # another worker, reading Redis only
    assert (await breaker.verdicts(MODEL, [8]))[8].state == breaker.CLOSED
    await breaker.record(8, MODEL, False)  # 11 of 21
    assert (await breaker.verdicts(MODEL, [8]))[8].state == breaker.OPEN


async def test_a_success_where_the_breaker_is_not_known_closed_is_written_at_once(redis_backend, settings):
    for _ in range(settings.HARNMODEL_BREAKER_FAILURES):
        await breaker.record(9, MODEL, False)
    assert (await breaker.verdicts(MODEL, [9]))[9].state == breaker.OPEN
    breaker.clock, real = (lambda: real() + settings.HARNMODEL_BREAKER_COOLDOWN + 1), breaker.clock
    try:
        assert await breaker.claim_probe(9, MODEL, 10)
        await breaker.record(9, MODEL, True)  # the probe's success: closes it for every worker now
        assert not breaker_successes._pending
        breaker.reset_local()
        assert (await breaker.verdicts(MODEL, [9]))[9].state == breaker.CLOSED
    finally:
        breaker.clock = real
