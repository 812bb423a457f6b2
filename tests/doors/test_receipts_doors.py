"""Signed receipts on every door (issue 17): JSON answers carry `x-harnmodel-receipt` and `receipt` in the
door's usage object; streams carry it in their final usage event — translated (a channel of another
protocol) and same-protocol passthrough alike. Each receipt verifies with the published JWKS and states
exactly what the ledger charged. An idempotent replay carries the original receipt; errors carry none."""

import asyncio
import json
import re

import pytest
from websockets.asyncio.client import connect

from billing.models import LedgerEntry, Receipt, UsageRecord
from gateway.receipts.check import keys_of_jwks
from gateway.receipts.jws import verify
from tests.e2e.conftest import wait_for
from tests.e2e.websocket_client import auth, turn, ws_url

from .conftest import serve
from .passthrough_wire import PAIRS
from .wire import DoorSpec

pytestmark = pytest.mark.django_db(transaction=True)
NATIVE = {"chat": "openai_chat", "messages": "anthropic", "gemini": "gemini"}
USAGE_KEY = {"responses": "usage", "chat": "usage", "messages": "usage", "gemini": "usageMetadata"}
CASES = [("responses", "simulator"), ("responses", "openai_responses"),
         *[(door, kind) for door in NATIVE for kind in ("simulator", NATIVE[door])]]


def _post(http, door: str, key: str, stream: bool):
    if door == "responses":
        body = {"model": "gpt-4o", "input": "你好 👋", "stream": stream}
        return http.post("/v1/responses", headers={"authorization": f"Bearer {key}"}, json=body)
    spec = DoorSpec(door)
    if not stream:
        return spec.post(http, key)
    if door == "chat":  # the usage chunk (where the receipt rides) is the client's to ask for
        return http.post(spec.path("gpt-4o"), headers=spec.headers(key),
                         json=spec.body("gpt-4o", stream=True, stream_options={"include_usage": True}))
    return spec.post_stream(http, key)


def _events(data: bytes) -> list[dict]:
    out = []
    for event in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in event.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip() not in (b"", b"[DONE]"):
                out.append(json.loads(line[5:]))
    return out


def _stream_receipt(door: str, data: bytes) -> str:
    """The receipt, found where the door's protocol puts its final usage — and nowhere else."""
    events = _events(data)
    carrying = [event for event in events if "receipt" in json.dumps(event)]
    assert len(carrying) == 1, data
    [event] = carrying
    if door == "responses":
        assert event["type"] == "response.completed"
        return event["response"]["usage"]["receipt"]
    if door == "messages":
        assert event["type"] == "message_delta"
        return event["usage"]["receipt"]
    if door == "chat":
        assert event["usage"]["completion_tokens"] >= 1
        return event["usage"]["receipt"]
    assert event is events[-1] or all("usageMetadata" not in later for later in events[events.index(event) + 1:])
    return event["usageMetadata"]["receipt"]


