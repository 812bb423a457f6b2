"""A key pool seen from outside the relay: health probes switch a dead key off alone and bring it back, and
probes, metrics, the request log, the live log and usage records name each key by its short id, never its secret."""

import logging

import pytest

from billing.db import run_db
from billing.services import RequestFacts
from gateway.models import Channel, ChannelCredential, ChannelProbe
from gateway.observe import health, livelog
from gateway.pool.store import add_secrets
from gateway.relay.catalog import clear_caches
from tests.hardening.test_metrics import sample
from tests.routing.conftest import UPSTREAM_SECRET, ask, make_channels, record_of, settled

pytestmark = pytest.mark.django_db(transaction=True)
DEAD = "sk-probe-dead-0001"


def dead_heavy_pool(faulty) -> tuple[Channel, ChannelCredential, ChannelCredential]:
    """Channel a: its own key and DEAD, which nearly every pick (probes included) tries first."""
    channel = make_channels(faulty, "a")["a"]
    [dead] = add_secrets(channel, [DEAD], weight=10_000)
    live = channel.credentials.exclude(pk=dead.pk).get()
    clear_caches()
    return channel, dead, live


async def test_a_probe_disables_a_dead_key_alone_and_a_passing_probe_brings_it_back(faulty):
    channel, dead, live = await run_db(dead_heavy_pool, faulty)
    faulty.refuse_key("a", DEAD)
    summary = await health.run_probes()
    assert summary.disabled == []  # the channel lives on with its other key
    dead = await run_db(ChannelCredential.objects.get, pk=dead.pk)
    assert (dead.enabled, dead.disabled_reason) == (False, "health: upstream refused the credentials (HTTP 401)")
    assert (await run_db(Channel.objects.get, pk=channel.pk)).enabled
    # Next round: the serving key is probed for the channel's health, the dead one on its own to see if it is back.
    await health.run_probes()
    rows = await run_db(lambda: list(ChannelProbe.objects.filter(channel=channel).order_by("pk")))
    assert [(r.credential, r.ok) for r in rows[1:]] in (
        [(live.public_id, True), (dead.public_id, False)], [(dead.public_id, False), (live.public_id, True)]
    )
    ch = await run_db(Channel.objects.get, pk=channel.pk)
    assert ch.last_probe_ok is True  # a dead key's recovery probe is not the channel's health
    faulty.reset()  # the upstream takes the key again
    await health.run_probes()
    dead = await run_db(ChannelCredential.objects.get, pk=dead.pk)
    assert (dead.enabled, dead.disabled_reason, dead.disabled_at) == (True, "", None)


async def test_an_operators_switch_is_never_undone_by_a_probe(faulty):
    channel, dead, _ = await run_db(dead_heavy_pool, faulty)
    await run_db(ChannelCredential.objects.filter(pk=dead.pk).update, enabled=False, disabled_reason="operator: ops")
    await health.run_probes()
    rows = await run_db(lambda: list(ChannelProbe.objects.filter(channel=channel)))
    assert dead.public_id not in {r.credential for r in rows}  # not probed at all
    assert not (await run_db(ChannelCredential.objects.get, pk=dead.pk)).enabled


async def test_metrics_logs_live_log_and_usage_name_the_key(faulty, customer, caplog):
    channel, dead, live = await run_db(dead_heavy_pool, faulty)
    faulty.refuse_key("a", DEAD)
    before = sample("harnmodel_credential_attempts_total", channel=str(channel.pk), credential=dead.public_id,
                    outcome="upstream_auth_error")  # fmt: skip
    with caplog.at_level(logging.INFO, logger="harnmodel.request"):
        reply = await ask(customer.key)
        await settled()
    assert reply.status == 200
    record = await record_of(reply.request_id)
    assert [a.get("credential") for a in record.attempts] == [dead.public_id, live.public_id]
    [line] = [r for r in caplog.records if r.name == "harnmodel.request" and reply.request_id in r.getMessage()]
    assert line.credential == live.public_id and f"credential={live.public_id}" in line.getMessage()
    assert [a["credential"] for a in line.attempts] == [dead.public_id, live.public_id]
    labels = {"channel": str(channel.pk)}
    assert sample("harnmodel_credential_attempts_total", **labels, credential=dead.public_id,
                  outcome="upstream_auth_error") == before + 1  # fmt: skip
    assert sample("harnmodel_credential_attempts_total", **labels, credential=live.public_id, outcome="ok") >= 1
    facts = RequestFacts(account_id=record.account_id, model_id=record.model_id, channel_id=record.channel_id,
                         attempts=record.attempts)  # fmt: skip
    event = livelog.event(0.0, facts, record.request_id, "sk-x", None, 0, False)
    assert event["credential"] == live.public_id
    text = str(event) + line.getMessage() + str(line.attempts) + str(record.attempts)
    assert DEAD not in text and UPSTREAM_SECRET not in text
