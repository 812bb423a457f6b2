"""Session budgets: a key's budget per session (`X-Session-Id`, else `prompt_cache_key`) stops a runaway loop with
402 `session_budget_exceeded` before any upstream call, exactly — many requests of one session at once, against
an upstream that ignores every cap, never spend past it — with the counter in Redis and in the database.

Real HTTP upstream (tests/upstream/faulty.py), the gateway in process, as tests/routing does.
"""

import asyncio
import json
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone

from billing.db import run_db
from billing.models import LedgerEntry, UsageRecord
from gateway.models import ApiKey, SessionSpend
from gateway.relay import sessions, shared_state
from gateway.relay.catalog import clear_caches
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, REDIS_URL, make_channels, settled
from tests.routing.test_disconnect import LONG

pytestmark = pytest.mark.django_db(transaction=True)
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty
BUDGET = 6000  # micros: a LONG request's input alone costs 760


@pytest.fixture(params=["database", "redis"])
def store(request, settings):
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("REDIS_URL is not set")
        settings.REDIS_URL = REDIS_URL
    else:
        settings.REDIS_URL = ""
    shared_state.reset()
    return request.param


def budget(account, micros: int | None = BUDGET) -> None:
    ApiKey.objects.filter(account=account).update(session_budget_micros=micros)
    clear_caches()


async def post(key: str, headers: dict | None = None, client: AsyncClient | None = None, **body):
    payload = {"model": MODEL, "input": LONG, "max_output_tokens": 500, **body}
    response = await (client or AsyncClient()).post(
        "/v1/responses", data=json.dumps(payload), content_type="application/json",
        headers={"authorization": f"Bearer {key}", **(headers or {})},
    )
    if response.streaming:
        b"".join([chunk async for chunk in response.streaming_content])
        return response, None
    return response, json.loads(response.content)


def charged(request_ids: list[str]) -> int:
    return -sum(LedgerEntry.objects.filter(request_id__in=request_ids, kind="charge")
                .values_list("amount_micros", flat=True))


async def counted(key_id: int, session: str) -> int:
    return BUDGET - await sessions.left(key_id=key_id, budget=BUDGET, session=session)


async def test_a_session_stops_at_its_budget_and_others_go_on(faulty, customer, store):
    await run_db(make_channels, faulty, "a")
    faulty.lie("a", ignore_cap=True)
    await run_db(budget, customer.account)
    key_id = await run_db(lambda: ApiKey.objects.get(account=customer.account).pk)
    served = []
    for _ in range(20):
        response, body = await post(customer.key, {"X-Session-Id": "loop-1"})
        if response.status_code == 402:
            break
        assert response.status_code == 200
        served.append(response["x-request-id"])
    else:
        pytest.fail("the session never stopped")
    assert body["error"]["code"] == "session_budget_exceeded" and body["error"]["type"] == "insufficient_quota"
    await settled()
    hits = len(faulty.hits("a"))
    assert hits == len(served) >= 2  # the refusal called no upstream
    spent = await run_db(charged, served)
    assert spent <= BUDGET and await counted(key_id, "loop-1") == spent  # the counter is the charges, exactly
    response, _ = await post(customer.key, {"X-Session-Id": "loop-2"})  # another session has its own budget
    assert response.status_code == 200
    response, _ = await post(customer.key)  # no session named: not counted
    assert response.status_code == 200


async def test_prompt_cache_key_names_the_session(faulty, customer, store):
    await run_db(make_channels, faulty, "a")
    await run_db(budget, customer.account, 1000)  # one LONG request's input (760) and a few tokens
    response, _ = await post(customer.key, prompt_cache_key="agent-7")
    assert response.status_code == 200
    response, body = await post(customer.key, prompt_cache_key="agent-7")
    assert response.status_code == 402 and body["error"]["code"] == "session_budget_exceeded"
    response, body = await post(customer.key, {"X-Session-Id": "agent-8"}, prompt_cache_key="agent-7")
    assert response.status_code == 200  # the header wins