def _published(http) -> dict:
    answer = http.get("/.well-known/harnmodel-receipts.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    return keys_of_jwks(answer.json())


def _matches_the_books(claims: dict, door: str, account, request_id: str) -> None:
    record = wait_for(lambda: UsageRecord.objects.filter(request_id=request_id).first(), what="usage record")
    entry = LedgerEntry.objects.get(idempotency_key=f"charge:{request_id}")
    assert claims["request_id"] == request_id and claims["account"] == account.pk and claims["door"] == door
    assert claims["model"] == "gpt-4o" and claims["price_version"] == record.price_id
    assert claims["cost_micros"] == record.cost_micros == -entry.amount_micros > 0
    assert claims["balance_after_micros"] == entry.balance_after_micros
    assert claims["ledger_entry"] == entry.idempotency_key
    assert claims["tokens"]["input"] == record.input_tokens and claims["tokens"]["output"] == record.output_tokens
    assert claims["estimated"] is record.usage_estimated
    assert claims["key_prefix"] and claims["iat"] > 0


@pytest.mark.parametrize(("door", "kind"), CASES, ids=[f"{d}-{k}" for d, k in CASES])
def test_json_answer_carries_a_receipt_in_header_and_usage(http, alice, fakes, door, kind):
    serve(kind, fakes)
    answer = _post(http, door, alice.key, stream=False)
    assert answer.status_code == 200, answer.text
    receipt = answer.headers["x-harnmodel-receipt"]
    assert answer.json()[USAGE_KEY[door]]["receipt"] == receipt
    claims = verify(receipt, _published(http))
    _matches_the_books(claims, door, alice.account, answer.headers["x-request-id"])
    stored = wait_for(lambda: Receipt.objects.filter(request_id=claims["request_id"]).first(), what="stored receipt")
    assert stored.jws == receipt and stored.account_id == alice.account.pk


@pytest.mark.parametrize(("door", "kind"), CASES, ids=[f"{d}-{k}" for d, k in CASES])
def test_stream_carries_the_receipt_in_its_final_usage(http, alice, fakes, door, kind):
    serve(kind, fakes)
    answer = _post(http, door, alice.key, stream=True)
    assert answer.status_code == 200, answer.text
    assert "x-harnmodel-receipt" not in answer.headers  # a stream's headers go before anything is billed
    receipt = _stream_receipt(door, answer.content)
    claims = verify(receipt, _published(http))
    _matches_the_books(claims, door, alice.account, answer.headers["x-request-id"])


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: pair.door)
def test_passthrough_answer_is_the_upstreams_bytes_plus_the_receipt(http, alice, fakes, pair):
    """The receipt is the only addition to a passthrough answer: remove it and the upstream's bytes remain."""
    serve(pair.kind, fakes)
    canned = pair.json_answer()
    pair.queue(fakes, canned)
    answer = http.post(pair.path(), headers=pair.headers(alice.key), json=pair.body())
    assert answer.status_code == 200, answer.text
    receipt = answer.headers["x-harnmodel-receipt"]
    assert f'"receipt":"{receipt}"'.encode() in answer.content
    assert re.sub(rb',?"receipt":"[^"]+"', b"", answer.content) == pair.public(canned)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: pair.door)
def test_passthrough_stream_is_the_upstreams_bytes_plus_the_receipt(http, alice, fakes, pair):
    serve(pair.kind, fakes)
    canned = pair.stream_answer(["你好", "，世界"])
    pair.queue(fakes, canned, stream=True)
    answer = http.post(pair.path(stream=True), headers=pair.headers(alice.key), json=pair.body(stream=True))
    assert answer.status_code == 200, answer.text
    if b'"receipt"' in answer.content:  # a Chat client that did not ask for usage gets no usage chunk to carry it
        assert re.sub(rb',?"receipt":"[^"]+"', b"", answer.content) == pair.public(canned)
    else:
        assert pair.door == "chat" and answer.content == pair.public(canned)


def test_an_idempotent_replay_carries_the_original_receipt(http, alice, fakes):
    serve("simulator", fakes)
    headers = {"authorization": f"Bearer {alice.key}", "idempotency-key": "receipt-replay-1"}
    body = {"model": "gpt-4o", "input": "hi"}
    first = http.post("/v1/responses", headers=headers, json=body)
    again = http.post("/v1/responses", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert again.headers["x-harnmodel-receipt"] == first.headers["x-harnmodel-receipt"]
    assert again.json()["usage"]["receipt"] == first.json()["usage"]["receipt"]
    assert LedgerEntry.objects.filter(request_id=first.headers["x-request-id"]).count() == 1


def test_an_error_carries_no_receipt(http, bob, fakes):
    serve("simulator", fakes)
    answer = http.post("/v1/responses", headers={"authorization": f"Bearer {bob.key}"},
                       json={"model": "gpt-4o", "input": "hi"})
    assert answer.status_code == 402
    assert "x-harnmodel-receipt" not in answer.headers and "receipt" not in answer.text


def test_a_websocket_turn_carries_its_receipt_in_response_completed(gateway, http, alice, fakes):
    serve("openai_responses", fakes)

    async def run():
        async with connect(ws_url(gateway), additional_headers=auth(alice.key)) as ws:
            return await turn(ws, model="gpt-4o", input="你好", store=False)

    events = asyncio.run(run())
    assert events[-1]["type"] == "response.completed"
    claims = verify(events[-1]["response"]["usage"]["receipt"], _published(http))
    _matches_the_books(claims, "responses", alice.account, claims["request_id"])
