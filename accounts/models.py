"""The customer: an Account, with Django users as its members."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.group_default import default_group_id


class Account(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True, help_text="Billing contact; also how operators find the account.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Account-wide rate limits (every key together); empty = none.
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute.")
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests in flight.")
    # The customer group (分组倍率): its price multiplier and the models it may see.
    group = models.ForeignKey(
        "billing.CustomerGroup", on_delete=models.PROTECT, related_name="accounts", default=default_group_id
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MEMBER = "member", _("Member")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    # What the keys this member created may spend together, in micros per calendar day / month; empty = no limit.
    budget_daily_micros = models.BigIntegerField(null=True, blank=True)
    budget_monthly_micros = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"


class Project(models.Model):
    """A team's corner of an account: every API key belongs to one, and its keys share its budgets
    (micros per calendar day / month, empty = no limit), enforced at admission (gateway/budgets.py).
    Each account has one default project, where keys go unless told otherwise."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)
    budget_daily_micros = models.BigIntegerField(null=True, blank=True)
    budget_monthly_micros = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="uniq_project_name"),
            models.UniqueConstraint(fields=["account"], condition=models.Q(is_default=True),
                                    name="one_default_project"),  # fmt: skip
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"


class Invitation(models.Model):
    """An owner asked someone to join the account. Only a SHA-256 of the emailed token is stored."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "-created_at"], name="invitation_account_time")]

    def __str__(self) -> str:
        return f"{self.email} → {self.account_id} ({self.role})"

    @property
    def is_pending(self) -> bool:
        from django.utils import timezone

        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class AuditEntry(models.Model):
    """One operator action in the console: who did what to which object, with the state before and after.

    Append-only: written by accounts.audit.audit_record, read-only in the admin. The object is named by
    type, id and repr (not a FK) so an entry outlives the row it talks about."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "audit entries"
        # Lives here because the console's roles need it; Account itself is not touched by this migration.
        permissions = [("adjust_balance", "Can adjust a customer's balance")]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class ManagementKey(models.Model):
    """A credential for the management API (/api/v1/), never for /v1: `mk-…`, only its HMAC stored.

    With an account it acts for that account (owner rights); without one it is a staff member's own
    operator key and acts with that user's console role, re-checked on every request."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="management_keys"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="management_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"


class WebhookEndpoint(models.Model):
    """An HTTPS URL that receives signed events (Standard Webhooks). With an account: that customer's events;
    without: an operator endpoint for platform events. The signing secret is stored encrypted (gateway.crypto)."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=1000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, blank=True, help_text="Event types; empty = all of its scope.")
    secret_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, and how its sending went (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # every attempt used up (or refused before sending)

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64, unique=True)  # the `webhook-id` header
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"
