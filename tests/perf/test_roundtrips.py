"""Database round trips per `/v1/responses` request, in steady state: a regression that adds one fails here.

The gateway runs in this process (its ASGI app over httpx) against the real-HTTP test upstream, with what
production has: persistent connections, the key and catalog caches warm, the receipt signer loaded. Each
case sends the same request twice and counts the second one, its background work included (settlement,
the receipt batch): tests/perf/roundtrips.py counts every statement psycopg sends (ORM and event loop)
and every write redis-py makes. PostgreSQL only: on SQLite the money path is the locked ORM path, a
different count. Redis counts apply when REDIS_URL is set (CI's PostgreSQL leg); without it, none.
"""

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from django.db import connection, connections

from billing import db as billing_db
from billing.db import run_db
from billing.holds import aio, lease
from gateway.models import ApiKey
from harnmodel.asgi import application
from tests.conftest import relay_settled
from tests.e2e.conftest import serve_model
from tests.factories import make_customer, make_model
from tests.perf.roundtrips import counting
from tests.upstream.server import UpstreamServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# case → (PostgreSQL round trips, Redis round trips when REDIS_URL is set). The README's table mirrors this.
EXPECTED = {
    # hold statement, settle statement, the receipt INSERT (one per 20 ms for every request of the worker):
    # alone, each is its own round trip; concurrent requests share them (group commit, the test below). The
    # breaker's success is counted in the worker and written with others every 0.25 s: none of its own.
    "200 json": (3, 0),
    "200 stream": (3, 0),
    "401 unknown key": (0, 0),  # the negative answer is cached like a key
    # the hold statement declines; a read of the wallet's free balance says not even the input fits
    "402 empty wallet": (2, 0),
    "403 model not allowed": (0, 0),
    "404 unknown model": (0, 0),
    "429 rate limited": (0, 1),  # the limiter's one script (EVALSHA)
    # the next request of that key, within the refusal's wait: refused from the worker's memory, before parsing
    "429 rate limited, again": (0, 0),
    "200 chat door json": (3, 0),  # a door runs the same spine: the same statements
    "200 chat door stream": (3, 0),
    # a wallet lease (billing/holds/lease.py), taken by the warm-up: no hold statement, only the settle and the receipt
    "200 json, leased": (2, 0),
    "200 stream, leased": (2, 0),
    "200 chat door json, leased": (2, 0),
}


@pytest.fixture(scope="module")
def upstream():
    server = UpstreamServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _postgres(settings):
    if connection.vendor != "postgresql":
        pytest.skip("counts the PostgreSQL statements (billing/holds/sql.py); SQLite runs the locked path only")
    settings.HARNMODEL_DB_PERSISTENT = True  # production's setting; the session default closes after each call
    settings.HARNMODEL_DB_THREADS = 1  # one DB thread, so its connection can be closed at the end
    settings.HARNMODEL_AUTH_CACHE_SECONDS = 60
    settings.HARNMODEL_CATALOG_CACHE_SECONDS = 60


