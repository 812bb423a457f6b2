from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Membership
from billing import services as billing_services
from billing.models import Hold, LedgerEntry, Price, UsageRecord, Wallet
from billing.pricing import Usage
from billing.selectors import price_current, price_snapshot
from gateway.crypto import hash_api_key
from gateway.models import ApiKey, CatalogModel, Channel, ChannelCredential
from gateway.pool.store import secrets_of
from gateway.services import api_key_revoke
from tests.factories import make_channel, make_customer, make_model

CHANNEL_SECRET = "sk-upstream-SECRET-123456"


@dataclass
class World:
    model: CatalogModel
    channel: Channel
    account: Account
    key: ApiKey
    key_secret: str


def _spend(account: Account, key: ApiKey, channel: Channel, request_id: str) -> None:
    """One settled request (hold, charge, usage row) and one still open, through the billing services."""
    price = price_snapshot(price_current(model_id="gpt-4o"))
    for rid in (request_id, f"{request_id}-open"):
        billing_services.hold_reserve(
            account_id=account.pk, request_id=rid, input_tokens=1000, max_output_tokens=100, price=price, ttl_seconds=60
        )
    facts = billing_services.RequestFacts(
        account_id=account.pk, model_id="gpt-4o", api_key_id=key.pk, channel_id=channel.pk, latency_ms=420
    )
    usage = Usage(input_tokens=1000, cached_input_tokens=200, output_tokens=50)
    billing_services.hold_settle(request_id=request_id, usage=usage, price=price, facts=facts)


def _customer(email: str, channel: Channel) -> tuple[Account, ApiKey, str]:
    account, secret = make_customer(email, balance="100", models=["gpt-4o"])
    key = ApiKey.objects.get(account=account)
    _spend(account, key, channel, f"req-{email.split('@')[0]}")
    return account, key, secret


@pytest.fixture
def world(db, admin_user) -> World:
    model = make_model("gpt-4o", input_price="0.075")
    channel = make_channel(
        "upstream-main", provider="openai_chat", base_url="https://api.example.com/v1", secret=CHANNEL_SECRET
    )
    account, key, secret = _customer("alice@example.com", channel)
    Membership.objects.create(account=account, user=admin_user, role=Membership.Role.OWNER)
    return World(model, channel, account, key, secret)


def _url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _pages(world: World) -> dict[str, tuple[str, str]]:
    """Every changelist and change page, with a piece of data each must show."""
    ledger = LedgerEntry.objects.get(request_id="req-alice")
    return {
        "account list": (_url(Account, "changelist"), "¥99.99919"),
        "account": (_url(Account, "change", world.account.pk), "¥99.998115"),
        "account members": (_url(Account, "change", world.account.pk), "selected>admin</option>"),
        "model list": (_url(CatalogModel, "changelist"), "in ¥0.075 · cached ¥1.25 · out ¥10.00 / 1M"),
        "model": (_url(CatalogModel, "change", world.model.pk), "upstream-main"),
        "channel list": (_url(Channel, "changelist"), "…3456"),
        "channel": (_url(Channel, "change", world.channel.pk), "https://api.example.com/v1"),
        "key list": (_url(ApiKey, "changelist"), f"{world.key.prefix}…"),
        "key": (_url(ApiKey, "change", world.key.pk), world.key.prefix),
        "wallet list": (_url(Wallet, "changelist"), "¥99.99919"),
        "wallet": (_url(Wallet, "change", world.account.wallet.pk), "¥0.001075"),
        "price list": (_url(Price, "changelist"), "¥0.075"),
        "price": (_url(Price, "change", Price.objects.get().pk), "¥10.00"),
        "hold list": (_url(Hold, "changelist"), "req-alice-open"),
        "hold": (_url(Hold, "change", Hold.objects.get(request_id="req-alice").pk), "settled"),
        "ledger list": (_url(LedgerEntry, "changelist"), "charge:req-alice"),
        "ledger": (_url(LedgerEntry, "change", ledger.pk), "-¥0.00081"),
        "usage list": (_url(UsageRecord, "changelist"), "1000 / 200 / 50"),
        "usage": (_url(UsageRecord, "change", UsageRecord.objects.get().pk), "upstream-main"),
    }


