"""The ledger is append-only in the database itself (migration billing 0003), on SQLite and PostgreSQL."""

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from billing import services
from billing.models import LedgerEntry
from billing.reconcile import ledger_reconcile
from tests.factories import make_customer


def _refused(sql: str, params: list) -> str:
    """Run raw SQL that the triggers must refuse; return the database's message."""
    with pytest.raises(IntegrityError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(refused.value)


def _ledger() -> list[dict]:
    return list(LedgerEntry.objects.order_by("pk").values())


@pytest.mark.django_db
def test_raw_sql_update_of_a_ledger_row_is_refused():
    make_customer("alice@example.com", balance="100")
    entry = LedgerEntry.objects.get()
    before = _ledger()

    message = _refused("UPDATE billing_ledgerentry SET amount_micros = amount_micros * 2 WHERE id = %s", [entry.pk])

    assert "append-only" in message
    assert _ledger() == before


@pytest.mark.django_db
def test_raw_sql_delete_of_a_ledger_row_is_refused():
    make_customer("alice@example.com", balance="100")
    before = _ledger()

    message = _refused("DELETE FROM billing_ledgerentry WHERE id > %s", [0])

    assert "append-only" in message
    assert _ledger() == before


@pytest.mark.django_db
def test_queryset_update_and_delete_bypassing_the_model_are_refused():
    make_customer("alice@example.com", balance="100")
    before = _ledger()

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.update(note="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.all()._raw_delete(connection.alias)  # what .delete() would run, minus the model check

    assert _ledger() == before


@pytest.mark.django_db
def test_appending_still_works_and_the_books_balance():
    account, _ = make_customer("alice@example.com", balance="100")
    services.wallet_credit(account_id=account.pk, amount_micros=5, idempotency_key="more", note="more")
    services.wallet_adjust(account_id=account.pk, amount_micros=-3, reason="typo", actor="ops")

    assert LedgerEntry.objects.count() == 3
    assert ledger_reconcile() == []


@pytest.mark.django_db(transaction=True)
def test_flush_still_empties_the_ledger_and_the_guard_comes_back():
    # PostgreSQL flushes with TRUNCATE (row triggers do not fire); SQLite through billing's flush
    # command, which unlocks deletes inside the flush's own transaction only.
    make_customer("alice@example.com", balance="100")

    call_command("flush", interactive=False, verbosity=0)

    assert not LedgerEntry.objects.exists()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM billing_ledger_unlock")
            assert cursor.fetchone() == (0,)
    make_customer("bob@example.com", balance="1")
    assert "append-only" in _refused("DELETE FROM billing_ledgerentry", [])


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_writes_ledger_rows():
    # Its teardown flushes the database: the next test proves that worked despite the triggers.
    make_customer("alice@example.com", balance="100")
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_previous_teardown_flushed_the_ledger():
    assert not LedgerEntry.objects.exists()