@contextlib.asynccontextmanager
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app; afterwards no connection it opened stays open (the test database is flushed, then dropped)."""
    old, billing_db._executor = billing_db._executor, None
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://gw") as http:
            yield http
        await relay_settled()
    finally:
        if billing_db._executor is not None:
            await run_db(connections.close_all)
            billing_db._executor.shutdown()
        billing_db._executor = old
        pool = aio.current_pool()
        while pool.idle:
            await pool.idle.pop().close()


def _people(upstream: UpstreamServer) -> dict[str, str]:
    serve_model("openai_responses", upstream)
    make_model("other-model")
    keys = {"rich": make_customer("rich@example.com", balance="100")[1],
            "broke": make_customer("broke@example.com", balance="0")[1],
            "narrow": make_customer("narrow@example.com", balance="100", models=["other-model"])[1]}
    account, keys["limited"] = make_customer("limited@example.com", balance="100")
    ApiKey.objects.filter(account=account).update(rpm_limit=1)
    return keys


CASES = {  # case → (which key, model, stream)
    "200 json": ("rich", "gpt-4o", False),
    "200 stream": ("rich", "gpt-4o", True),
    "401 unknown key": (None, "gpt-4o", False),
    "402 empty wallet": ("broke", "gpt-4o", False),
    "403 model not allowed": ("narrow", "gpt-4o", False),
    "404 unknown model": ("rich", "no-such-model", False),
    "429 rate limited": ("limited", "gpt-4o", False),  # the first (counted as warm-up) takes the minute's one
    "429 rate limited, again": ("limited", "gpt-4o", False),  # two warm-ups: a 200, then the bucket's 429
    "200 chat door json": ("rich", "gpt-4o", False),
    "200 chat door stream": ("rich", "gpt-4o", True),
    "200 json, leased": ("rich", "gpt-4o", False),
    "200 stream, leased": ("rich", "gpt-4o", True),
    "200 chat door json, leased": ("rich", "gpt-4o", False),
}
WARM_UPS = {"429 rate limited, again": 2}


async def _send(http: httpx.AsyncClient, key: str, model: str, stream: bool, door: bool = False) -> httpx.Response:
    if door:
        body = {"model": model, "messages": [{"role": "user", "content": "round trips"}], "stream": stream,
                "max_tokens": 64}
        response = await http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
    else:
        body = {"model": model, "input": "round trips", "stream": stream, "max_output_tokens": 64}
        response = await http.post("/v1/responses", json=body, headers={"authorization": f"Bearer {key}"})
    await relay_settled()  # the settlement and the receipt batch belong to this request
    return response


@pytest.mark.parametrize("case", list(CASES))
async def test_round_trips_per_request(case, upstream, settings):
    who, model, stream = CASES[case]
    settings.HARNMODEL_WALLET_LEASE_MICROS = 5_000_000 if "leased" in case else 0
    async with gateway() as http:
        keys = await run_db(_people, upstream)
        key = keys[who] if who else "sk-" + "0" * 48
        door = "door" in case
        for _ in range(WARM_UPS.get(case, 1)):  # warm-up: connections, caches, signer, key "last used" stamp
            await _send(http, key, model, stream, door)
        with counting() as trips:
            response = await _send(http, key, model, stream, door)
        await lease.release_all()  # a leased case's lease goes back (what a worker's shutdown does)
    assert response.status_code == int(case.split()[0]), response.text
    pg, redis = EXPECTED[case]
    seen = trips.summary()
    print(case, seen)
    assert seen["connects"] == 0, seen  # steady state opens no connection
    assert seen["postgres"] == pg, seen
    assert seen["redis"] == (redis if settings.REDIS_URL else 0), seen


async def test_concurrent_requests_share_round_trips(upstream):
    """Group commit (billing/holds/batch.py): 16 requests at once send their 33 or so statements in far fewer
    round trips, each still answered and billed on its own."""
    import asyncio

    async with gateway() as http:
        keys = await run_db(_people, upstream)
        await _send(http, keys["rich"], "gpt-4o", False)  # warm-up
        batcher = aio.current_pool().batcher
        before = batcher.round_trips
        with counting() as trips:
            answers = await asyncio.gather(*(_send(http, keys["rich"], "gpt-4o", False) for _ in range(16)))
    assert [a.status_code for a in answers] == [200] * 16
    sent = trips.summary()["postgres_sent"]
    statements = len(sent)
    receipts = [label for label in sent if "billing_receipt" in label]
    # a hold and a settlement each; their receipts one INSERT per 20 ms window (one or two when the machine is
    # idle, a few more when it is busy and the 16 answers spread over more windows)
    assert statements - len(receipts) == 32, sent
    assert 1 <= len(receipts) <= 4, receipts
    print("round trips", batcher.round_trips - before, "for", statements, "statements")
    assert batcher.round_trips - before <= 12, batcher.round_trips - before
