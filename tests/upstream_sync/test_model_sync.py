"""Upstream model sync against a real-HTTP fake upstream: diffs recorded, applied, ignored, unmapped."""

import pytest
from django.urls import reverse

from accounts.models import AuditEntry
from billing.selectors import price_current
from gateway import tasks
from gateway.models import CatalogModel, ChannelModel, UpstreamModelFinding
from tests.factories import make_channel, make_model

pytestmark = pytest.mark.django_db(transaction=True)  # operator_alert mails on commit
Finding = UpstreamModelFinding


def _findings(channel) -> dict[str, tuple[str, str]]:
    return {f.upstream_name: (f.kind, f.state) for f in Finding.objects.filter(channel=channel)}


@pytest.mark.parametrize("provider,path", [("openai_chat", "/v1"), ("anthropic", "/v1"), ("gemini", "/v1beta")])
def test_each_list_format_followed_across_pages_and_diffed(upstream, mailoutbox, provider, path):
    make_model("gpt-4o")
    channel = make_channel("up", provider=provider, base_url=upstream.url + path, secret="k",
                           models={"gpt-4o": ""})  # fmt: skip
    upstream.models = ["a-1", "b-2", "c-3", "d-4", "e-5"]  # three pages of two for Anthropic and Gemini

    tasks.sync_upstream_models.apply()

    assert _findings(channel) == {**{n: ("new", "open") for n in upstream.models}, "gpt-4o": ("vanished", "open")}
    [mail] = mailoutbox
    assert "up: new a-1" in mail.body and "vanished gpt-4o" in mail.body

    tasks.sync_upstream_models.apply()  # nothing changed: no second mail, same rows
    assert len(mailoutbox) == 1 and Finding.objects.count() == 6


def test_apply_to_existing_and_as_draft_ignore_and_unmap_vanished(upstream, mailoutbox, admin_client):
    make_model("gpt-4o")
    make_model("gpt-4.1")
    channel = make_channel("up", provider="openai_chat", base_url=upstream.url + "/v1", secret="k",
                           models={"gpt-4o": ""})  # fmt: skip
    upstream.models = ["gpt-4.1-2025", "brand-new", "noise"]
    tasks.sync_upstream_models.apply()
    changelist = reverse("admin:gateway_upstreammodelfinding_changelist")
    page = admin_client.get(changelist)
    assert page.status_code == 200 and "brand-new" in page.content.decode()

    ids = {f.upstream_name: f.pk for f in Finding.objects.all()}
    Finding.objects.filter(pk=ids["gpt-4.1-2025"]).update(target=CatalogModel.objects.get(public_id="gpt-4.1"))
    admin_client.post(changelist, {"action": "apply_selected", "_selected_action": [ids["gpt-4.1-2025"],
                                                                                    ids["brand-new"]]})  # fmt: skip
    admin_client.post(changelist, {"action": "ignore_selected", "_selected_action": [ids["noise"]]})
    admin_client.post(changelist, {"action": "unmap_selected", "_selected_action": [ids["gpt-4o"]]})

    maps = {(m.model.public_id, m.upstream_name) for m in ChannelModel.objects.filter(channel=channel)}
    assert maps == {("gpt-4.1", "gpt-4.1-2025"), ("brand-new", "")}
    draft = CatalogModel.objects.get(public_id="brand-new")
    assert draft.enabled is False  # a draft: never served, and no price published
    assert price_current(model_id="brand-new") is None
    assert _findings(channel)["noise"] == ("new", "ignored")
    assert _findings(channel)["gpt-4o"] == ("vanished", "unmapped")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"upstream_model_apply", "upstream_model_ignore", "upstream_model_unmap"} <= actions

    mailoutbox.clear()
    tasks.sync_upstream_models.apply()  # resolved rows vanish; the ignored one stays ignored, no new mail
    assert _findings(channel) == {"noise": ("new", "ignored")}
    assert mailoutbox == []


def test_refused_key_and_oversized_list_record_nothing(upstream, mailoutbox, monkeypatch):
    make_model("gpt-4o")
    refused = make_channel("refused", provider="openai_chat", base_url=upstream.url + "/v1", secret="wrong")
    upstream.models = [f"model-{i}" for i in range(50)]
    monkeypatch.setattr("gateway.upstream.http.MAX_BYTES", 1000)  # the cap, lowered so 50 names exceed it
    big = make_channel("big", provider="openai_chat", base_url=upstream.url + "/v1", secret="k")
    result = tasks.sync_upstream_models.apply().result
    assert result == {"channels": 2, "failed": 2, "changed": 0}
    assert not Finding.objects.filter(channel__in=[refused, big]).exists() and mailoutbox == []
