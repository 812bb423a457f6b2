"""The customer sees *their* price: the portal's Models & pricing page and the management API's model list
show the account's customer-group price and only the models its group may use; anonymous visitors see
the list price."""

from django.urls import reverse

from accounts.models import Account
from billing.group_services import group_create, group_rule_publish
from tests.api.conftest import catalog, make_tenant  # noqa: F401  (catalog: a fixture)
from tests.factories import make_model


def _vip(account: Account, **terms) -> None:
    group = group_create(slug="vip")
    Account.objects.filter(pk=account.pk).update(group=group)
    group_rule_publish(group=group, multiplier_ppm=800_000, **terms)


def test_the_models_page_shows_a_member_their_group_price(client, alice):
    make_model("hidden-model")
    _vip(alice.account, allowed_models=["gpt-4o"])
    body = alice.client.get(reverse("portal:models")).content.decode()
    assert "¥2.00" in body and "¥1.00" in body and "¥8.00" in body  # 2.5 / 1.25 / 10 × 0.8
    assert "¥2.50" not in body and "hidden-model" not in body
    anonymous = client.get(reverse("portal:models")).content.decode()
    assert "¥2.50" in anonymous and "hidden-model" in anonymous


def test_the_api_lists_my_prices(catalog):  # noqa: F811
    tenant = make_tenant("a")
    _vip(tenant.account, overrides={"gpt-4o": {"input_micros": 1_000_000, "cached_input_micros": 500_000,
                                               "output_micros": 3_000_000, "cache_write_micros": None}})
    rows = tenant.client().get("/api/v1/models/").json()
    price = next(row["price"] for row in rows if row["id"] == "gpt-4o")
    assert (price["input_micros"], price["output_micros"], price["multiplier_ppm"]) == (1_000_000, 3_000_000, None)
    other = make_tenant("b")  # the default group: list prices, no multiplier
    price = next(row["price"] for row in other.client().get("/api/v1/models/").json() if row["id"] == "gpt-4o")
    assert (price["input_micros"], price["multiplier_ppm"]) == (2_500_000, None)
