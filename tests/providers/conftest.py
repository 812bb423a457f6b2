"""The fake upstreams these tests talk to over real HTTP (tests/upstream/fixtures.py)."""

from tests.upstream.fixtures import anthropic_mock, gemini_mock  # noqa: F401  (fixtures)
