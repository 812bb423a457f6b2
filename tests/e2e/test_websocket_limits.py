"""Responses over WebSocket: what is refused at the upgrade (a bad key 401; 426 whenever a socket cannot be
served, so clients fall back to HTTP), the concurrency slot a socket holds, the socket's bounds, a client that
vanishes mid-turn (billed as on HTTP) and 50 sockets at once, against real uvicorn servers."""

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from billing.models import UsageRecord
from gateway.models import ApiKey
from tests.factories import make_customer

from .conftest import launch_gateway, serve_model, stop_gateway, wait_for
from .websocket_client import BETA, auth, books_close, turn, ws_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("header", [None, "Bearer sk-not-a-real-key", "revoked"])
def test_a_bad_key_is_refused_at_the_upgrade(gateway, carol, header):
    headers = dict(BETA)
    if header == "revoked":
        headers["Authorization"] = f"Bearer {carol.key}"
    elif header:
        headers["Authorization"] = header

    async def run():
        async with connect(ws_url(gateway), additional_headers=headers):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(run())
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["type"] == "authentication_error"


def test_unknown_beta_version_gets_426_so_clients_fall_back(gateway, alice):
    async def run():
        async with connect(ws_url(gateway), additional_headers={
            "Authorization": f"Bearer {alice.key}", "OpenAI-Beta": "responses_websockets=2099-01-01"}):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(run())
    assert refused.value.response.status_code == 426
    assert json.loads(refused.value.response.body)["error"]["code"] == "websocket_unavailable"


def test_a_server_without_websockets_answers_426(django_db_setup, tmp_path, alice):
    server = launch_gateway(tmp_path / "uvicorn.log", uvicorn_args=("--no-access-log", "--ws", "none"))
    try:
        async def run():
            async with connect(ws_url(server), additional_headers=auth(alice.key)):
                pass

        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(run())
        assert refused.value.response.status_code == 426
    finally:
        stop_gateway(server)


def test_a_socket_holds_one_concurrency_slot_and_its_turns_run_inside_it(gateway, upstream, alice):
    serve_model("simulator", upstream)
    ApiKey.objects.filter(account=alice.account).update(concurrency_limit=1)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key)) as ws:
            with pytest.raises(InvalidStatus) as second_socket:
                async with connect(ws_url(gateway), additional_headers=auth(alice.key)):
                    pass
            async with httpx.AsyncClient(timeout=30) as client:
                http = await client.post(gateway.responses_url, json={"model": "gpt-4o", "input": "x"},
                                         headers={"Authorization": f"Bearer {alice.key}"})
            events = await turn(ws, model="gpt-4o", input="在插槽里")  # no second slot needed for the turn
        return second_socket.value.response.status_code, http.status_code, events

    second, http, events = asyncio.run(run())
    assert second == 426  # Codex falls back to HTTP, which answers its own 429 while the slot is taken
    assert http == 429
    assert events[-1]["type"] == "response.completed"

    async def after():  # the slot is free again once the socket closed
        async with connect(ws_url(gateway), additional_headers=auth(alice.key)) as ws:
            return await turn(ws, model="gpt-4o", input="再来")

    assert wait_for(lambda: asyncio.run(after())[-1]["type"] == "response.completed", what="a free slot")


@pytest.fixture(scope="module")
def tight_gateway(django_db_setup, tmp_path_factory):
    """A server with small bounds: a left client's upstream is read for 0.5 s only (so a hang-up shows in the
    usage record), sockets close after 1 s idle or 2 responses, 3 sockets per worker, 1 frame may wait."""
    server = launch_gateway(
        tmp_path_factory.mktemp("tight") / "uvicorn.log",
        HARNMODEL_DRAIN_SECONDS="0.5",
        HARNMODEL_WS_IDLE_SECONDS="1",
        HARNMODEL_WS_MAX_TURNS="2",
        HARNMODEL_WS_MAX_SOCKETS="3",
        HARNMODEL_WS_MAX_PENDING="1",
    )
    try:
        yield server
    finally:
        stop_gateway(server)


