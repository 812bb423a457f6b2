import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing import redemption
from billing.models import LedgerEntry, RedemptionCode, Wallet
from billing.reconcile import ledger_reconcile
from billing.redemption import RedemptionError, code_redeem, redemption_codes_generate, redemption_codes_revoke
from tests.cli import run, run_json
from tests.factories import make_customer

CODE_FORMAT = re.compile(r"^HM-[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def generate(count: int = 1, amount: int = 50_000_000, **kw) -> list[str]:
    return redemption_codes_generate(
        count=count,
        amount_micros=amount,
        expires_at=kw.get("expires_at"),
        batch=kw.get("batch", "promo"),
        created_by="test",
    )


def balance(account) -> int:
    return Wallet.objects.get(account=account).balance_micros


# --- generate ------------------------------------------------------------------------------------


def test_generated_codes_are_returned_once_and_only_their_hashes_stored(db):
    codes = generate(5, batch="launch")

    assert len(set(codes)) == 5 and all(CODE_FORMAT.match(code) for code in codes)
    rows = list(RedemptionCode.objects.values())
    assert len(rows) == 5
    stored = repr(rows)
    assert not any(code in stored or code.replace("-", "") in stored for code in codes)
    assert {row["prefix"] for row in rows} == {code[:7] for code in codes}
    assert {row["code_hash"] for row in rows} == {redemption.code_hash(code) for code in codes}
    assert all(row["batch"] == "launch" and row["amount_micros"] == 50_000_000 for row in rows)


@pytest.mark.parametrize(
    ("count", "amount", "expires_in"),
    [(0, 1, None), (redemption.MAX_BATCH + 1, 1, None), (1, 0, None), (1, -5, None), (1, 1, timedelta(seconds=-1))],
)
def test_generate_refuses_bad_batches_and_stores_nothing(db, count, amount, expires_in):
    expires_at = timezone.now() + expires_in if expires_in else None
    with pytest.raises(ValueError):
        redemption_codes_generate(count=count, amount_micros=amount, expires_at=expires_at, batch="x", created_by="t")

    assert not RedemptionCode.objects.exists()


# --- redeem --------------------------------------------------------------------------------------


def test_redeem_credits_the_code_amount_once_as_a_redeem_entry(alice):
    (code,) = generate(amount=25_000_000, batch="spring")
    before = balance(alice.account)

    entry = code_redeem(account_id=alice.account.pk, code=code)

    row = RedemptionCode.objects.get()
    assert (entry.kind, entry.amount_micros, entry.idempotency_key) == ("redeem", 25_000_000, f"redeem:{row.pk}")
    assert code not in entry.note and row.prefix in entry.note and "spring" in entry.note
    assert balance(alice.account) == before + 25_000_000
    assert row.redeemed_by_id == alice.account.pk and row.redeemed_at is not None
    assert ledger_reconcile() == []


def test_redeem_accepts_what_people_type(alice, monkeypatch):
    monkeypatch.setattr(redemption, "_generate_code", lambda: "HM-0123-4567-89AB-CDEF")
    generate()

    code_redeem(account_id=alice.account.pk, code="  hm-o123 4567-89ab-cdef ")  # case, spaces, O for 0

    assert RedemptionCode.objects.get().redeemed_by_id == alice.account.pk
    assert redemption.code_hash("0I23456789ABCDEF") == redemption.code_hash("HM-0123-4567-89AB-CDEF")


def test_a_redeemed_code_is_refused_and_changes_nothing(alice, bob):
    (code,) = generate()
    code_redeem(account_id=alice.account.pk, code=code)
    ledger = list(LedgerEntry.objects.values())

    for account in (bob.account, alice.account):
        with pytest.raises(RedemptionError) as refused:
            code_redeem(account_id=account.pk, code=code)
        assert refused.value.reason == RedemptionError.REDEEMED

    assert list(LedgerEntry.objects.values()) == ledger
    assert balance(bob.account) == 0
    assert RedemptionCode.objects.get().redeemed_by_id == alice.account.pk


def test_an_expired_code_is_refused_and_changes_nothing(bob):
    (code,) = generate(expires_at=timezone.now() + timedelta(days=1))

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        with pytest.raises(RedemptionError) as refused:
            code_redeem(account_id=bob.account.pk, code=code)

    assert refused.value.reason == RedemptionError.EXPIRED
    assert balance(bob.account) == 0 and not LedgerEntry.objects.filter(kind="redeem").exists()
    assert RedemptionCode.objects.get().redeemed_at is None


@pytest.mark.parametrize("typed", ["HM-AAAA-BBBB-CCCC-DDDD", "", "HM-", "not a code", "HM-UUUU-UUUU-UUUU-UUUU"])
def test_unknown_or_malformed_codes_are_refused(bob, typed):
    generate()

    with pytest.raises(RedemptionError) as refused:
        code_redeem(account_id=bob.account.pk, code=typed)

    assert refused.value.reason == RedemptionError.UNKNOWN
    assert balance(bob.account) == 0


def test_revoke_expires_unused_codes_and_leaves_redeemed_ones(alice):
    used, unused = generate(2)
    code_redeem(account_id=alice.account.pk, code=used)

    assert redemption_codes_revoke(ids=list(RedemptionCode.objects.values_list("pk", flat=True))) == 1

    with pytest.raises(RedemptionError) as refused:
        code_redeem(account_id=alice.account.pk, code=unused)
    assert refused.value.reason == RedemptionError.EXPIRED


@pytest.mark.django_db(transaction=True)
def test_a_code_redeemed_by_many_threads_at_once_credits_once():
    # Four customers race for one code: on PostgreSQL the conditional UPDATE's row lock decides,
    # on SQLite the single writer does. Exactly one wins; the others are told it was redeemed.
    accounts = [make_customer(f"racer{i}@example.com", balance="1")[0] for i in range(4)]
    (code,) = generate(amount=10_000_000)
    start = threading.Barrier(len(accounts))
    results: dict[int, str] = {}

    def redeem(account) -> None:
        try:
            start.wait()
            code_redeem(account_id=account.pk, code=code)
            results[account.pk] = "credited"
        except RedemptionError as exc:
            results[account.pk] = exc.reason
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(account,)) for account in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results.values()) == ["code_redeemed"] * 3 + ["credited"]
    (winner,) = [pk for pk, outcome in results.items() if outcome == "credited"]
    assert LedgerEntry.objects.filter(kind="redeem").count() == 1
    assert RedemptionCode.objects.get().redeemed_by_id == winner
    assert sorted(w.balance_micros for w in Wallet.objects.all()) == [1_000_000] * 3 + [11_000_000]
    assert ledger_reconcile() == []


