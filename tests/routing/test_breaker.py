"""The circuit breaker per channel+model: opens, cools down, lets one probe through, closes. In this
process and in Redis (shared by workers); an unreachable Redis never blocks traffic."""

import time

import pytest

from gateway.db import run_db
from gateway.relay import breaker, shared_state
from tests.routing.conftest import ask, make_channels, record_of, settled, tried

MODEL = "gpt-4o"


@pytest.fixture
def clock(monkeypatch):
    now = [1_800_000_000.0]
    monkeypatch.setattr(breaker, "clock", lambda: now[0])
    return now


async def state(channel_id: int = 1) -> breaker.Verdict:
    return (await breaker.verdicts(MODEL, [channel_id]))[channel_id]


async def fail(times: int, channel_id: int = 1, retry_after: float | None = None) -> None:
    for _ in range(times):
        await breaker.record(channel_id, MODEL, False, retry_after)


# -- the state machine, on both backends --------------------------------------------------------------


async def test_opens_after_n_failures_in_the_window(backend, clock, settings):
    await fail(4)
    assert (await state()).state == breaker.CLOSED
    await fail(1)
    verdict = await state()
    assert verdict.state == breaker.OPEN
    assert verdict.retry_in == pytest.approx(settings.HARNMODEL_BREAKER_COOLDOWN)
    assert (await state(2)).state == breaker.CLOSED  # per channel
    assert (await breaker.verdicts("other-model", [1]))[1].state == breaker.CLOSED  # and per model


async def test_failures_spread_beyond_the_window_do_not_open(backend, clock, settings):
    for _ in range(10):
        await fail(2)
        clock[0] += settings.HARNMODEL_BREAKER_WINDOW  # two failures a minute: never five in one
        await breaker.record(1, MODEL, True)
    assert (await state()).state == breaker.CLOSED


async def test_the_window_slides(backend, clock, settings):
    await fail(3)
    clock[0] += settings.HARNMODEL_BREAKER_WINDOW * 1.25  # 3/4 of the old window still counts: 2.25
    await fail(2)
    assert (await state()).state == breaker.CLOSED
    await fail(1)
    assert (await state()).state == breaker.OPEN


async def test_opens_on_failure_rate(backend, clock, settings):
    settings.HARNMODEL_BREAKER_FAILURES = 1000  # only the rate rule
    for index in range(20):
        await breaker.record(1, MODEL, index % 2 == 0)  # 10 of 20 failed: not more than half
    assert (await state()).state == breaker.CLOSED
    await fail(1)  # 11 of 21
    assert (await state()).state == breaker.OPEN


async def test_retry_after_opens_at_once_for_that_long(backend, clock, settings):
    await fail(1, retry_after=7)
    verdict = await state()
    assert verdict.state == breaker.OPEN and verdict.retry_in == pytest.approx(7)
    await fail(1, channel_id=2, retry_after=10_000)
    assert (await state(2)).retry_in == pytest.approx(settings.HARNMODEL_BREAKER_MAX_COOLDOWN)
    clock[0] += 7
    assert (await state()).state == breaker.HALF_OPEN


async def test_half_open_lets_one_probe_through_and_success_closes(backend, clock, settings):
    await fail(5)
    clock[0] += settings.HARNMODEL_BREAKER_COOLDOWN
    assert (await state()).state == breaker.HALF_OPEN
    assert await breaker.claim_probe(1, MODEL, 10) is True
    assert await breaker.claim_probe(1, MODEL, 10) is False  # one probe at a time
    assert (await state()).state == breaker.OPEN
    await breaker.record(1, MODEL, True)
    assert (await state()).state == breaker.CLOSED
    await fail(4)  # a fresh start: the old failures are forgotten
    assert (await state()).state == breaker.CLOSED


async def test_a_failed_probe_opens_again(backend, clock, settings):
    await fail(5)
    clock[0] += settings.HARNMODEL_BREAKER_COOLDOWN + 1
    assert await breaker.claim_probe(1, MODEL, 10)
    await fail(1)
    verdict = await state()
    assert verdict.state == breaker.OPEN and verdict.retry_in == pytest.approx(settings.HARNMODEL_BREAKER_COOLDOWN)


