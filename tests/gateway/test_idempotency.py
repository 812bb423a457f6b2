import json
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone

from billing.db import run_db
from billing.models import LedgerEntry, UsageRecord
from gateway.models import ApiKey, IdempotencyRecord
from tests.conftest import relay_settled
from tests.factories import make_channel, make_model

pytestmark = pytest.mark.django_db(transaction=True)
BODY = {"model": "gpt-4o", "input": "总结一下接入步骤"}


async def post(key, body=BODY, idem="idem-1", **headers):
    headers = {"authorization": f"Bearer {key}", **({"idempotency-key": idem} if idem else {}), **headers}
    return await AsyncClient().post("/v1/responses", data=json.dumps(body), content_type="application/json",
                                    headers=headers)


def counts():
    return UsageRecord.objects.count(), LedgerEntry.objects.filter(kind="charge").count()


async def test_retry_with_same_key_replays_and_charges_once(catalog, alice):
    first = await post(alice.key)
    await relay_settled()
    second = await post(alice.key)
    assert first.status_code == second.status_code == 200
    assert second["x-idempotent-replayed"] == "true"
    assert second.content == first.content
    assert second["x-harnmodel-cost"] == first["x-harnmodel-cost"]
    assert await run_db(counts) == (1, 1)


async def test_streams_are_replayed_whole(catalog, alice):
    body = {**BODY, "stream": True}
    first = await post(alice.key, body)
    first_bytes = b"".join([chunk async for chunk in first.streaming_content])
    await relay_settled()
    second = await post(alice.key, body)
    assert second["x-idempotent-replayed"] == "true"
    assert second.content == first_bytes and b"response.completed" in first_bytes
    assert await run_db(counts) == (1, 1)


async def test_same_key_other_body_is_refused(catalog, alice):
    await post(alice.key)
    await relay_settled()
    other = await post(alice.key, {**BODY, "input": "something else"})
    assert other.status_code == 400
    assert json.loads(other.content)["error"]["code"] == "idempotency_key_reused"
    assert await run_db(counts) == (1, 1)


async def test_in_flight_key_answers_409(catalog, alice):
    def start():
        key = ApiKey.objects.get(account=alice.account)
        import hashlib

        IdempotencyRecord.objects.create(api_key=key, key="idem-1", request_id="", body_hash=hashlib.sha256(
            json.dumps(BODY).encode()).hexdigest(), expires_at=timezone.now() + timedelta(hours=1))

    await run_db(start)
    response = await post(alice.key)
    assert response.status_code == 409
    assert response["x-should-retry"] == "true"
    assert await run_db(counts) == (0, 0)


async def test_failures_that_charged_nothing_are_not_replayed(alice):
    def setup():
        make_model("gpt-4o")
        make_channel("dead", provider="openai_responses", base_url="http://127.0.0.1:9/v1", models={"gpt-4o": ""})

    await run_db(setup)
    first = await post(alice.key)
    second = await post(alice.key)
    assert first.status_code == second.status_code and first.status_code in (502, 504)
    assert not second.has_header("x-idempotent-replayed")
    assert await run_db(IdempotencyRecord.objects.count) == 0


async def test_requests_without_the_header_are_untouched(catalog, alice):
    await post(alice.key, idem=None)
    await post(alice.key, idem=None)
    await relay_settled()
    assert await run_db(counts) == (2, 2)
    assert await run_db(IdempotencyRecord.objects.count) == 0