# --- the wallet_redeem command -------------------------------------------------------------------


def test_wallet_redeem_command_credits_and_prints_json(alice):
    (code,) = generate(amount=12_500_000)

    shown = run_json("wallet_redeem", "ALICE@example.com", code.lower())

    entry = LedgerEntry.objects.get(kind="redeem")
    assert shown == {"entry_id": entry.pk, "amount": "12.5", "balance": "112.5", "note": entry.note}
    assert entry.actor.startswith("cli:")


@pytest.mark.parametrize(("email", "message"), [("alice@example.com", "code_redeemed"), ("nobody@x.com", "no account")])
def test_wallet_redeem_command_fails_non_zero_and_credits_nothing(alice, email, message):
    (code,) = generate()
    code_redeem(account_id=alice.account.pk, code=code)
    before = balance(alice.account)

    with pytest.raises(CommandError, match=message) as failed:
        run("wallet_redeem", email, code)

    assert failed.value.returncode == 1
    assert balance(alice.account) == before


# --- admin ---------------------------------------------------------------------------------------


def _generate_in_admin(client, **fields) -> object:
    url = reverse("admin:billing_redemptioncode_generate")
    form = client.get(url).context["form"]
    data = {"count": "3", "amount": "20", "batch": "fair", "nonce": form.initial["nonce"], **fields}
    return client.post(url, data)


def test_admin_generates_a_batch_and_shows_its_codes_once_with_a_csv(admin_client):
    response = _generate_in_admin(admin_client)

    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 3 == RedemptionCode.objects.filter(batch="fair", amount_micros=20_000_000).count()
    page = response.content.decode()
    assert all(code in page for code in codes)
    assert "no-store" in response["Cache-Control"]
    csv_href = response.context["csv_href"]
    assert csv_href.startswith("data:text/csv") and all(code in csv_href for code in codes)
    assert RedemptionCode.objects.get(prefix=codes[0][:7]).created_by == "admin:admin"

    again = admin_client.post(reverse("admin:billing_redemptioncode_generate"), response.wsgi_request.POST)
    assert "already submitted" in again.content.decode() and "codes" not in again.context
    assert RedemptionCode.objects.count() == 3


def test_admin_generate_refuses_bad_amounts_and_past_expiry(admin_client):
    response = _generate_in_admin(admin_client, amount="0.0000001", expires_at_0="2001-01-01", expires_at_1="00:00")

    assert response.status_code == 200 and "codes" not in response.context
    assert set(response.context["form"].errors) == {"amount", "expires_at"}
    assert not RedemptionCode.objects.exists()


def test_admin_list_shows_state_but_never_a_code_or_its_hash(admin_client, alice):
    used, unused, expired = generate(3, expires_at=timezone.now() + timedelta(hours=1))
    code_redeem(account_id=alice.account.pk, code=used)
    RedemptionCode.objects.filter(code_hash=redemption.code_hash(expired)).update(expires_at=timezone.now())
    url = reverse("admin:billing_redemptioncode_changelist")

    page = admin_client.get(url).content.decode()
    details = [
        admin_client.get(reverse("admin:billing_redemptioncode_change", args=[row.pk])).content.decode()
        for row in RedemptionCode.objects.all()
    ]

    for shown in [page, *details]:
        for code in (used, unused, expired):
            assert code not in shown and code[7:] not in shown and redemption.code_hash(code) not in shown
    assert all(state in page for state in ("unused", "redeemed", "expired"))
    for state, code in (("unused", unused), ("redeemed", used), ("expired", expired)):
        filtered = admin_client.get(url, {"state": state}).context["cl"].result_list
        assert [row.code_hash for row in filtered] == [redemption.code_hash(code)]


def test_admin_generate_needs_the_add_permission(client, django_user_model):
    staff = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(staff)

    assert client.get(reverse("admin:billing_redemptioncode_generate")).status_code == 403
    assert client.post(reverse("admin:billing_redemptioncode_generate"), {"count": "1"}).status_code == 403
    assert not RedemptionCode.objects.exists()
