"""Many requests at once against a wallet that affords few: no overdraft, every micro accounted for.

Runs through the real pipeline (holds taken by concurrent DB threads). On PostgreSQL the row lock
is what keeps it exact; on SQLite the write lock is.
"""

import asyncio
import json

import pytest
from django.test import AsyncClient

from billing.db import run_db
from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.selectors import wallet_summary
from gateway.services import api_key_create
from tests.conftest import relay_settled
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"model": "gpt-4o", "input": "Tell me a long story about the sea.", "max_output_tokens": 20}


async def _send(client, key, stream=False):
    response = await client.post(
        "/v1/responses",
        data=json.dumps({**BODY, "stream": stream}),
        content_type="application/json",
        headers={"authorization": f"Bearer {key}"},
    )
    if stream and response.status_code == 200:
        b"".join([chunk async for chunk in response.streaming_content])
    return response.status_code


@pytest.mark.parametrize(("requests", "affords"), [(50, 10), (200, 50)])
async def test_concurrent_requests_never_overdraw(catalog, requests, affords):
    # One request holds ~ (input + 20 output tokens) at ¥2.5 / ¥10 per 1M ≈ 240 micros.
    start = 240 * affords
    account, key = await run_db(make_customer, "crowd@example.com", balance=f"{start / 1_000_000:.6f}")
    keys = [key] + [(await run_db(api_key_create, account_id=account.pk)).secret for _ in range(3)]
    client = AsyncClient()
    statuses = await asyncio.gather(*[_send(client, keys[i % 4], stream=i % 2 == 1) for i in range(requests)])
    await relay_settled()  # a stream's last byte can reach the client just before its settlement commits

    def state():
        return (
            wallet_summary(account_id=account.pk),
            list(LedgerEntry.objects.filter(kind="charge")),
            UsageRecord.objects.count(),
            Hold.objects.filter(status="open").count(),
            Wallet.objects.get(account=account),
        )

    summary, charges, records, open_holds, wallet = await run_db(state)
    ok = statuses.count(200)
    print(
        f"\n{requests} requests, wallet affords ~{affords}: {ok} answered, {statuses.count(402)} refused with 402, "
        f"balance left {wallet.balance_micros} micros"
    )
    assert set(statuses) <= {200, 402}
    assert ok >= affords, statuses
    assert statuses.count(402) >= 1
    assert wallet.balance_micros >= 0
    assert summary["balance_micros"] == summary["ledger_sum_micros"]
    assert summary["held_micros"] == 0 and open_holds == 0
    assert len(charges) == ok == records
    # successes × their cost + what remains == what the wallet started with, to the micro
    assert start - sum(-c.amount_micros for c in charges) == wallet.balance_micros
