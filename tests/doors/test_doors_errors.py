"""Every error on our doc page, at every client door, in the door's own native shape and status (issue 15):
401, 402 (empty wallet, key spend cap), 403 model_not_allowed, 404, 400 naming the field in the client's own
names, 429 with Retry-After, 503 no channel, and an upstream 5xx — failed over to the next channel, and a 502
when no channel is left. Plain HTTP through the real server, so the bytes are what any client gets."""

import pytest

from billing.models import Hold, LedgerEntry, UsageRecord
from gateway.models import ApiKey
from tests.e2e.conftest import wait_for
from tests.factories import make_customer, make_model

from .conftest import serve
from .wire import DOORS, DoorSpec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=DOORS, ids=lambda door: door.name)
def door(request) -> DoorSpec:
    return request.param


def nothing_charged(account) -> None:
    assert not LedgerEntry.objects.filter(wallet__account=account, kind=LedgerEntry.Kind.CHARGE).exists()
    assert not Hold.objects.filter(wallet__account=account, status=Hold.Status.OPEN).exists()


def test_refusals_before_any_upstream_call(door, http, alice, bob, fakes):
    serve("openai_responses", fakes)
    make_model("no-channel")  # in the catalog, served by no channel
    door.error(door.post(http, "sk-nope"), 401, "invalid_auth_header")
    door.error(door.post(http, bob.key), 402, "insufficient_balance")
    door.error(door.post_stream(http, bob.key), 402, "insufficient_balance")  # a stream's refusal is JSON too
    assert door.error(door.post(http, alice.key, "nope"), 404, "model_not_found") in (None, "model")
    door.error(door.post(http, alice.key, "no-channel"), 503, "model_not_available")
    _, limited = make_customer("limited@example.com", balance="100", models=["other-model"])
    door.error(door.post(http, limited), 403, "model_not_allowed")
    assert fakes["upstream"].received() == []
    nothing_charged(alice.account)


@pytest.mark.parametrize(("door_name", "extra", "param"), [
    ("chat", {"max_completion_tokens": -1}, "max_completion_tokens"),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}]},
     "messages[0].content[0].image_url.url"),
    ("messages", {"max_tokens": -1}, "max_tokens"),
    ("messages", {"temperature": 7}, "temperature"),
    ("gemini", {"generationConfig": {"maxOutputTokens": -1}}, "generationConfig.maxOutputTokens"),
    ("gemini", {"generationConfig": {"temperature": 7}}, "generationConfig.temperature"),
], ids=["chat-max", "chat-image", "messages-max", "messages-temperature", "gemini-max", "gemini-temperature"])
def test_400_names_the_field_in_the_clients_own_words(http, alice, fakes, door_name, extra, param):
    serve("openai_responses", fakes)
    door = DoorSpec(door_name)
    response = door.post(http, alice.key, **extra)
    named = door.error(response, 400, "*")  # the code says what was wrong (invalid_value, invalid_type, …)
    if door_name == "messages":  # Anthropic's shape has no param: the message names the field
        assert param in response.json()["error"]["message"]
    else:
        assert named == param, response.text
    assert fakes["upstream"].received() == []


def test_rate_limit_is_429_with_retry_after(door, http, alice, fakes):
    serve("simulator", fakes)
    ApiKey.objects.filter(account=alice.account).update(rpm_limit=1)
    assert door.post(http, alice.key).status_code == 200
    refused = door.post(http, alice.key)
    door.error(refused, 429, "rate_limit_exceeded")
    assert int(refused.headers["retry-after"]) >= 1 and refused.headers["x-should-retry"] == "true"


def test_spend_cap_is_402_naming_the_cap(door, http, alice, fakes):
    serve("simulator", fakes)
    ApiKey.objects.filter(account=alice.account).update(spend_limit_daily_micros=1)
    assert door.post(http, alice.key).status_code == 200
    refused = door.post(http, alice.key)
    door.error(refused, 402, "key_spend_limit_reached")
    assert "daily" in refused.text
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).count() == 1, what="one usage record")


def test_project_budget_is_402_budget_exceeded_in_each_doors_shape(door, http, alice, fakes):
    from accounts import projects

    serve("simulator", fakes)
    default = projects.default_project(account_id=alice.account.pk)
    projects.project_update(account_id=alice.account.pk, project_id=default.pk, changes={"budget_daily_micros": 1})
    assert door.post(http, alice.key).status_code == 200
    refused = door.post(http, alice.key)
    door.error(refused, 402, "budget_exceeded")
    assert "project 'Default'" in refused.text and "daily" in refused.text
    wait_for(lambda: UsageRecord.objects.filter(account=alice.account).count() == 1, what="one usage record")


def test_upstream_5xx_fails_over_then_502(door, http, alice, fakes):
    upstream = fakes["upstream"]
    first = serve("openai_responses", fakes, name="first", priority=10)
    second = serve("openai_chat", fakes, name="second", priority=0)
    crash = {"error": {"message": f"crash at {upstream.base_url}", "type": "server_error"}}
    upstream.fail_next = (500, crash)
    answered = door.post(http, alice.key)
    assert answered.status_code == 200, answered.text
    assert [r.path for r in upstream.received()] == ["/v1/responses", "/v1/chat/completions"]
    record = wait_for(lambda: UsageRecord.objects.filter(request_id=answered.headers["x-request-id"]).first(),
                      what="the usage record")
    assert (record.status, record.channel_id, record.door) == (200, second.pk, door.name) and record.cost_micros > 0
    assert first.pk != second.pk

    upstream.fail_next = (500, crash)
    upstream.fail_next = (503, crash)
    failed = door.post(http, alice.key)
    door.error(failed, 502, "upstream_error")
    assert upstream.base_url not in failed.text and str(upstream.port) not in failed.text
    record = wait_for(lambda: UsageRecord.objects.filter(request_id=failed.headers["x-request-id"]).first(),
                      what="the failed request's record")
    assert (record.status, record.cost_micros, record.door) == (502, 0, door.name)
    assert Hold.objects.get(request_id=failed.headers["x-request-id"]).status == Hold.Status.RELEASED
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).count() == 1  # the failover's answer only

    # A stream fails over the same way before its first byte, and its 502 is the door's JSON error.
    upstream.fail_next = (500, crash)
    streamed = door.post_stream(http, alice.key)
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert "你好" in streamed.text and upstream.received()[-1].path == "/v1/chat/completions"
    upstream.fail_next = (500, crash)
    upstream.fail_next = (503, crash)
    door.error(door.post_stream(http, alice.key), 502, "upstream_error")
