"""Thin, idempotent Celery tasks; the logic is in services."""

import logging

from celery import shared_task

from . import alerts, autotopup_run, reconcile, refunds, retention, rollups, services, topup_sync
from .models import Wallet
from .signals import platform_event

logger = logging.getLogger(__name__)


@shared_task
def sweep_expired_holds() -> int:
    return services.holds_expire()


class LedgerDrift(RuntimeError):
    """Raised by the reconcile task after alerting, so the scheduled-jobs page shows the run as failed."""


@shared_task
def reconcile_ledger() -> dict[str, int]:
    """Clean books: {"wallets": n, "drift": 0}. Any drift: an ERROR per wallet, one operator alert (mail to
    ADMINS), then LedgerDrift, so the run is recorded as a failure (gateway/observe/taskruns.py) until fixed."""
    drifts = reconcile.ledger_reconcile()
    wallets = Wallet.objects.count()
    if not drifts:
        return {"wallets": wallets, "drift": 0}
    for drift in drifts:
        logger.error("ledger drift: %s", drift.as_dict())
    shown = drifts[:20]
    lines = [
        f"wallet {d.wallet_id} (account {d.account_id}): balance drift {d.balance_drift_micros} µ, "
        f"held drift {d.held_drift_micros} µ"
        for d in shown
    ]
    if len(drifts) > len(shown):
        lines.append(f"… and {len(drifts) - len(shown)} more; run `manage.py ledger_reconcile` for all of them.")
    platform_event.send(sender=None, event_type="reconcile.drift",
                        data={"wallets": wallets, "drifting": len(drifts), "drifts": [d.as_dict() for d in shown]})  # fmt: skip
    alerts.operator_alert(
        subject=f"Ledger drift in {len(drifts)} of {wallets} wallets",
        message="The books do not close: balance != sum of ledger, or held != sum of open holds.\n\n"
        + "\n".join(lines),
    )
    raise LedgerDrift(f"{len(drifts)} of {wallets} wallets drift from their ledger or open holds")


@shared_task
def rollup_usage() -> dict[str, int]:
    return rollups.usage_rollup_recent()


@shared_task
def retention_run() -> dict:
    """Hourly: the coming months' usage partitions, then raw rows past their retention (billing/retention.py)."""
    return retention.maintain()


@shared_task
def check_low_balances() -> dict[str, int]:
    return alerts.low_balance_check()


@shared_task
def sync_topups() -> dict[str, int]:
    """Lost notifications, expired orders, and refunds a provider has not answered yet."""
    return {**topup_sync.topups_sync(), **refunds.refunds_resume()}


@shared_task
def auto_topups() -> dict[str, int]:
    """Charge saved cards of accounts below their auto top-up threshold; retry and close attempts."""
    return autotopup_run.autotopups_run()
