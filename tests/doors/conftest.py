"""Door tests run against the real server (tests/e2e fixtures) and real HTTP upstreams of every kind."""

from tests.e2e.conftest import (  # noqa: F401  (fixtures and helpers the door tests import from here)
    UPSTREAM_NAMES,
    _requests_settled_before_flush,
    _upstream_server,
    anthropic_mock,
    fakes,
    gateway,
    gemini_mock,
    http,
    pytest_runtest_makereport,
    serve,
    upstream,
    upstream_bodies,
)
