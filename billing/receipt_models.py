"""Signed receipts and disputes (issue 17): the keys that sign receipts, each billed answer's receipt
as it was sent, and a customer's dispute of one charge. Imported by models.py (Django's fixed place)."""

from django.db import models


class ReceiptKey(models.Model):
    """An Ed25519 key that signs receipts. Only the newest unretired key signs; every unretired key is
    published (the JWKS), so receipts signed before a rotation keep verifying. The private half is
    encrypted at rest (the gateway's secret cipher); billing only stores the ciphertext."""

    kid = models.CharField(max_length=64, unique=True)
    public_key = models.CharField(max_length=64, help_text="The raw 32-byte public key, base64url.")
    private_key_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True, help_text="Retired keys are no longer published.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.kid


class Receipt(models.Model):
    """The receipt a billed answer carried, kept so the portal can show it again and a dispute can cite it."""

    request_id = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="receipts")
    kid = models.CharField(max_length=64)
    jws = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"receipt {self.request_id}"


class Dispute(models.Model):
    """A customer's objection to one charge: resolved with a refund (a ledger credit keyed
    `dispute:<id>`) or rejected with a reason the customer reads."""

    class Status(models.TextChoices):
        OPEN = "open"
        REFUNDED = "refunded"
        REJECTED = "rejected"

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="disputes")
    request_id = models.CharField(max_length=64, unique=True, help_text="One dispute per charge.")
    amount_micros = models.BigIntegerField(help_text="The disputed charge, as the ledger has it.")
    reason = models.TextField(max_length=2000, help_text="The customer's words.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=500, blank=True, help_text="What the customer is told.")
    requested_by = models.CharField(max_length=150, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("resolve_dispute", "Can refund or reject disputed charges")]
        indexes = [models.Index(fields=["status", "created_at"], name="dispute_status_created")]
        constraints = [models.CheckConstraint(condition=models.Q(amount_micros__gt=0), name="dispute_amount_pos")]

    def __str__(self) -> str:
        return f"dispute {self.pk} {self.request_id} {self.status}"
