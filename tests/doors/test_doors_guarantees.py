"""Every guarantee `/v1/responses` gives, at every client door (issue 15): idempotency keys (a retry replays and
never charges twice), the cost / balance / request-id headers matching the ledger, metrics by door, and 30
concurrent requests against a wallet that pays for about 8 — the others 402, the balance never below 0."""

import asyncio
import re
import uuid
from decimal import Decimal

import httpx
import pytest
from django.db import connection
from django.db.models import Sum

from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from tests.e2e.conftest import wait_for
from tests.factories import make_customer

from .conftest import serve
from .wire import DOORS, DoorSpec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=DOORS, ids=lambda door: door.name)
def door(request) -> DoorSpec:
    return request.param


def micros(header: str) -> int:
    return int(Decimal(header) * 1_000_000)


def test_idempotency_key_replays_and_never_charges_twice(door, http, alice, fakes):
    serve("openai_chat", fakes)
    key = {"idempotency-key": f"retry-{uuid.uuid4()}"}
    body = door.body("gpt-4o")
    first = http.post(door.path("gpt-4o"), headers={**door.headers(alice.key), **key}, json=body)
    assert first.status_code == 200, first.text
    again = http.post(door.path("gpt-4o"), headers={**door.headers(alice.key), **key}, json=body)
    assert again.status_code == 200 and again.headers["x-idempotent-replayed"] == "true"
    assert again.content == first.content and again.headers["x-request-id"] == first.headers["x-request-id"]
    assert len(fakes["upstream"].received()) == 1  # the retry never reached an upstream
    other = http.post(door.path("gpt-4o"), headers={**door.headers(alice.key), **key},
                      json=door.body("gpt-4o", **({"metadata": {"user_id": "x"}} if door.name == "messages" else
                                                  {"generationConfig": {"temperature": 0.1}} if door.name == "gemini"
                                                  else {"temperature": 0.1})))
    door.error(other, 400, "idempotency_key_reused")  # the same key with another body, in the door's shape
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).exists(), what="the usage record")
    [record] = UsageRecord.objects.filter(account=alice.account)
    assert record.door == door.name and record.request_id == first.headers["x-request-id"]
    assert LedgerEntry.objects.filter(wallet__account=alice.account, kind=LedgerEntry.Kind.CHARGE).count() == 1


def test_cost_balance_and_request_id_headers_match_the_ledger(door, http, alice, fakes):
    serve("anthropic", fakes)
    answer = door.post(http, alice.key)
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-request-id"]
    assert request_id.startswith("req_") and answer.headers["x-harnmodel-request-id"] == request_id
    record = wait_for(lambda: UsageRecord.objects.filter(request_id=request_id).first(), what="the usage record")
    assert micros(answer.headers["x-harnmodel-cost"]) == record.cost_micros > 0
    wallet = Wallet.objects.get(account=alice.account)
    assert micros(answer.headers["x-harnmodel-balance"]) == wallet.balance_micros == 100_000_000 - record.cost_micros
    assert LedgerEntry.objects.get(request_id=request_id).amount_micros == -record.cost_micros


def _door_count(text: str, door: str, status: str) -> float:
    match = re.search(rf'^harnmodel_door_requests_total\{{door="{door}",status="{status}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_by_door(door, gateway, http, alice, bob, fakes):
    serve("simulator", fakes)
    before = http.get("/metrics").text
    assert door.post(http, alice.key).status_code == 200
    assert door.post(http, bob.key).status_code == 402
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).exists(), what="the usage record")
    after = wait_for(lambda: (text := http.get("/metrics").text) and _door_count(text, door.name, "200") >
                     _door_count(before, door.name, "200") and text, what="the door's counter")
    assert _door_count(after, door.name, "200") == _door_count(before, door.name, "200") + 1
    assert _door_count(after, door.name, "402") == _door_count(before, door.name, "402") + 1


CROWD = 30
AFFORDS = 8


async def _crowd(url: str, door: DoorSpec, key: str, body: dict) -> list[int]:
    limits = httpx.Limits(max_connections=CROWD)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        replies = await asyncio.gather(*[
            client.post(door.path("gpt-4o"), headers=door.headers(key), json=body) for _ in range(CROWD)])
    return [reply.status_code for reply in replies]


@pytest.mark.postgres
def test_30_concurrent_requests_against_a_wallet_for_8(door, gateway, alice, fakes):
    if connection.vendor != "postgresql":
        pytest.skip("real concurrency on the wallet's row needs PostgreSQL")
    serve("openai_chat", fakes)
    body = door.body("gpt-4o", **{"chat": {"max_completion_tokens": 20}, "messages": {"max_tokens": 20},
                                  "gemini": {"generationConfig": {"maxOutputTokens": 20}}}[door.name])
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        probe = http.post(door.path("gpt-4o"), headers=door.headers(alice.key), json=body)
    assert probe.status_code == 200, probe.text
    hold = Hold.objects.get(request_id=probe.headers["x-request-id"]).amount_micros  # what one request holds
    start = AFFORDS * hold
    account, key = make_customer(f"crowd-{door.name}@example.com", balance=f"{Decimal(start) / 1_000_000:f}")

    statuses = asyncio.run(_crowd(gateway.url, door, key, body))
    ok = statuses.count(200)
    print(f"\n{door.name}: {CROWD} at once, wallet for {AFFORDS}: {ok} answered, {statuses.count(402)} refused")
    assert set(statuses) <= {200, 402}, statuses
    assert ok >= AFFORDS and statuses.count(402) >= 1, statuses
    wait_for(lambda: UsageRecord.objects.filter(account=account).count() == ok, timeout=20, what="every record")
    wait_for(lambda: not Hold.objects.filter(wallet__account=account, status=Hold.Status.OPEN).exists(),
             what="every hold closed")
    wallet = Wallet.objects.get(account=account)
    charges = LedgerEntry.objects.filter(wallet=wallet, kind=LedgerEntry.Kind.CHARGE)
    assert wallet.balance_micros >= 0 and wallet.held_micros == 0
    assert wallet.balance_micros == LedgerEntry.objects.filter(wallet=wallet).aggregate(s=Sum("amount_micros"))["s"]
    assert charges.count() == ok == UsageRecord.objects.filter(account=account, status=200, door=door.name).count()
    assert start + charges.aggregate(s=Sum("amount_micros"))["s"] == wallet.balance_micros  # to the micro
