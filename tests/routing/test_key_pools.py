"""Key pools through the real relay: a channel with several upstream keys on a real HTTP fake upstream that refuses,
rate-limits or accepts each key (tests/upstream/faulty.py `refuse_key`). A dead key is switched off alone and
alerted while the channel keeps serving; load spreads by weight; caps and rate limits move traffic to other keys."""

from collections import Counter

import pytest
from django.core import mail

from billing.db import run_db
from billing.signals import platform_event
from gateway.models import Channel, ChannelCredential
from gateway.pool.store import add_secrets
from gateway.relay.catalog import clear_caches
from tests.routing.conftest import UPSTREAM_SECRET, ask, make_channels, record_of, settled

pytestmark = pytest.mark.django_db(transaction=True)
STREAMS = pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
DEAD, GOOD = "sk-pool-dead-0001", "sk-pool-good-0002"
QUOTA = {"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota",
                   "code": "insufficient_quota"}}  # fmt: skip


def pool(faulty, *secrets: str, weights: dict[str, int] | None = None, names=("a",), **fields) -> dict[str, Channel]:
    """Channels on the fake upstream; the first one's pool holds UPSTREAM_SECRET and `secrets`."""
    chans = make_channels(faulty, *names, **fields)
    add_secrets(chans[names[0]], list(secrets))
    for secret, weight in (weights or {}).items():
        cred = next(c for c in chans[names[0]].credentials.all() if c.secret_hint == f"…{secret[-4:]}")
        ChannelCredential.objects.filter(pk=cred.pk).update(weight=weight)
    clear_caches()
    return chans


def creds(channel: Channel) -> dict[str, ChannelCredential]:
    """hint → credential, fresh from the database."""
    return {c.secret_hint: c for c in ChannelCredential.objects.filter(channel=channel)}


@pytest.fixture
def events():
    seen: list[dict] = []

    def receiver(sender, event_type, data, **kwargs):
        seen.append({"type": event_type, **data})

    platform_event.connect(receiver, weak=False)
    yield seen
    platform_event.disconnect(receiver)


@STREAMS
async def test_a_dead_key_is_disabled_alone_while_the_channel_serves(faulty, customer, settings, events, stream):
    settings.ADMINS = [("ops", "ops@example.com")]
    chans = await run_db(pool, faulty, DEAD, GOOD, weights={DEAD: 50})  # the dead key is soon picked first
    faulty.refuse_key("a", DEAD)
    replies = [await ask(customer.key, stream=stream) for _ in range(8)]
    await settled()
    assert [r.status for r in replies] == [200] * 8
    keys = Counter(h.key for h in faulty.hits("a"))
    assert keys[DEAD] == 1  # refused once, then never sent again
    assert keys[UPSTREAM_SECRET] + keys[GOOD] == 8
    by_hint = await run_db(creds, chans["a"])
    dead = by_hint["…0001"]
    assert (dead.enabled, dead.disabled_reason) == (False, "relay: upstream refused the credentials (HTTP 401)")
    assert dead.disabled_at is not None and all(c.enabled for h, c in by_hint.items() if h != "…0001")
    channel = await run_db(Channel.objects.get, pk=chans["a"].pk)
    assert channel.enabled and channel.disabled_reason == ""
    # The failover went to the same channel's next key, and the usage record names both keys (never a secret).
    records = [await record_of(r.request_id) for r in replies]
    [first] = [r for r in records if len(r.attempts) == 2]
    assert all(len(r.attempts) == 1 and r.attempts[0]["credential"] != dead.public_id for r in records if r != first)
    assert [a["channel"] for a in first.attempts] == [chans["a"].pk, chans["a"].pk]
    assert first.attempts[0]["credential"] == dead.public_id and first.attempts[0]["status"] == 401
    assert first.attempts[1]["credential"] in {by_hint["…0002"].public_id, by_hint[f"…{UPSTREAM_SECRET[-4:]}"].public_id}
    assert DEAD not in str(first.attempts)
    # Operators are told once: the mail, and the credential.disabled operator webhook event.
    [alert] = mail.outbox
    assert dead.public_id in alert.subject and "keeps serving" in alert.body and DEAD not in alert.body
    assert [e for e in events if e["type"] == "credential.disabled"] == [
        {"type": "credential.disabled", "channel": chans["a"].pk, "credential": dead.public_id,
         "reason": "relay: upstream refused the credentials (HTTP 401)", "enabled_left": 2}
    ]  # fmt: skip


