"""Response ids carry a signed channel reference: `previous_response_id` goes back to the channel that
served it, with the upstream's own id restored; forged, foreign or orphaned ids are a clean 400."""

import secrets

import pytest

from billing.models import Hold
from gateway import response_ids
from gateway.catalog import clear_caches
from gateway.db import run_db
from gateway.models import Channel
from tests.factories import make_channel
from tests.routing.conftest import MODEL, ask, make_channels, record_of, tried

# -- the ids themselves ------------------------------------------------------------------------------


def test_minted_ids_name_their_channel():
    rid = response_ids.mint(42)
    assert rid.startswith("resp_") and len(rid) < 80
    assert all(c.isalnum() or c in "-_" for c in rid)
    assert response_ids.parse(rid) == response_ids.Ref(42, rid)
    assert response_ids.mint(42) != rid


@pytest.mark.parametrize("upstream_id", ["resp_" + secrets.token_hex(24), "resp_ABC-odd.id", "msg_不同"])
def test_wrapped_ids_give_back_the_upstreams(upstream_id):
    ours = response_ids.wrap(7, upstream_id)
    assert ours != upstream_id and ours.startswith("resp_")
    assert response_ids.parse(ours) == response_ids.Ref(7, upstream_id)


def test_forged_foreign_and_garbage_ids_are_refused(settings):
    rid = response_ids.wrap(3, "resp_" + "ab" * 24)
    flipped = rid[:-3] + ("A" if rid[-3] != "A" else "B") + rid[-2:]
    for bad in (flipped, "resp_" + "ab" * 24, "resp_", "resp_!!!", "msg_123", "", "resp_" + "A" * 2000):
        assert response_ids.parse(bad) is None, bad
    settings.SECRET_KEY = "another deployment"
    assert response_ids.parse(rid) is None


# -- through the gateway -------------------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db(transaction=True)


def served_by(chans, response_id):
    ref = response_ids.parse(response_id)
    assert ref is not None, response_id
    return next(name for name, c in chans.items() if c.pk == ref.channel_id), ref


@pytestmark_db
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_follow_ups_return_to_the_same_channel_with_the_upstream_id(faulty, customer, stream):
    chans = await run_db(make_channels, faulty, "a", "b", "c", ordered=False)
    first = await ask(customer.key, stream=stream)
    if stream:
        ids = {data["response"]["id"] for kind, data in first.events if kind.startswith("response.") and
               "response" in data}
        assert len(ids) == 1  # every lifecycle event carries our id
        response_id = ids.pop()
    else:
        response_id = first.body["id"]
    name, ref = served_by(chans, response_id)
    assert faulty.knows(name, ref.upstream_id) and not faulty.knows(name, response_id)
    previous = response_id
    for _ in range(6):  # one tier of three: without stickiness a follow-up would wander
        reply = await ask(customer.key, stream=stream, previous_response_id=previous)
        assert reply.status == 200, reply.body
        sent = faulty.hits(name)[-1].body["previous_response_id"]
        assert sent == response_ids.parse(previous).upstream_id  # the upstream got its own id back
        assert tried(await record_of(reply.request_id), chans) == [name]
        previous = reply.body["id"] if not stream else reply.final["id"]
        assert served_by(chans, previous)[0] == name
    assert sum(faulty.count(n) for n in chans) == 7


@pytestmark_db
async def test_no_failover_for_a_follow_up(faulty, customer):
    chans = await run_db(make_channels, faulty, "a", "b")
    first = await ask(customer.key)
    name, _ = served_by(chans, first.body["id"])
    faulty.fail(name, 500)
    reply = await ask(customer.key, previous_response_id=first.body["id"])
    assert reply.status == 502  # no other upstream knows this conversation
    assert tried(await record_of(reply.request_id), chans) == [name]


@pytestmark_db
@pytest.mark.parametrize("previous", ["forged", "foreign", "garbage"])
async def test_ids_we_did_not_sign_are_a_400(faulty, customer, previous):
    chans = await run_db(make_channels, faulty, "a")
    value = {
        "forged": response_ids.wrap(chans["a"].pk, "resp_" + "cd" * 24)[:-2] + "xx",
        "foreign": "resp_" + secrets.token_hex(24),
        "garbage": "not-an-id",
    }[previous]
    reply = await ask(customer.key, previous_response_id=value)
    assert reply.status == 400
    error = reply.body["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "previous_response_id")
    assert faulty.count("a") == 0
    record = await record_of(reply.request_id)
    assert record.cost_micros == 0
    assert (await run_db(Hold.objects.get, request_id=reply.request_id)).status == Hold.Status.RELEASED


@pytestmark_db
async def test_a_follow_up_to_a_channel_that_is_gone_is_previous_response_not_found(faulty, customer):
    chans = await run_db(make_channels, faulty, "a", "b")
    first = await ask(customer.key)
    name, _ = served_by(chans, first.body["id"])
    await run_db(Channel.objects.filter(pk=chans[name].pk).update, enabled=False)
    clear_caches()
    reply = await ask(customer.key, previous_response_id=first.body["id"])
    assert reply.status == 400
    assert reply.body["error"]["code"] == "previous_response_not_found"
    assert reply.body["error"]["param"] == "previous_response_id"
    assert faulty.count("a") + faulty.count("b") == 1


@pytestmark_db
async def test_translated_responses_get_minted_ids_that_route_back(faulty, customer):
    await run_db(make_channels, faulty, "a")
    sim = await run_db(make_channel, "sim", provider="simulator", models={MODEL: ""}, priority=10)
    first = await ask(customer.key, stream=True)
    ours = first.final["id"]
    assert response_ids.parse(ours) == response_ids.Ref(sim.pk, ours)
    reply = await ask(customer.key, previous_response_id=ours)
    assert reply.status == 200
    assert response_ids.parse(reply.body["id"]).channel_id == sim.pk
