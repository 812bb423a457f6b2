"""Thin, idempotent Celery tasks for the gateway; the logic is in health.py, upstream_models.py, balance_poll.py."""

from celery import shared_task

from gateway.observe import health
from gateway.upstream import balance_poll
from gateway.upstream import model_sync as upstream_models


@shared_task(ignore_result=True)
def probe_channels() -> dict:
    """Every 60 s (CELERY_BEAT_SCHEDULE): probe channels, switch dead accounts off and recovered ones on."""
    summary = health.probe_channels()
    return {"probed": summary.probed, "disabled": summary.disabled, "enabled": summary.enabled}


@shared_task(ignore_result=True)
def sync_upstream_models() -> dict:
    """Hourly: diff each channel's upstream model list against its model map, for the review page."""
    summary = upstream_models.sync_all()
    return {"channels": summary.channels, "failed": summary.failed, "changed": len(summary.changed)}


@shared_task(ignore_result=True)
def poll_upstream_balances() -> dict:
    """Every 10 min: sample upstream balances, alert below a channel's threshold, drain at zero."""
    summary = balance_poll.poll_all()
    return {"polled": summary.polled, "failed": summary.failed, "alerted": summary.alerted,
            "drained": summary.drained}  # fmt: skip
