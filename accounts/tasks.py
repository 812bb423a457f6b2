"""Celery tasks of the accounts app: webhook delivery, its sweeper, key-expiry notices. Thin: the work is in
accounts.api.webhooks and accounts.api.webhook_jobs."""

from celery import shared_task


@shared_task(name="accounts.tasks.deliver_webhook", ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    from .api import webhooks

    webhooks.attempt(delivery_id)


@shared_task(name="accounts.tasks.sweep_webhook_deliveries")
def sweep_webhook_deliveries() -> dict[str, int]:
    from .api import webhook_jobs

    return {"enqueued": webhook_jobs.sweep_deliveries()}


@shared_task(name="accounts.tasks.notify_expiring_keys")
def notify_expiring_keys() -> dict[str, int]:
    from .api import webhook_jobs

    return {"keys": webhook_jobs.notify_expiring_keys()}
