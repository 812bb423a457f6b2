"""A worker remembers an RPM refusal while that bucket must still be empty (ratelimit.refuse_known): the
next requests of the key get their 429 before parsing and without a Redis call. Checked side by side with
the bucket itself, millisecond by millisecond, on both backends."""

import json

import pytest
from django.test import AsyncClient

from billing.db import run_db
from gateway.models import ApiKey
from gateway.relay import ratelimit, shared_state
from tests.routing.conftest import ask, make_channels, settled
from tests.routing.test_ratelimit import admit, key


@pytest.fixture
def clock(monkeypatch):
    now = [1_800_000_000.0]
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    return now


def known(info) -> ratelimit.RateLimited | None:
    try:
        ratelimit.refuse_known(info)
    except ratelimit.RateLimited as error:
        return error
    return None


async def test_a_remembered_refusal_never_refuses_what_the_bucket_would_admit(backend, clock):
    info = key(rpm_limit=7)  # 60/7 s per request: a wait that is no whole number of ms
    for i in range(7):
        await admit(info, f"r{i}")
    start = clock[0]
    with pytest.raises(ratelimit.RateLimited) as first:
        await admit(info, "refused")
    remembered = known(info)
    assert remembered is not None
    assert (remembered.status, remembered.code, remembered.type) == (429, "rate_limit_exceeded", "requests")
    assert remembered.headers == first.value.headers and remembered.message == first.value.message
    # every ms up to the bucket's own answer: the memory refuses only while the bucket refuses too
    wait_ms = int(first.value.headers["retry-after-ms"])
    for offset in range(wait_ms - 40, wait_ms + 3):
        clock[0] = start + offset / 1000
        shortcut = known(info)
        if shortcut is None:
            break
        assert int(shortcut.headers["retry-after-ms"]) == wait_ms - offset
        with pytest.raises(ratelimit.RateLimited):
            await admit(info, f"probe{offset}")  # a refusal takes nothing from the bucket
    else:
        pytest.fail("the memory outlived the bucket's own wait")
    assert wait_ms - 2 <= offset <= wait_ms  # and it let go within a ms of the bucket
    clock[0] = start + wait_ms / 1000
    assert await admit(info, "after") is not None


async def test_the_headers_refill_with_time(backend, clock):
    info = key(rpm_limit=60, tpm_limit=100_000)
    for i in range(60):
        await admit(info, f"r{i}", 10, 10)
    with pytest.raises(ratelimit.RateLimited):
        await admit(info, "refused")
    clock[0] += 0.5
    error = known(info)
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.headers["retry-after-ms"] == "500" and error.headers["retry-after"] == "1"
    assert error.headers["x-ratelimit-reset-requests"] == "59.5s"  # 0.5 of a request refilled
    assert int(error.headers["x-ratelimit-remaining-tokens"]) == 100_000 - 60 * 20 + 833  # 0.5 s of 100k/min


async def test_only_rpm_refusals_are_remembered_and_changed_limits_forget(backend, clock):
    tokens = key(key_id=2, tpm_limit=100)
    await admit(tokens, "t1", 40, 40)
    with pytest.raises(ratelimit.RateLimited):
        await admit(tokens, "t2", 40, 40)  # a TPM refusal: a finishing request may give tokens back
    assert known(tokens) is None
    rpm = key(key_id=3, rpm_limit=1)
    await admit(rpm, "a")
    with pytest.raises(ratelimit.RateLimited):
        await admit(rpm, "b")
    assert known(rpm) is not None
    assert known(key(key_id=3, rpm_limit=2)) is None  # the operator raised the limit: ask the bucket again
    assert known(key(key_id=3, rpm_limit=1)) is None  # and the memory is gone
    with pytest.raises(ratelimit.RateLimited) as asked:
        await admit(key(key_id=3, rpm_limit=2), "c")  # the bucket answers, at its new pace
    assert asked.value.headers["retry-after"] == "30"


@pytest.mark.django_db(transaction=True)
async def test_through_the_gateway_before_parsing_and_without_redis(backend, faulty, customer, monkeypatch):
    await run_db(make_channels, faulty, "a")
    await run_db(ApiKey.objects.filter(account=customer.account).update, rpm_limit=1)
    assert (await ask(customer.key)).status == 200
    assert (await ask(customer.key)).status == 429  # the bucket refused: remembered
    await settled()
    calls = []
    real_call = shared_state.call
    monkeypatch.setattr(shared_state, "call", lambda *a, **k: calls.append(a) or real_call(*a, **k))
    client = AsyncClient()
    broken = await client.post("/v1/responses", data=b'{"model": ', content_type="application/json",
                               headers={"authorization": f"Bearer {customer.key}"})
    assert broken.status_code == 429  # refused before its body was read
    body = json.loads(broken.content)
    assert body["error"]["code"] == "rate_limit_exceeded" and int(broken["retry-after"]) >= 1
    assert broken["x-ratelimit-limit-requests"] == "1" and broken["x-ratelimit-remaining-requests"] == "0"
    assert (await ask(customer.key)).status == 429
    assert calls == []  # no limiter script, no Redis round trip
    assert faulty.count("a") == 1
