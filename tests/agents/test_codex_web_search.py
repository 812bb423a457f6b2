"""Codex CLI through Anthropic and Gemini channels that run web search (allow_tools, a per-call price, no
drop_tools): the `web_search` tool Codex offers goes up as the provider's own search, the turn that searched
comes back with its web_search_call item beside the shell call, Codex completes the tool turn (sending that item
back, which goes up as text), and the search is charged at its per-call price on top of the tokens."""

import json

import pytest

from billing.pricing import PriceSnapshot, Usage, charge_micros
from billing.services import price_publish
from tests.agents import clients
from tests.agents.agent_upstream import CITED, FINAL, RESULT, SEARCH_QUERY
from tests.factories import make_channel, make_model

from .conftest import PUBLIC_MODEL, UPSTREAM_SECRET, balance, billed_per_turn

pytestmark = [
    pytest.mark.agents,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not clients.installed("codex"), reason=clients.missing_reason("codex")),
]

SEARCH_MICROS = 10_000
PRICE = PriceSnapshot(None, 2_500_000, 1_250_000, 10_000_000, tool_call_micros=(("web_search", SEARCH_MICROS),))
# Gemini 3 combines Google Search with function calling (2.x models refuse it: such channels drop the tool).
UPSTREAM = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-3-pro-preview"}


def serve_searching_model(kind: str, upstream) -> None:
    make_model(PUBLIC_MODEL)
    price_publish(model_id=PUBLIC_MODEL, input_micros=PRICE.input_micros, cached_input_micros=PRICE.cached_input_micros,
                  output_micros=PRICE.output_micros, tool_call_micros=dict(PRICE.tool_call_micros))
    make_channel(f"{kind}-search", provider=kind, base_url=upstream.base_url(kind), secret=UPSTREAM_SECRET,
                 models={PUBLIC_MODEL: UPSTREAM[kind]}, options={"allow_tools": ["web_search"]})


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "http"])
@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_codex_searches_through_a_translated_channel(kind, websocket, gateway, agent_upstream, agent_customer,
                                                     tmp_path):
    account, key = agent_customer
    serve_searching_model(kind, agent_upstream)
    before = balance(account)

    run = clients.codex(tmp_path, base_url=gateway.api_base, key=key, model=PUBLIC_MODEL, websocket=websocket)

    assert run.returncode == 0, str(run)
    assert FINAL in run.stdout, str(run)
    assert f"web search: {SEARCH_QUERY}" in run.stderr, str(run)  # Codex read our web_search_call item
    first, second = agent_upstream.turns()
    assert (first.protocol, second.protocol) == (kind, kind)
    if kind == "anthropic":
        assert {"type": "web_search_20250305", "name": "web_search", "max_uses": 8} in first.body["tools"]
    else:
        assert {"google_search": {}} in first.body["tools"]
    sent_back = json.dumps(second.body, ensure_ascii=False)
    assert RESULT in sent_back and CITED in sent_back  # the command ran; the cited answer went back as text
    assert "server_tool_use" not in sent_back and "web_search_call" not in sent_back

    records = sorted(billed_per_turn(account, before, agent_upstream), key=lambda r: r.created_at)
    assert [r.tool_calls for r in records] == [{"web_search": 1}, {}]
    for record in records:
        tokens = Usage(input_tokens=record.input_tokens, cached_input_tokens=record.cached_input_tokens,
                       output_tokens=record.output_tokens, cache_write_tokens=record.cache_write_tokens)
        searches = record.tool_calls.get("web_search", 0)
        assert record.cost_micros == charge_micros(tokens, PRICE) + searches * SEARCH_MICROS