async def test_an_exhausted_quota_disables_the_key_and_a_rate_limit_does_not(faulty, customer):
    chans = await run_db(pool, faulty, DEAD, GOOD, weights={DEAD: 50})
    faulty.refuse_key("a", DEAD, status=429, body=QUOTA)
    for _ in range(20):  # the pick is weighted (50:1): ask until the dead key was tried (2 % of runs took the good one first)
        assert (await ask(customer.key)).status == 200
        if any(hit.key == DEAD for hit in faulty.hits("a")):
            break
    await settled()
    assert (await run_db(creds, chans["a"]))["…0001"].disabled_reason == "relay: upstream quota exhausted (HTTP 429)"

    faulty.reset()
    faulty.refuse_key("a", GOOD, status=429, body={"error": {"message": "Rate limit reached", "type": "requests"}},
                      headers={"retry-after": "30"})
    await run_db(ChannelCredential.objects.filter(channel=chans["a"]).update, weight=1)
    await run_db(ChannelCredential.objects.filter(secret_hint="…0002").update, weight=50)
    clear_caches()
    replies = [await ask(customer.key) for _ in range(4)]
    await settled()
    assert [r.status for r in replies] == [200] * 4
    limited = (await run_db(creds, chans["a"]))["…0002"]
    assert limited.enabled and "HTTP 429" in limited.last_error  # rate-limited, not dead
    # Its own breaker (Retry-After honoured) keeps it out; the channel's breaker is untouched.
    assert Counter(h.key for h in faulty.hits("a"))[GOOD] == 1


async def test_the_last_dead_key_takes_the_channel_with_it_and_traffic_moves_on(faulty, customer, settings):
    settings.ADMINS = [("ops", "ops@example.com")]
    chans = await run_db(pool, faulty, names=("a", "b"))  # a: UPSTREAM_SECRET only; b: its own key
    faulty.refuse_key("a", UPSTREAM_SECRET)
    replies = [await ask(customer.key) for _ in range(3)]
    await settled()
    assert [r.status for r in replies] == [200] * 3
    assert faulty.count("a") == 1 and faulty.count("b") == 3
    channel = await run_db(Channel.objects.get, pk=chans["a"].pk)
    assert (channel.enabled, channel.disabled_reason) == (False, "health: upstream refused the credentials (HTTP 401)")
    assert "switched off too" in mail.outbox[0].body


async def test_the_pool_spreads_load_by_weight(faulty, customer):
    weights = {UPSTREAM_SECRET: 1, DEAD: 3, GOOD: 6}  # DEAD is a fine key here: nothing refuses it
    await run_db(pool, faulty, DEAD, GOOD, weights=weights)
    n = 300
    replies = [await ask(customer.key) for _ in range(n)]
    assert all(r.status == 200 for r in replies)
    keys = Counter(h.key for h in faulty.hits("a"))
    # Binomial bounds at about 4.5 standard deviations: a wrong spread fails, chance alone (almost) never does.
    for secret, weight in weights.items():
        expected = n * weight / 10
        spread = 4.5 * (n * weight / 10 * (1 - weight / 10)) ** 0.5
        assert abs(keys[secret] - expected) <= spread, (secret, keys)


async def test_a_key_with_weight_zero_or_switched_off_is_never_used(faulty, customer):
    chans = await run_db(pool, faulty, DEAD, GOOD, weights={DEAD: 0})
    await run_db(ChannelCredential.objects.filter(channel=chans["a"], secret_hint="…0002").update, enabled=False)
    clear_caches()
    for _ in range(10):
        assert (await ask(customer.key)).status == 200
    assert set(h.key for h in faulty.hits("a")) == {UPSTREAM_SECRET}


async def test_rpm_and_tpm_caps_move_traffic_to_other_keys(faulty, customer, backend):
    chans = await run_db(pool, faulty, GOOD, weights={GOOD: 1000})
    await run_db(ChannelCredential.objects.filter(channel=chans["a"], secret_hint="…0002").update, rpm_limit=3)
    clear_caches()
    for _ in range(6):
        assert (await ask(customer.key)).status == 200
    keys = Counter(h.key for h in faulty.hits("a"))
    assert keys[GOOD] == 3 and keys[UPSTREAM_SECRET] == 3  # the capped key took its three a minute, no more

    faulty.reset()
    await run_db(ChannelCredential.objects.filter(channel=chans["a"], secret_hint="…0002").update,
                 rpm_limit=None, tpm_limit=150)  # fmt: skip
    clear_caches()
    for _ in range(3):  # each reserves its input (a few tokens) and its whole output cap (50): two fit in 150
        assert (await ask(customer.key)).status == 200
    keys = Counter(h.key for h in faulty.hits("a"))
    assert keys[GOOD] == 2 and keys[UPSTREAM_SECRET] == 1


async def test_a_pool_whose_keys_are_all_capped_fails_over_to_the_next_channel(faulty, customer):
    chans = await run_db(pool, faulty, names=("a", "b"))
    await run_db(ChannelCredential.objects.filter(channel=chans["a"]).update, rpm_limit=1)
    clear_caches()
    for _ in range(3):
        assert (await ask(customer.key)).status == 200
    assert faulty.count("a") == 1 and faulty.count("b") == 2