def test_every_changelist_and_change_page_shows_its_data(admin_client, world):
    for label, (url, expected) in _pages(world).items():
        response = admin_client.get(url)
        assert response.status_code == 200, label
        assert expected in response.content.decode(), label


@pytest.mark.parametrize("model", [Account, CatalogModel, Channel, ApiKey, Price])
def test_add_pages_render(admin_client, world, model):
    assert admin_client.get(_url(model, "add")).status_code == 200


def test_no_secret_reaches_any_admin_page(admin_client, world):
    world.channel.refresh_from_db()
    stored = world.channel.credentials.get().secret_encrypted
    secrets = [CHANNEL_SECRET, stored, world.key_secret, world.key.secret_hash]
    urls = [url for url, _ in _pages(world).values()]
    urls += [
        _url(Channel, "changelist") + "?q=upstream",
        _url(ChannelCredential, "changelist"),
        _url(ChannelCredential, "change", world.channel.credentials.get().pk),
        _url(ApiKey, "changelist") + f"?q={world.key.prefix}",
        _url(ApiKey, "changelist") + "?q=alice",
        _url(UsageRecord, "changelist") + "?q=alice",
    ]
    for url in urls:
        html = admin_client.get(url).content.decode()
        for secret in secrets:
            assert secret not in html, url


def test_searching_by_hash_finds_nothing(admin_client, world):
    response = admin_client.get(_url(ApiKey, "changelist"), {"q": world.key.secret_hash})
    assert list(response.context["cl"].result_list) == []


def _no_inline_rows(prefix: str) -> dict[str, str]:
    """An inline formset that submits no rows leaves the existing ones untouched."""
    return {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}


def _channel_form(channel: Channel, **changes: str) -> dict[str, str]:
    data = {
        "name": channel.name,
        "provider": channel.provider,
        "base_url": channel.base_url,
        "enabled": "on",
        "priority": str(channel.priority),
        "weight": str(channel.weight),
        "options": "{}",
        "new_secret": "",
        **_no_inline_rows("model_maps"),
        **_no_inline_rows("credentials"),
    }
    return {**data, **changes}


def test_channel_saved_with_blank_secret_keeps_the_old_one(admin_client, world):
    before = list(ChannelCredential.objects.values_list("public_id", "secret_encrypted"))
    response = admin_client.post(_url(Channel, "change", world.channel.pk), _channel_form(world.channel, weight="3"))
    assert response.status_code == 302
    channel = Channel.objects.get(pk=world.channel.pk)
    assert channel.weight == 3
    assert list(ChannelCredential.objects.values_list("public_id", "secret_encrypted")) == before
    assert list(secrets_of(channel).values()) == [CHANNEL_SECRET]
    assert channel.model_maps.count() == 1


def test_pasted_secrets_join_the_pool_and_are_never_shown(admin_client, world):
    url = _url(Channel, "change", world.channel.pk)
    pasted = f"sk-rotated-abcdef-9999\n\n  sk-second-abcdef-8888  \n{CHANNEL_SECRET}\nsk-rotated-abcdef-9999\n"
    response = admin_client.post(url, _channel_form(world.channel, new_secret=pasted))
    assert response.status_code == 302
    channel = Channel.objects.get(pk=world.channel.pk)
    assert sorted(secrets_of(channel).values()) == sorted([CHANNEL_SECRET, "sk-rotated-abcdef-9999",
                                                           "sk-second-abcdef-8888"])
    assert channel.secret_hint == "3 keys, 3 enabled"
    assert sorted(c.secret_hint for c in channel.credentials.all()) == ["…3456", "…8888", "…9999"]
    assert all(c.public_id.startswith("cred_") and len(c.public_id) == 11 for c in channel.credentials.all())
    page = admin_client.get(url).content.decode()
    assert "sk-rotated-abcdef-9999" not in page and "…9999" in page and "Credentials (key pool)" in page


