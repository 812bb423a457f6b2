"""A few routing paths through the real server (uvicorn subprocess) and the official openai SDK."""

import httpx
import openai
import pytest

from billing.models import Hold, UsageRecord
from gateway.models import ApiKey
from gateway.relay import response_ids
from tests.e2e.conftest import wait_for
from tests.routing.conftest import ANSWER, TEXT, make_channels

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _holds_closed_before_flush(transactional_db):
    """The server may still be settling when a test ends: let it finish before the flush."""
    yield
    wait_for(lambda: not Hold.objects.filter(status=Hold.Status.OPEN).exists(), timeout=15, what="holds settled")


def record(request_id: str) -> UsageRecord:
    return wait_for(lambda: UsageRecord.objects.filter(request_id=request_id).first(), what="usage record")


def test_sdk_sees_one_success_while_a_channel_fails(gateway, faulty, customer):
    chans = make_channels(faulty, "a", "b", "c")
    faulty.fail("a", 503)
    faulty.hang("b", seconds=5)
    from gateway.models import Channel

    Channel.objects.filter(pk=chans["b"].pk).update(first_byte_timeout=0.5)
    client = gateway.client(customer.key)
    raw = client.responses.with_raw_response.create(model="gpt-4o", input=TEXT)
    assert raw.parse().output_text == ANSWER
    attempts = record(raw.headers["x-request-id"]).attempts
    assert [a["channel"] for a in attempts] == [chans["a"].pk, chans["b"].pk, chans["c"].pk]
    assert [a.get("error") for a in attempts] == ["upstream_error", "first_byte_timeout", None]
    with client.responses.stream(model="gpt-4o", input=TEXT) as stream:
        final = stream.get_final_response()
    assert final.output_text == ANSWER and final.status == "completed"


def test_sdk_follow_up_goes_back_to_its_channel(gateway, faulty, customer):
    chans = make_channels(faulty, "a", "b", ordered=False)
    client = gateway.client(customer.key)
    first = client.responses.create(model="gpt-4o", input=TEXT)
    ref = response_ids.parse(first.id)
    name = next(n for n, c in chans.items() if c.pk == ref.channel_id)
    for _ in range(4):
        follow = client.responses.create(model="gpt-4o", input="继续", previous_response_id=first.id)
        assert response_ids.parse(follow.id).channel_id == ref.channel_id
        assert faulty.hits(name)[-1].body["previous_response_id"] == ref.upstream_id
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", input="x", previous_response_id="resp_" + "0" * 48)
    assert caught.value.param == "previous_response_id"


def test_sdk_lists_models_and_hits_rate_limits(gateway, faulty, customer):
    make_channels(faulty, "a")
    ApiKey.objects.filter(account=customer.account).update(rpm_limit=2)
    client = gateway.client(customer.key)
    assert [m.id for m in client.models.list()] == ["gpt-4o"]
    assert client.models.retrieve("gpt-4o").owned_by == "harnmodel"
    client.responses.create(model="gpt-4o", input=TEXT)
    client.responses.create(model="gpt-4o", input=TEXT)
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="gpt-4o", input=TEXT)
    headers = caught.value.response.headers
    assert caught.value.code == "rate_limit_exceeded" and int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-remaining-requests"] == "0"
    assert faulty.count("a") == 2


def test_health_endpoints(gateway):
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
