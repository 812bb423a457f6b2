"""A stream's final event carries what the request cost, the same figure the ledger charged."""

import json

import pytest
from django.test import AsyncClient

from billing.db import run_db
from billing.models import LedgerEntry
from billing.money import decimal_string
from tests.conftest import relay_settled

pytestmark = pytest.mark.django_db(transaction=True)


async def test_completed_event_usage_carries_the_charged_cost(catalog, alice):
    response = await AsyncClient().post(
        "/v1/responses",
        data=json.dumps({"model": "gpt-4o", "input": "总结一下接入步骤", "stream": True}),
        content_type="application/json",
        headers={"authorization": f"Bearer {alice.key}"},
    )
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    await relay_settled()
    last = json.loads(body.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert last["type"] == "response.completed"
    charge = await run_db(lambda: LedgerEntry.objects.get(kind="charge"))
    assert last["response"]["usage"]["cost"] == decimal_string(-charge.amount_micros)
    assert response["x-harnmodel-hold"]  # what was reserved, known up front
