"""seed_demo: the embedded demo's data, idempotent across restarts."""

import json
import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.demo import seed_demo
from accounts.models import Account, Membership
from billing import selectors as billing_selectors
from billing.models import LedgerEntry, Price, Wallet
from billing.money import parse_amount
from gateway.models import ApiKey, CatalogModel, Channel, ChannelModel
from gateway.selectors import api_key_find
from gateway.services import api_key_revoke


@pytest.fixture
def demo_env(db, settings, tmp_path, monkeypatch):
    """VAR_DIR in tmp_path, no password from the environment, and a fast hasher."""
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.delenv("HARNMODEL_DEMO_ADMIN_PASSWORD", raising=False)
    return tmp_path


def _counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (
            get_user_model(),
            Account,
            Membership,
            Wallet,
            LedgerEntry,
            Price,
            CatalogModel,
            Channel,
            ChannelModel,
            ApiKey,
        )
    }


def test_seed_twice_changes_nothing(demo_env):
    first = seed_demo()
    counts = _counts()
    second = seed_demo()

    assert _counts() == counts
    assert second["api_key"] == first["api_key"]
    assert second["created"] == []
    assert set(first["created"]) >= {
        "admin",
        "account",
        "credit",
        "model",
        "price",
        "channel",
        "channel_model",
        "api_key",
    }
    assert counts["Account"] == counts["ApiKey"] == counts["LedgerEntry"] == counts["Price"] == counts["Channel"] == 1


def test_key_authenticates_for_the_demo_customer(demo_env):
    result = seed_demo()
    key = api_key_find(key_or_prefix=result["api_key"])

    assert key is not None and key.revoked_at is None and key.expires_at is None
    assert key.account.email == "demo@harnmodel.local"
    key_file = demo_env / "demo_api_key"
    assert key_file.read_text().strip() == result["api_key"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_wallet_is_100_and_equals_ledger(demo_env):
    seed_demo()
    seed_demo()
    account = Account.objects.get(email="demo@harnmodel.local")
    summary = billing_selectors.wallet_summary(account_id=account.pk)

    assert summary["balance_micros"] == parse_amount("100")
    assert summary["ledger_sum_micros"] == summary["balance_micros"]
    assert LedgerEntry.objects.get().kind == LedgerEntry.Kind.CREDIT


def test_catalog_owner_and_operator(demo_env):
    result = seed_demo()

    price = billing_selectors.price_current(model_id="gpt-4o")
    assert (price.input_micros, price.cached_input_micros, price.output_micros) == (2_500_000, 1_250_000, 10_000_000)
    channel = Channel.objects.get(name="simulator")
    assert (channel.provider, channel.base_url) == ("simulator", "")
    assert channel.options == {"latency_ms": 20, "token_delay_ms": 15}
    assert ChannelModel.objects.get(channel=channel).model.public_id == "gpt-4o"
    assert Membership.objects.get(account__email="demo@harnmodel.local").role == Membership.Role.OWNER

    admin = get_user_model().objects.get(username="admin")
    password_file = demo_env / "demo_admin_password"
    assert result["admin_password_file"] == str(password_file)
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password_file.read_text().strip())
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600


def test_admin_password_from_environment(demo_env, monkeypatch):
    monkeypatch.setenv("HARNMODEL_DEMO_ADMIN_PASSWORD", "open-sesame-42")
    result = seed_demo()

    assert result["admin_password_file"] is None
    assert get_user_model().objects.get(username="admin").check_password("open-sesame-42")
    assert not (demo_env / "demo_admin_password").exists()


def test_revoked_or_lost_key_is_replaced(demo_env):
    first = seed_demo()
    api_key_revoke(key=api_key_find(key_or_prefix=first["api_key"]))
    second = seed_demo()
    assert second["api_key"] != first["api_key"]
    assert second["created"] == ["api_key"]

    (demo_env / "demo_api_key").unlink()
    third = seed_demo()
    assert third["api_key"] not in (first["api_key"], second["api_key"])
    assert api_key_find(key_or_prefix=third["api_key"]).revoked_at is None


def test_operator_price_survives_reseed(demo_env):
    from billing.services import price_publish

    seed_demo()
    price_publish(model_id="gpt-4o", input_micros=3_000_000, cached_input_micros=1_500_000, output_micros=12_000_000)
    seed_demo()
    assert billing_selectors.price_current(model_id="gpt-4o").input_micros == 3_000_000


def test_command_prints_json(demo_env):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    printed = json.loads(out.getvalue())

    assert {"admin_user", "admin_password_file", "api_key", "base_model", "customer"} <= printed.keys()
    assert printed["admin_user"] == "admin"
    assert printed["base_model"] == "gpt-4o"
    assert printed["customer"] == "demo@harnmodel.local"
    assert printed["api_key"] == (demo_env / "demo_api_key").read_text().strip()