async def test_many_requests_of_one_session_at_once_never_pass_the_budget(faulty, customer, store):
    await run_db(make_channels, faulty, "a")
    faulty.lie("a", ignore_cap=True)
    await run_db(budget, customer.account)
    key_id = await run_db(lambda: ApiKey.objects.get(account=customer.account).pk)
    client = AsyncClient()
    # Each takes its worst case (760 input + 50 output tokens = 1260) while in flight: about 4 fit at once.
    replies = await asyncio.gather(*(post(customer.key, {"X-Session-Id": "crowd"}, client=client, stream=i % 2 == 0,
                                          max_output_tokens=50) for i in range(16)))
    await settled()
    statuses = [response.status_code for response, _ in replies]
    assert set(statuses) <= {200, 402} and statuses.count(402) >= 1 and statuses.count(200) >= 2, statuses
    served = [response["x-request-id"] for response, _ in replies if response.status_code == 200]
    spent = await run_db(charged, served)
    print(f"\n{store}: 16 at once, budget {BUDGET}: {len(served)} served, spent {spent}")
    assert 0 < spent <= BUDGET and await counted(key_id, "crowd") == spent
    records = await run_db(lambda: list(UsageRecord.objects.filter(request_id__in=served)))
    assert all(record.cost_micros > 0 for record in records)


async def test_a_bad_session_id_is_400_naming_the_header(faulty, customer):
    await run_db(make_channels, faulty, "a")
    await run_db(budget, customer.account)
    response, body = await post(customer.key, {"X-Session-Id": "x" * 129})
    assert response.status_code == 400 and body["error"]["param"] == "X-Session-Id"
    assert faulty.hits("a") == []


async def test_a_refused_request_gives_its_share_back(faulty, customer, store):
    """The session's share is taken before the hold: a hold the wallet cannot pay returns it whole."""
    await run_db(make_channels, faulty, "a")
    await run_db(budget, customer.account)
    key_id = await run_db(lambda: ApiKey.objects.get(account=customer.account).pk)
    from billing.models import Wallet

    await run_db(lambda: Wallet.objects.filter(account=customer.account).update(held_micros=100_000_000))
    response, body = await post(customer.key, {"X-Session-Id": "poor"})
    assert response.status_code == 402 and body["error"]["code"] == "insufficient_balance"
    assert await counted(key_id, "poor") == 0
    await run_db(lambda: Wallet.objects.filter(account=customer.account).update(held_micros=0))


def test_database_counters_end_after_the_idle_time(customer, settings):
    key = ApiKey.objects.get(account=customer.account)
    assert sessions._db_take(key_id=key.pk, digest="d" * 64, budget=100, want=80, minimum=10) == 80
    assert sessions._db_take(key_id=key.pk, digest="d" * 64, budget=100, want=80, minimum=30) == -1
    SessionSpend.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.HARNMODEL_SESSION_IDLE_SECONDS + 1))
    assert sessions._db_take(key_id=key.pk, digest="d" * 64, budget=100, want=80, minimum=30) == 80  # afresh
    SessionSpend.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.HARNMODEL_SESSION_IDLE_SECONDS + 1))
    assert sessions.purge_idle() == 1 and not SessionSpend.objects.exists()


async def test_redis_counters_expire(faulty, customer, settings):
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    settings.REDIS_URL = REDIS_URL
    settings.HARNMODEL_SESSION_IDLE_SECONDS = 30
    shared_state.reset()
    share = await sessions.take(key_id=1, budget=1000, session="ttl", want=100, minimum=10)
    assert share.in_redis and share.taken == 100
    _, ttl = await shared_state.call(lambda redis: redis.ttl(sessions._redis_key(1, share.digest)))
    assert 0 < ttl <= 30
    await share.settle(40)
    assert await sessions.left(key_id=1, budget=1000, session="ttl") == 960


async def test_a_quote_counts_the_session_and_takes_nothing(faulty, customer, store):
    await run_db(make_channels, faulty, "a")
    await run_db(budget, customer.account, 1000)
    key_id = await run_db(lambda: ApiKey.objects.get(account=customer.account).pk)
    headers = {"authorization": f"Bearer {customer.key}", "X-Session-Id": "quoted"}
    body = json.dumps({"model": MODEL, "input": LONG, "max_output_tokens": 10})

    async def quote():
        response = await AsyncClient().post("/v1/quote", data=body, content_type="application/json", headers=headers)
        return response.status_code, json.loads(response.content)

    status, first = await quote()
    assert status == 200 and first["cost_ceiling"] == first["worst_case_cost"] == first["hold"]  # 860 of 1000 left
    assert await counted(key_id, "quoted") == 0  # a quote takes no share
    response, _ = await post(customer.key, {"X-Session-Id": "quoted"}, max_output_tokens=10)
    assert response.status_code == 200
    await settled()
    status, second = await quote()  # what is left no longer covers the input and one output token
    assert status == 402 and second["error"]["code"] == "session_budget_exceeded"
    response, answer = await post(customer.key, {"X-Session-Id": "quoted"}, max_output_tokens=10)
    assert response.status_code == 402 and answer == second  # the request is refused the same way
