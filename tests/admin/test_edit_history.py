"""Price and model-map edits through the real admin forms are audited (who, when, before → after) and
shown on the object's History page; a save that changes nothing writes no entry."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from billing.models import Price
from gateway.models import CatalogModel, Channel, ChannelModel
from tests.factories import make_channel, make_model


class _FormFields(HTMLParser):
    """The values a browser would submit from the page's main form (not the inline templates)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and "__prefix__" not in name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "file"):
                self.data[name] = a.get("value") or ""
        elif tag == "select" and name and "__prefix__" not in name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and name and "__prefix__" not in name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data.lstrip("\n") if not self.data[self._textarea] else data


def form_data(client, url: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(client.get(url).content.decode())
    parser.data.pop("csrfmiddlewaretoken", None)
    return parser.data


@pytest.fixture
def sim(db):
    make_model("gpt-4o")
    make_model("gpt-4o-mini", input_price="0.15", cached_price="0.075", output_price="0.6")
    return make_channel("sim", models={"gpt-4o": ""}, options={"latency_ms": 0})


def _change(channel: Channel) -> str:
    return reverse("admin:gateway_channel_change", args=[channel.pk])


def test_a_channel_map_edit_is_audited_with_before_and_after(admin_client, admin_user, sim):
    data = form_data(admin_client, _change(sim))
    mini = CatalogModel.objects.get(public_id="gpt-4o-mini")
    data.update({
        "weight": "3",
        "model_maps-0-upstream_name": "gpt-4o-2024-08-06",
        "model_maps-TOTAL_FORMS": "2",
        "model_maps-1-channel": str(sim.pk), "model_maps-1-model": str(mini.pk), "model_maps-1-upstream_name": "",
    })  # fmt: skip
    response = admin_client.post(_change(sim), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ChannelModel.objects.filter(channel=sim).count() == 2
    entry = AuditEntry.objects.get(action="channel_change")
    assert entry.actor == admin_user
    assert (entry.object_type, entry.object_id) == ("gateway.channel", str(sim.pk))
    assert entry.before == {"weight": 1, "model_map": {"gpt-4o": "gpt-4o"}}
    assert entry.after == {"weight": 3, "model_map": {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini"}}


def test_removing_a_mapping_is_audited(admin_client, sim):
    data = form_data(admin_client, _change(sim))
    data["model_maps-0-DELETE"] = "on"
    assert admin_client.post(_change(sim), data).status_code == 302
    entry = AuditEntry.objects.get(action="channel_change")
    assert (entry.before, entry.after) == ({"model_map": {"gpt-4o": "gpt-4o"}}, {"model_map": {}})


def test_an_unchanged_save_writes_no_entry(admin_client, sim):
    data = form_data(admin_client, _change(sim))
    assert admin_client.post(_change(sim), data).status_code == 302
    assert not AuditEntry.objects.exists()


def test_a_pasted_secret_is_audited_without_its_value(admin_client, sim):
    data = form_data(admin_client, _change(sim))
    data["new_secret"] = "sk-new-upstream-SECRET-9876"
    assert admin_client.post(_change(sim), data).status_code == 302
    entry = AuditEntry.objects.get(action="channel_change")
    cred = sim.credentials.get()
    assert entry.before == {"credentials": {}}
    assert entry.after == {"credentials": {cred.public_id: "…9876 weight 1 on"}}
    assert "SECRET" not in str(entry.before) + str(entry.after)


def test_the_channel_history_page_shows_the_diff(admin_client, sim):
    data = form_data(admin_client, _change(sim))
    data["model_maps-0-upstream_name"] = "gpt-4o-2024-08-06"
    admin_client.post(_change(sim), data)
    admin_client.post(
        reverse("admin:gateway_channel_changelist"), {"action": "disable_selected", "_selected_action": [sim.pk]}
    )
    html = admin_client.get(reverse("admin:gateway_channel_history", args=[sim.pk])).content.decode()
    assert "Changes by operators" in html
    assert "<code>model_map.gpt-4o</code>" in html
    assert "<del>gpt-4o</del>" in html and "<ins>gpt-4o-2024-08-06</ins>" in html
    assert "channel_disable" in html and "<ins>operator: admin</ins>" in html
    assert html.index("channel_disable") < html.index("channel_change")  # newest first


def test_mapping_a_channel_from_the_model_page_is_audited_on_the_channel(admin_client, admin_user, sim):
    mini = CatalogModel.objects.get(public_id="gpt-4o-mini")
    url = reverse("admin:gateway_catalogmodel_change", args=[mini.pk])
    data = form_data(admin_client, url)
    data.update({
        "display_name": "GPT-4o mini",
        "channel_maps-TOTAL_FORMS": "1",
        "channel_maps-0-model": str(mini.pk), "channel_maps-0-channel": str(sim.pk),
        "channel_maps-0-upstream_name": "mini-upstream",
    })  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    model_entry = AuditEntry.objects.get(action="model_change")
    assert (model_entry.before, model_entry.after) == ({"display_name": ""}, {"display_name": "GPT-4o mini"})
    map_entry = AuditEntry.objects.get(action="channel_model_map")
    assert map_entry.object_id == str(sim.pk) and map_entry.actor == admin_user
    assert map_entry.before == {"model_map": {"gpt-4o": "gpt-4o"}}
    assert map_entry.after == {"model_map": {"gpt-4o": "gpt-4o", "gpt-4o-mini": "mini-upstream"}}
    # Saved again unchanged: nothing new.
    admin_client.post(url, form_data(admin_client, url))
    assert AuditEntry.objects.count() == 2


def _publish(client, input_price: str, *, seconds_ago: int = 0) -> None:
    now = timezone.localtime() - timezone.timedelta(seconds=seconds_ago)
    response = client.post(
        reverse("admin:billing_price_add"),
        {
            "model_id": "gpt-4o",
            "input_price": input_price,
            "cached_input_price": "1.25",
            "output_price": "10",
            "effective_from_0": now.strftime("%Y-%m-%d"),
            "effective_from_1": now.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def test_publishing_a_price_is_audited_with_the_price_it_replaces(admin_client, admin_user, sim):
    old = Price.objects.get(model_id="gpt-4o")
    _publish(admin_client, "3")
    new = Price.objects.filter(model_id="gpt-4o").exclude(pk=old.pk).get()
    entry = AuditEntry.objects.get(action="price_publish")
    assert entry.actor == admin_user and (entry.object_type, entry.object_id) == ("billing.price", str(new.pk))
    assert entry.before["price_id"] == old.pk and entry.before["input_micros"] == 2_500_000
    assert entry.after["price_id"] == new.pk and entry.after["input_micros"] == 3_000_000
    assert entry.after["output_micros"] == entry.before["output_micros"] == 10_000_000
    _publish(admin_client, "3", seconds_ago=5)  # the same price again: no version, no entry
    assert Price.objects.filter(model_id="gpt-4o").count() == 2
    assert AuditEntry.objects.filter(action="price_publish").count() == 1


def test_the_price_and_model_history_pages_show_versions_and_diffs(admin_client, sim):
    old = Price.objects.get(model_id="gpt-4o")
    _publish(admin_client, "3")
    new = Price.objects.filter(model_id="gpt-4o").exclude(pk=old.pk).get()
    model = CatalogModel.objects.get(public_id="gpt-4o")
    for url in (
        reverse("admin:billing_price_history", args=[old.pk]),
        reverse("admin:gateway_catalogmodel_history", args=[model.pk]),
    ):
        html = admin_client.get(url).content.decode()
        assert "Price versions of gpt-4o" in html
        assert "¥3.00" in html and "¥2.50" in html and "(current)" in html
        assert "(not from the console)" in html  # the seeded first version
        assert "<code>input_micros</code>" in html and "<del>2500000</del>" in html and "<ins>3000000</ins>" in html
        assert f"<del>{old.pk}</del>" in html and f"<ins>{new.pk}</ins>" in html


def test_the_diff_names_each_changed_leaf():
    from billing.history import Change, diff

    before = {"weight": 1, "model_map": {"gpt-4o": "gpt-4o", "old": "old-up"}, "options": {}}
    after = {"weight": 1, "model_map": {"gpt-4o": "gpt-4o-2024"}, "options": {"latency_ms": 0}, "secret": "replaced"}
    assert diff(before, after) == [
        Change("model_map.gpt-4o", "gpt-4o", "gpt-4o-2024"),
        Change("model_map.old", "old-up", None),
        Change("options.latency_ms", None, "0"),
        Change("secret", None, "replaced"),
    ]
    assert diff({"a": ""}, {"a": "x"}) == [Change("a", '""', "x")]
    assert diff({}, {}) == []
