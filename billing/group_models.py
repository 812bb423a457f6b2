"""Customer groups (分组倍率): which price multiplier an account pays and which models it may see.

A group's terms are versioned like prices: a GroupRule is never edited, a newer one is published with a
later effective_from, and every usage record names the rule it was charged under.
"""

from django.db import models

from .group_pricing import format_multiplier
from .models import ImmutableRowError

DEFAULT_GROUP_SLUG = "default"


class CustomerGroup(models.Model):
    """A set of accounts sold at one set of terms. Every account is in exactly one."""

    slug = models.SlugField(max_length=64, unique=True, help_text="Stable name, used by the catalog file.")
    name = models.CharField(max_length=200, blank=True, help_text="Shown to operators.")
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "customer group"

    def __str__(self) -> str:
        return self.name or self.slug


class GroupRule(models.Model):
    """One version of a group's terms. Never edited: publish a newer one (billing.groups.group_rule_publish)."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.PROTECT, related_name="rules")
    multiplier_ppm = models.BigIntegerField(default=1_000_000, help_text="Price multiplier in ppm: 1000000 = ×1.0.")
    # Public model ids the group may see and use; empty = every model.
    allowed_models = models.JSONField(default=list, blank=True)
    # Per model: {"multiplier_ppm": n} or a fixed price {"input_micros", "cached_input_micros", "output_micros",
    # optional "cache_write_micros"} per 1M tokens (hosted tools then keep the group's multiplier).
    overrides = models.JSONField(default=dict, blank=True)
    effective_from = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "-effective_from"]
        verbose_name = "group price rule"
        constraints = [
            models.UniqueConstraint(fields=["group", "effective_from"], name="uniq_group_rule_version"),
            models.CheckConstraint(condition=models.Q(multiplier_ppm__gte=0), name="group_rule_multiplier_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.group} ×{format_multiplier(self.multiplier_ppm)} from {self.effective_from:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        # Usage records point at the rule they were charged under: publish a newer one instead.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRowError("group rules are versioned: publish a new rule instead of editing one")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRowError("group rules are versioned: publish a new rule instead of deleting one")
