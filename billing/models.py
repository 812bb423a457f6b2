"""Money. Amounts are integer micros (millionths of the platform currency), never floats."""

import uuid

from django.db import models


class Wallet(models.Model):
    """An account's prepaid balance. balance == sum(ledger); held == sum(open holds)."""

    account = models.OneToOneField("accounts.Account", on_delete=models.PROTECT, related_name="wallet")
    balance_micros = models.BigIntegerField(default=0)
    held_micros = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    low_balance_threshold_micros = models.BigIntegerField(
        null=True, blank=True, help_text="Alert below this balance; empty = HARNMODEL_LOW_BALANCE_DEFAULT."
    )
    low_balance_alerted_at = models.DateTimeField(null=True, blank=True, help_text="Set while below the threshold.")

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(held_micros__gte=0), name="wallet_held_nonneg")]

    def __str__(self) -> str:
        return f"wallet of account {self.account_id}"

    @property
    def available_micros(self) -> int:
        return self.balance_micros - self.held_micros


class Price(models.Model):
    """A price version for a public model ID, per one million tokens. Never edited: add a newer one."""

    model_id = models.CharField(max_length=128, db_index=True)
    input_micros = models.BigIntegerField(help_text="Per 1M input tokens.")
    cached_input_micros = models.BigIntegerField(help_text="Per 1M cached input tokens.")
    output_micros = models.BigIntegerField(help_text="Per 1M output tokens (reasoning included).")
    # Prompt-cache writes (Anthropic bills them at 1.25× input, 2× for the 1 h cache); empty: the input price.
    cache_write_micros = models.BigIntegerField(
        null=True, blank=True, help_text="Per 1M cache-write input tokens; empty means the input price."
    )
    # Hosted tools (web_search, file_search, …) are paid per call, not in tokens: {kind: micros per call}.
    # A kind not listed may not be used with this model (gateway/relay/field_policy.py).
    tool_call_micros = models.JSONField(default=dict, blank=True, help_text="Per hosted-tool call, by kind.")
    effective_from = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_id", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["model_id", "effective_from"], name="uniq_price_version"),
            models.CheckConstraint(
                condition=models.Q(input_micros__gte=0, cached_input_micros__gte=0, output_micros__gte=0)
                & (models.Q(cache_write_micros__isnull=True) | models.Q(cache_write_micros__gte=0)),
                name="price_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} from {self.effective_from:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        # Usage records point at the version they were charged at: publish a newer one instead
        # (services.price_publish). The admin is add-only too.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRowError("prices are versioned: publish a new price instead of editing one")
        super().save(*args, **kwargs)


class Hold(models.Model):
    """Funds reserved for one request until it settles. Not money moved: the ledger is."""

    class Status(models.TextChoices):
        OPEN = "open"
        SETTLED = "settled"
        RELEASED = "released"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    request_id = models.CharField(max_length=64, unique=True)
    amount_micros = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # The key whose request it is, written with the hold (billing/holds): its open holds count against its caps.
    api_key = models.ForeignKey("gateway.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "expires_at"], name="hold_open_expiry")]
        constraints = [models.CheckConstraint(condition=models.Q(amount_micros__gte=0), name="hold_amount_nonneg")]

    def __str__(self) -> str:
        return f"hold {self.request_id} {self.amount_micros}µ {self.status}"


class ImmutableRowError(Exception):
    """Raised when code tries to edit or delete a ledger row, or edit a price version."""


class LedgerEntry(models.Model):
    """Append-only: every balance change is one row; mistakes are fixed with a new row."""

    class Kind(models.TextChoices):
        CHARGE = "charge"
        CREDIT = "credit"
        TOPUP = "topup"
        REDEEM = "redeem"
        ADJUST = "adjust"
        REFUND = "refund"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_micros = models.BigIntegerField(help_text="Signed: charges are negative.")
    balance_after_micros = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=128, unique=True)
    request_id = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=500, blank=True, help_text="Internal: staff only, never shown to the customer.")
    # What the customer reads in the portal; empty: a neutral text for the kind ("Balance adjustment").
    description = models.CharField(max_length=200, blank=True, default="", db_default="")
    actor = models.CharField(max_length=150, blank=True, help_text="Operator or system that wrote it.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_micros}µ ({self.idempotency_key})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRowError("ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRowError("ledger entries are append-only")


class UsageRecord(models.Model):
    """One row per request that reached admission: what it used, cost and how it went."""

    request_id = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="usage_records")
    api_key = models.ForeignKey("gateway.ApiKey", null=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.ForeignKey("gateway.Channel", null=True, on_delete=models.SET_NULL, related_name="+")
    price = models.ForeignKey(Price, null=True, on_delete=models.PROTECT, related_name="+")
    # The customer group rule that multiplied `price` (billing/group_pricing.py); null: charged the base price.
    group_rule = models.ForeignKey("billing.GroupRule", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    model_id = models.CharField(max_length=128)
    upstream_model = models.CharField(max_length=200, blank=True)
    # The client protocol it came in by (responses, chat, messages, gemini); db_default for the raw inserts.
    door = models.CharField(max_length=16, default="responses", db_default="responses")
    stream = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField(help_text="HTTP status the client got.")
    error_code = models.CharField(max_length=64, blank=True)
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    # Written to the upstream's prompt cache (part of input_tokens), billed at the cache-write price.
    cache_write_tokens = models.BigIntegerField(default=0, db_default=0)
    output_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    tool_calls = models.JSONField(default=dict, blank=True, help_text="Hosted-tool calls charged, by kind.")
    cost_micros = models.BigIntegerField(default=0)
    # What the channel charged us for it, at its cost price when the request settled; null = unknown.
    upstream_cost_micros = models.BigIntegerField(null=True, blank=True)
    usage_estimated = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    first_byte_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="usage_account_time"),
            models.Index(fields=["api_key", "-created_at"], name="usage_key_time"),
            models.Index(fields=["created_at"], name="usage_time"),  # the daily rollup scans one day
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model_id} {self.status}"


