"""What a request cost us upstream: costed at its channel's price when it settles, on every settle path,
summed by the rollups and shown with the margin in the control room."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from billing import aiofast, services
from billing.models import UsageRecord, UsageRollup
from billing.ops_selectors import upstream_cost_today
from billing.pricing import PriceSnapshot, Usage, charge_micros
from billing.rollups import usage_rollup
from gateway.console.forms import ModelMapForm
from gateway.db import run_db
from gateway.models import ChannelModel
from gateway.relay.catalog import clear_caches
from tests.conftest import relay_settled
from tests.factories import make_customer

PRICE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
COST = PriceSnapshot(id=None, input_micros=1_000_000, cached_input_micros=500_000, output_micros=4_000_000)


def _settle(account, rid: str, usage: Usage | None, upstream_cost: int | None):
    services.hold_reserve(account_id=account.pk, request_id=rid, input_tokens=100, max_output_tokens=1000,
                          price=PRICE, ttl_seconds=60)
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o", upstream_cost_micros=upstream_cost)
    return services.hold_settle(request_id=rid, usage=usage, price=PRICE, facts=facts)


@pytest.mark.django_db(transaction=True)
def test_every_settle_path_records_the_upstream_cost():
    account, _ = make_customer("cost@example.com", balance="1")
    _settle(account, "c1", Usage(input_tokens=100, output_tokens=50), 300)  # fast path on PostgreSQL, ORM on SQLite
    _settle(account, "c2", Usage(input_tokens=100, output_tokens=50), None)
    recorded = dict(UsageRecord.objects.values_list("request_id", "upstream_cost_micros"))
    assert recorded == {"c1": 300, "c2": None}


@pytest.mark.django_db(transaction=True)
async def test_the_event_loop_path_records_it_too():
    if connection.vendor != "postgresql":
        pytest.skip("the async fast path is PostgreSQL's")
    account, _ = await run_db(make_customer, "cost@example.com", balance="1")
    hold = {"account_id": account.pk, "request_id": "c3", "input_tokens": 100, "max_output_tokens": 1000,
            "price": PRICE, "ttl_seconds": 60}
    assert await aiofast.hold_reserve(**hold) is not None
    facts = services.RequestFacts(account_id=account.pk, model_id="gpt-4o", upstream_cost_micros=420)
    usage = Usage(input_tokens=100, output_tokens=50)
    assert await aiofast.hold_settle(request_id="c3", usage=usage, price=PRICE, facts=facts, usage_estimated=False)
    assert await run_db(lambda: UsageRecord.objects.get(request_id="c3").upstream_cost_micros) == 420


@pytest.mark.django_db(transaction=True)
async def test_a_relayed_request_is_costed_at_its_channels_price(catalog, alice):
    await run_db(lambda: ChannelModel.objects.update(
        cost_input_micros=COST.input_micros, cost_cached_input_micros=COST.cached_input_micros,
        cost_output_micros=COST.output_micros))
    clear_caches()
    response = await AsyncClient().post(
        "/v1/responses", data=json.dumps({"model": "gpt-4o", "input": "hello there"}),
        content_type="application/json", headers={"authorization": f"Bearer {alice.key}"},
    )
    assert response.status_code == 200
    await relay_settled()
    record = await run_db(lambda: UsageRecord.objects.get())
    usage = Usage(input_tokens=record.input_tokens, cached_input_tokens=record.cached_input_tokens,
                  output_tokens=record.output_tokens)
    assert record.upstream_cost_micros == charge_micros(usage, COST) > 0
    assert record.cost_micros == charge_micros(usage, PRICE) > record.upstream_cost_micros


@pytest.mark.django_db
def test_rollups_and_the_control_room_show_cost_and_margin(admin_client):
    account, _ = make_customer("cost@example.com", balance="10")
    _settle(account, "m1", Usage(input_tokens=1000, output_tokens=1000), 5_000)  # charged 12 500
    _settle(account, "m2", Usage(input_tokens=1000, output_tokens=0), None)  # charged 2 500, cost unknown
    cost = upstream_cost_today()
    assert (cost.known_micros, cost.uncosted_revenue_micros) == (5_000, 2_500)
    html = admin_client.get(reverse("admin:ops")).content.decode()
    assert "Upstream cost today" in html and "Margin today" in html
    assert "¥0.0075" in html  # margin: 12 500 − 5 000 micros on the costed revenue
    assert "¥0.0025 revenue on channels without a cost price" in html
    usage_rollup(day=timezone.localdate())
    assert sum(UsageRollup.objects.values_list("upstream_cost_micros", flat=True)) == 5_000


@pytest.mark.django_db
def test_old_records_do_not_count_today():
    account, _ = make_customer("cost@example.com", balance="1")
    _settle(account, "old", Usage(input_tokens=100, output_tokens=50), 300)
    UsageRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert upstream_cost_today().known_micros == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("costs", "error"),
    [
        (("1", "", "4"), "all three"),
        (("1", "0.5", "-4"), "negative"),
        (("1", "0.5", "0.0000001"), "decimal"),
    ],
)
def test_the_model_map_form_wants_all_three_costs_exact(catalog, costs, error):
    entry = ChannelModel.objects.get()
    data = {"channel": entry.channel_id, "model": entry.model_id, "upstream_name": "",
            "cost_input": costs[0], "cost_cached_input": costs[1], "cost_output": costs[2]}
    form = ModelMapForm(data=data, instance=entry)
    assert not form.is_valid()
    assert error in str(form.errors).lower()


@pytest.mark.django_db
def test_the_model_map_form_stores_costs_in_micros_and_shows_them_back(catalog):
    entry = ChannelModel.objects.get()
    data = {"channel": entry.channel_id, "model": entry.model_id, "upstream_name": "",
            "cost_input": "1", "cost_cached_input": "0.5", "cost_output": "4"}
    form = ModelMapForm(data=data, instance=entry)
    assert form.is_valid(), form.errors
    form.save()
    entry.refresh_from_db()
    assert (entry.cost_input_micros, entry.cost_cached_input_micros, entry.cost_output_micros) == (
        1_000_000, 500_000, 4_000_000)
    assert ModelMapForm(instance=entry).initial["cost_cached_input"] == "0.5"
