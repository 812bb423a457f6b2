"""Spend caps count requests in flight: a key's open holds add to its settled spend, so concurrent
requests cannot run past a cap by more than one request's hold. And the monthly cap resets."""

import asyncio
import json
from datetime import timedelta

import pytest
import time_machine
from django.test import AsyncClient
from django.utils import timezone

from billing import selectors, services
from billing.models import Hold, UsageRecord
from billing.pricing import estimate_micros
from gateway.db import run_db
from gateway.models import ApiKey
from gateway.relay import admit as pipeline
from tests.billing.matrix_helpers import PRICE, START, expect, local_input_tokens, state_of
from tests.conftest import relay_settled
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, TEXT, ask, make_channels, settled

pytestmark = pytest.mark.django_db(transaction=True)
# The routing tests' fixtures (some autouse): a real fault-injecting HTTP upstream, isolated shared state.
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty
BODY = {"model": MODEL, "input": TEXT, "max_output_tokens": 50, "stream": False}  # what ask() sends


def hold_of_one_request() -> int:
    return estimate_micros(local_input_tokens(BODY), 50, PRICE)


def cap(account, **caps) -> None:
    ApiKey.objects.filter(account=account).update(**caps)


def error_code(reply) -> str:
    return reply.body["error"]["code"]


async def test_open_holds_of_two_requests_push_the_key_over_its_cap(faulty, customer):
    hold = hold_of_one_request()
    await run_db(cap, customer.account, spend_limit_total_micros=hold + hold // 2)  # 1.5 holds
    await run_db(make_channels, faulty, "a")
    faulty.slow("a", delay=1.0)  # both requests wait at the upstream with their holds open
    first = asyncio.ensure_future(ask(customer.key))
    assert await asyncio.to_thread(faulty.wait_until, lambda: faulty.count("a") == 1, 10)
    second = asyncio.ensure_future(ask(customer.key))  # settled 0 + 1 open hold < cap: admitted
    assert await asyncio.to_thread(faulty.wait_until, lambda: faulty.count("a") == 2, 10)
    held = await run_db(lambda: sorted(Hold.objects.filter(status="open").values_list("amount_micros", flat=True)))
    assert held == [hold, hold]

    third = await ask(customer.key)  # 2 open holds >= cap, though nothing has been charged yet
    assert third.status == 402 and error_code(third) == "key_spend_limit_reached"
    assert "total" in third.body["error"]["message"]
    assert faulty.count("a") == 2  # the refused request never reached the upstream

    assert ((await first).status, (await second).status) == (200, 200)
    await settled()
    # Settled, the two cost far less than their holds: the key has room again.
    assert (await ask(customer.key)).status == 200
    await settled()
    got = await run_db(state_of, customer.account)
    cost = got.records[0][3]
    expect(got, ledger=[("charge", -cost)] * 3, holds=["settled"] * 3, records=[(200, "", False, cost)] * 3)


def test_the_last_hold_tagged_sees_the_others(customer):
    """The recheck after the hold: of two requests admitted together, the later one is refused."""
    key = ApiKey.objects.get(account=customer.account)
    hold = hold_of_one_request()
    for request_id in ("r1", "r2"):
        services.hold_reserve(
            account_id=customer.account.pk,
            request_id=request_id,
            input_tokens=local_input_tokens(BODY),
            max_output_tokens=50,
            price=PRICE,
            ttl_seconds=60,
        )
    caps = (hold, None, None)  # room for one request in flight
    # Both passed the check before their holds; now each rechecks with its hold tagged.
    assert selectors.key_spend_over_cap(api_key_id=key.pk, caps=caps, hold_request_id="r1") is None
    assert selectors.key_spend_over_cap(api_key_id=key.pk, caps=caps, hold_request_id="r2") == "total"
    assert list(Hold.objects.order_by("request_id").values_list("api_key_id", flat=True)) == [key.pk, key.pk]
    assert selectors.key_spend_over_cap(api_key_id=key.pk, caps=caps) == "total"  # a third sees both
    assert selectors.key_spend_over_cap(api_key_id=key.pk, caps=(None, None, None)) is None


async def test_a_request_refused_by_the_recheck_gives_its_hold_back(faulty, customer, monkeypatch):
    """Race: the check before the hold passed, then another hold of the key appeared. The request is
    refused with 402, its hold released, a zero-cost usage record says why, and the books close."""
    hold = hold_of_one_request()
    await run_db(cap, customer.account, spend_limit_total_micros=hold)
    await run_db(make_channels, faulty, "a")

    def other_request_in_flight():
        key = ApiKey.objects.get(account=customer.account)
        services.hold_reserve(
            account_id=customer.account.pk,
            request_id="other",
            input_tokens=10,
            max_output_tokens=50,
            price=PRICE,
            ttl_seconds=60,
        )
        Hold.objects.filter(request_id="other").update(api_key=key)

    real = selectors.key_spend_over_cap

    def racy(**kwargs):
        if kwargs.get("hold_request_id") is None:  # the first check ran before the other hold existed
            return None
        return real(**kwargs)

    await run_db(other_request_in_flight)
    monkeypatch.setattr(pipeline.billing_selectors, "key_spend_over_cap", racy)
    reply = await ask(customer.key)
    assert reply.status == 402 and error_code(reply) == "key_spend_limit_reached"
    assert faulty.count("a") == 0
    record = await run_db(UsageRecord.objects.get)
    assert (record.status, record.error_code, record.cost_micros) == (402, "key_spend_limit_reached", 0)
    statuses = await run_db(lambda: dict(Hold.objects.values_list("request_id", "status")))
    assert statuses == {"other": "open", record.request_id: "released"}
    got = await run_db(state_of, customer.account)
    assert got.ledger == [("credit", START)] and got.balance == START and got.drift == []


async def call(key):
    response = await AsyncClient().post(
        "/v1/responses",
        data=json.dumps({"model": "gpt-4o", "input": "hi"}),
        content_type="application/json",
        headers={"authorization": f"Bearer {key}"},
    )
    await relay_settled()
    return response


async def test_the_monthly_cap_resets_on_the_first_of_the_next_month(catalog, alice):
    await run_db(cap, alice.account, spend_limit_monthly_micros=1)
    # Spend now (PostgreSQL stamps usage records with the database's clock, so no travel back or forth
    # before they exist), then look from the month's last seconds and from the next month.
    assert (await call(alice.key)).status_code == 200
    assert (await call(alice.key)).status_code == 402
    this_month = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    with time_machine.travel(next_month - timedelta(seconds=5), tick=True):
        blocked = await call(alice.key)
        assert blocked.status_code == 402 and "monthly" in json.loads(blocked.content)["error"]["message"]
    with time_machine.travel(next_month + timedelta(seconds=1), tick=True):
        assert (await call(alice.key)).status_code == 200
    assert await run_db(UsageRecord.objects.filter(status=200).count) == 2