class RedemptionCode(models.Model):
    """A prepaid code worth a fixed amount, redeemable once. Only an HMAC of the code is stored."""

    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, help_text="Shown to humans to tell codes apart.")
    amount_micros = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="redeemed_codes"
    )
    batch = models.CharField(max_length=100, blank=True, db_index=True, help_text="Internal label: staff only.")
    # Shown to the customer who redeems the code; empty: "Redeemed code".
    description = models.CharField(max_length=200, blank=True, default="", db_default="")
    created_by = models.CharField(max_length=150, blank=True, help_text="Operator who generated it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount_micros__gt=0), name="code_amount_pos")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.batch or 'no batch'})"


class TopUpOrder(models.Model):
    """One attempt to buy credit through a payment provider. Credited at most once, by its webhook."""

    class Status(models.TextChoices):
        CREATED = "created"
        PAID = "paid"
        CREDITED = "credited"
        EXPIRED = "expired"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="topup_orders")
    provider = models.CharField(max_length=32)
    amount_micros = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    provider_session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    provider_event_id = models.CharField(max_length=255, blank=True, help_text="The event that paid it.")
    provider_trade_no = models.CharField(
        max_length=64, unique=True, null=True, blank=True, help_text="The provider's trade / transaction number."
    )
    qr_code = models.CharField(max_length=1024, blank=True, help_text="What the portal shows as a QR code.")
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Closed at the provider if unpaid by then.")
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_micros = models.BigIntegerField(default=0, help_text="Refunds pending or done.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "top-up order"
        permissions = [("refund_topuporder", "Can refund a top-up to its payment method")]
        indexes = [models.Index(fields=["status", "created_at"], name="topup_status_created")]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_micros__gt=0), name="topup_amount_pos"),
            models.CheckConstraint(
                condition=models.Q(refunded_micros__gte=0, refunded_micros__lte=models.F("amount_micros")),
                name="topup_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"top-up {self.pk} {self.amount_micros}µ {self.status}"


class TopUpRefund(models.Model):
    """Money of a credited top-up sent back to its payment method. The wallet is debited first (so a
    refund can never take it below zero); a refund the provider refuses is credited back."""

    class Status(models.TextChoices):
        PENDING = "pending"  # debited, the provider not yet confirmed
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # refused by the provider; the debit was reversed

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(TopUpOrder, on_delete=models.PROTECT, related_name="refunds")
    amount_micros = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=500)
    actor = models.CharField(max_length=150, help_text="Operator who asked for it.")
    provider_refund_id = models.CharField(max_length=255, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "top-up refund"
        constraints = [models.CheckConstraint(condition=models.Q(amount_micros__gt=0), name="refund_amount_pos")]

    def __str__(self) -> str:
        return f"refund {self.pk} {self.amount_micros}µ {self.status}"


class UsageRollup(models.Model):
    """One day of usage per (account, key, model), recomputed from UsageRecord: what charts read."""

    day = models.DateField()
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("gateway.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model_id = models.CharField(max_length=128)
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)
    upstream_cost_micros = models.BigIntegerField(default=0, help_text="Known upstream cost (see UsageRecord).")

    class Meta:
        ordering = ["-day", "account", "model_id"]
        constraints = [
            models.UniqueConstraint(fields=["day", "account", "api_key", "model_id"], name="uniq_usage_rollup"),
        ]
        indexes = [models.Index(fields=["account", "day"], name="rollup_account_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.model_id} account {self.account_id}"


def invoice_storage():
    """Issued 发票 PDFs: private, never under MEDIA_URL; served only by an authenticated view."""
    from .invoice_storage import PrivateStorage

    return PrivateStorage()


class InvoiceProfile(models.Model):
    """What goes on an account's 发票: the title (抬头) and tax id (税号); address, phone and bank for 专票."""

    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, related_name="invoice_profile")
    title = models.CharField(max_length=200)
    tax_id = models.CharField(max_length=32, blank=True)
    address = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    bank = models.CharField(max_length=200, blank=True, help_text="Bank name and account number.")
    email = models.EmailField(blank=True, help_text="Where issued invoices are mailed (empty: the account's).")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.title


class InvoiceRequest(models.Model):
    """A customer's request for a 发票 over consumed (not topped-up) money; issued by finance with a PDF."""

    class Kind(models.TextChoices):
        NORMAL = "normal", "普票"
        SPECIAL = "special", "专票"

    class Status(models.TextChoices):
        REQUESTED = "requested"
        ISSUED = "issued"
        REJECTED = "rejected"

    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="invoice_requests")
    amount_micros = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NORMAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    # The profile as it was when asked: a later edit must not change what finance issues.
    title = models.CharField(max_length=200)
    tax_id = models.CharField(max_length=32, blank=True)
    address = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    bank = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was rejected; shown to the customer.")
    pdf = models.FileField(upload_to="invoices/%Y/%m/", storage=invoice_storage, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    acted_by = models.CharField(max_length=150, blank=True, help_text="Operator who issued or rejected it.")
    created_at = models.DateTimeField(auto_now_add=True)
    acted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "invoice request"
        permissions = [("issue_invoicerequest", "Can issue or reject 发票 requests")]
        indexes = [models.Index(fields=["status", "created_at"], name="invoice_status_created")]
        constraints = [models.CheckConstraint(condition=models.Q(amount_micros__gt=0), name="invoice_amount_pos")]

    def __str__(self) -> str:
        return f"invoice request {self.pk} {self.amount_micros}µ {self.status}"


from .autotopup_models import AutoTopUp, AutoTopUpAttempt  # noqa: E402,F401  (Django finds models here)
from .group_models import CustomerGroup, GroupRule  # noqa: E402,F401  (Django finds models here)
from .receipt_models import Dispute, Receipt, ReceiptKey  # noqa: E402, F401  (models in their own file)
from .retention_models import RetentionMark  # noqa: E402, F401  (models in their own file)
