"""Customer-group prices through the real request line (a real HTTP fake upstream): the price at
admission is the model's price version × the account's group rule version, recorded on the usage
record, exact to the micro, and neither a new price nor a new rule published mid-flight re-prices a
request already admitted."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from accounts.models import Account
from billing import services
from billing.db import run_db
from billing.group_models import CustomerGroup, GroupRule
from billing.group_services import group_create, group_rule_publish
from billing.models import LedgerEntry, UsageRecord
from billing.pricing import Usage, charge_micros
from billing.selectors import price_current, price_snapshot
from gateway.relay import door_handle
from gateway.relay.catalog import clear_caches
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, ask, make_channels, record_of
from tests.upstream.server import answer_responses

pytestmark = pytest.mark.django_db(transaction=True)
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty


def usage_of(body: dict) -> Usage:
    answer = answer_responses(body)
    return Usage(input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)


def by_hand(usage: Usage, input_per_m: int, output_per_m: int) -> int:
    """The charge written out, independent of the code under test: whole micros, rounded up."""
    return -(-(usage.input_tokens * input_per_m + usage.output_tokens * output_per_m) // 1_000_000)


def join_group(account: Account, ppm: int, **terms) -> GroupRule:
    group = group_create(slug="resellers", name="Resellers")
    Account.objects.filter(pk=account.pk).update(group=group)
    rule, _ = group_rule_publish(group=group, multiplier_ppm=ppm, **terms)
    clear_caches()  # the key cache (its account's group) and the group terms, as if their TTL ran out
    return rule


def publish_rule(ppm: int) -> GroupRule:
    rule, created = group_rule_publish(group=CustomerGroup.objects.get(slug="resellers"), multiplier_ppm=ppm)
    assert created
    return rule


def check_books(record: UsageRecord) -> None:
    charge = LedgerEntry.objects.get(request_id=record.request_id)
    assert charge.amount_micros == -record.cost_micros


async def test_group_prices_exact_to_the_micro_with_versions_changing_mid_flight(faulty, customer):
    await run_db(make_channels, faulty, "a")
    v1 = await run_db(price_current, model_id=MODEL)  # 2.5 in / 10 out per 1M
    rule1 = await run_db(join_group, customer.account, 1_333_333)  # ×1.333333: 2.5 → 3.333333(5), up

    first = await record_of((await ask(customer.key)).request_id)
    used = usage_of(faulty.hits("a")[0].body)
    assert (first.price_id, first.group_rule_id) == (v1.pk, rule1.pk)
    assert first.cost_micros == by_hand(used, 3_333_333, 13_333_330) > by_hand(used, 2_500_000, 10_000_000)
    await run_db(check_books, first)

    # In flight while a new price version and a new group rule are published: settles at what it was admitted at.
    faulty.slow("a", delay=1.0)
    in_flight = asyncio.ensure_future(ask(customer.key))
    assert await asyncio.to_thread(faulty.wait_until, lambda: faulty.count("a") == 2, 10)
    v2, _ = await run_db(services.price_publish, model_id=MODEL, input_micros=5_000_001,
                         cached_input_micros=2_500_000, output_micros=30_000_000)
    rule2 = await run_db(publish_rule, 800_000)
    clear_caches()
    late = await record_of((await in_flight).request_id)
    used = usage_of(faulty.hits("a")[1].body)
    assert (late.price_id, late.group_rule_id) == (v1.pk, rule1.pk)
    assert late.cost_micros == by_hand(used, 3_333_333, 13_333_330)

    faulty.ok("a")
    new = await record_of((await ask(customer.key)).request_id)
    used = usage_of(faulty.hits("a")[2].body)
    assert (new.price_id, new.group_rule_id) == (v2.pk, rule2.pk)
    assert new.cost_micros == by_hand(used, 4_000_001, 24_000_000)  # 5_000_001 × 0.8 = 4_000_000.8, up
    await run_db(check_books, new)
    # The first record still says what it said: versions are never re-priced.
    again = await run_db(UsageRecord.objects.get, pk=first.pk)
    assert (again.price_id, again.group_rule_id, again.cost_micros) == (v1.pk, rule1.pk, first.cost_micros)


async def test_the_default_group_pays_the_model_price_and_names_no_rule(faulty, customer):
    await run_db(make_channels, faulty, "a")
    v1 = await run_db(price_current, model_id=MODEL)
    record = await record_of((await ask(customer.key)).request_id)
    used = usage_of(faulty.hits("a")[0].body)
    assert (record.price_id, record.group_rule_id) == (v1.pk, None)
    assert record.cost_micros == charge_micros(used, price_snapshot(v1)) == by_hand(used, 2_500_000, 10_000_000)
    assert (await run_db(Account.objects.select_related("group").get, pk=customer.account.pk)).group.slug == "default"


async def test_a_model_outside_the_group_is_refused_before_any_hold(faulty, customer):
    await run_db(make_channels, faulty, "a")
    await run_db(join_group, customer.account, 1_000_000, allowed_models=["some-other-model"])
    reply = await ask(customer.key)
    assert reply.status == 403 and reply.body["error"]["code"] == "model_not_allowed"
    assert faulty.count("a") == 0
    assert not await sync_to_async(UsageRecord.objects.filter(account=customer.account).exists)()
    listed = await AsyncClient().get("/v1/models", headers={"authorization": f"Bearer {customer.key}"})
    assert [m["id"] for m in listed.json()["data"]] == []
    counted = await door_handle.handle(  # the free token count (the ASGI front's door) refuses it the same way
        "POST", "/v1/messages/count_tokens", {"x-api-key": customer.key, "anthropic-version": "2023-06-01"}, {},
        json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode(),
    )
    assert counted.status_code == 403 and json.loads(counted.content)["error"]["type"] == "permission_error"
