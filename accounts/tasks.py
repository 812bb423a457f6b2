"""Celery tasks of the accounts app: webhook delivery. Thin: the work is in accounts.api.webhooks."""

from celery import shared_task


@shared_task(name="accounts.tasks.deliver_webhook", ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    from .api import webhooks

    webhooks.attempt(delivery_id)
