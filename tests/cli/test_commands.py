from datetime import UTC, datetime

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Account
from billing.models import LedgerEntry, Wallet
from billing.selectors import wallet_summary
from gateway.models import ApiKey
from gateway.selectors import api_key_find
from gateway.services import api_key_create
from tests.cli import run, run_json


def ledger_state(account: Account) -> tuple[int, int, list]:
    wallet = Wallet.objects.get(account=account)
    return wallet.balance_micros, wallet.held_micros, list(LedgerEntry.objects.filter(wallet=wallet).values())


# --- customer_create ---------------------------------------------------------------------------


def test_customer_create_funds_initial_balance_through_the_ledger(db):
    shown = run_json("customer_create", "Dave@Example.com", "--name", "Dave", "--balance", "100.5")

    account = Account.objects.get(email="dave@example.com")
    assert shown == {"account_id": account.pk, "email": "dave@example.com", "balance": "100.5"}
    assert account.name == "Dave"
    entry = LedgerEntry.objects.get(wallet__account=account)
    assert (entry.kind, entry.amount_micros, entry.idempotency_key, entry.note, entry.actor) == (
        "credit",
        100_500_000,
        f"initial:{account.pk}",
        "initial balance",
        "cli",
    )


def test_customer_create_without_balance_opens_an_empty_wallet(db):
    shown = run_json("customer_create", "erin@example.com")

    assert shown["balance"] == "0"
    assert Wallet.objects.get(account_id=shown["account_id"]).balance_micros == 0
    assert not LedgerEntry.objects.exists()


def test_customer_create_existing_email_fails(alice):
    with pytest.raises(CommandError, match="already exists"):
        run("customer_create", "ALICE@example.com", "--balance", "5")

    assert Account.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"), [(["not-an-email"], "not an email"), (["f@x.com", "--balance", "1e"], "--balance")]
)
def test_customer_create_invalid_input_fails_and_creates_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("customer_create", *args)

    assert not Account.objects.exists()


# --- key_create --------------------------------------------------------------------------------


def test_key_create_last_line_is_a_key_that_authenticates(alice, catalog):
    lines = run("key_create", "alice@example.com", "--name", "ci").splitlines()

    key = api_key_find(key_or_prefix=lines[-1])
    assert key is not None and key.account_id == alice.account.pk and key.name == "ci"
    assert f"prefix: {key.prefix}" in lines and "models: all" in lines and "expires: never" in lines
    assert all(lines[-1] not in line for line in lines[:-1])


def test_key_create_restricts_models_and_expiry(alice, catalog):
    lines = run("key_create", "alice@example.com", "--models", "gpt-4o, gpt-4o", "--expires", "2099-01-02T03:04:05")

    key = api_key_find(key_or_prefix=lines.splitlines()[-1])
    assert key.allowed_models == ["gpt-4o"]
    assert key.expires_at == datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert "expires: 2099-01-02T03:04:05+00:00" in lines


def test_key_create_accepts_a_date_and_an_offset(alice):
    day = run("key_create", "alice@example.com", "--expires", "2099-06-01").splitlines()[-1]
    offset = run("key_create", "alice@example.com", "--expires", "2099-06-01T08:00:00+08:00").splitlines()[-1]

    assert api_key_find(key_or_prefix=day).expires_at == datetime(2099, 6, 1, tzinfo=UTC)
    assert api_key_find(key_or_prefix=offset).expires_at == datetime(2099, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.com"], "no account"),
        (["alice@example.com", "--models", "gpt-4o,gpt-5"], "unknown model id: gpt-5"),
        (["alice@example.com", "--expires", "2001-01-01T00:00:00Z"], "in the past"),
        (["alice@example.com", "--expires", "next tuesday"], "not an ISO 8601"),
        (["alice@example.com", "--expires", "2099-02-30"], "not an ISO 8601"),
    ],
)
def test_key_create_invalid_input_fails_and_issues_nothing(alice, catalog, args, message):
    before = ApiKey.objects.count()

    with pytest.raises(CommandError, match=message):
        run("key_create", *args)

    assert ApiKey.objects.count() == before


# --- key_revoke --------------------------------------------------------------------------------


def test_key_revoke_by_prefix(alice):
    key = api_key_find(key_or_prefix=alice.key)

    shown = run_json("key_revoke", key.prefix)

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert shown == {"prefix": key.prefix, "revoked_at": key.revoked_at.isoformat()}


def test_key_revoke_by_full_key_twice_is_idempotent(alice):
    first = run_json("key_revoke", alice.key)
    second = run_json("key_revoke", alice.key)

    assert first == second
    assert alice.key not in str(first)


