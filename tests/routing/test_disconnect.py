"""A client that hangs up mid-stream: the upstream is read on only until its usage arrives or the
drain time ends, then the upstream call is closed. No task goes on streaming to nobody.

Driven through the ASGI application itself (the lean /v1 front), with an ASGI client that sends
`http.disconnect` after a few chunks, exactly what uvicorn does when the socket closes."""

import asyncio
import json
import time

import pytest

from gateway.db import run_db
from gateway.relay import job as relay
from harnmodel.asgi import application
from tests.routing.conftest import make_channels, record_of, settled

pytestmark = pytest.mark.django_db(transaction=True)
LONG = "请把这段话一字不差地复述一遍。" * 20  # a long echo: ~100 events


async def eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return bool(check())


async def stream_then_hang_up(key: str, after_chunks: int = 3) -> tuple[str, float]:
    """POST a stream, read `after_chunks` body chunks, disconnect. Returns (request id, when we left)."""
    body = json.dumps({"model": "gpt-4o", "input": LONG, "stream": True}).encode()
    request_sent, leave = False, asyncio.Event()
    started: list[dict] = []
    chunks = 0

    async def receive():
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal chunks
        if message["type"] == "http.response.start":
            started.append(message)
        elif message.get("body"):
            chunks += 1
            if chunks >= after_chunks:
                leave.set()

    scope = {
        "type": "http", "method": "POST", "path": "/v1/responses", "raw_path": b"/v1/responses",
        "query_string": b"", "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
        "http_version": "1.1", "asgi": {"version": "3.0"},
        "headers": [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")],
    }
    await asyncio.wait_for(application(scope, receive, send), 10)
    left = time.monotonic()
    [start] = started
    assert start["status"] == 200
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return headers["x-request-id"], left


async def test_after_the_drain_the_upstream_call_is_closed(faulty, customer, settings):
    settings.HARNMODEL_DRAIN_SECONDS = 0.5
    await run_db(make_channels, faulty, "a")
    faulty.slow("a", delay=0.1)  # ~10 s of stream: far longer than the drain
    request_id, left = await stream_then_hang_up(customer.key)
    assert await eventually(lambda: faulty.hits("a")[0].outcome == "aborted", timeout=5)
    hit = faulty.hits("a")[0]
    assert hit.ended - left < settings.HARNMODEL_DRAIN_SECONDS + 1.0  # the gateway hung up on the upstream
    record = await record_of(request_id)
    assert record.error_code == "client_disconnected"
    assert record.usage_estimated is True and record.output_tokens > 0  # billed for what was produced
    await settled()
    assert not [t for t in relay._background if not t.done()]  # nothing left streaming to nobody


async def test_a_short_drain_still_collects_the_upstreams_usage(faulty, customer, settings):
    settings.HARNMODEL_DRAIN_SECONDS = 10
    await run_db(make_channels, faulty, "a")
    faulty.slow("a", delay=0.01)  # ~1 s: ends within the drain
    request_id, _ = await stream_then_hang_up(customer.key)
    record = await record_of(request_id)
    assert record.usage_estimated is False  # the upstream's own count arrived after the client left
    assert faulty.hits("a")[0].outcome == "slow"  # served to the end, not aborted
    assert record.output_tokens > 50
