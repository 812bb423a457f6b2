"""How far retention has purged each kind of raw row (billing/retention.py). Imported by models.py."""

from django.db import models


class RetentionMark(models.Model):
    """Raw rows of `kind` created before `purged_before` are gone: the daily rollups of those days are
    final and are never recomputed from what is left (billing/rollups.py)."""

    USAGE = "usage"  # usage records and receipts

    kind = models.CharField(max_length=32, unique=True)
    purged_before = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def purged_before_of(cls, kind: str):
        """The horizon retention has purged `kind` up to (a datetime), or None while nothing was purged."""
        return cls.objects.filter(kind=kind).values_list("purged_before", flat=True).first()

    def __str__(self) -> str:
        return f"{self.kind} purged before {self.purged_before:%Y-%m-%d}"
