"""Rate limits per key and per account (RPM, TPM reserved then reconciled, concurrency): atomic under
concurrent clients, in this process and in Redis; checked before the hold; free without limits."""

import asyncio

import pytest

from billing.db import run_db
from billing.models import Hold
from gateway.models import ApiKey
from gateway.relay import ratelimit, shared_state
from gateway.relay.catalog import KeyInfo
from gateway.services import api_key_create
from tests.factories import make_customer
from tests.routing.conftest import ask, make_channels, settled


@pytest.fixture
def clock(monkeypatch):
    now = [1_800_000_000.0]
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    return now


def key(key_id: int = 1, account_id: int = 1, **limits) -> KeyInfo:
    return KeyInfo(
        id=key_id, account_id=account_id, prefix="sk-test", allowed_models=frozenset(), expires_at=None,
        revoked=False, account_active=True, **limits,
    )


async def admit(info: KeyInfo, request_id: str, input_tokens: int = 10, output: int = 10):
    return await ratelimit.acquire(info, request_id, input_tokens, output)


# -- the limiter, on both backends ------------------------------------------------------------------


async def test_requests_per_minute(backend, clock):
    info = key(rpm_limit=3)
    tickets = [await admit(info, f"r{i}") for i in range(3)]
    assert tickets[-1].headers["x-ratelimit-limit-requests"] == "3"
    assert tickets[-1].headers["x-ratelimit-remaining-requests"] == "0"
    assert tickets[-1].headers["x-ratelimit-reset-requests"] == "1m0s"
    with pytest.raises(ratelimit.RateLimited) as caught:
        await admit(info, "r3")
    error = caught.value
    assert (error.status, error.code, error.type, error.retryable) == (429, "rate_limit_exceeded", "requests", True)
    assert error.headers["retry-after"] == "20"  # one request refills every 60/3 s
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert "requests per minute" in error.message
    clock[0] += 20
    assert await admit(info, "r4") is not None


async def test_callers_timed_out_of_order_never_lose_a_request(backend, clock):
    """Concurrent requests read the clock, then reach the bucket in any order. A caller timed before the
    last write refilled it backwards, and the stored level's rounding then lost a request for good: these
    20 arrival times (ms) against 5 per minute admitted 4. Time now only moves forward in the bucket."""
    info = key(rpm_limit=5)
    start = clock[0]
    admitted = 0
    for index, offset_ms in enumerate([392, 1, 356, 228, 136, 369, 117, 302, 52, 162, 15, 11, 13, 332, 277, 4, 195,
                                       351, 110, 216]):
        clock[0] = start + offset_ms / 1000
        try:
            await admit(info, f"o{index}")
            admitted += 1
        except ratelimit.RateLimited:
            pass
    assert admitted == 5


async def test_tokens_are_reserved_then_reconciled(backend, clock):
    info = key(tpm_limit=1000)
    first = await admit(info, "a", 100, 400)
    second = await admit(info, "b", 100, 400)
    assert second.headers["x-ratelimit-remaining-tokens"] == "0"
    with pytest.raises(ratelimit.RateLimited) as caught:
        await admit(info, "c", 100, 400)
    assert caught.value.type == "tokens"
    await ratelimit.finish(first, 120)  # used 120 of the 500 reserved: 380 come back
    await ratelimit.finish(second, 120)
    third = await admit(info, "c", 100, 400)
    assert third.headers["x-ratelimit-remaining-tokens"] == "260"


async def test_usage_beyond_the_reservation_is_owed(backend, clock):
    info = key(tpm_limit=1000)
    ticket = await admit(info, "a", 10, 90)
    await ratelimit.finish(ticket, 1500)  # the bucket is 500 in debt
    with pytest.raises(ratelimit.RateLimited) as caught:
        await admit(info, "b", 10, 90)
    assert caught.value.headers["retry-after"] == "36"  # (500 + 100) tokens at 1000/min


async def test_a_request_larger_than_the_limit_is_refused_for_good(backend, clock):
    with pytest.raises(ratelimit.RateLimited) as caught:
        await admit(key(tpm_limit=100), "a", 150, 10)
    assert caught.value.retryable is False and "too large" in caught.value.message
    assert await admit(key(tpm_limit=100), "b", 50, 4096) is not None  # output beyond the limit: capped


async def test_concurrent_requests(backend, clock):
    info = key(concurrency_limit=2)
    first = await admit(info, "a")
    await admit(info, "b")
    with pytest.raises(ratelimit.RateLimited) as caught:
        await admit(info, "c")
    assert "concurrent" in caught.value.message and caught.value.headers["retry-after"] == "1"
    await ratelimit.finish(first, 0)
    assert await admit(info, "c") is not None