def test_a_rejected_channel_form_does_not_show_the_pasted_secrets_back(admin_client, world):
    url = _url(Channel, "change", world.channel.pk)
    response = admin_client.post(url, _channel_form(world.channel, base_url="", new_secret="sk-never-shown-7777"))
    assert response.status_code == 200 and "needs a base URL" in response.content.decode()
    assert "sk-never-shown-7777" not in response.content.decode()
    assert world.channel.credentials.count() == 1


def test_credentials_switched_off_and_on_from_the_list(admin_client, world):
    add = _channel_form(world.channel, new_secret="sk-second-abcdef-8888")
    assert admin_client.post(_url(Channel, "change", world.channel.pk), add).status_code == 302
    first, second = world.channel.credentials.order_by("pk")
    changelist = _url(ChannelCredential, "changelist")
    admin_client.post(changelist, {"action": "disable_selected", "_selected_action": [second.pk]})
    second.refresh_from_db()
    assert (second.enabled, second.disabled_reason) == (False, "operator: admin")
    page = admin_client.get(changelist).content.decode()
    assert "operator: admin" in page and second.public_id in page and "sk-second" not in page
    admin_client.post(changelist, {"action": "enable_selected", "_selected_action": [second.pk]})
    second.refresh_from_db()
    assert (second.enabled, second.disabled_reason, second.disabled_at) == (True, "", None)


def test_channel_of_an_http_provider_needs_a_base_url(admin_client, world):
    response = admin_client.post(_url(Channel, "change", world.channel.pk), _channel_form(world.channel, base_url=""))
    assert response.status_code == 200
    assert "needs a base URL" in response.content.decode()
    assert Channel.objects.get(pk=world.channel.pk).base_url == "https://api.example.com/v1"


def test_simulator_channel_is_added_without_base_url_or_secret(admin_client, world):
    form = _channel_form(Channel(name="sim2", provider="simulator"))
    assert admin_client.post(_url(Channel, "add"), form).status_code == 302
    channel = Channel.objects.get(name="sim2")
    assert (channel.base_url, channel.credentials.count(), channel.secret_hint) == ("", 0, "")


def test_channel_provider_must_be_a_known_adapter(admin_client, world):
    response = admin_client.post(_url(Channel, "add"), _channel_form(Channel(name="x", provider="carrier-pigeon")))
    assert "Select a valid choice" in response.content.decode()
    assert not Channel.objects.filter(name="x").exists()


def test_adding_a_key_shows_its_secret_once_and_stores_only_the_hash(admin_client, world):
    data = {
        "account": world.account.pk,
        "name": "laptop",
        "allowed_models": ["gpt-4o"],
        "expires_at_0": "",
        "expires_at_1": "",
    }
    response = admin_client.post(_url(ApiKey, "add"), data, follow=True)
    key = ApiKey.objects.get(name="laptop")
    shown = [str(m) for m in response.context["messages"] if "not be shown again" in str(m)]
    assert len(shown) == 1
    secret = next(word for word in shown[0].split() if word.startswith("sk-"))
    assert hash_api_key(secret) == key.secret_hash
    assert secret.startswith(key.prefix) and key.allowed_models == ["gpt-4o"]
    for url in (_url(ApiKey, "changelist"), _url(ApiKey, "change", key.pk)):
        assert secret not in admin_client.get(url).content.decode()


def test_key_edit_changes_only_name_models_and_expiry(admin_client, world):
    other, _ = make_customer("bob@example.com")
    api_key_revoke(key=world.key)
    data = {"account": other.pk, "prefix": "sk-hacked", "name": "renamed", "expires_at_0": "", "expires_at_1": ""}
    assert admin_client.post(_url(ApiKey, "change", world.key.pk), data).status_code == 302
    key = ApiKey.objects.get(pk=world.key.pk)
    assert (key.name, key.allowed_models, key.account_id) == ("renamed", [], world.account.pk)
    assert (key.prefix, key.secret_hash) == (world.key.prefix, world.key.secret_hash)
    assert key.revoked_at == world.key.revoked_at


