"""Scheduled webhook work: the `key.expiring` notices and the sweeper for deliveries whose task was lost.

Both are idempotent and bounded per run; the Celery tasks in accounts/tasks.py call them on the beat."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from gateway.models import ApiKey

from ..models import WebhookDelivery
from . import webhooks

EXPIRY_NOTICE_DAYS_DEFAULT = (7, 1)
SWEEP_GRACE = timedelta(minutes=5)  # a task this late is taken for lost: far beyond any broker's delay
SWEEP_BATCH = 200


def notice_days() -> tuple[int, ...]:
    return tuple(sorted(getattr(settings, "HARNMODEL_KEY_EXPIRY_NOTICE_DAYS", EXPIRY_NOTICE_DAYS_DEFAULT)))


def notify_expiring_keys(now: datetime | None = None) -> int:
    """`key.expiring` for each live key that expires within a notice threshold (7 and 1 days by default),
    once per key and threshold: the nearest threshold the key has crossed. A changed expiry is a new notice.
    Returns how many events were emitted (a key whose account has no endpoint counts too)."""
    now = now or timezone.now()
    days = notice_days()
    if not days:
        return 0
    keys = (ApiKey.objects.filter(revoked_at__isnull=True, expires_at__gt=now,
                                  expires_at__lte=now + timedelta(days=days[-1]), account__is_active=True)
            .order_by("expires_at", "pk"))  # fmt: skip
    sent = 0
    for key in keys.iterator(chunk_size=500):
        assert key.expires_at is not None
        left = key.expires_at - now
        threshold = next(d for d in days if timedelta(days=d) >= left)
        data = {"key": {"id": key.pk, "name": key.name, "prefix": key.prefix, "project": key.project_id},
                "expires_at": key.expires_at, "threshold_days": threshold}  # fmt: skip
        once = f"key.expiring:{key.pk}:{threshold}d:{key.expires_at.isoformat()}"
        webhooks.emit_safely(account_id=key.account_id, event_type="key.expiring", data=data, once=once)
        sent += 1
    return sent


def sweep_deliveries(now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Enqueue pending deliveries whose attempt is overdue by SWEEP_GRACE (a worker died, the broker lost
    the task, the on-commit hook never ran). Each is claimed by moving its due time to now, so the next
    sweep leaves it alone for a grace period; the attempt itself locks the row, so a late original task
    and the sweeper's never send it twice at once. Returns how many were enqueued."""
    now = now or timezone.now()
    cutoff = now - SWEEP_GRACE
    overdue = Q(next_attempt_at__lte=cutoff) | Q(next_attempt_at__isnull=True, created_at__lte=cutoff)
    pending = WebhookDelivery.objects.filter(overdue, status=WebhookDelivery.Status.PENDING)
    swept = 0
    for pk in list(pending.order_by("pk").values_list("pk", flat=True)[:batch]):
        if pending.filter(pk=pk).update(next_attempt_at=now):  # claimed: nobody swept it meanwhile
            webhooks.enqueue(pk)
            swept += 1
    return swept
