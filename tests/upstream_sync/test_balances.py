"""Upstream balance polling against a real-HTTP fake upstream: each kind, alert once per crossing, drain at 0."""

import pytest
from django.urls import reverse

from gateway import tasks
from gateway.models import BalanceSample, Channel
from tests.factories import make_channel, make_model

pytestmark = pytest.mark.django_db(transaction=True)  # operator_alert mails on commit


@pytest.mark.parametrize("kind,path,currency", [("openrouter", "/api/v1", "USD"), ("deepseek", "/v1", "CNY"),
                                                ("newapi", "/v1", "USD")])  # fmt: skip
def test_each_kind_polled_exactly_in_micros(upstream, kind, path, currency):
    make_model("gpt-4o")
    channel = make_channel("up", provider="openai_chat", base_url=upstream.url + path, secret="k",
                           options={"balance_kind": kind})  # fmt: skip
    upstream.balance = "12.34"
    tasks.poll_upstream_balances.apply()
    [sample] = BalanceSample.objects.filter(channel=channel)
    assert (sample.balance_micros, sample.currency) == (12_340_000, currency)


def test_alert_once_per_crossing_then_drain_at_zero_and_trend_on_the_list(upstream, mailoutbox, admin_client):
    make_model("gpt-4o")
    channel = make_channel("up", provider="openai_chat", base_url=upstream.url + "/v1", secret="k", weight=5,
                           options={"balance_kind": "deepseek", "balance_alert_below": "5"})  # fmt: skip
    for amount in ("8.00", "4.00", "3.00", "6.00", "4.50"):  # below, still below, recovers, below again
        upstream.balance = amount
        tasks.poll_upstream_balances.apply()
    assert len([m for m in mailoutbox if "balance low on channel up" in m.subject]) == 2
    assert Channel.objects.get(pk=channel.pk).weight == 5

    mailoutbox.clear()
    upstream.balance = "0.00"
    tasks.poll_upstream_balances.apply()
    tasks.poll_upstream_balances.apply()
    assert Channel.objects.get(pk=channel.pk).weight == 0  # drained, still enabled: in-flight requests finish
    assert Channel.objects.get(pk=channel.pk).enabled
    assert len([m for m in mailoutbox if "drained" in m.subject]) == 1  # once, not every poll

    page = admin_client.get(reverse("admin:gateway_channel_changelist")).content.decode()
    assert "Upstream balance" in page and "0 CNY" in page and "█" in page


def test_retention_is_bounded(upstream, settings):
    settings.HARNMODEL_BALANCE_SAMPLES_KEPT = 3
    make_model("gpt-4o")
    channel = make_channel("up", provider="openai_chat", base_url=upstream.url + "/api/v1", secret="k",
                           options={"balance_kind": "openrouter"})  # fmt: skip
    for _ in range(5):
        tasks.poll_upstream_balances.apply()
    assert BalanceSample.objects.filter(channel=channel).count() == 3


def _form(channel: Channel, options: str) -> dict[str, str]:
    return {"name": channel.name, "provider": channel.provider, "base_url": channel.base_url, "enabled": "on",
            "priority": "0", "weight": "1", "options": options, "new_secret": "",
            "model_maps-TOTAL_FORMS": "0", "model_maps-INITIAL_FORMS": "0",
            "credentials-TOTAL_FORMS": "0", "credentials-INITIAL_FORMS": "0"}  # fmt: skip


@pytest.mark.parametrize("options,error", [('{"balance_kind": "nope"}', "balance_kind must be one of"),
                                           ('{"balance_alert_below": "x"}', "balance_alert_below"),
                                           ('{"balance_alert_below": "-1"}', "negative amount")])  # fmt: skip
def test_channel_form_refuses_bad_balance_options(admin_client, options, error):
    make_model("gpt-4o")
    channel = make_channel("up", provider="openai_chat", base_url="http://127.0.0.1:9/v1")
    url = reverse("admin:gateway_channel_change", args=[channel.pk])
    response = admin_client.post(url, _form(channel, options))
    assert response.status_code == 200 and error in response.content.decode()
    assert Channel.objects.get(pk=channel.pk).options == {}
    ok = admin_client.post(url, _form(channel, '{"balance_kind": "openrouter", "balance_alert_below": "2.5"}'))
    assert ok.status_code == 302
    assert Channel.objects.get(pk=channel.pk).options == {"balance_kind": "openrouter", "balance_alert_below": "2.5"}


def test_a_failing_upstream_is_counted_and_does_not_stop_the_others(upstream):
    make_model("gpt-4o")
    bad = make_channel("bad", provider="openai_chat", base_url="http://127.0.0.1:9/v1",
                       options={"balance_kind": "openrouter"})  # fmt: skip
    good = make_channel("good", provider="openai_chat", base_url=upstream.url + "/api/v1", secret="k",
                        options={"balance_kind": "openrouter"})  # fmt: skip
    result = tasks.poll_upstream_balances.apply().result
    assert result["polled"] == 2 and result["failed"] == 1
    assert not BalanceSample.objects.filter(channel=bad).exists()
    assert BalanceSample.objects.filter(channel=good).count() == 1
