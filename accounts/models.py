"""The customer: an Account, with Django users as its members."""

from django.conf import settings
from django.db import models


class Account(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True, help_text="Billing contact; also how operators find the account.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Account-wide rate limits (every key together); empty = none.
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute.")
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests in flight.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"
