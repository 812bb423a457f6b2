"""Team budgets count requests in flight, across the scope's keys: two keys of one project waiting at a slow
upstream hold enough to refuse a third request, and a request refused by the recheck gives its hold back."""

import asyncio

import pytest

from accounts import projects
from billing.db import run_db
from billing.models import Hold, UsageRecord
from billing.pricing import estimate_micros
from gateway.relay import budgets
from gateway.services import api_key_create
from tests.billing.matrix_helpers import START, local_input_tokens, state_of
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, TEXT, ask, make_channels, settled

pytestmark = pytest.mark.django_db(transaction=True)
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty
BODY = {"model": MODEL, "input": TEXT, "max_output_tokens": 50, "stream": False}


def hold_of_one_request() -> int:
    from tests.billing.matrix_helpers import PRICE

    return estimate_micros(local_input_tokens(BODY), 50, PRICE)


def budget(account, micros: int) -> None:
    default = projects.default_project(account_id=account.pk)
    projects.project_update(account_id=account.pk, project_id=default.pk, changes={"budget_daily_micros": micros})


async def test_open_holds_of_two_keys_push_the_project_over_its_budget(faulty, customer):
    hold = hold_of_one_request()
    second_key = await run_db(lambda: api_key_create(account_id=customer.account.pk, name="second").secret)
    await run_db(budget, customer.account, hold + hold // 2)  # room for 1.5 requests in flight
    await run_db(make_channels, faulty, "a")
    faulty.slow("a", delay=1.0)
    first = asyncio.ensure_future(ask(customer.key))
    assert await asyncio.to_thread(faulty.wait_until, lambda: faulty.count("a") == 1, 10)
    second = asyncio.ensure_future(ask(second_key))  # another key, same project: 1 open hold < budget
    assert await asyncio.to_thread(faulty.wait_until, lambda: faulty.count("a") == 2, 10)

    third = await ask(customer.key)  # two open holds >= the budget, though nothing is charged yet
    assert third.status == 402 and third.body["error"]["code"] == "budget_exceeded"
    assert faulty.count("a") == 2  # never reached the upstream
    assert ((await first).status, (await second).status) == (200, 200)
    await settled()
    assert (await ask(second_key)).status == 200  # settled for far less than held: room again
    await settled()


async def test_a_request_refused_by_the_recheck_gives_its_hold_back(faulty, customer, monkeypatch):
    hold = hold_of_one_request()
    await run_db(budget, customer.account, hold)
    await run_db(make_channels, faulty, "a")
    other = await run_db(lambda: api_key_create(account_id=customer.account.pk, name="other").key)

    def other_request_in_flight():  # another key of the project holds as much as the budget
        from billing import services
        from tests.billing.matrix_helpers import PRICE

        services.hold_reserve(account_id=customer.account.pk, request_id="other", input_tokens=10,
                              max_output_tokens=50, price=PRICE, ttl_seconds=60)  # fmt: skip
        Hold.objects.filter(request_id="other").update(api_key=other)

    real = budgets.over_budget

    def racy(rules, **kwargs):
        return None if kwargs.get("hold_request_id") is None else real(rules, **kwargs)  # first check: too early

    await run_db(other_request_in_flight)
    monkeypatch.setattr(budgets, "over_budget", racy)
    reply = await ask(customer.key)
    assert reply.status == 402 and reply.body["error"]["code"] == "budget_exceeded"
    assert faulty.count("a") == 0
    record = await run_db(UsageRecord.objects.get)
    assert (record.status, record.error_code, record.cost_micros) == (402, "budget_exceeded", 0)
    statuses = await run_db(lambda: dict(Hold.objects.values_list("request_id", "status")))
    assert statuses == {"other": "open", record.request_id: "released"}
    got = await run_db(state_of, customer.account)
    assert got.ledger == [("credit", START)] and got.balance == START and got.drift == []