async def test_a_stuck_probe_lets_another_try_later(backend, clock, settings):
    await fail(5)
    clock[0] += settings.HARNMODEL_BREAKER_COOLDOWN
    assert await breaker.claim_probe(1, MODEL, 10)
    clock[0] += 11
    assert (await state()).state == breaker.HALF_OPEN
    assert await breaker.claim_probe(1, MODEL, 10)


async def test_a_success_from_before_the_opening_does_not_close(backend, clock):
    await fail(5)
    await breaker.record(1, MODEL, True)  # a slow request that started earlier
    assert (await state()).state == breaker.OPEN


async def test_redis_state_is_shared_by_workers(clock, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    await fail(5)
    breaker.reset_local()  # another worker: nothing in its memory
    assert (await state()).state == breaker.OPEN


async def test_an_unreachable_redis_never_blocks_traffic(clock, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    started = time.monotonic()
    assert (await state()).state == breaker.CLOSED
    await fail(5)  # falls back to this process's memory
    assert (await state()).state == breaker.OPEN
    assert await breaker.claim_probe(2, MODEL, 1)
    assert time.monotonic() - started < 2
    assert shared_state.client() is None  # not asked again for a while


# -- through the gateway --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_failing_channel_is_skipped_then_probed_back(backend, clock, faulty, customer, settings):
    chans = await run_db(make_channels, faulty, "a", "b")
    faulty.fail("a", 500)
    for _ in range(settings.HARNMODEL_BREAKER_FAILURES):
        reply = await ask(customer.key)
        assert reply.status == 200
        assert tried(await record_of(reply.request_id), chans) == ["a", "b"]
    # Open: the failing channel costs the next requests nothing.
    reply = await ask(customer.key, stream=True)
    assert reply.status == 200 and reply.types[-1] == "response.completed"
    assert tried(await record_of(reply.request_id), chans) == ["b"]
    assert faulty.count("a") == settings.HARNMODEL_BREAKER_FAILURES
    # The channel recovers; after the cooldown one request probes it and closes the breaker.
    faulty.ok("a")
    clock[0] += settings.HARNMODEL_BREAKER_COOLDOWN + 1
    reply = await ask(customer.key)
    assert tried(await record_of(reply.request_id), chans) == ["a"]
    await settled()
    assert (await breaker.verdicts(MODEL, [chans["a"].pk]))[chans["a"].pk].state == breaker.CLOSED


@pytest.mark.django_db(transaction=True)
async def test_customer_errors_never_open_the_breaker(backend, clock, faulty, customer):
    chans = await run_db(make_channels, faulty, "a", "b")
    faulty.fail("a", 400, body={"error": {"message": "bad temperature", "type": "invalid_request_error"}})
    for _ in range(8):
        assert (await ask(customer.key)).status == 400
    await settled()
    assert (await breaker.verdicts(MODEL, [chans["a"].pk]))[chans["a"].pk].state == breaker.CLOSED
    assert faulty.count("b") == 0


@pytest.mark.django_db(transaction=True)
async def test_every_channel_cooling_down_is_a_503_with_retry_after(backend, clock, faulty, customer):
    await run_db(make_channels, faulty, "a")
    faulty.fail("a", 429, headers={"retry-after": "20"}, times=1)
    assert (await ask(customer.key)).status == 429
    await settled()
    reply = await ask(customer.key)
    assert reply.status == 503
    assert reply.body["error"]["code"] == "model_not_available"
    assert reply.headers["retry-after"] == "20"
    assert faulty.count("a") == 1
    record = await record_of(reply.request_id)
    assert record.attempts == [] and record.cost_micros == 0


@pytest.mark.django_db(transaction=True)
async def test_mid_stream_breaks_count_against_the_channel(backend, clock, faulty, customer, settings):
    chans = await run_db(make_channels, faulty, "a", "b")
    faulty.cut("a", after=4)
    for _ in range(settings.HARNMODEL_BREAKER_FAILURES):
        reply = await ask(customer.key, stream=True)
        assert reply.types[-1] == "response.failed"
        await record_of(reply.request_id)
    reply = await ask(customer.key, stream=True)
    assert reply.types[-1] == "response.completed"
    assert tried(await record_of(reply.request_id), chans) == ["b"]
