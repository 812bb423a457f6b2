"""Claude Code (`claude -p`) and Gemini CLI (a prompt, no TTY) as clients: one tool turn each (the model asks
for a shell command, the CLI runs it, the model answers with its output) through a channel of the CLI's own
protocol and through a translated one, billed exactly per upstream turn."""

import pytest

from tests.agents import clients
from tests.agents.agent_upstream import FINAL, RESULT

from .conftest import PUBLIC_MODEL, balance, billed_per_turn, serve_agent_model

pytestmark = [pytest.mark.agents, pytest.mark.django_db(transaction=True)]
PROTOCOL = {"openai_responses": "responses", "openai_chat": "chat", "anthropic": "anthropic", "gemini": "gemini"}


def tool_turn_done(run, upstream) -> None:
    assert run.returncode == 0, str(run)
    assert FINAL in run.stdout, str(run)
    turns = upstream.turns()
    ran = [i for i, t in enumerate(turns) if RESULT in str(t.body)]
    assert ran and ran[0] > 0, [t.body for t in turns]  # the command's output came back from the CLI's side


@pytest.mark.skipif(not clients.installed("claude"), reason=clients.missing_reason("claude"))
@pytest.mark.parametrize("kind", ["anthropic", "openai_chat"])
def test_claude_code_tool_turn(kind, gateway, agent_upstream, agent_customer, tmp_path):
    account, key = agent_customer
    serve_agent_model(kind, agent_upstream)
    before = balance(account)

    run = clients.claude(tmp_path, origin=gateway.url, key=key, model=PUBLIC_MODEL)

    tool_turn_done(run, agent_upstream)
    assert {t.protocol for t in agent_upstream.turns()} == {PROTOCOL[kind]}
    billed_per_turn(account, before, agent_upstream)


@pytest.mark.skipif(not clients.installed("gemini"), reason=clients.missing_reason("gemini"))
@pytest.mark.parametrize("kind", ["gemini", "anthropic"])
def test_gemini_cli_tool_turn(kind, gateway, agent_upstream, agent_customer, tmp_path):
    account, key = agent_customer
    serve_agent_model(kind, agent_upstream)
    before = balance(account)

    run = clients.gemini(tmp_path, origin=gateway.url, key=key, model=PUBLIC_MODEL)

    tool_turn_done(run, agent_upstream)
    assert {t.protocol for t in agent_upstream.turns()} == {PROTOCOL[kind]}
    billed_per_turn(account, before, agent_upstream)
