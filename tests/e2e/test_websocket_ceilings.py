"""A Responses WebSocket's upgrade headers `X-Max-Cost` and `X-Session-Id` apply to every turn on it, through the
real uvicorn server: the ceiling clamps each turn's output cap and refuses an input over it with a 402 error
frame (the socket stays open), and the key's session budget stops the socket's session."""

import asyncio

import pytest
from websockets.asyncio.client import connect

from billing.models import Hold, UsageRecord
from gateway.models import ApiKey

from .conftest import serve_model, wait_for
from .websocket_client import auth, books_close, turn, ws_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_upgrades_ceiling_applies_to_each_turn(gateway, upstream, alice):
    serve_model("openai_responses", upstream)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key, **{"X-Max-Cost": "0.0001"})) as ws:
            over = await turn(ws, model="gpt-4o", input="很长的输入。" * 200, max_output_tokens=500)
            fits = await turn(ws, model="gpt-4o", input="你好", max_output_tokens=500)
        return over, fits

    over, fits = asyncio.run(run())
    assert over[-1]["status"] == 402 and over[-1]["error"]["code"] == "cost_ceiling_exceeded"
    assert fits[-1]["type"] in ("response.completed", "response.incomplete")
    [sent] = [r.body for r in upstream.received("/responses")]
    assert 0 < sent["max_output_tokens"] < 500  # ¥0.0001 pays for a few output tokens only
    wait_for(lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(), what="every turn settled")
    books_close(alice.account)


def test_the_upgrades_session_is_each_turns_session(gateway, upstream, alice):
    serve_model("openai_responses", upstream)
    ApiKey.objects.filter(account=alice.account).update(session_budget_micros=200)  # about one short turn

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key, **{"X-Session-Id": "ws-agent"})) as ws:
            turns = []
            while len(turns) < 20 and (not turns or turns[-1][-1]["type"] != "error"):
                turns.append(await turn(ws, model="gpt-4o", input="你好", max_output_tokens=10))
            return turns

    turns = asyncio.run(run())
    last = [events[-1] for events in turns]
    assert last[0]["type"] == "response.completed" and len(last) >= 3
    assert last[-1]["status"] == 402 and last[-1]["error"]["code"] == "session_budget_exceeded"
    assert sum(r.cost_micros for r in UsageRecord.objects.filter(account=alice.account)) <= 200
    wait_for(lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(), what="every turn settled")
    books_close(alice.account)