def test_key_revoke_ambiguous_prefix_fails_and_revokes_nothing(alice):
    other = api_key_create(account_id=alice.account.pk).key
    ApiKey.objects.filter(pk=other.pk).update(prefix="sk-Zzzzzz1")
    ApiKey.objects.exclude(pk=other.pk).update(prefix="sk-Zzzzzz2")

    with pytest.raises(CommandError, match="more than one key"):
        run("key_revoke", "sk-Zzzzzz")

    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [("sk-nothere", "no API key with prefix"), ("sk-", "at least"), ("sk-" + "x" * 48, "no API key matches")],
)
def test_key_revoke_unknown_key_fails(alice, text, message):
    with pytest.raises(CommandError, match=message) as raised:
        run("key_revoke", text)

    assert "x" * 20 not in str(raised.value)
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


# --- wallet_credit -----------------------------------------------------------------------------


def test_wallet_credit_adds_to_the_balance(alice, monkeypatch):
    monkeypatch.setenv("USER", "ops-jo")

    shown = run_json("wallet_credit", "alice@example.com", "50", "--note", "goodwill")

    entry = LedgerEntry.objects.get(pk=shown["entry_id"])
    assert shown == {"entry_id": entry.pk, "amount": "50", "balance": "150", "replayed": False}
    assert (entry.kind, entry.note, entry.actor) == ("credit", "goodwill", "cli:ops-jo")
    assert entry.idempotency_key.startswith("adjust:")


def test_wallet_credit_negative_amount_is_an_adjustment(alice):
    shown = run_json("wallet_credit", "alice@example.com", "-12.5", "--note", "double charge")

    assert (shown["amount"], shown["balance"]) == ("-12.5", "87.5")
    assert LedgerEntry.objects.get(pk=shown["entry_id"]).kind == "adjust"


def test_wallet_credit_negative_beyond_balance_fails_and_changes_nothing(alice):
    before = ledger_state(alice.account)

    with pytest.raises(CommandError, match="negative"):
        run("wallet_credit", "alice@example.com", "-100.000001", "--note", "too much")

    assert ledger_state(alice.account) == before


def test_wallet_credit_with_the_same_idempotency_key_credits_once(alice):
    first = run_json("wallet_credit", "alice@example.com", "5", "--note", "n", "--idempotency-key", "adjust:t1")
    second = run_json("wallet_credit", "alice@example.com", "5", "--note", "n", "--idempotency-key", "adjust:t1")

    assert first["entry_id"] == second["entry_id"] and second["replayed"] is True
    assert wallet_summary(account_id=alice.account.pk)["balance_micros"] == 105_000_000


def test_wallet_credit_key_reused_for_another_amount_fails(alice):
    run("wallet_credit", "alice@example.com", "5", "--note", "n", "--idempotency-key", "adjust:t2")
    before = ledger_state(alice.account)

    with pytest.raises(CommandError, match="already used"):
        run("wallet_credit", "alice@example.com", "7", "--note", "n", "--idempotency-key", "adjust:t2")

    assert ledger_state(alice.account) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alice@example.com", "5"], "--note"),
        (["alice@example.com", "0", "--note", "n"], "zero"),
        (["alice@example.com", "five", "--note", "n"], "not an amount"),
        (["nobody@example.com", "5", "--note", "n"], "no account"),
    ],
)
def test_wallet_credit_invalid_input_fails_and_changes_nothing(alice, args, message):
    before = ledger_state(alice.account)

    with pytest.raises(CommandError, match=message):
        run("wallet_credit", *args)

    assert ledger_state(alice.account) == before


# --- wallet_show -------------------------------------------------------------------------------


def test_wallet_show_balance_equals_ledger_sum_after_credits(alice, settings):
    settings.HARNMODEL_CURRENCY = "USD"
    run("wallet_credit", "alice@example.com", "0.000123", "--note", "a")
    run("wallet_credit", "alice@example.com", "-20", "--note", "b")

    shown = run_json("wallet_show", "alice@example.com")

    assert shown["email"] == "alice@example.com" and shown["currency"] == "USD"
    assert shown["balance"] == shown["ledger_sum"] == shown["available"] == "80.000123"
    assert shown["balance_micros"] == shown["ledger_sum_micros"] == 80_000_123
    assert (shown["held"], shown["open_holds"], shown["held_micros"]) == ("0", "0", 0)
    assert shown["consistent"] is True


def test_wallet_show_flags_a_balance_that_disagrees_with_the_ledger(alice):
    Wallet.objects.filter(account=alice.account).update(balance_micros=1, updated_at=timezone.now())

    shown = run_json("wallet_show", "alice@example.com")

    assert shown["balance_micros"] == 1 and shown["ledger_sum_micros"] == 100_000_000
    assert shown["consistent"] is False


def test_wallet_show_unknown_email_fails(db):
    with pytest.raises(CommandError, match="no account"):
        run("wallet_show", "nobody@example.com")
