"""Per-key spend caps: a 402 that says which limit, distinct from the wallet's insufficient_balance."""

import json

import pytest
import time_machine
from django.test import AsyncClient
from django.utils import timezone

from billing.db import run_db
from billing.models import UsageRecord
from gateway.models import ApiKey
from tests.conftest import relay_settled

pytestmark = pytest.mark.django_db(transaction=True)


async def call(key):
    response = await AsyncClient().post(
        "/v1/responses",
        data=json.dumps({"model": "gpt-4o", "input": "hi"}),
        content_type="application/json",
        headers={"authorization": f"Bearer {key}"},
    )
    await relay_settled()
    return response


async def _cap(alice, **caps):
    await run_db(lambda: ApiKey.objects.filter(account=alice.account).update(**caps))


@pytest.mark.parametrize(
    "field", ["spend_limit_total_micros", "spend_limit_daily_micros", "spend_limit_monthly_micros"]
)
async def test_a_key_stops_at_its_cap_and_says_which(catalog, alice, field):
    await _cap(alice, **{field: 1})  # the first request costs more than one micro
    assert (await call(alice.key)).status_code == 200
    blocked = await call(alice.key)
    assert blocked.status_code == 402
    error = json.loads(blocked.content)["error"]
    assert error["code"] == "key_spend_limit_reached"
    assert field.split("_")[2] in error["message"]
    assert await run_db(UsageRecord.objects.count) == 1  # the refused request never reached an upstream


async def test_the_daily_cap_resets_the_next_day(catalog, alice):
    await _cap(alice, spend_limit_daily_micros=1)
    assert (await call(alice.key)).status_code == 200
    assert (await call(alice.key)).status_code == 402
    with time_machine.travel(timezone.now() + timezone.timedelta(days=1)):
        assert (await call(alice.key)).status_code == 200


async def test_keys_without_caps_are_not_limited(catalog, alice):
    for _ in range(3):
        assert (await call(alice.key)).status_code == 200
