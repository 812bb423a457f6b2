"""Routing tests: real HTTP upstreams with injected faults, the gateway in-process (Django's
AsyncClient) unless a test needs the real uvicorn server.

Every test gets its own Redis key prefix and empty in-process breaker/rate-limit state, so no test
(and no earlier run) leaks open breakers or spent buckets into another.
"""

import asyncio
import json
import os
import uuid
from dataclasses import dataclass

import pytest
from django.test import AsyncClient

from billing.models import UsageRecord
from gateway.db import run_db
from gateway.models import Channel
from gateway.relay import breaker, ratelimit, shared_state
from gateway.relay import job as relay
from gateway.relay.catalog import clear_caches
from gateway.wire.sse import SSEDecoder
from tests.conftest import relay_settled
from tests.e2e.conftest import gateway  # noqa: F401  (the real uvicorn server, for a few tests here)
from tests.factories import make_channel, make_customer, make_model
from tests.upstream.faulty import FaultyUpstream

MODEL = "gpt-4o"
UPSTREAM_MODEL = "up-model"
UPSTREAM_SECRET = "sk-upstream"
TEXT = "路由测试"
ANSWER = "你说：" + TEXT  # what the test upstream answers to TEXT
REDIS_URL = os.environ.get("REDIS_URL", "")
# The uvicorn server (a subprocess, started later) gets a key prefix of its own: no breaker or rate
# limit state from an earlier run (same ids after --create-db) can reach it.
os.environ.setdefault("HARNMODEL_REDIS_PREFIX", f"hmtest-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def _faulty_server():
    server = FaultyUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def faulty(_faulty_server):
    _faulty_server.reset()
    yield _faulty_server
    _faulty_server.reset()


@pytest.fixture(autouse=True)
def _isolated_state(settings):
    settings.HARNMODEL_REDIS_PREFIX = f"hmtest:{uuid.uuid4().hex[:12]}"
    settings.HARNMODEL_BREAKER_CACHE_SECONDS = 0
    breaker.reset_local()
    ratelimit.reset_local()
    shared_state.reset()
    yield
    breaker.reset_local()
    ratelimit.reset_local()
    shared_state.reset()


@pytest.fixture(autouse=True)
async def _loop_clients_closed():
    """This loop's upstream and Redis clients die with it: close them, after the relay settled."""
    yield
    from gateway.relay.http import _clients

    await settled()
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
    await shared_state.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request, settings):
    """Shared state in this process, or in Redis (when the run has REDIS_URL)."""
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("needs REDIS_URL")
        settings.REDIS_URL = REDIS_URL
    else:
        settings.REDIS_URL = ""
    return request.param


@dataclass
class Customer:
    account: object
    key: str


@pytest.fixture
def customer(transactional_db):
    account, key = make_customer("router@example.com", balance="100")
    return Customer(account, key)


def make_channels(
    faulty: FaultyUpstream, *names: str, kind: str = "openai_responses", ordered: bool = True, **fields
) -> dict[str, Channel]:
    """One channel per name on the faulty upstream, all serving MODEL (sync: call via run_db).
    `ordered`: priorities fall in name order, so the order of tries is known; else one weighted tier."""
    make_model(MODEL)
    made = {}
    for index, name in enumerate(names):
        channel = make_channel(
            name,
            provider=kind,
            base_url=faulty.url(name),
            secret=UPSTREAM_SECRET,
            models={MODEL: UPSTREAM_MODEL},
            priority=len(names) - index if ordered else 0,
        )
        if fields:
            Channel.objects.filter(pk=channel.pk).update(**fields)
        made[name] = Channel.objects.get(pk=channel.pk)
    clear_caches()
    return made


@dataclass
class Reply:
    status: int
    headers: dict
    body: dict | None = None  # JSON answers
    events: list | None = None  # streams: [(type, data)]

    @property
    def request_id(self) -> str:
        return self.headers["x-request-id"]

    @property
    def text(self) -> str:
        if self.body is not None:
            return "".join(
                part.get("text", "")
                for item in self.body.get("output", [])
                if item.get("type") == "message"
                for part in item.get("content", [])
            )
        return "".join(data.get("delta", "") for kind, data in self.events if kind == "response.output_text.delta")

    @property
    def types(self) -> list[str]:
        return [kind for kind, _ in self.events or ()]

    @property
    def final(self) -> dict | None:
        for kind, data in reversed(self.events or ()):
            if kind in ("response.completed", "response.failed", "response.incomplete"):
                return data["response"]
        return None


async def ask(key: str, *, stream: bool = False, client: AsyncClient | None = None, **body) -> Reply:
    payload = {"model": MODEL, "input": TEXT, "max_output_tokens": 50, "stream": stream, **body}
    client = client or AsyncClient()
    response = await client.post(
        "/v1/responses", data=json.dumps(payload), content_type="application/json",
        headers={"authorization": f"Bearer {key}"},
    )
    headers = {name.lower(): value for name, value in response.items()}
    if not response.streaming:
        return Reply(response.status_code, headers, body=json.loads(response.content))
    raw = b"".join([chunk async for chunk in response.streaming_content])
    events = [(e.event, json.loads(e.data)) for e in SSEDecoder().feed(raw) + SSEDecoder().flush()]
    return Reply(response.status_code, headers, events=events)


async def settled() -> None:
    """Wait for every relay task of this loop, and for what they started (breaker records)."""
    for _ in range(50):
        if not any(t.get_loop() is asyncio.get_running_loop() and not t.done() for t in list(relay._background)):
            return
        await relay_settled()


async def record_of(request_id: str) -> UsageRecord:
    await settled()
    return await run_db(UsageRecord.objects.get, request_id=request_id)


def tried(record: UsageRecord, by_id: dict[str, Channel]) -> list[str]:
    """The channel names a request tried, in order."""
    names = {c.pk: name for name, c in by_id.items()}
    return [names.get(a["channel"], str(a["channel"])) for a in record.attempts]
