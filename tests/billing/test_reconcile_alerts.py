"""The hourly reconcile task alerts an operator on any drift (mail to ADMINS through
alerts.operator_alert) and fails, so the scheduled-jobs page shows the run as failing."""

import pytest
from django.db import connection

from billing import tasks
from gateway.models import TaskRun

pytestmark = pytest.mark.django_db(transaction=True)  # operator_alert mails on commit


@pytest.fixture(autouse=True)
def _admins(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _drift(account, micros: int = 7) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_wallet SET balance_micros = balance_micros + %s WHERE account_id = %s", [micros, account.pk]
        )


def test_drift_mails_the_operators_and_the_run_is_recorded_failed(alice, bob, mailoutbox):
    _drift(alice.account)
    result = tasks.reconcile_ledger.apply()

    assert result.failed() and isinstance(result.result, tasks.LedgerDrift)
    [mail] = mailoutbox
    assert mail.to == ["ops@example.com"]
    assert "Ledger drift in 1 of 2 wallets" in mail.subject
    assert f"account {alice.account.pk}): balance drift 7 µ, held drift 0 µ" in mail.body
    assert f"account {bob.account.pk})" not in mail.body
    run = TaskRun.objects.get(task=tasks.reconcile_ledger.name)
    assert (run.last_state, run.failures, run.consecutive_failures) == ("failure", 1, 1)
    assert run.last_error.startswith("LedgerDrift: 1 of 2 wallets")


def test_clean_books_send_nothing_and_the_run_succeeds(alice, mailoutbox):
    _drift(alice.account)
    assert tasks.reconcile_ledger.apply().failed()
    _drift(alice.account, -7)  # fixed by hand

    result = tasks.reconcile_ledger.apply()

    assert result.successful() and result.result == {"wallets": 1, "drift": 0}
    assert len(mailoutbox) == 1  # only the failing run alerted
    run = TaskRun.objects.get(task=tasks.reconcile_ledger.name)
    assert (run.last_state, run.runs, run.failures, run.consecutive_failures) == ("success", 2, 1, 0)
