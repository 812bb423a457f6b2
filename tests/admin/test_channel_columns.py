"""The channel list shows each channel's breaker state and its last-24 h success rate."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse
from django.utils import timezone

from billing.models import UsageRecord
from gateway.console.ops_selectors import channel_success
from gateway.relay import breaker
from tests.factories import make_channel, make_customer, make_model

CHANGELIST = "admin:gateway_channel_changelist"


@pytest.fixture(autouse=True)
def _fresh_breakers():
    breaker.reset_local()
    yield
    breaker.reset_local()


def _usage(account, channel, *statuses: int, age: timedelta | None = None) -> None:
    for status in statuses:
        record = UsageRecord.objects.create(
            request_id=f"r-{channel.pk}-{UsageRecord.objects.count()}",
            account=account,
            channel=channel,
            model_id="gpt-4o",
            status=status,
        )
        if age is not None:
            UsageRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - age)


@pytest.mark.django_db(transaction=True)
def test_success_rate_counts_the_last_day_per_channel():
    make_model("gpt-4o")
    a = make_channel("cols-a", models={"gpt-4o": ""})
    b = make_channel("cols-b", models={"gpt-4o": ""})
    account, _ = make_customer("cols@example.com", balance="1")
    _usage(account, a, 200, 200, 200, 502)
    _usage(account, a, 500, 500, age=timedelta(hours=30))  # older than the window
    _usage(account, b, 429)
    assert channel_success(hours=24) == {a.pk: (4, 3), b.pk: (1, 0)}


@pytest.mark.django_db(transaction=True)
def test_channel_list_shows_breaker_and_success_columns(admin_client):
    make_model("gpt-4o")
    healthy = make_channel("cols-healthy", models={"gpt-4o": ""})
    tripped = make_channel("cols-tripped", models={"gpt-4o": ""})
    make_channel("cols-quiet", models={"gpt-4o": ""})
    account, _ = make_customer("cols@example.com", balance="1")
    _usage(account, healthy, 200, 200, 200, 502)
    async_to_sync(breaker.record)(tripped.pk, "gpt-4o", False, retry_after=60)  # a 429 with Retry-After opens it

    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "Breaker" in html and "Success 24 h" in html
    assert "75.0 % of 4" in html
    assert "● open</span> gpt-4o" in html and "closed" in html
    assert "no traffic" in html


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_breaker_shows_unknown_not_an_error(admin_client, monkeypatch):
    make_model("gpt-4o")
    make_channel("cols-a", models={"gpt-4o": ""})

    async def broken(model, ids):
        raise ConnectionError("redis down")

    monkeypatch.setattr(breaker, "verdicts", broken)
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200 and "unknown" in response.content.decode()
