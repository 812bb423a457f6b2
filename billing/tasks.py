"""Thin, idempotent Celery tasks; the logic is in services."""

import logging

from celery import shared_task

from . import alerts, reconcile, refunds, rollups, services, topup_sync
from .models import Wallet

logger = logging.getLogger(__name__)


@shared_task
def sweep_expired_holds() -> int:
    return services.holds_expire()


@shared_task
def reconcile_ledger() -> dict[str, int]:
    drifts = reconcile.ledger_reconcile()
    for drift in drifts:
        logger.error("ledger drift: %s", drift.as_dict())
    return {"wallets": Wallet.objects.count(), "drift": len(drifts)}


@shared_task
def rollup_usage() -> dict[str, int]:
    return rollups.usage_rollup_recent()


@shared_task
def check_low_balances() -> dict[str, int]:
    return alerts.low_balance_check()


@shared_task
def sync_topups() -> dict[str, int]:
    """Lost notifications, expired orders, and refunds a provider has not answered yet."""
    return {**topup_sync.topups_sync(), **refunds.refunds_resume()}