def test_new_key_cannot_expire_in_the_past(admin_client, world):
    data = {"account": world.account.pk, "name": "stale", "expires_at_0": "2001-01-01", "expires_at_1": "00:00:00"}
    response = admin_client.post(_url(ApiKey, "add"), data)
    assert "Already in the past" in response.content.decode()
    assert not ApiKey.objects.filter(name="stale").exists()


def test_catalog_model_edit_keeps_its_public_id(admin_client, world):
    data = {
        "public_id": "renamed",
        "display_name": "GPT-4o",
        "description": "",
        "enabled": "on",
        "default_max_output_tokens": "8192",
        "context_window": "128000",
        "routing": "adaptive",
        **_no_inline_rows("channel_maps"),
    }
    assert admin_client.post(_url(CatalogModel, "change", world.model.pk), data).status_code == 302
    model = CatalogModel.objects.get(pk=world.model.pk)
    assert (model.public_id, model.default_max_output_tokens, model.routing) == ("gpt-4o", 8192, "adaptive")


def test_keys_are_revoked_by_action_not_deleted(admin_client, world):
    assert admin_client.post(_url(ApiKey, "delete", world.key.pk), {"post": "yes"}).status_code == 403
    data = {"action": "revoke_selected", "_selected_action": [world.key.pk]}
    assert admin_client.post(_url(ApiKey, "changelist"), data).status_code == 302
    assert ApiKey.objects.get(pk=world.key.pk).revoked_at is not None


