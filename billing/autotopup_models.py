"""Auto top-up: an account's standing order (threshold, amount, saved Stripe card) and its attempts.

Imported by billing.models, so Django sees these as billing's models. No card data is stored: only
Stripe's ids for the customer and the payment method, and the brand and last four digits to show.
"""

import uuid

from django.db import models


class AutoTopUp(models.Model):
    """One per account: charge `amount` to the saved card when the balance falls below `threshold`."""

    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, related_name="auto_topup")
    enabled = models.BooleanField(default=False)
    threshold_micros = models.BigIntegerField(default=0)
    amount_micros = models.BigIntegerField(default=0)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_saved_at = models.DateTimeField(null=True, blank=True)
    # Set when an attempt failed twice: no new attempts until the customer saves the settings again.
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "auto top-up"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold_micros__gte=0, amount_micros__gte=0), name="autotopup_amounts_nonneg"
            ),
        ]
        indexes = [models.Index(fields=["enabled"], name="autotopup_enabled")]

    def __str__(self) -> str:
        return f"auto top-up of account {self.account_id}"

    @property
    def has_card(self) -> bool:
        return bool(self.stripe_customer_id and self.stripe_payment_method_id)


class AutoTopUpAttempt(models.Model):
    """One crossing below the threshold: a charge, and at most one retry of it. Each try is a TopUpOrder
    (provider stripe, session id = the PaymentIntent), credited by its webhook like any top-up."""

    class Status(models.TextChoices):
        PROCESSING = "processing"  # the current try's order is open at Stripe
        RETRY_WAIT = "retry_wait"  # the first try failed; the retry is due at next_retry_at
        SUCCEEDED = "succeeded"  # its order was credited
        FAILED = "failed"  # both tries failed: the customer was mailed, auto top-up paused
        SKIPPED = "skipped"  # the retry was no longer wanted (balance back up, auto top-up off)

    IN_FLIGHT = (Status.PROCESSING, Status.RETRY_WAIT)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="auto_topup_attempts")
    order = models.ForeignKey("billing.TopUpOrder", on_delete=models.PROTECT, related_name="+")
    amount_micros = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROCESSING)
    tries = models.PositiveSmallIntegerField(default=1)
    balance_micros = models.BigIntegerField(help_text="The balance that triggered it.")
    threshold_micros = models.BigIntegerField()
    # Every try: [{"try", "order", "payment_intent", "code", "message", "at"}], for the console.
    history = models.JSONField(default=list, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "auto top-up attempt"
        constraints = [
            # Never two in flight for one account, whatever races: the database refuses the second.
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status__in=["processing", "retry_wait"]),
                name="autotopup_one_in_flight",
            ),
            models.CheckConstraint(condition=models.Q(amount_micros__gt=0), name="autotopup_attempt_amount_pos"),
        ]
        indexes = [models.Index(fields=["status", "next_retry_at"], name="autotopup_attempt_due")]

    def __str__(self) -> str:
        return f"auto top-up {self.pk} {self.amount_micros}µ {self.status}"
