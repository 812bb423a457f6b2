"""`X-Max-Cost` at every client door, through the real server and the real-HTTP fakes: a bad value is 400 naming
the header, an input the ceiling does not cover is 402 `cost_ceiling_exceeded` in the door's own shape before
any upstream call, and a stream from an upstream that ignores the (clamped) cap is cut in the door's shape and
charged no more than the ceiling."""

import json

import pytest

from billing.models import Hold, LedgerEntry, UsageRecord
from billing.money import parse_amount
from tests.e2e.conftest import wait_for

from .conftest import serve
from .passthrough_wire import PAIRS, Pair
from .wire import DOORS, DoorSpec

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=DOORS, ids=lambda door: door.name)
def door(request) -> DoorSpec:
    return request.param


@pytest.fixture(params=PAIRS, ids=lambda pair: pair.door)
def pair(request) -> Pair:
    return request.param


def test_an_input_over_the_ceiling_is_402_in_the_doors_shape(door, http, alice, fakes):
    serve("openai_responses", fakes)
    for response in (
        http.post(door.path("gpt-4o"), headers={**door.headers(alice.key), "X-Max-Cost": "0.000001"},
                  json=door.body("gpt-4o")),
        http.post(door.path("gpt-4o"), headers={**door.headers(alice.key), "x-max-cost": "0.000001"},
                  json=door.body("gpt-4o", stream=True) if door.name != "gemini" else door.body("gpt-4o")),
    ):
        door.error(response, 402, "cost_ceiling_exceeded")
        assert "X-Max-Cost" in response.text
    assert fakes["upstream"].received() == []
    assert not Hold.objects.filter(wallet__account=alice.account).exists()
    assert not LedgerEntry.objects.filter(wallet__account=alice.account, kind=LedgerEntry.Kind.CHARGE).exists()


def test_a_bad_ceiling_is_400_naming_the_header(door, http, alice, fakes):
    serve("openai_responses", fakes)
    response = http.post(door.path("gpt-4o"), headers={**door.headers(alice.key), "X-Max-Cost": "cheap"},
                         json=door.body("gpt-4o"))
    named = door.error(response, 400, "invalid_max_cost")
    assert named in ("X-Max-Cost", None) and "X-Max-Cost" in response.text
    assert fakes["upstream"].received() == []


def test_a_stream_past_the_ceiling_is_cut_in_the_doors_shape(pair, http, alice, fakes):
    serve(pair.kind, fakes)
    pair.queue(fakes, pair.stream_answer([" word"] * 40, end=False), stream=True)  # ignores any cap: no end
    ceiling = 80  # micros: the input costs about 25 of it, so about 5 output tokens
    answer = http.post(pair.path(stream=True), headers={**pair.headers(alice.key), "X-Max-Cost": "0.00008"},
                       json=pair.body(cap=500, stream=True))
    assert answer.status_code == 200, answer.text
    [sent] = pair.sent(fakes)
    told = pair.cap_sent(sent)
    assert 1 <= told < 20  # the ceiling's cap, not the client's 500
    assert 0 < answer.content.count(b" word") <= told
    events = [e for e in answer.content.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    if pair.door == "chat":
        assert json.loads(events[-2][len(b"data: "):])["choices"][0]["finish_reason"] == "length"
    elif pair.door == "messages":
        assert b'"stop_reason":"max_tokens"' in events[-2]
    else:
        assert json.loads(events[-1][len(b"data: "):])["candidates"][0]["finishReason"] == "MAX_TOKENS"
    record = wait_for(lambda: UsageRecord.objects.filter(account=alice.account).first(), what="the usage record")
    assert record.error_code == "output_cap_reached" and record.door == pair.door
    assert 0 < record.cost_micros <= ceiling


@pytest.mark.parametrize("ceiling", [None, "0.00008"], ids=["plain", "max-cost"])
def test_a_door_quote_takes_the_hold_the_doors_request_takes(pair, http, alice, fakes, ceiling):
    serve(pair.kind, fakes)
    headers = {**pair.headers(alice.key), **({"X-Max-Cost": ceiling} if ceiling else {})}
    quoted = http.post("/v1/quote" + pair.path(), headers=headers, json=pair.body(cap=500))
    assert quoted.status_code == 200, quoted.text
    quote = quoted.json()
    assert pair.sent(fakes) == [] and not Hold.objects.filter(wallet__account=alice.account).exists()
    pair.queue(fakes, pair.json_answer())
    real = http.post(pair.path(), headers=headers, json=pair.body(cap=500))
    assert real.status_code == 200, real.text
    hold = Hold.objects.get(request_id=real.headers["x-request-id"])
    assert hold.amount_micros == parse_amount(quote["hold"])  # side by side
    [sent] = pair.sent(fakes)
    assert pair.cap_sent(sent) == quote["output_cap"] == (500 if ceiling is None else quote["output_cap"])
    if ceiling:
        assert quote["output_cap"] < 500 and hold.amount_micros <= parse_amount(ceiling)


def test_a_door_quote_refuses_in_the_doors_shape(door, http, alice, fakes):
    serve("openai_responses", fakes)
    over = {**door.headers(alice.key), "X-Max-Cost": "0.000001"}
    door.error(http.post("/v1/quote" + door.path("gpt-4o"), headers=over, json=door.body("gpt-4o")), 402,
               "cost_ceiling_exceeded")
    door.error(http.post("/v1/quote" + door.path("nope"), headers=door.headers(alice.key), json=door.body("nope")),
               404, "model_not_found")
    door.error(http.post("/v1/quote" + door.path("gpt-4o"), headers=door.headers("sk-nope"),
                         json=door.body("gpt-4o")), 401, "invalid_auth_header")
    assert fakes["upstream"].received() == []
