"""Every settle tier of billing/holds writes the group rule a request was priced under: the locked ORM path,
the one-statement PostgreSQL path and the event-loop path (the parity test compares the rest of the row)."""

import pytest
from django.db import connection

from billing import services
from billing.db import run_db
from billing.group_pricing import GroupTerms, group_price
from billing.group_services import group_create, group_rule_publish
from billing.holds import aio, orm, statement
from billing.models import UsageRecord
from billing.pricing import PriceSnapshot, Usage
from tests.factories import make_customer

pytestmark = [pytest.mark.django_db(transaction=True)]
BASE = PriceSnapshot(id=None, input_micros=2_500_000, cached_input_micros=1_250_000, output_micros=10_000_000)
USED = Usage(input_tokens=100, cached_input_tokens=40, output_tokens=50)


def _priced():
    group = group_create(slug="vip")
    rule, _ = group_rule_publish(group=group, multiplier_ppm=1_500_000)
    return rule, group_price(BASE, GroupTerms(group_id=group.pk, rule_id=rule.pk, multiplier_ppm=1_500_000), "gpt-4o")


def _hold(account, rid, price):
    services.hold_reserve(account_id=account.pk, request_id=rid, input_tokens=100, max_output_tokens=1000,
                          price=price, ttl_seconds=60)


def _facts(account):
    return services.RequestFacts(account_id=account.pk, model_id="gpt-4o")


def test_the_orm_path_writes_the_rule():
    account, _ = make_customer("orm@example.com", balance="1")
    rule, price = _priced()
    _hold(account, "o1", price)
    orm.settle(request_id="o1", usage=USED, price=price, facts=_facts(account), usage_estimated=False)
    record = UsageRecord.objects.get(request_id="o1")
    assert (record.group_rule_id, record.cost_micros) == (rule.pk, 1_050)  # 60 × 3_750_000 + 40 × 1_875_000 + 50 × 15_000_000 = 1_050 × 1M


def test_the_one_statement_path_writes_the_rule():
    if connection.vendor != "postgresql":
        pytest.skip("the fast path is PostgreSQL's")
    account, _ = make_customer("fast@example.com", balance="1")
    rule, price = _priced()
    _hold(account, "f1", price)
    settled = statement.settle(request_id="f1", usage=USED, price=price, facts=_facts(account))
    assert settled.cost_micros == 1_050
    assert UsageRecord.objects.get(request_id="f1").group_rule_id == rule.pk


async def test_the_event_loop_path_writes_the_rule(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the async fast path is PostgreSQL's")
    settings.HARNMODEL_DB_ASYNC = True
    account, _ = await run_db(make_customer, "loop@example.com", balance="1")
    rule, price = await run_db(_priced)
    await run_db(_hold, account, "a1", price)
    settled = await aio.settle(request_id="a1", usage=USED, price=price, facts=_facts(account))
    assert settled is not None and settled.cost_micros == 1_050
    record = await run_db(UsageRecord.objects.get, request_id="a1")
    assert record.group_rule_id == rule.pk
