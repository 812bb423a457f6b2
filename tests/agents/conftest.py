"""Agent CLIs against the real server (tests/e2e fixtures) and the scripted agent upstream (all four kinds)."""

from collections.abc import Iterator

import pytest
from django.db.models import Sum

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.services import price_publish
from tests.agents.agent_upstream import AgentUpstream
from tests.e2e.conftest import (  # noqa: F401  (fixtures)
    _requests_settled_before_flush,
    gateway,
    pytest_runtest_makereport,
    wait_for,
)
from tests.factories import make_channel, make_customer, make_model

UPSTREAM_SECRET = "agent-upstream-secret"
UPSTREAM_NAMES = {"openai_responses": "gpt-5-codex-up", "openai_chat": "gpt-5-chat-up",
                  "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-pro"}
KINDS = tuple(UPSTREAM_NAMES)
PUBLIC_MODEL = "agent-model"


@pytest.fixture(scope="session")
def _agent_upstream_server() -> Iterator[AgentUpstream]:
    server = AgentUpstream().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def agent_upstream(_agent_upstream_server: AgentUpstream) -> Iterator[AgentUpstream]:
    _agent_upstream_server.reset()
    yield _agent_upstream_server
    _agent_upstream_server.reset()


def serve_agent_model(kind: str, upstream: AgentUpstream, *, public_id: str = PUBLIC_MODEL):
    """`public_id` served by exactly one channel of `kind` on the agent upstream. Codex offers web search: the
    Responses channel runs it at a per-call price, the others drop it (drop_tools)."""
    make_model(public_id)
    options: dict = {"drop_tools": ["web_search"]}  # translated kinds have no web search: Codex goes on without
    if kind == "openai_responses":
        price_publish(model_id=public_id, input_micros=2_500_000, cached_input_micros=1_250_000,
                      output_micros=10_000_000, tool_call_micros={"web_search": 10_000})
        options = {"allow_tools": ["web_search"]}
    return make_channel(f"{kind}-agents", provider=kind, base_url=upstream.base_url(kind), secret=UPSTREAM_SECRET,
                        models={public_id: UPSTREAM_NAMES[kind]}, options=options)


@pytest.fixture
def agent_customer(transactional_db):
    """A funded account with one key: (account, key)."""
    return make_customer("agent@example.com", balance="50")


def balance(account) -> int:
    return Wallet.objects.get(account=account).balance_micros


def billed_per_turn(account, before: int, upstream: AgentUpstream) -> list[UsageRecord]:
    """One usage record per upstream call, the balance's drop = Σ their cost (> 0), the ledger closing, no open
    hold. Returns the records."""
    turns = len(upstream.turns())
    records = wait_for(
        lambda: (lambda rs: rs if len(rs) >= turns else None)(list(UsageRecord.objects.filter(account=account))),
        timeout=15, what=f"{turns} usage records",
    )
    wait_for(lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(), timeout=15,
             what="every hold settled")
    assert len(records) == turns, (len(records), turns)
    cost = sum(r.cost_micros for r in records)
    assert cost > 0 and all(r.cost_micros > 0 for r in records)
    after = balance(account)
    assert before - after == cost
    wallet = Wallet.objects.get(account=account)
    ledger = LedgerEntry.objects.filter(wallet=wallet).aggregate(total=Sum("amount_micros"))["total"]
    assert wallet.balance_micros == ledger and wallet.held_micros == 0
    return records
