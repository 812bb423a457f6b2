"""Responses over WebSocket at /v1/responses, with real clients (the `websockets` library and the official
`openai` SDK's `responses.connect()`) against the real uvicorn server: turns and their event sequence,
continuity, warm-up, billing per turn, error frames, idempotency, Codex's own frame shapes.
Refusals, bounds, a vanishing client and 50 sockets: test_websocket_limits.py."""

import asyncio
import json

import httpx
import openai
import pytest
from websockets.asyncio.client import connect

from billing.models import UsageRecord

from .conftest import serve_model, wait_for
from .websocket_client import TERMINAL, auth, books_close, turn, ws_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_turns_on_one_socket_continue_and_are_billed_per_turn(gateway, upstream, alice):
    serve_model("openai_responses", upstream)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key)) as ws:
            first = await turn(ws, model="gpt-4o", input="第一轮：你好", store=False)
            second = await turn(ws, model="gpt-4o", input="第二轮：再说一次", previous_response_id=first[-1]["response"]["id"],
                                store=False)
        return first, second

    first, second = asyncio.run(run())
    assert first[-1]["type"] == second[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in first] == list(range(len(first)))  # one SSE event per frame, in order
    # The same event sequence as the SSE stream of the same request over HTTP.
    with httpx.Client(timeout=30) as client:
        raw = client.post(gateway.responses_url, json={"model": "gpt-4o", "input": "第一轮：你好", "stream": True},
                          headers={"Authorization": f"Bearer {alice.key}"}).text
    sse_types = [json.loads(line[6:])["type"] for line in raw.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in first] == sse_types
    # Continuity on the socket: the second upstream call carried the first turn's input and output.
    bodies = [r.body for r in upstream.received("/responses")]
    second_body = bodies[1]
    assert "previous_response_id" not in second_body
    texts = json.dumps(second_body["input"], ensure_ascii=False)
    assert "第一轮：你好" in texts and "第二轮：再说一次" in texts
    assert second_body["input"][1]["role"] == "assistant"
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).count() == 3, what="three usage records")
    socket_records = UsageRecord.objects.filter(account=alice.account).order_by("created_at")[:2]
    assert all(r.cost_micros > 0 and r.status == 200 and r.stream for r in socket_records)
    assert socket_records[1].input_tokens > socket_records[0].input_tokens  # the context was billed as input
    books_close(alice.account)


def test_warm_up_is_free_and_its_id_continues_the_socket(gateway, upstream, alice):
    serve_model("openai_responses", upstream)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key)) as ws:
            warm = await turn(ws, model="gpt-4o", instructions="简洁", input="预热的上下文", generate=False)
            real = await turn(ws, model="gpt-4o", input="现在回答", previous_response_id=warm[-1]["response"]["id"])
        return warm, real

    warm, real = asyncio.run(run())
    assert [e["type"] for e in warm] == ["response.created", "response.completed"]
    assert warm[-1]["response"]["output"] == []
    assert real[-1]["type"] == "response.completed"
    [body] = [r.body for r in upstream.received("/responses")]  # the warm-up never reached the upstream
    assert "预热的上下文" in json.dumps(body["input"], ensure_ascii=False)
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).count() == 1, what="one usage record")
    books_close(alice.account)


def test_error_frames_keep_the_socket_open(gateway, upstream, alice):
    serve_model("simulator", upstream)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key)) as ws:
            missing = await turn(ws, input="没有模型")
            unknown = await turn(ws, model="no-such-model", input="x")
            await ws.send("{not json")
            broken = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "session.update"}))
            odd = json.loads(await ws.recv())
            ok = await turn(ws, model="gpt-4o", input="好的")
        return missing, unknown, broken, odd, ok

    missing, unknown, broken, odd, ok = asyncio.run(run())
    assert missing[-1]["type"] == "error" and missing[-1]["status"] == 400
    assert missing[-1]["error"]["param"] == "model"
    assert unknown[-1]["status"] == 404 and unknown[-1]["error"]["code"] == "model_not_found"
    assert unknown[-1]["headers"]["x-request-id"].startswith("req_")
    assert broken["status"] == 400 and broken["error"]["code"] == "invalid_json"
    assert odd["status"] == 400 and odd["error"]["param"] == "type"
    assert ok[-1]["type"] == "response.completed"


