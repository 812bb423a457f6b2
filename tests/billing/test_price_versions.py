"""Price versions: a usage record points at the price in force when its request was admitted, and
publishing a new price never re-prices past usage (nor a request already in flight). Price rows
cannot be edited."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services
from billing.models import ImmutableRowError, LedgerEntry, Price, UsageRecord
from billing.pricing import PriceSnapshot, Usage, charge_micros
from billing.selectors import price_current
from gateway.db import run_db
from gateway.relay.catalog import clear_caches
from tests.billing.matrix_helpers import PRICE
from tests.routing import conftest as routing
from tests.routing.conftest import MODEL, ask, make_channels, record_of
from tests.upstream.server import answer_responses

pytestmark = pytest.mark.django_db(transaction=True)
# The routing tests' fixtures (some autouse): a real fault-injecting HTTP upstream, isolated shared state.
_faulty_server = routing._faulty_server
_isolated_state = routing._isolated_state
_loop_clients_closed = routing._loop_clients_closed
customer = routing.customer
faulty = routing.faulty
V2 = PriceSnapshot(id=None, input_micros=5_000_000, cached_input_micros=2_500_000, output_micros=30_000_000)


def publish_v2(**extra) -> Price:
    price, created = services.price_publish(
        model_id=MODEL,
        input_micros=V2.input_micros,
        cached_input_micros=V2.cached_input_micros,
        output_micros=V2.output_micros,
        **extra,
    )
    assert created
    clear_caches()  # the catalog's TTL, run out
    return price


def cost_at(price: PriceSnapshot, body: dict) -> int:
    answer = answer_responses(body)
    return charge_micros(Usage(input_tokens=answer.input_tokens, output_tokens=answer.output_tokens), price)


def snapshot(record: UsageRecord) -> tuple:
    charge = LedgerEntry.objects.get(request_id=record.request_id)
    record.refresh_from_db()
    return record.price_id, record.cost_micros, charge.amount_micros


async def test_records_keep_the_price_they_were_admitted_at(faulty, customer):
    await run_db(make_channels, faulty, "a")
    v1 = await run_db(price_current, model_id=MODEL)

    old = await record_of((await ask(customer.key)).request_id)
    old_cost = cost_at(PRICE, faulty.hits("a")[0].body)
    assert (old.price_id, old.cost_micros) == (v1.pk, old_cost)
    before = await run_db(snapshot, old)

    # A request in flight when the new price is published settles at its admission price.
    faulty.slow("a", delay=1.0)
    in_flight = asyncio.ensure_future(ask(customer.key))
    assert await asyncio.to_thread(faulty.wait_until, lambda: faulty.count("a") == 2, 10)
    v2 = await run_db(publish_v2)
    late = await record_of((await in_flight).request_id)
    assert (late.price_id, late.cost_micros) == (v1.pk, cost_at(PRICE, faulty.hits("a")[1].body))

    faulty.ok("a")
    new = await record_of((await ask(customer.key)).request_id)
    new_cost = cost_at(V2, faulty.hits("a")[2].body)
    assert (new.price_id, new.cost_micros) == (v2.pk, new_cost) and new_cost > old_cost

    assert await run_db(snapshot, old) == before == (v1.pk, old_cost, -old_cost)  # untouched
    v1_again = await run_db(Price.objects.get, pk=v1.pk)
    assert (v1_again.input_micros, v1_again.output_micros) == (PRICE.input_micros, PRICE.output_micros)


async def test_a_price_published_for_later_is_not_used_before_it_starts(faulty, customer):
    await run_db(make_channels, faulty, "a")
    v1 = await run_db(price_current, model_id=MODEL)
    await run_db(publish_v2, effective_from=timezone.now() + timedelta(hours=1))
    record = await record_of((await ask(customer.key)).request_id)
    assert (record.price_id, record.cost_micros) == (v1.pk, cost_at(PRICE, faulty.hits("a")[0].body))


def test_a_price_row_cannot_be_edited(db):
    price, _ = services.price_publish(model_id="m", input_micros=1, cached_input_micros=1, output_micros=1)
    price.output_micros = 2
    with pytest.raises(ImmutableRowError):
        price.save()
    with pytest.raises(ImmutableRowError):
        price.save(update_fields=["output_micros"])
    price.refresh_from_db()
    assert price.output_micros == 1
    # Publishing a change adds a version; the old row stays as it was.
    newer, created = services.price_publish(
        model_id="m", input_micros=1, cached_input_micros=1, output_micros=2, effective_from=timezone.now()
    )
    assert created and newer.pk != price.pk
    assert list(Price.objects.filter(model_id="m").values_list("output_micros", flat=True)) == [2, 1]