def test_socket_bounds(tight_gateway, upstream, alice):
    serve_model("simulator", upstream, options={"latency_ms": 600, "token_delay_ms": 0})
    url = ws_url(tight_gateway)

    async def run():
        async with connect(url, additional_headers=auth(alice.key)) as ws:
            await ws.send(json.dumps({"type": "response.create", "model": "gpt-4o", "input": "慢一点"}))
            for _ in range(3):  # behind the running turn: one may wait, the others are refused
                await ws.send(json.dumps({"type": "response.processed", "response_id": "x"}))
            refused = json.loads(await ws.recv())
            first = [refused]
            while first[-1]["type"] != "response.completed":
                first.append(json.loads(await ws.recv()))
            # The frame that waited is taken off the queue just after the turn ends; a create sent in that same
            # instant can still find it there and be refused as a second waiting frame (seen once in CI).
            await asyncio.sleep(0.3)
            second = await turn(ws, model="gpt-4o", input="第二个")
            third = await turn(ws, model="gpt-4o", input="第三个")  # over HARNMODEL_WS_MAX_TURNS
            await asyncio.wait_for(ws.wait_closed(), 5)
        async with connect(url, additional_headers=auth(alice.key)) as idle:
            await asyncio.wait_for(idle.wait_closed(), 5)  # closed after 1 s without a frame
            idle_code = idle.close_code
        sockets = [await connect(url, additional_headers=auth(alice.key)) for _ in range(3)]
        try:
            with pytest.raises(InvalidStatus) as full:
                await connect(url, additional_headers=auth(alice.key))
        finally:
            for socket in sockets:
                await socket.close()
        return refused, first, second, third, idle_code, full.value.response.status_code

    refused, first, second, third, idle_code, full = asyncio.run(run())
    assert refused["type"] == "error" and refused["error"]["code"] == "too_many_pending_frames"
    assert first[-1]["type"] == second[-1]["type"] == "response.completed"
    assert third[-1]["type"] == "error" and third[-1]["error"]["code"] == "websocket_connection_limit_reached"
    assert idle_code == 1000
    assert full == 426  # the worker's socket cap: clients fall back to HTTP


LONG = "请把这段话一字不差地复述一遍。" * 20  # the test upstream streams it back: ~100 events


def test_a_client_vanishing_mid_turn_is_billed_as_on_http(tight_gateway, upstream, alice):
    serve_model("openai_responses", upstream)
    upstream.chunk_delay = 0.1  # ~10 s of stream: far longer than the drain

    async def over_websocket():
        ws = await connect(ws_url(tight_gateway), additional_headers=auth(alice.key))
        await ws.send(json.dumps({"type": "response.create", "model": "gpt-4o", "input": LONG}))
        for _ in range(4):
            await ws.recv()
        ws.transport.abort()  # no close frame: the network went away

    async def over_http():
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("POST", tight_gateway.responses_url,
                                     json={"model": "gpt-4o", "input": LONG, "stream": True},
                                     headers={"Authorization": f"Bearer {alice.key}"}) as response:
                chunks = 0
                async for _ in response.aiter_bytes():
                    chunks += 1
                    if chunks >= 4:
                        break

    asyncio.run(over_websocket())
    socket_record = wait_for(lambda: UsageRecord.objects.filter(account=alice.account).first(), timeout=10,
                             what="the vanished turn's usage record")
    asyncio.run(over_http())
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).count() == 2, timeout=10,
             what="the vanished HTTP request's usage record")
    http_record = UsageRecord.objects.filter(account=alice.account).exclude(pk=socket_record.pk).get()
    for record in (socket_record, http_record):
        # The relay learned the client left, drained 0.5 s, closed the upstream, billed what was produced.
        assert record.error_code == "client_disconnected"
        assert record.usage_estimated is True
        assert record.cost_micros > 0 and record.output_tokens > 0
    books_close(alice.account)


def open_sockets_gauge(gateway) -> float:
    text = httpx.get(gateway.url + "/metrics", timeout=10).text
    [line] = [line for line in text.splitlines() if line.startswith("harnmodel_websockets_open ")]
    return float(line.split()[1])


def test_fifty_sockets_at_once(gateway, upstream):
    serve_model("simulator", upstream)
    account, key = make_customer("fifty@example.com", balance="100")

    async def run():
        sockets = await asyncio.gather(*(connect(ws_url(gateway), additional_headers=auth(key)) for _ in range(50)))
        try:
            gauge = await asyncio.to_thread(open_sockets_gauge, gateway)
            results = await asyncio.gather(*(turn(ws, model="gpt-4o", input=f"第{i}个") for i, ws in enumerate(sockets)))
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))
        return gauge, [events[-1]["type"] for events in results]

    gauge, ends = asyncio.run(run())
    assert gauge == 50  # all open at once, and the metric says so
    assert ends == ["response.completed"] * 50
    wait_for(lambda: UsageRecord.objects.filter(account=account).count() == 50, timeout=30, what="50 records")
    books_close(account)
    wait_for(lambda: open_sockets_gauge(gateway) == 0, what="the gauge back at 0")
