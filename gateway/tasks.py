"""Thin, idempotent Celery tasks for the gateway; the logic is in health.py."""

from celery import shared_task

from . import health


@shared_task(ignore_result=True)
def probe_channels() -> dict:
    """Every 60 s (CELERY_BEAT_SCHEDULE): probe channels, switch dead accounts off and recovered ones on."""
    summary = health.probe_channels()
    return {"probed": summary.probed, "disabled": summary.disabled, "enabled": summary.enabled}
