"""End-to-end fixtures: real parts only.

* `gateway` — uvicorn running `harnmodel.asgi:application` in a subprocess, on the test database that
  pytest-django created (SQLite file or PostgreSQL), started once per session;
* `upstream` — the aiohttp test upstream (tests/upstream/server.py) in a background thread, started once per
  session and reset before every test;
* `gateway.client(key)` — the official `openai` SDK pointed at the gateway;
* `fakes` — every real-HTTP fake upstream (the test upstream, tests/upstream/anthropic_mock.py and
  gemini_mock.py), and `serve(kind, fakes)` — a model served by one channel of any kind on them.

Tests must be `django_db(transaction=True)`: their rows are committed, so the server process sees them.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import openai
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import make_channel, make_model
from tests.upstream.anthropic_mock import AnthropicMock
from tests.upstream.fixtures import anthropic_mock, fresh, gemini_mock  # noqa: F401  (fixtures)
from tests.upstream.gemini_mock import GeminiMock
from tests.upstream.server import UpstreamServer

REPO = Path(__file__).resolve().parents[2]
UPSTREAM_SECRET = "upstream-secret"
UPSTREAM_MODEL = "upstream-model-x"
# The upstream model name each channel kind is given (the simulator needs none).
UPSTREAM_NAMES = {"openai_responses": UPSTREAM_MODEL, "openai_chat": UPSTREAM_MODEL,
                  "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}  # fmt: skip
START_TIMEOUT = 20.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database (already created by pytest-django) as a DATABASE_URL for the server process."""
    db = connection.settings_dict
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.fail("e2e tests need a file-based SQLite test database (see DATABASES TEST NAME in settings)")
        return "sqlite:///" + str(Path(name).resolve())  # sqlite:////abs/path
    if "postgresql" in engine:
        auth = quote(db.get("USER") or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db.get("HOST") or "localhost"
        host = quote(host, safe="") if host.startswith("/") else host
        port = db.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{quote(db['NAME'], safe='')}"
    pytest.fail(f"e2e tests do not know how to hand the database engine {engine!r} to a subprocess")


def wait_for(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Gateway:
    url: str  # http://127.0.0.1:<port>
    process: subprocess.Popen
    log_path: Path

    @property
    def api_base(self) -> str:
        return self.url + "/v1"

    @property
    def responses_url(self) -> str:
        return self.url + "/v1/responses"

    def client(self, key: str, *, strict: bool = True, **options: Any) -> openai.OpenAI:
        """The official SDK, no retries, strict response validation unless told otherwise."""
        return openai.OpenAI(
            base_url=self.api_base,
            api_key=key,
            max_retries=0,
            timeout=30,
            _strict_response_validation=strict,
            **options,
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


_running: Gateway | None = None


def launch_gateway(
    log_path: Path,
    *,
    app: str = "harnmodel.asgi:application",
    uvicorn_args: tuple[str, ...] = ("--no-access-log",),
    lifespan: str = "off",
    **extra_env: str,
) -> Gateway:
    """A uvicorn process serving `app` on the test database, accepting connections."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "harnmodel.settings",
        "DATABASE_URL": database_url(),
        # Keys hashed and secrets encrypted in this process must work in the server.
        "SECRET_KEY": settings.SECRET_KEY,
        "HARNMODEL_KEY_HMAC_SECRET": settings.HARNMODEL_KEY_HMAC_SECRET,
        "HARNMODEL_ENCRYPTION_KEY": settings.HARNMODEL_ENCRYPTION_KEY,
        # Tests recreate rows between tests: no caching of keys or catalog.
        "HARNMODEL_AUTH_CACHE_SECONDS": "0",
        "HARNMODEL_CATALOG_CACHE_SECONDS": "0",
        "HARNMODEL_RECEIPT_KEY_CACHE_SECONDS": "0",  # each test flushes the database, its signing key too
        # No connection may outlive its use: the test database is flushed between tests and dropped at the end.
        "HARNMODEL_DB_PERSISTENT": "false",
        "DB_CONN_MAX_AGE": "0",
        "HARNMODEL_DRAIN_SECONDS": "10",
        "HARNMODEL_UPSTREAM_TIMEOUT": "30",
        "HARNMODEL_WALLET_LEASE_MICROS": "0",  # own holds unless a test asks for leases (tests/conftest.py)
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "harnmodel.http_protocol:BoundedHttpToolsProtocol",  # what scripts/run serves with (M6)
        *uvicorn_args,
        "--lifespan",
        lifespan,
        "--timeout-graceful-shutdown",
        "3",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Gateway(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode} before accepting connections:\n{server.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                stop_gateway(server)
                pytest.fail(f"uvicorn did not accept connections within {START_TIMEOUT:.0f} s:\n{server.log()}")
            time.sleep(0.1)


def stop_gateway(server: Gateway) -> None:
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="session")
def gateway(django_db_setup, tmp_path_factory) -> Iterator[Gateway]:
    global _running
    server = launch_gateway(tmp_path_factory.mktemp("gateway") / "uvicorn.log")
    try:
        _running = server
        yield server
    finally:
        _running = None
        stop_gateway(server)


@pytest.fixture(scope="session")
def _upstream_server() -> Iterator[UpstreamServer]:
    server = UpstreamServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def upstream(_upstream_server: UpstreamServer) -> Iterator[UpstreamServer]:
    """The test upstream, with no recorded requests, no pending faults and default behaviour."""
    _upstream_server.reset()
    yield _upstream_server
    _upstream_server.reset()


@pytest.fixture(autouse=True)
def _requests_settled_before_flush(transactional_db) -> Iterator[None]:
    """A stream is settled just after its last byte reached the client, so the server may still be writing when
    a test ends. Wait for every hold to close before the database is flushed (set up after `transactional_db`,
    so torn down before it): a flush racing a settlement deadlocks on PostgreSQL and leaks rows on SQLite.
    This is also an invariant of every test: no request leaves a hold open."""
    yield
    from billing.models import Hold

    wait_for(
        lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(),
        timeout=15,
        what="every hold to be settled or released",
    )


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    """A plain HTTP client for what the SDK cannot send (broken JSON, odd headers)."""
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def serve_model(
    kind: str,
    upstream: UpstreamServer,
    *,
    public_id: str = "gpt-4o",
    name: str | None = None,
    options: dict | None = None,
    secret: str = UPSTREAM_SECRET,
    priority: int = 0,
):
    """`public_id` (priced like the catalog fixture) served by exactly one channel of `kind`:
    the in-process simulator, or an openai_responses / openai_chat channel on the test upstream."""
    make_model(public_id)
    name = name or f"{kind}-{public_id}"
    if kind == "simulator":
        options = {"latency_ms": 0, "token_delay_ms": 0} if options is None else options
        return make_channel(name, provider="simulator", models={public_id: ""}, options=options, priority=priority)
    return make_channel(
        name,
        provider=kind,
        base_url=upstream.base_url,
        secret=secret,
        models={public_id: UPSTREAM_MODEL},
        options=options,
        priority=priority,
    )


@pytest.fixture
def fakes(anthropic_mock: AnthropicMock, gemini_mock: GeminiMock, upstream: UpstreamServer) -> Iterator[dict[str, Any]]:  # noqa: F811
    """Every fake upstream by kind, fresh for the test; the Anthropic one checks the channels' key."""
    with fresh(anthropic_mock), fresh(gemini_mock):
        anthropic_mock.expected_key = UPSTREAM_SECRET
        yield {"anthropic": anthropic_mock, "gemini": gemini_mock, "upstream": upstream}


def serve(kind: str, fakes: dict[str, Any], *, public_id: str = "gpt-4o", name: str | None = None, priority: int = 0):
    """`public_id` served by one channel of `kind` on its real-HTTP fake upstream (or the simulator)."""
    if kind not in ("anthropic", "gemini"):
        return serve_model(kind, fakes["upstream"], public_id=public_id, name=name, priority=priority)
    make_model(public_id)
    base_url = fakes["anthropic"].base_url if kind == "anthropic" else fakes["gemini"].api_base  # …/v1, …/v1beta
    return make_channel(name or f"{kind}-{public_id}", provider=kind, base_url=base_url, secret=UPSTREAM_SECRET,
                        models={public_id: UPSTREAM_NAMES[kind]}, priority=priority)  # fmt: skip


def upstream_bodies(kind: str, fakes: dict[str, Any]) -> list[dict]:
    """The bodies the fake upstream of `kind` received (none for the simulator)."""
    recorded = fakes[kind].requests if kind in ("anthropic", "gemini") else fakes["upstream"].received()
    return [request.body for request in recorded]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and _running is not None:
        report.sections.append(("gateway server log (tail)", _running.log()[-6000:]))
