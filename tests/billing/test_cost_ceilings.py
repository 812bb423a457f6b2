"""`X-Max-Cost`: the hold, the output cap the upstream is told and the charge never exceed the ceiling — with
an upstream that honours the cap, one that ignores it (JSON and streams), and many requests at once.

Real HTTP upstream (tests/upstream/faulty.py), the gateway in process, as tests/routing does.
"""

import asyncio
import json

import pytest
from django.test import AsyncClient

from billing.db import run_db
from billing.models import Hold, LedgerEntry, UsageRecord, Wallet
from billing.money import parse_amount
from billing.pricing import affordable_output_tokens
from gateway.wire.sse import SSEDecoder
from tests.billing.matrix_helpers import PRICE, cost_of, local_input_tokens
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, TEXT, make_channels, record_of, settled
from tests.routing.test_disconnect import LONG
from tests.upstream.server import answer_responses

pytestmark = pytest.mark.django_db(transaction=True)
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty


async def post(key: str, headers: dict | None = None, client: AsyncClient | None = None, **body):
    payload = {"model": MODEL, "input": TEXT, "max_output_tokens": 500, **body}
    response = await (client or AsyncClient()).post(
        "/v1/responses", data=json.dumps(payload), content_type="application/json",
        headers={"authorization": f"Bearer {key}", **(headers or {})},
    )
    if response.streaming:
        raw = b"".join([chunk async for chunk in response.streaming_content])
        events = [(e.event, json.loads(e.data)) for e in SSEDecoder().feed(raw) + SSEDecoder().flush()]
        return response, events
    return response, json.loads(response.content)


def body_for(**body) -> dict:
    return {"model": MODEL, "input": TEXT, "max_output_tokens": 500, **body}


def charges(account) -> list[int]:
    return [-amount for amount in LedgerEntry.objects.filter(wallet__account=account, kind="charge")
            .values_list("amount_micros", flat=True)]


async def test_the_ceiling_clamps_the_output_and_the_hold(faulty, customer):
    await run_db(make_channels, faulty, "a")
    ceiling = 200  # micros: ¥0.0002
    inputs = local_input_tokens(body_for(stream=True))
    cap = affordable_output_tokens(ceiling, inputs, PRICE)
    assert 0 < cap < 500
    response, events = await post(customer.key, {"X-Max-Cost": "0.0002"}, stream=True)
    assert response.status_code == 200 and events[-1][0] == "response.completed"
    assert faulty.hits("a")[0].body["max_output_tokens"] == cap  # the upstream was told the clamped cap
    assert parse_amount(response["x-harnmodel-hold"]) == cost_of(inputs, cap) <= ceiling
    record = await record_of(response["x-request-id"])
    assert record.cost_micros <= ceiling


async def test_without_a_ceiling_the_cap_is_the_requests_own(faulty, customer):
    await run_db(make_channels, faulty, "a")
    response, _ = await post(customer.key)
    assert response.status_code == 200
    assert faulty.hits("a")[0].body["max_output_tokens"] == 500


@pytest.mark.parametrize("value", ["abc", "-1", "0", "0.0000001", "1e3", "NaN", "", " ", "1" * 40])
async def test_a_bad_ceiling_is_400_naming_the_header(faulty, customer, value):
    await run_db(make_channels, faulty, "a")
    response, body = await post(customer.key, {"X-Max-Cost": value})
    assert response.status_code == 400, body
    assert body["error"]["param"] == "X-Max-Cost" and body["error"]["code"] == "invalid_max_cost"
    assert faulty.hits("a") == []


async def test_an_input_over_the_ceiling_is_402_before_any_upstream_call(faulty, customer):
    await run_db(make_channels, faulty, "a")
    response, body = await post(customer.key, {"X-Max-Cost": "0.000001"}, input=LONG)
    assert response.status_code == 402, body
    assert body["error"]["code"] == "cost_ceiling_exceeded" and body["error"]["type"] == "insufficient_quota"
    assert faulty.hits("a") == []
    assert not await run_db(Hold.objects.exists)
    assert await run_db(charges, customer.account) == []


async def test_a_stream_that_ignores_the_cap_ends_incomplete_at_the_ceiling(faulty, customer):
    await run_db(make_channels, faulty, "a")
    faulty.lie("a", ignore_cap=True)
    ceiling = 1000  # the input costs 760 of it: about 24 output tokens, far fewer than the upstream sends
    response, events = await post(customer.key, {"X-Max-Cost": "0.001"}, stream=True, input=LONG)
    assert response.status_code == 200
    kind, data = events[-1]
    assert kind == "response.incomplete" and data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    record = await record_of(response["x-request-id"])
    assert record.error_code == "output_cap_reached"
    assert 0 < record.cost_micros <= ceiling
    assert await run_db(charges, customer.account) == [record.cost_micros]


async def test_a_json_answer_past_the_cap_is_charged_no_more_than_the_ceiling(faulty, customer):
    """The upstream ignores the cap and reports its whole (long) answer: without a ceiling the overdraft rule
    charges it beyond the hold; with one, the charge stops at the ceiling."""
    await run_db(make_channels, faulty, "a")
    faulty.lie("a", ignore_cap=True)
    response, _ = await post(customer.key, max_output_tokens=20, input=LONG)
    answer = answer_responses({**faulty.hits("a")[0].body, "max_output_tokens": None})  # what it reports, cap ignored
    full = cost_of(answer.input_tokens, answer.output_tokens)
    free = (await record_of(response["x-request-id"])).cost_micros
    assert free == full == parse_amount(response["x-harnmodel-cost"])  # the control: charged in full
    ceiling = 1200
    assert full > ceiling
    response, _ = await post(customer.key, {"X-Max-Cost": "0.0012"}, input=LONG)
    record = await record_of(response["x-request-id"])
    assert record.output_tokens == answer.output_tokens  # the usage as reported
    assert record.cost_micros == ceiling and record.error_code == "charge_capped"
    assert parse_amount(response["x-harnmodel-cost"]) == ceiling
    assert sorted(await run_db(charges, customer.account)) == sorted([full, ceiling])


async def test_the_ceiling_holds_for_many_requests_at_once(faulty, customer):
    """Concurrent requests, each with its own ceiling, against an upstream that ignores every cap: each is
    charged at most its ceiling, the wallet is exactly the start minus the charges, nothing stays held."""
    await run_db(make_channels, faulty, "a")
    faulty.lie("a", ignore_cap=True)
    ceilings = [800 + 37 * index for index in range(24)]  # the input costs 760, the whole answer 2280
    client = AsyncClient()

    async def one(index: int):
        stream = index % 2 == 0
        response, _ = await post(customer.key, {"X-Max-Cost": f"0.{ceilings[index]:06d}"}, client=client,
                                 stream=stream, input=LONG)
        return response

    responses = await asyncio.gather(*(one(index) for index in range(len(ceilings))))
    await settled()
    for index, response in enumerate(responses):
        assert response.status_code == 200
        record = await run_db(UsageRecord.objects.get, request_id=response["x-request-id"])
        assert 0 < record.cost_micros <= ceilings[index], (index, record.cost_micros)
    wallet = await run_db(Wallet.objects.get, account=customer.account)
    spent = sum(await run_db(charges, customer.account))
    print(f"\n{len(ceilings)} at once under ceilings summing {sum(ceilings)} micros: charged {spent}")
    assert wallet.held_micros == 0 and wallet.balance_micros == 100_000_000 - spent
    assert spent <= sum(ceilings)
