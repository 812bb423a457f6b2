"""The Anthropic and Gemini fake upstreams (real HTTP) as pytest fixtures, in one place.

`anthropic_mock` / `gemini_mock`: one server per test module; `anthropic` / `gemini`: that server with
nothing queued or recorded before and after the test. Import the ones you use into a conftest or test module
(pytest finds fixtures by name there).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import pytest

from tests.upstream.anthropic_mock import AnthropicMock
from tests.upstream.gemini_mock import GeminiMock
from tests.upstream.threaded import ThreadedServer


class _Resettable(Protocol):
    def reset(self) -> None: ...


M = TypeVar("M", bound=_Resettable)
S = TypeVar("S", bound=ThreadedServer)


@contextmanager
def fresh(mock: M) -> Iterator[M]:
    """The mock with no queued replies and no recorded requests, before and after the block."""
    mock.reset()
    try:
        yield mock
    finally:
        mock.reset()


def _serving(mock: S) -> Iterator[S]:
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def anthropic_mock() -> Iterator[AnthropicMock]:
    yield from _serving(AnthropicMock())


@pytest.fixture(scope="module")
def gemini_mock() -> Iterator[GeminiMock]:
    yield from _serving(GeminiMock())


@pytest.fixture
def anthropic(anthropic_mock: AnthropicMock) -> Iterator[AnthropicMock]:
    with fresh(anthropic_mock) as mock:
        yield mock


@pytest.fixture
def gemini(gemini_mock: GeminiMock) -> Iterator[GeminiMock]:
    with fresh(gemini_mock) as mock:
        yield mock
