"""Door tests run against the real server (tests/e2e fixtures) and real HTTP upstreams of every kind."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import (  # noqa: F401  (fixtures)
    _requests_settled_before_flush,
    _upstream_server,
    gateway,
    http,
    pytest_runtest_makereport,
    upstream,
)
from tests.factories import make_channel, make_model
from tests.upstream.anthropic_mock import AnthropicMock
from tests.upstream.gemini_mock import GeminiMock

UPSTREAM_SECRET = "upstream-secret"
UPSTREAM_NAMES = {"openai_responses": "upstream-model-x", "openai_chat": "upstream-model-x",
                  "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}


@pytest.fixture(scope="session")
def anthropic_mock() -> Iterator[AnthropicMock]:
    mock = AnthropicMock().start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture(scope="session")
def gemini_mock() -> Iterator[GeminiMock]:
    mock = GeminiMock().start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def fakes(anthropic_mock, gemini_mock, upstream) -> Iterator[dict[str, Any]]:  # noqa: F811
    for mock in (anthropic_mock, gemini_mock):
        mock.reset()
        mock.requests.clear()
    anthropic_mock.expected_key = UPSTREAM_SECRET
    yield {"anthropic": anthropic_mock, "gemini": gemini_mock, "upstream": upstream}
    for mock in (anthropic_mock, gemini_mock):
        mock.reset()
        mock.requests.clear()


def serve(kind: str, fakes: dict[str, Any], *, public_id: str = "gpt-4o", name: str | None = None,
          priority: int = 0) -> Any:
    """`public_id` served by one channel of `kind` on its real-HTTP fake upstream (or the simulator)."""
    make_model(public_id)
    name = name or f"{kind}-{public_id}"
    if kind == "simulator":
        return make_channel(name, provider="simulator", models={public_id: ""},
                            options={"latency_ms": 0, "token_delay_ms": 0}, priority=priority)
    base_url = {"anthropic": fakes["anthropic"].base_url, "gemini": fakes["gemini"].api_base}.get(
        kind, fakes["upstream"].base_url)
    return make_channel(name, provider=kind, base_url=base_url, secret=UPSTREAM_SECRET,
                        models={public_id: UPSTREAM_NAMES[kind]}, priority=priority)


def upstream_bodies(kind: str, fakes: dict[str, Any]) -> list[dict]:
    recorded = fakes[kind].requests if kind in ("anthropic", "gemini") else fakes["upstream"].received()
    return [request.body for request in recorded]
