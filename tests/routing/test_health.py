"""Health probes: a tiny real request per channel and model; dead accounts are switched off and come
back when a probe passes; an operator's decision is never undone; nobody is billed."""

import pytest
from django.conf import settings as django_settings

from billing.models import Hold, UsageRecord
from gateway import tasks
from gateway.db import run_db
from gateway.models import CatalogModel, Channel, ChannelModel, ChannelProbe
from gateway.observe import health
from gateway.relay import breaker
from tests.factories import make_model
from tests.routing.conftest import MODEL, make_channels

pytestmark = pytest.mark.django_db(transaction=True)
QUOTA = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                   "type": "insufficient_quota", "code": "insufficient_quota"}}


async def channel(pk: int) -> Channel:
    return await run_db(Channel.objects.get, pk=pk)


async def probes(pk: int) -> list[ChannelProbe]:
    return await run_db(lambda: list(ChannelProbe.objects.filter(channel_id=pk).order_by("pk")))


async def test_a_healthy_channel_is_probed_cheaply_and_billed_to_nobody(faulty):
    chans = await run_db(make_channels, faulty, "a")
    summary = await health.run_probes()
    assert (summary.probed, summary.disabled, summary.enabled) == (1, [], [])
    [hit] = faulty.hits("a")
    assert hit.body["input"] == "ping" and hit.body["model"] == "up-model"
    assert 1 <= hit.body["max_output_tokens"] <= 16 and hit.body["stream"] is False
    [probe] = await probes(chans["a"].pk)
    assert (probe.model_id, probe.ok, probe.status, probe.error) == (MODEL, True, 200, "")
    ch = await channel(chans["a"].pk)
    assert ch.last_probe_ok is True and ch.last_probe_at is not None and ch.last_probe_error == ""
    assert await run_db(Hold.objects.count) == 0 and await run_db(UsageRecord.objects.count) == 0


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_disable_and_a_passing_probe_re_enables(faulty, status):
    chans = await run_db(make_channels, faulty, "a", "b")
    faulty.fail("a", status, body={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
    summary = await health.run_probes()
    assert summary.disabled == [chans["a"].pk]
    ch = await channel(chans["a"].pk)
    assert ch.enabled is False
    assert ch.disabled_reason == f"health: upstream refused the credentials (HTTP {status})"
    assert ch.last_probe_ok is False and "credentials" in ch.last_probe_error
    assert (await channel(chans["b"].pk)).enabled is True
    # Still failing: stays off, and is still probed so it can come back.
    await health.run_probes()
    assert (await channel(chans["a"].pk)).enabled is False and faulty.count("a") == 2
    faulty.ok("a")
    summary = await health.run_probes()
    assert summary.enabled == [chans["a"].pk]
    ch = await channel(chans["a"].pk)
    assert (ch.enabled, ch.disabled_reason, ch.last_probe_ok) == (True, "", True)
    assert [p.ok for p in await probes(chans["a"].pk)] == [False, False, True]


@pytest.mark.parametrize("status", [429, 402, 400])
async def test_an_exhausted_quota_disables(faulty, status):
    chans = await run_db(make_channels, faulty, "a")
    faulty.fail("a", status, body=QUOTA)
    await health.run_probes()
    ch = await channel(chans["a"].pk)
    assert ch.enabled is False and ch.disabled_reason == f"health: upstream quota exhausted (HTTP {status})"


@pytest.mark.parametrize("fault", ["500", "429", "hang", "drop", "400"])
async def test_outages_overload_and_rejections_never_disable(faulty, settings, fault):
    settings.HARNMODEL_PROBE_TIMEOUT = 0.3
    chans = await run_db(make_channels, faulty, "a")
    if fault == "hang":
        faulty.hang("a", seconds=3)
    elif fault == "drop":
        faulty.drop("a")
    else:
        faulty.fail("a", int(fault), body={"error": {"message": "slow down", "type": "requests"}})
    summary = await health.run_probes()
    assert summary.disabled == []
    ch = await channel(chans["a"].pk)
    assert ch.enabled is True and ch.last_probe_ok is False and ch.last_probe_error
    [probe] = await probes(chans["a"].pk)
    assert probe.ok is False and probe.error


async def test_an_operator_disabled_channel_is_never_touched(faulty):
    chans = await run_db(make_channels, faulty, "a", "b")
    await run_db(Channel.objects.filter(pk=chans["a"].pk).update, enabled=False, disabled_reason="maintenance")
    await run_db(Channel.objects.filter(pk=chans["b"].pk).update, enabled=False, disabled_reason="")
    await health.run_probes()
    for name in "ab":
        ch = await channel(chans[name].pk)
        assert ch.enabled is False and faulty.count(name) == 0
    assert (await channel(chans["a"].pk)).disabled_reason == "maintenance"


async def test_every_mapped_model_is_probed(faulty):
    chans = await run_db(make_channels, faulty, "a")

    def second_model():
        make_model("gpt-mini")
        ChannelModel.objects.create(channel_id=chans["a"].pk, model=CatalogModel.objects.get(public_id="gpt-mini"),
                                    upstream_name="up-mini")

    await run_db(second_model)
    faulty.fail("a", 500, times=1)
    summary = await health.run_probes()
    assert summary.probed == 2
    assert sorted(h.body["model"] for h in faulty.hits("a")) == ["up-mini", "up-model"]
    ch = await channel(chans["a"].pk)
    assert ch.last_probe_ok is False and ch.enabled is True


async def test_a_passing_probe_closes_a_half_open_breaker(faulty, monkeypatch, settings):
    chans = await run_db(make_channels, faulty, "a")
    now = [1_800_000_000.0]
    monkeypatch.setattr(breaker, "clock", lambda: now[0])
    for _ in range(settings.HARNMODEL_BREAKER_FAILURES):
        await breaker.record(chans["a"].pk, MODEL, False)
    now[0] += settings.HARNMODEL_BREAKER_COOLDOWN
    await health.run_probes()
    assert (await breaker.verdicts(MODEL, [chans["a"].pk]))[chans["a"].pk].state == breaker.CLOSED


def test_the_celery_task_runs_every_minute(faulty, transactional_db):
    from harnmodel.celery import app

    app.loader.import_default_modules()
    assert "gateway.tasks.probe_channels" in app.tasks
    entry = django_settings.CELERY_BEAT_SCHEDULE["gateway-probe-channels"]
    assert entry == {"task": "gateway.tasks.probe_channels", "schedule": 60.0}
    chans = make_channels(faulty, "a")
    faulty.fail("a", 401)
    assert tasks.probe_channels() == {"probed": 1, "disabled": [chans["a"].pk], "enabled": []}
    assert Channel.objects.get(pk=chans["a"].pk).enabled is False
