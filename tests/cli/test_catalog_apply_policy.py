"""The catalog file carries the field policy: per-call tool prices on a model, policy switches on a channel."""

import pytest

from billing.models import Price
from billing.selectors import price_current, price_snapshot
from gateway.console.catalog_apply import CatalogError, catalog_apply
from gateway.console.forms import ChannelAdminForm
from gateway.models import Channel

pytestmark = pytest.mark.django_db


def catalog(price: dict | None = None, options: dict | None = None) -> dict:
    return {
        "models": [{"id": "gpt-4o", "price": price or {"input": "2.5", "cached_input": "1.25", "output": "10"}}],
        "channels": [
            {"name": "openai", "provider": "openai_responses", "base_url": "https://api.example.com/v1",
             "options": options or {}, "models": ["gpt-4o"]},
        ],
    }  # fmt: skip


def test_tool_prices_and_switches_are_applied_and_idempotent():
    price = {"input": "2.5", "cached_input": "1.25", "output": "10", "tool_calls": {"web_search": "0.025"}}
    options = {"allow_fields": ["store"], "allow_tools": ["web_search"], "allow_url_hosts": ["10.0.0.0/8"]}
    catalog_apply(data=catalog(price, options))
    snapshot = price_snapshot(price_current(model_id="gpt-4o"))
    assert snapshot.tool_price("web_search") == 25_000 and snapshot.tool_price("file_search") is None
    assert Channel.objects.get(name="openai").options == options
    catalog_apply(data=catalog(price, options))
    assert Price.objects.filter(model_id="gpt-4o").count() == 1  # same price again: no new version
    catalog_apply(data=catalog({**price, "tool_calls": {"web_search": "0.03"}}, options))
    assert Price.objects.filter(model_id="gpt-4o").count() == 2


@pytest.mark.parametrize(
    ("price", "options", "complaint"),
    [
        (None, {"allow_fields": "background"}, "options.allow_fields must be a list"),
        (None, {"allow_fields": ["temperature"]}, "always forwarded"),
        (None, {"allow_tools": ["function"]}, "run on the client"),
        (None, {"allow_url_hosts": ["http://x/"]}, "allow_url_hosts"),
        ({"input": 1, "cached_input": 1, "output": 1, "tool_calls": {"web_search_preview": 1}}, None, "hosted tool kind"),
        ({"input": 1, "cached_input": 1, "output": 1, "tool_calls": {"web_search": "-1"}}, None, "tool_calls.web_search"),
    ],
)
def test_bad_policy_entries_are_refused_and_nothing_is_written(price, options, complaint):
    with pytest.raises(CatalogError, match=complaint):
        catalog_apply(data=catalog(price, options))
    assert not Channel.objects.exists() and not Price.objects.exists()


def form(**policy) -> ChannelAdminForm:
    data = {"name": "c", "provider": "openai_responses", "base_url": "https://api.example.com/v1", "priority": 0,
            "weight": 1, "enabled": "on", "options": '{"note": "kept"}', **policy}  # fmt: skip
    return ChannelAdminForm(data=data)


def test_the_admin_form_edits_the_switches_as_lists():
    edited = form(allow_fields="background, store", allow_tools="web_search\nmcp", allow_url_hosts="10.0.0.0/8")
    assert edited.is_valid(), edited.errors
    channel = edited.save()
    assert channel.options == {
        "note": "kept",
        "allow_fields": ["background", "store"],
        "allow_tools": ["web_search", "mcp"],
        "allow_url_hosts": ["10.0.0.0/8"],
    }
    again = ChannelAdminForm(instance=channel)
    assert again.initial["allow_tools"] == "web_search\nmcp"


def test_the_admin_form_refuses_bad_switches():
    bad = form(allow_fields="temperature", allow_tools="function", allow_url_hosts="http://x/")
    assert not bad.is_valid()
    assert set(bad.errors) >= {"allow_fields", "allow_tools", "allow_url_hosts"}