def test_ledger_entries_cannot_be_added_changed_or_deleted(admin_client, world):
    entry = LedgerEntry.objects.get(request_id="req-alice")
    assert admin_client.get(_url(LedgerEntry, "add")).status_code == 403
    assert admin_client.post(_url(LedgerEntry, "add"), {"amount_micros": "5"}).status_code == 403
    changed = admin_client.post(_url(LedgerEntry, "change", entry.pk), {"note": "edited", "amount_micros": "0"})
    assert changed.status_code == 403
    assert admin_client.post(_url(LedgerEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    admin_client.post(_url(LedgerEntry, "changelist"), bulk)
    kept = LedgerEntry.objects.get(pk=entry.pk)
    assert (kept.note, kept.amount_micros) == (entry.note, entry.amount_micros)


def test_wallets_holds_and_usage_are_read_only(admin_client, world):
    wallet = world.account.wallet
    assert admin_client.get(_url(Wallet, "add")).status_code == 403
    assert admin_client.post(_url(Wallet, "change", wallet.pk), {"balance_micros": "999"}).status_code == 403
    assert admin_client.post(_url(Wallet, "delete", wallet.pk), {"post": "yes"}).status_code == 403
    hold = Hold.objects.get(request_id="req-alice-open")
    assert admin_client.post(_url(Hold, "change", hold.pk), {"status": "released"}).status_code == 403
    usage = UsageRecord.objects.get()
    assert admin_client.post(_url(UsageRecord, "delete", usage.pk), {"post": "yes"}).status_code == 403
    assert Wallet.objects.get(pk=wallet.pk).balance_micros == wallet.balance_micros
    assert Hold.objects.get(pk=hold.pk).status == Hold.Status.OPEN


def test_price_rows_cannot_be_changed_or_deleted(admin_client, world):
    price = Price.objects.get()
    data = {"model_id": "gpt-4o", "input_price": "0", "cached_input_price": "0", "output_price": "0"}
    assert admin_client.post(_url(Price, "change", price.pk), data).status_code == 403
    assert admin_client.post(_url(Price, "delete", price.pk), {"post": "yes"}).status_code == 403
    assert Price.objects.get(pk=price.pk).input_micros == 75_000


def _price_form(**prices: str) -> dict[str, str]:
    when = timezone.localtime()
    return {
        "model_id": "gpt-4o",
        "effective_from_0": f"{when:%Y-%m-%d}",
        "effective_from_1": f"{when:%H:%M:%S}",
        **prices,
    }


def test_adding_a_price_publishes_a_new_version_in_micros(admin_client, world):
    data = _price_form(input_price="0.15", cached_input_price="0.075", output_price="0.6")
    assert admin_client.post(_url(Price, "add"), data).status_code == 302
    latest = Price.objects.filter(model_id="gpt-4o").order_by("-effective_from").first()
    assert (latest.input_micros, latest.cached_input_micros, latest.output_micros) == (150_000, 75_000, 600_000)


def test_adding_the_current_price_again_publishes_nothing(admin_client, world):
    data = _price_form(input_price="0.075", cached_input_price="1.25", output_price="10")
    response = admin_client.post(_url(Price, "add"), data, follow=True)
    assert Price.objects.count() == 1
    assert any("no new version" in str(m) for m in response.context["messages"])


def test_price_with_too_many_decimals_is_refused(admin_client, world):
    data = _price_form(input_price="0.0000001", cached_input_price="1", output_price="1")
    response = admin_client.post(_url(Price, "add"), data)
    assert response.status_code == 200 and "more than six decimal places" in response.content.decode()
    assert Price.objects.count() == 1


def test_adding_an_account_opens_its_wallet(admin_client, db):
    data = {
        "name": "Dave",
        "email": "Dave@Example.com",
        "is_active": "on",
        **_no_inline_rows("memberships"),
    }
    assert admin_client.post(_url(Account, "add"), data).status_code == 302
    account = Account.objects.get(email="dave@example.com")
    assert Wallet.objects.get(account=account).balance_micros == 0


@pytest.mark.parametrize("model", [Account, Channel, ApiKey, Wallet, Hold, LedgerEntry, UsageRecord])
def test_changelists_do_not_query_per_row(admin_client, world, model):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(_url(model, "changelist")).status_code == 200
        return len(queries)

    few = count()
    for n in range(3):
        channel = make_channel(f"extra-{n}", secret=f"sk-extra-{n}-secret")
        _customer(f"user{n}@example.com", channel)
    assert count() == few


def test_drop_tools_is_edited_as_a_list_and_checked(admin_client, world):
    url = _url(Channel, "change", world.channel.pk)
    response = admin_client.post(url, _channel_form(world.channel, drop_tools="web_search, file_search"))
    assert response.status_code == 302
    assert Channel.objects.get(pk=world.channel.pk).options["drop_tools"] == ["web_search", "file_search"]
    assert "web_search\nfile_search" in admin_client.get(url).content.decode()

    refused = admin_client.post(url, _channel_form(world.channel, drop_tools="function"))
    assert refused.status_code == 200 and "run on the client" in refused.content.decode()
    assert Channel.objects.get(pk=world.channel.pk).options["drop_tools"] == ["web_search", "file_search"]

def test_a_key_switched_off_on_the_channel_page_says_who_and_caps_are_set_there(admin_client, world):
    cred = world.channel.credentials.get()
    rows = {
        "credentials-TOTAL_FORMS": "1", "credentials-INITIAL_FORMS": "1",
        "credentials-0-id": str(cred.pk), "credentials-0-channel": str(world.channel.pk),
        "credentials-0-weight": "4", "credentials-0-rpm_limit": "60", "credentials-0-tpm_limit": "",
    }  # fmt: skip  ("enabled" left out: unticked)
    url = _url(Channel, "change", world.channel.pk)
    response = admin_client.post(url, {**_channel_form(world.channel), **rows})
    assert response.status_code == 302, response.content.decode()[:3000]
    cred.refresh_from_db()
    assert (cred.enabled, cred.disabled_reason, cred.weight, cred.rpm_limit) == (False, "operator: admin", 4, 60)
    assert cred.disabled_at is not None
    rows["credentials-0-enabled"] = "on"
    assert admin_client.post(url, {**_channel_form(world.channel), **rows}).status_code == 302
    cred.refresh_from_db()
    assert (cred.enabled, cred.disabled_reason, cred.disabled_at) == (True, "", None)
