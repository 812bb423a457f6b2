"""Failover before the first byte reaches the client: which channels were tried (UsageRecord.attempts),
and that the customer got the right answer or a clean error. Real HTTP upstreams with injected faults."""

import socket

import pytest

from billing.models import Hold, LedgerEntry
from gateway.db import run_db
from gateway.models import Channel
from tests.routing.conftest import ask, make_channels, record_of, tried

pytestmark = pytest.mark.django_db(transaction=True)
STREAMS = pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def setup(faulty, *names, **fields):
    return await run_db(make_channels, faulty, *names, **fields)


def assert_answered(reply):
    assert reply.status == 200, reply.body or reply.types
    assert reply.text == "你说：路由测试"
    if reply.events is not None:
        assert reply.types[-1] == "response.completed"
        assert "error" not in reply.types


@STREAMS
@pytest.mark.parametrize("status", [500, 502, 503, 529])
async def test_server_errors_fail_over(faulty, customer, stream, status):
    chans = await setup(faulty, "a", "b")
    faulty.fail("a", status)
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b"]
    assert [a["status"] for a in record.attempts] == [status, 200]
    assert record.attempts[0]["error"] == "upstream_error" and "error" not in record.attempts[1]
    assert all(isinstance(a["ms"], int) for a in record.attempts)
    assert (record.channel_id, record.status) == (chans["b"].pk, 200)


@STREAMS
async def test_429_fails_over_and_its_retry_after_cools_the_channel(faulty, customer, stream):
    chans = await setup(faulty, "a", "b")
    faulty.fail("a", 429, headers={"retry-after": "30"}, times=1)
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    assert tried(await record_of(reply.request_id), chans) == ["a", "b"]
    # The upstream said when to come back: until then the channel is skipped, not tried and failed.
    again = await ask(customer.key, stream=stream)
    assert_answered(again)
    assert tried(await record_of(again.request_id), chans) == ["b"]
    assert faulty.count("a") == 1


@STREAMS
async def test_no_first_byte_in_time_fails_over(faulty, customer, stream):
    chans = await setup(faulty, "a", "b")
    await run_db(Channel.objects.filter(pk=chans["a"].pk).update, first_byte_timeout=0.3)
    faulty.hang("a", seconds=5)  # not even headers
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b"]
    assert record.attempts[0]["error"] == "first_byte_timeout"
    assert 300 <= record.attempts[0]["ms"] < 2000
    assert faulty.wait_until(lambda: faulty.hits("a")[0].outcome == "aborted")  # we hung up on it


async def test_stream_headers_without_a_first_chunk_fail_over(faulty, customer):
    chans = await setup(faulty, "a", "b")
    await run_db(Channel.objects.filter(pk=chans["a"].pk).update, first_byte_timeout=0.3)
    faulty.stall("a", after=0, seconds=5)  # 200 and headers, then silence
    reply = await ask(customer.key, stream=True)
    assert_answered(reply)
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b"]
    assert record.attempts[0]["status"] == 200 and record.attempts[0]["error"] == "first_byte_timeout"


@STREAMS
async def test_unreachable_and_dropped_upstreams_fail_over(faulty, customer, stream):
    chans = await setup(faulty, "a", "b", "c")
    await run_db(Channel.objects.filter(pk=chans["a"].pk).update, base_url=dead_url())
    faulty.drop("b")
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b", "c"]
    assert [a["error"] for a in record.attempts[:2]] == ["connect_error", "connect_error"]


@STREAMS
async def test_unreadable_reply_fails_over(faulty, customer, stream):
    """A 200 whose body is no answer (JSON: unparseable; stream: not one event before it ended)."""
    chans = await setup(faulty, "a", "b")
    faulty.garbage("a")
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b"]
    assert record.attempts[0]["status"] == 200 and record.attempts[0]["error"] == "upstream_error"


@STREAMS
@pytest.mark.parametrize("status", [400, 413, 422])
async def test_a_customer_error_is_never_retried(faulty, customer, stream, status):
    chans = await setup(faulty, "a", "b")
    faulty.fail("a", status, body={"error": {"message": "Invalid 'temperature'.", "type": "invalid_request_error"}})
    reply = await ask(customer.key, stream=stream)
    assert reply.status == 400
    assert reply.body["error"]["type"] == "invalid_request_error"
    assert reply.headers["x-should-retry"] == "false"
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a"] and faulty.count("b") == 0
    assert (record.status, record.cost_micros) == (400, 0)


