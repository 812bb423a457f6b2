"""The breaker drives the harnmodel_breaker_state gauge itself, in this process and with Redis-shared state."""

import os
import uuid

import pytest

from gateway.observe import metrics
from gateway.relay import breaker, shared_state


@pytest.fixture(params=["local", "redis"])
def breaker_backend(request, settings, monkeypatch):
    """The breaker in this process, or shared in Redis (when the run has REDIS_URL), on a fake clock."""
    redis_url = os.environ.get("REDIS_URL", "")
    if request.param == "redis" and not redis_url:
        pytest.skip("needs REDIS_URL")
    settings.REDIS_URL = redis_url if request.param == "redis" else ""
    settings.HARNMODEL_REDIS_PREFIX = f"hmtest:{uuid.uuid4().hex[:12]}"
    settings.HARNMODEL_BREAKER_CACHE_SECONDS = 0
    now = [1_800_000_000.0]
    monkeypatch.setattr(breaker, "clock", lambda: now[0])
    breaker.reset_local()
    shared_state.reset()
    yield now
    breaker.reset_local()


async def test_the_breaker_drives_its_gauge(breaker_backend, settings):
    """closed → open after HARNMODEL_BREAKER_FAILURES failures → half-open after the cooldown (probe) → closed."""
    now, model, channel = breaker_backend, f"gpt-breaker-{uuid.uuid4().hex[:6]}", 31

    def gauge() -> float | None:
        for family in metrics.BREAKER_STATE.collect():
            for found in family.samples:
                if found.labels == {"channel": str(channel), "model": model}:
                    return found.value
        return None

    try:
        for _ in range(settings.HARNMODEL_BREAKER_FAILURES - 1):
            await breaker.record(channel, model, False)
        assert (await breaker.verdicts(model, [channel]))[channel].state == breaker.CLOSED
        assert gauge() is None  # a channel that never tripped costs no series
        await breaker.record(channel, model, False)
        assert gauge() == metrics.BREAKER_STATES["open"]

        now[0] += settings.HARNMODEL_BREAKER_COOLDOWN + 1
        assert (await breaker.verdicts(model, [channel]))[channel].state == breaker.HALF_OPEN
        assert gauge() == metrics.BREAKER_STATES["half_open"]
        assert await breaker.claim_probe(channel, model, 10)
        assert gauge() == metrics.BREAKER_STATES["half_open"]
        await breaker.record(channel, model, False)  # the probe failed: open again
        assert gauge() == metrics.BREAKER_STATES["open"]

        now[0] += settings.HARNMODEL_BREAKER_COOLDOWN + 1
        assert await breaker.claim_probe(channel, model, 10)
        await breaker.record(channel, model, True)  # the probe succeeded
        assert gauge() == metrics.BREAKER_STATES["closed"]
        assert (await breaker.verdicts(model, [channel]))[channel].state == breaker.CLOSED
    finally:
        await shared_state.close()