def test_an_empty_wallet_gets_a_402_error_frame(gateway, upstream, bob):
    serve_model("simulator", upstream)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(bob.key)) as ws:
            return await turn(ws, model="gpt-4o", input="你好")

    [error] = asyncio.run(run())
    assert error["status"] == 402 and error["error"]["code"] == "insufficient_balance"
    assert not UsageRecord.objects.filter(account=bob.account, cost_micros__gt=0).exists()


def test_idempotency_key_replays_a_turn_without_a_second_charge(gateway, upstream, alice):
    serve_model("simulator", upstream)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key)) as ws:
            first = await turn(ws, model="gpt-4o", input="只收一次", idempotency_key="turn-1")
            again = await turn(ws, model="gpt-4o", input="只收一次", idempotency_key="turn-1")
        return first, again

    first, again = asyncio.run(run())
    assert again[-1]["response"]["id"] == first[-1]["response"]["id"]
    assert [e["type"] for e in again] == [e["type"] for e in first]
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).count() == 1, what="one usage record")
    books_close(alice.account)


def test_the_openai_sdk_websocket_client(gateway, upstream, alice):
    serve_model("simulator", upstream)

    async def run():
        client = openai.AsyncOpenAI(base_url=gateway.api_base, api_key=alice.key, max_retries=0)
        types = []
        async with client.responses.connect() as connection:
            await connection.send({"type": "response.create", "model": "gpt-4o", "input": "用一句话介绍你自己。"})
            async for event in connection:
                types.append(event.type)
                if event.type in TERMINAL:
                    return types, event

    types, last = asyncio.run(run())
    assert types[0] == "response.created" and last.type == "response.completed"
    assert last.response.output_text


# What Codex CLI 0.171 sends on this socket (recorded from `codex exec` against a logging server, texts
# shortened, its non-function tools left out): a `generate: false` warm-up with the whole context, then the
# turn with `previous_response_id` = the warm-up's id and only the new items; `client_metadata` on both.
CODEX_TOOL = {
    "type": "function", "name": "exec_command", "strict": False,
    "description": "Runs a command in a PTY, returning output or a session ID for ongoing interaction.",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"],
                   "additionalProperties": False},
}
CODEX_COMMON = {
    "model": "gpt-4o", "stream": True, "tools": [CODEX_TOOL], "tool_choice": "auto", "parallel_tool_calls": True,
    "prompt_cache_key": "01a24ef5-54c4-77a3-8d0a-42b595ae2985",
}


def codex_message(role: str, text: str, suffix: str) -> dict:
    return {"type": "message", "id": f"msg_01a24ef5-5574-7db3-{suffix}", "role": role,
            "content": [{"type": "input_text", "text": text}]}


def test_codex_shaped_warm_up_and_turn(gateway, upstream, alice):
    serve_model("openai_responses", upstream)
    metadata = {"session_id": "01a24ef5", "x-codex-turn-metadata": "{\"request_kind\":\"prewarm\"}"}

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key, originator="codex_exec")) as ws:
            warm = await turn(ws, **CODEX_COMMON, generate=False, client_metadata=metadata,
                              input=[codex_message("developer", "You are Codex, a coding agent.", "a")])
            real = await turn(ws, **CODEX_COMMON, client_metadata=metadata,
                              previous_response_id=warm[-1]["response"]["id"],
                              input=[codex_message("user", "<environment_context/>", "b"),
                                     codex_message("user", "Say hello.", "c")])
            await ws.send(json.dumps({"type": "response.processed", "response_id": real[-1]["response"]["id"]}))
            after = await turn(ws, **CODEX_COMMON, input="还在吗？")  # the ack is accepted silently
        return warm, real, after

    warm, real, after = asyncio.run(run())
    assert warm[-1]["type"] == real[-1]["type"] == after[-1]["type"] == "response.completed"
    sent = [r.body for r in upstream.received("/responses")]
    assert len(sent) == 2  # the warm-up never reached the upstream
    assert [item["role"] for item in sent[0]["input"]] == ["developer", "user", "user"]
    assert "client_metadata" not in sent[0] and "previous_response_id" not in sent[0]
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).count() == 2, what="two usage records")
    books_close(alice.account)
