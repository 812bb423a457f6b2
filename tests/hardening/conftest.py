"""Hardening fixtures: the real ASGI application called in-process, on a committed (transactional) database.

`AsgiClient` runs `harnmodel.asgi.application` on one event loop in a background thread for the whole module,
as uvicorn would, and is called synchronously from the test (hypothesis cannot drive async tests well). The
relay's database work runs in its own threads, so the test database must be transactional: rows committed.
"""

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from billing.models import Hold
from tests.factories import make_channel, make_customer, make_model

SETTLE_TIMEOUT = 15.0


class AsgiClient:
    """Sync facade over `httpx.AsyncClient(transport=ASGITransport(app))` on a private event loop."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="asgi-test-loop", daemon=True)
        self.thread.start()
        self.client = self._run(self._make_client(app))

    async def _make_client(self, app: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)

    def _run(self, coro: Any) -> Any:
        future: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=60)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._run(self.client.request(method, url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def settled(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait for the relay's background tasks (settlements) on this loop."""

        async def wait() -> None:
            from gateway.relay import job as relay

            pending = [task for task in list(relay._background) if task.get_loop() is self.loop]
            if pending:
                await asyncio.wait(pending, timeout=timeout)

        self._run(wait())

    def close(self) -> None:
        async def close_clients() -> None:
            from gateway.relay import http

            await self.client.aclose()
            upstream = http._clients.get(self.loop)  # the relay's shared upstream client on this loop
            if upstream is not None:
                await upstream.aclose()

        try:
            self._run(close_clients())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


@pytest.fixture(scope="module")
def asgi() -> Iterator[AsgiClient]:
    from harnmodel.asgi import application

    client = AsgiClient(application)
    try:
        yield client
    finally:
        client.close()


@dataclass
class Funded:
    key: str
    account_id: int
    channel_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}


@pytest.fixture
def funded(transactional_db, asgi: AsgiClient) -> Iterator[Funded]:
    """gpt-4o on one in-process simulator channel, and a key whose wallet will not run dry during a fuzz run.

    Teardown waits for every hold to close: a request may still settle after its response, and the flush of a
    transactional test must not race it. It is also an invariant: no request leaves a hold open.
    """
    make_model("gpt-4o")
    channel = make_channel(
        "sim", provider="simulator", models={"gpt-4o": ""}, options={"latency_ms": 0, "token_delay_ms": 0}
    )
    account, key = make_customer("fuzz@example.com", balance="1000000")
    yield Funded(key=key, account_id=account.pk, channel_id=channel.pk)
    asgi.settled()
    from tests.e2e.conftest import wait_for

    wait_for(
        lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(),
        timeout=SETTLE_TIMEOUT,
        what="every hold to be settled or released",
    )