async def test_account_limits_cover_every_key(backend, clock):
    one, two = key(1, account_rpm_limit=2), key(2, account_rpm_limit=2)
    await admit(one, "a")
    await admit(two, "b")
    with pytest.raises(ratelimit.RateLimited) as caught:
        await admit(one, "c")
    assert "account" in caught.value.message
    assert await admit(key(3, account_id=2, account_rpm_limit=2), "d") is not None  # another account


async def test_the_tighter_limit_speaks_in_the_headers(backend, clock):
    ticket = await admit(key(rpm_limit=100, account_rpm_limit=4), "a")
    assert ticket.headers["x-ratelimit-limit-requests"] == "4"
    assert ticket.headers["x-ratelimit-remaining-requests"] == "3"
    assert ticket.headers["x-ratelimit-reset-requests"] == "15s"


def test_reset_durations_read_like_openais():
    assert [ratelimit._duration(ms) for ms in (0, 20, 999.2, 1000, 1500, 60_000, 90_250)] == [
        "0ms", "20ms", "1s", "1s", "1.5s", "1m0s", "1m30.25s",
    ]


async def test_no_limits_cost_nothing(settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"

    async def forbidden(fn):
        raise AssertionError("Redis was called for a key without limits")

    monkeypatch.setattr(shared_state, "call", forbidden)
    assert await admit(key(), "a") is None
    await ratelimit.finish(None, 100)


async def test_an_unreachable_redis_lets_traffic_through(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    info = key(rpm_limit=1)
    assert await admit(info, "a") is None
    assert await admit(info, "b") is None


# -- through the gateway, with concurrent clients ---------------------------------------------------

pytestmark_db = pytest.mark.django_db(transaction=True)


async def limit_key(customer, **limits) -> None:
    await run_db(ApiKey.objects.filter(account=customer.account).update, **limits)


@pytestmark_db
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_concurrent_clients_get_exactly_the_limit(backend, faulty, customer, stream):
    await run_db(make_channels, faulty, "a")
    await limit_key(customer, rpm_limit=5)
    replies = await asyncio.gather(*(ask(customer.key, stream=stream) for _ in range(20)))
    await settled()
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] * 5 + [429] * 15
    for reply in replies:
        assert reply.headers["x-ratelimit-limit-requests"] == "5"
        if reply.status == 429:
            assert reply.body["error"]["code"] == "rate_limit_exceeded"
            assert int(reply.headers["retry-after"]) >= 1
            assert reply.headers["x-ratelimit-remaining-requests"] == "0"
    assert faulty.count("a") == 5  # refused before the upstream
    assert await run_db(Hold.objects.count) == 5  # and before the hold


@pytestmark_db
async def test_concurrency_limit_under_load_and_release(backend, faulty, customer):
    await run_db(make_channels, faulty, "a")
    await limit_key(customer, concurrency_limit=2)
    faulty.slow("a", delay=0.4)
    replies = await asyncio.gather(*(ask(customer.key) for _ in range(6)))
    assert sorted(r.status for r in replies) == [200, 200, 429, 429, 429, 429]
    await settled()
    faulty.ok("a")
    assert all(r.status == 200 for r in [await ask(customer.key) for _ in range(3)])  # slots were freed


@pytestmark_db
async def test_account_limit_across_keys(backend, faulty, customer):
    await run_db(make_channels, faulty, "a")
    other = (await run_db(api_key_create, account_id=customer.account.pk)).secret
    await run_db(type(customer.account).objects.filter(pk=customer.account.pk).update, rpm_limit=3)
    replies = await asyncio.gather(*(ask(k) for k in [customer.key, other] * 4))
    assert sorted(r.status for r in replies) == [200] * 3 + [429] * 5


@pytestmark_db
async def test_tokens_reconciled_after_the_answer(backend, faulty, customer):
    await run_db(make_channels, faulty, "a")
    await limit_key(customer, tpm_limit=10_000)
    first = await ask(customer.key, max_output_tokens=4000)
    assert first.status == 200
    reserved = 10_000 - int(first.headers["x-ratelimit-remaining-tokens"])
    assert reserved > 4000
    await settled()
    second = await ask(customer.key, max_output_tokens=4000)
    used = first.body["usage"]["total_tokens"]
    # The first request gave back what it reserved beyond its usage (a little refilled meanwhile).
    assert int(second.headers["x-ratelimit-remaining-tokens"]) >= 10_000 - used - reserved


@pytestmark_db
async def test_a_refused_hold_frees_the_slot(backend, faulty, transactional_db):
    await run_db(make_channels, faulty, "a")
    account, secret = await run_db(make_customer, "poor@example.com", balance="0")
    await run_db(ApiKey.objects.filter(account=account).update, concurrency_limit=1)
    assert [(await ask(secret)).status for _ in range(3)] == [402, 402, 402]
