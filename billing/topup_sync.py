"""Settle top-ups whose notification never came, and expire the ones nobody paid (Celery beat, every minute).

Notifications get lost (our outage, their retries running out). For every order still waiting after
a grace minute we ask the provider: paid → credited exactly as the webhook would (same event, same
ledger key, so a late notification is a duplicate); closed → expired. Past `expires_at` the trade is
closed at the provider first, so it can no longer be paid, then the order expires.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.utils import timezone

from .models import TopUpOrder
from .payments import PaymentError, PaymentEvent, UnknownProvider, get_provider
from .topups import topup_complete_from_event, topup_expire

logger = logging.getLogger(__name__)

GRACE = timedelta(seconds=60)  # the notification usually beats us; querying sooner is wasted calls


def topups_sync(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Query the provider about waiting orders, oldest first. Returns counts by outcome."""
    now = now or timezone.now()
    waiting = TopUpOrder.objects.filter(status=TopUpOrder.Status.CREATED, created_at__lte=now - GRACE)
    counts: Counter[str] = Counter()
    for order in waiting.order_by("created_at")[:limit]:
        try:
            counts[_sync(order, now)] += 1
        except PaymentError as exc:  # the provider is down or refused: the next run tries again
            logger.warning("top-up %s not synced: %s", order.pk, exc)
            counts["error"] += 1
    return dict(counts)


def _sync(order: TopUpOrder, now: datetime) -> str:
    try:
        payments = get_provider(order.provider)
    except UnknownProvider:
        return "skipped"
    if not payments.is_configured():
        return "skipped"
    event = payments.query(order=order)
    if event is not None:
        return topup_complete_from_event(event).value
    if order.expires_at is None or order.expires_at > now:
        return "pending"
    payments.close(order=order)
    # A payment that landed between our query and the close wins over the expiry.
    event = payments.query(order=order)
    if event is not None and event.kind == PaymentEvent.PAID:
        return topup_complete_from_event(event).value
    return topup_expire(order_id=order.pk).value
