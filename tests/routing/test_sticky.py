"""Response ids carry a signed channel reference: `previous_response_id` goes back to the channel that
served it, with the upstream's own id restored; forged, foreign or orphaned ids are a clean 400."""

import base64
import hashlib
import hmac
import secrets
import struct

import pytest
from django.conf import settings as django_settings

from billing.models import Hold
from gateway.db import run_db
from gateway.models import Channel
from gateway.relay import response_ids
from gateway.relay.catalog import clear_caches
from tests.factories import make_channel, make_customer
from tests.routing.conftest import MODEL, ask, make_channels, record_of, tried

# -- the ids themselves ------------------------------------------------------------------------------


def test_minted_ids_name_their_channel_and_account():
    rid = response_ids.mint(42, 9)
    assert rid.startswith("resp_") and len(rid) < 80
    assert all(c.isalnum() or c in "-_" for c in rid)
    assert response_ids.parse(rid) == response_ids.Ref(42, rid, 9)
    assert response_ids.mint(42, 9) != rid


def test_the_account_comes_from_the_request_when_not_given():
    response_ids.bind(77)
    try:
        assert response_ids.parse(response_ids.mint(1)).account_id == 77
        assert response_ids.parse(response_ids.wrap(1, "resp_x")).account_id == 77
        rewrite = response_ids.Rewriter(1, "own", None)
        response_ids.bind(78)  # fixed when the rewriter was made
        reply = {"id": "resp_up"}
        rewrite(reply)
        assert response_ids.parse(reply["id"]) == response_ids.Ref(1, "resp_up", 77)
    finally:
        response_ids.bind(0)


def test_the_account_is_signed():
    """Swapping the account bytes of a genuine id breaks its tag."""
    rid = response_ids.wrap(3, "resp_" + "ab" * 24, 5)
    text = rid[len("resp_") :]
    raw = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    raw[9 + 7] = 6  # the account id's last byte: 5 → 6
    swapped = "resp_" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert response_ids.parse(swapped) is None


def old_layout(kind: int, channel_id: int, body: bytes) -> str:
    """An id as issued before ids named their account: kind, channel id, body, tag."""
    payload = struct.pack(">BQ", kind, channel_id) + body
    tag = hmac.new(response_ids._key(django_settings.SECRET_KEY), payload, hashlib.sha256).digest()[:12]
    return "resp_" + base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


def test_ids_in_the_older_layout_parse_without_an_account():
    """Ids issued before they named an account still parse (account None), so a follow-up can refuse them."""
    old = old_layout(3, 7, bytes.fromhex("ab" * 24))
    assert response_ids.parse(old) == response_ids.Ref(7, "resp_" + "ab" * 24, None)


@pytest.mark.parametrize("upstream_id", ["resp_" + secrets.token_hex(24), "resp_ABC-odd.id", "msg_不同"])
def test_wrapped_ids_give_back_the_upstreams(upstream_id):
    ours = response_ids.wrap(7, upstream_id, 3)
    assert ours != upstream_id and ours.startswith("resp_")
    assert response_ids.parse(ours) == response_ids.Ref(7, upstream_id, 3)


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
        ids = {
            data["response"]["id"] for kind, data in first.events if kind.startswith("response.") and "response" in data
        }
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
    assert response_ids.parse(ours) == response_ids.Ref(sim.pk, ours, customer.account.pk)
    reply = await ask(customer.key, previous_response_id=ours)
    assert reply.status == 200
    assert response_ids.parse(reply.body["id"]).channel_id == sim.pk


@pytestmark_db
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_another_accounts_id_is_a_400_like_a_forged_one(faulty, customer, stream):
    """A signed id issued to account A, sent by account B, is refused: B cannot continue A's conversation."""
    await run_db(make_channels, faulty, "a")
    first = await ask(customer.key, stream=stream)
    ours = first.body["id"] if not stream else first.final["id"]
    assert response_ids.parse(ours).account_id == customer.account.pk
    _, other_key = await run_db(make_customer, "intruder@example.com", balance="100")
    hits = faulty.count("a")
    reply = await ask(other_key, previous_response_id=ours)
    assert reply.status == 400
    error = reply.body["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "previous_response_id")
    forged = await ask(other_key, previous_response_id=ours[:-2] + "xx")
    assert forged.status == 400 and forged.body["error"]["message"].replace(ours[:-2] + "xx", "") == error[
        "message"
    ].replace(ours, "")  # nothing tells the two apart
    assert faulty.count("a") == hits  # the upstream never heard of it
    record = await record_of(reply.request_id)
    assert record.cost_micros == 0
    assert (await run_db(Hold.objects.get, request_id=reply.request_id)).status == Hold.Status.RELEASED
    # the owner still can
    assert (await ask(customer.key, previous_response_id=ours)).status == 200


@pytestmark_db
async def test_an_id_in_the_older_layout_is_refused_as_a_follow_up(faulty, customer):
    chans = await run_db(make_channels, faulty, "a")
    old = old_layout(2, chans["a"].pk, b"resp_upstream")
    reply = await ask(customer.key, previous_response_id=old)
    assert reply.status == 400 and reply.body["error"]["param"] == "previous_response_id"
    assert faulty.count("a") == 0
