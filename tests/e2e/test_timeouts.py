"""504 `upstream_timeout` through the real server: an upstream slower than its channel's first-byte budget.

The faulty upstream (tests/upstream/faulty.py) `hang`s: it sends nothing, not even headers, for longer than the
channel's `first_byte_timeout`. The client must get a clean 504 in OpenAI's error shape, with
`x-should-retry: true` (the code's convention for upstream failures: a retry may well succeed), no upstream URL or
credential in it, nothing charged and the hold released.
"""

import json
import time

import httpx
import openai
import pytest

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from gateway.models import Channel
from tests.factories import make_channel, make_model
from tests.upstream.faulty import FaultyUpstream

from .conftest import UPSTREAM_MODEL, UPSTREAM_SECRET, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FIRST_BYTE_TIMEOUT = 0.5
HANG_SECONDS = 5.0
# A model of its own: the breaker counts failures per channel and model, and SQLite reuses channel ids after a flush.
MODEL = "timeout-model"
BODY = {"model": MODEL, "input": [{"role": "user", "content": [{"type": "input_text", "text": "总结一下接入步骤"}]}]}


@pytest.fixture(scope="module")
def faulty():
    server = FaultyUpstream().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slow_channel(faulty):
    faulty.reset()
    make_model(MODEL)
    channel = make_channel(
        "slow", provider="openai_responses", base_url=faulty.url("slow"), secret=UPSTREAM_SECRET,
        models={MODEL: UPSTREAM_MODEL},
    )  # fmt: skip
    Channel.objects.filter(pk=channel.pk).update(first_byte_timeout=FIRST_BYTE_TIMEOUT)
    faulty.hang("slow", seconds=HANG_SECONDS)
    yield channel
    faulty.reset()


def _no_leak(text: str, faulty: FaultyUpstream) -> None:
    for secret in (faulty.url("slow"), f"127.0.0.1:{faulty.port}", str(faulty.port), UPSTREAM_SECRET):
        assert secret not in text, f"{secret!r} leaked to the client: {text}"


def _nothing_charged(request_id: str, alice) -> None:
    record = wait_for(lambda: UsageRecord.objects.filter(request_id=request_id).first(), what="usage record")
    assert (record.status, record.cost_micros) == (504, 0)
    assert record.attempts and record.attempts[0]["error"] == "first_byte_timeout"
    assert Hold.objects.get(request_id=request_id).status == Hold.Status.RELEASED
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).exists()
    wallet = Wallet.objects.get(account=alice.account)
    assert wallet.held_micros == 0
    assert wallet.balance_micros == 100_000_000  # the fixture's 100 units, untouched


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_slow_upstream_is_504_via_sdk(gateway, slow_channel, faulty, alice, stream):
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client(alice.key).responses.create(**BODY, stream=stream)
    elapsed = time.monotonic() - started
    exc = caught.value
    assert exc.status_code == 504
    assert (exc.code, exc.type, exc.param) == ("upstream_timeout", "server_error", None)
    assert isinstance(exc.message, str) and exc.message
    assert exc.response.headers["x-should-retry"] == "true"
    assert exc.response.headers["content-type"].startswith("application/json")
    assert exc.request_id == exc.response.headers["x-request-id"]
    assert elapsed < HANG_SECONDS, "the gateway waited for the upstream instead of its first-byte budget"
    _no_leak(exc.message + json.dumps(exc.body) + exc.response.text, faulty)
    assert len(faulty.hits("slow")) >= 1
    _nothing_charged(exc.request_id, alice)


def test_slow_upstream_is_504_raw_error_shape(gateway, slow_channel, faulty, alice):
    response = httpx.post(
        gateway.responses_url,
        json={**BODY, "stream": True},
        headers={"Authorization": f"Bearer {alice.key}"},
        timeout=30,
    )
    assert response.status_code == 504
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-should-retry"] == "true"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "upstream_timeout" and body["error"]["type"] == "server_error"
    assert body["error"]["param"] is None
    _no_leak(response.text, faulty)
    _nothing_charged(response.headers["x-request-id"], alice)
