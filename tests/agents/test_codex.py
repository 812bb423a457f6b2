"""Codex CLI (`codex exec`) as a client: one tool turn (the model asks for a shell command, Codex runs it, the
model answers with its output) through each channel kind, over the Responses WebSocket and over HTTP, billed
exactly per upstream turn."""

import pytest

from tests.agents import clients
from tests.agents.agent_upstream import FINAL, RESULT

from .conftest import KINDS, PUBLIC_MODEL, balance, billed_per_turn, serve_agent_model

pytestmark = [
    pytest.mark.agents,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not clients.installed("codex"), reason=clients.missing_reason("codex")),
]


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "http"])
@pytest.mark.parametrize("kind", KINDS)
def test_codex_tool_turn(kind, websocket, gateway, agent_upstream, agent_customer, tmp_path):
    account, key = agent_customer
    serve_agent_model(kind, agent_upstream)
    before = balance(account)
    sockets = gateway.log().count('"WebSocket /v1/responses" [accepted]')

    run = clients.codex(tmp_path, base_url=gateway.api_base, key=key, model=PUBLIC_MODEL, websocket=websocket)

    assert run.returncode == 0, str(run)
    assert (gateway.log().count('"WebSocket /v1/responses" [accepted]') > sockets) is websocket
    assert FINAL in run.stdout, str(run)
    turns = agent_upstream.turns()
    assert [t.protocol for t in turns] == [{"openai_responses": "responses", "openai_chat": "chat"}.get(kind, kind)] * 2
    assert RESULT in str(turns[1].body) and RESULT not in str(turns[0].body)  # the command ran on our side
    names = tool_names(turns[0])
    if kind == "openai_responses":
        assert "namespace" in names and "web_search" in names  # as Codex sent them: this channel runs both
    else:  # a namespace's functions flattened under their namespace's name, web search dropped
        assert any(name.startswith("multi_agent_v1__") for name in names) and "web_search" not in names, names
    billed_per_turn(account, before, agent_upstream)


def tool_names(turn) -> list[str]:
    """Every tool the upstream was offered, by name (by type for typed tools without one)."""
    body = turn.body
    if turn.protocol == "gemini":
        return [d["name"] for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    if turn.protocol == "chat":
        return [t["function"]["name"] for t in body.get("tools") or ()]
    if turn.protocol == "anthropic":
        return [t["name"] for t in body.get("tools") or ()]
    return [t.get("name") if t.get("type") == "function" else t["type"] for t in body.get("tools") or ()]


# Named like a model Codex knows, it offers more: `apply_patch` as a freeform (custom) tool and a client-run
# `tool_search` beside web search (and no namespace). Over HTTP through each kind.
KNOWN_MODEL = "gpt-5.5"


@pytest.mark.parametrize("kind", KINDS)
def test_codex_with_a_model_it_knows(kind, gateway, agent_upstream, agent_customer, tmp_path):
    account, key = agent_customer
    serve_agent_model(kind, agent_upstream, public_id=KNOWN_MODEL)
    before = balance(account)

    run = clients.codex(tmp_path, base_url=gateway.api_base, key=key, model=KNOWN_MODEL, websocket=False)

    assert run.returncode == 0, str(run)
    assert FINAL in run.stdout, str(run)
    turns = agent_upstream.turns()
    names = tool_names(turns[0])
    if kind == "openai_responses":
        assert "custom" in names and "tool_search" in names
    else:  # apply_patch a one-string function; tool search (the Responses API's own) and web search left out
        assert "apply_patch" in names and "tool_search" not in names and "web_search" not in names, names
    billed_per_turn(account, before, agent_upstream)