@STREAMS
async def test_three_channels_two_failing(faulty, customer, stream):
    chans = await setup(faulty, "a", "b", "c")
    faulty.fail("a", 500)
    faulty.fail("b", 429)
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b", "c"]
    assert [a["status"] for a in record.attempts] == [500, 429, 200]


@STREAMS
async def test_all_channels_failing_is_one_clean_error_and_costs_nothing(faulty, customer, stream):
    chans = await setup(faulty, "a", "b", "c")
    for name in "abc":
        faulty.fail(name, 500)
    reply = await ask(customer.key, stream=stream)
    assert reply.status == 502
    assert reply.body["error"]["code"] == "upstream_error" and reply.headers["x-should-retry"] == "true"
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a", "b", "c"]
    assert (record.status, record.cost_micros) == (502, 0)
    hold = await run_db(Hold.objects.get, request_id=reply.request_id)
    assert hold.status == Hold.Status.RELEASED
    assert not await run_db(LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).exists)


async def test_attempts_stop_at_max_attempts(faulty, customer, settings):
    settings.HARNMODEL_MAX_ATTEMPTS = 2
    chans = await setup(faulty, "a", "b", "c")
    for name in "abc":
        faulty.fail(name, 503)
    reply = await ask(customer.key)
    assert reply.status == 502
    assert tried(await record_of(reply.request_id), chans) == ["a", "b"]
    assert faulty.count("c") == 0


async def test_cut_mid_stream_is_not_retried_the_client_gets_a_clean_failure(faulty, customer):
    chans = await setup(faulty, "a", "b")
    faulty.cut("a", after=5)
    reply = await ask(customer.key, stream=True)
    assert reply.status == 200
    assert reply.types[-2:] == ["error", "response.failed"]
    assert "response.completed" not in reply.types
    assert reply.final["status"] == "failed"
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a"] and faulty.count("b") == 0
    assert record.error_code == "upstream_stream_broken"


async def test_silence_mid_stream_ends_it_with_a_failure(faulty, customer):
    chans = await setup(faulty, "a", "b")
    await run_db(Channel.objects.filter(pk=chans["a"].pk).update, idle_timeout=0.3)
    faulty.stall("a", after=5, seconds=10)
    reply = await ask(customer.key, stream=True)
    assert reply.status == 200
    assert reply.types[-2:] == ["error", "response.failed"]
    assert "went silent" in reply.events[-2][1]["message"]
    record = await record_of(reply.request_id)
    assert tried(record, chans) == ["a"] and record.error_code == "upstream_idle_timeout"
    assert record.usage_estimated is True  # billed for what was sent, counted here
    assert faulty.wait_until(lambda: faulty.hits("a")[0].outcome == "aborted")  # the upstream call ended


@STREAMS
async def test_a_slow_upstream_within_its_limits_is_fine(faulty, customer, stream):
    chans = await setup(faulty, "a", "b")
    await run_db(Channel.objects.filter(pk=chans["a"].pk).update, idle_timeout=1, first_byte_timeout=1)
    faulty.slow("a", delay=0.05)
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    assert tried(await record_of(reply.request_id), chans) == ["a"]


@STREAMS
async def test_chat_channels_fail_over_too(faulty, customer, stream):
    chans = await run_db(make_channels, faulty, "a", "b", kind="openai_chat")
    faulty.fail("a", 500)
    reply = await ask(customer.key, stream=stream)
    assert_answered(reply)
    assert tried(await record_of(reply.request_id), chans) == ["a", "b"]
    assert faulty.hits("b")[0].path.endswith("/chat/completions")


async def test_one_tier_spreads_load_by_weight(faulty, customer):
    chans = await run_db(make_channels, faulty, "a", "b", ordered=False)
    for _ in range(24):
        assert_answered(await ask(customer.key))
    assert faulty.count("a") > 2 and faulty.count("b") > 2
    assert faulty.count("a") + faulty.count("b") == 24
    assert set(chans) == {"a", "b"}


async def test_a_disabled_or_drained_channel_is_never_tried(faulty, customer):
    chans = await setup(faulty, "a", "b", "c")
    await run_db(Channel.objects.filter(pk=chans["a"].pk).update, enabled=False)
    await run_db(Channel.objects.filter(pk=chans["b"].pk).update, weight=0)
    from gateway.relay.catalog import clear_caches

    clear_caches()
    reply = await ask(customer.key)
    assert_answered(reply)
    assert tried(await record_of(reply.request_id), chans) == ["c"]
