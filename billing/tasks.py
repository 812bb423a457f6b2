"""Thin, idempotent Celery tasks; the logic is in services."""

from celery import shared_task

from . import services


@shared_task
def sweep_expired_holds() -> int:
    return services.holds_expire()
